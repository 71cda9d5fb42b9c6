"""The report: the data behind each plot, xgeo report's files, and the self-contained page."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from xgeo.core.cli import main
from xgeo.core.commands.demo import write_outputs
from xgeo.core.features import FeatureSet, read_features, write_features
from xgeo.core.io import write_image
from xgeo.core.methods import DemoResult
from xgeo.core.progress import epoch_progress, notify_epoch
from xgeo.core.report import (
    FRAME_COLOURS,
    accuracy_vs_distance,
    cmc_curve,
    retrieval_rows,
    sample_queries,
    verdict,
    write_report,
)


class _Page(HTMLParser):
    """Collects every <img src> and every metric cell of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.metrics: dict[str, float] = {}
        self.cells: list[tuple[str, float]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if "data-metric" in a:
            self.metrics[a["data-metric"]] = float(a["data-value"])
            self.cells.append((a["data-metric"], float(a["data-value"])))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


# ------------------------------------------------------------------------------------------ plot data
def test_cmc_values_equal_recall_and_marks():
    ranks = np.array([0, 0, 1, 4, 9, 10, 250, -1])
    curve = cmc_curve(ranks, num_gallery=1000, percent_convention="floor")
    assert len(curve.ks) == 10 and curve.ks[0] == 1  # up to the R@1% K = 10
    assert curve.at(1) == pytest.approx(25.0)
    assert curve.at(5) == pytest.approx(50.0)
    assert curve.at(10) == pytest.approx(62.5)
    assert curve.marks == {"R@1": (1, 25.0), "R@5": (5, 50.0), "R@10": (10, 62.5), "R@1%": (10, 62.5)}
    assert np.all(np.diff(curve.values) >= 0)
    big = cmc_curve(ranks, num_gallery=30000)
    assert len(big.ks) == 300 and big.marks["R@1%"] == (300, 87.5)
    small = cmc_curve(ranks, num_gallery=4)
    assert len(small.ks) == 4 and "R@5" not in small.marks


def test_cmc_marks_follow_the_protocol_not_a_fixed_r1_percent():
    from xgeo.core.evaluate import get_protocol
    from xgeo.core.report.build import cmc_marks

    ranks = np.array([0, 1, 4, 9, 19, 30, -1, 2])
    # sn6 on 100 references: R@1/5/10/20 marked, no "R@1%" (whose K would be 1, i.e. a second R@1)
    convention, ks = cmc_marks(get_protocol("sn6"))
    assert convention is None and ks == (1, 5, 10, 20)
    sn6 = cmc_curve(ranks, num_gallery=100, percent_convention=convention, ks=ks)
    assert sn6.marks == {"R@1": (1, 12.5), "R@5": (5, 50.0), "R@10": (10, 62.5), "R@20": (20, 75.0)}
    assert len(sn6.ks) == 20
    # a protocol that reports R@1% keeps its mark and its convention
    convention, ks = cmc_marks(get_protocol("vigor"))
    assert convention == "floor+1" and ks == (1, 5, 10)
    vigor = cmc_curve(ranks, num_gallery=1000, percent_convention=convention, ks=ks)
    assert vigor.marks["R@1%"] == (11, 62.5) and set(vigor.marks) == {"R@1", "R@5", "R@10", "R@1%"}


def test_verdict_and_frame_colour_per_cell():
    assert verdict(3, positives=[3], semi=[4, 5]) == "correct"
    assert verdict(4, positives=[3], semi=[4, 5]) == "semi"
    assert verdict(6, positives=[3], semi=[4, -1]) == "wrong"
    assert verdict(-1, positives=[3], semi=[-1]) == "wrong"
    topk = np.array([[2, 0, 1], [1, 2, 0]])
    scores = np.array([[0.9, 0.5, 0.1], [0.8, 0.7, 0.6]])
    rows = retrieval_rows([0, 1], topk, scores, [[0], [2]], ["q0", "q1"], ["g0", "g1", "g2"], ["a", "b"], ["x", "y", "z"],
                          semi=[[2, -1], [-1, -1]], top=2)
    assert [[c.verdict for c in r.cells] for r in rows] == [["semi", "correct"], ["wrong", "correct"]]
    assert [c.colour for c in rows[0].cells] == [FRAME_COLOURS["semi"], FRAME_COLOURS["correct"]]
    assert rows[1].cells[0].show == "y" and rows[1].cells[0].score == pytest.approx(0.8)
    assert list(sample_queries(100, 8, seed=3)) == list(sample_queries(100, 8, seed=3))
    assert list(sample_queries(3, 8)) == [0, 1, 2]


def test_accuracy_vs_distance_hand_case():
    curve = accuracy_vs_distance([0.0, 10.0, 10.0, 30.0], max_distance=40.0, steps=4)
    assert list(curve.distances) == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert list(curve.share) == [25.0, 75.0, 75.0, 100.0, 100.0]


# ------------------------------------------------------------------------------------------ xgeo report
def _files(tmp_path: Path, with_paths: bool = True, locations: bool = False) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    n = 12
    g = rng.standard_normal((n, 8)).astype(np.float32)
    q = g + 0.6 * rng.standard_normal((n, 8)).astype(np.float32)
    root = tmp_path / "images"
    for side in ("q", "g"):
        for i in range(n):
            write_image(root / side / f"{i}.png", np.full((6, 6, 3), 20 * i, np.uint8))
    ids = [f"p{i}" for i in range(n)]
    loc = np.stack([np.arange(n) * 10.0, np.zeros(n)], axis=1) if locations else None
    crs = "metres" if locations else None
    paths = (lambda s: [f"{s}/{i}.png" for i in range(n)]) if with_paths else (lambda s: None)
    qf = FeatureSet(q, ids, np.arange(n), locations=loc, crs=crs, paths=paths("q"), image_root=str(root) if with_paths else None)
    gf = FeatureSet(g, ids, np.arange(n), locations=loc, crs=crs, paths=paths("g"), image_root=str(root) if with_paths else None)
    write_features(tmp_path / "q.h5", qf)
    write_features(tmp_path / "g.h5", gf)
    return tmp_path / "q.h5", tmp_path / "g.h5"


def test_feature_paths_round_trip_and_old_files_stay_valid(tmp_path):
    qh5, _ = _files(tmp_path)
    fs = read_features(qh5)
    assert fs.paths[3] == "q/3.png" and Path(fs.image_root) == tmp_path / "images"
    assert fs.image_files()[3] == tmp_path / "images" / "q" / "3.png"
    old, _ = _files(tmp_path / "old", with_paths=False)
    assert read_features(old).paths is None and read_features(old).image_files() is None


def test_xgeo_report_writes_inlined_page_with_metrics_json(tmp_path, capsys):
    qh5, gh5 = _files(tmp_path, locations=True)
    out = tmp_path / "report"
    assert main(["report", "--query", str(qh5), "--gallery", str(gh5), "--protocol", "sn6", "--out", str(out),
                 "--queries", "3", "--top", "4"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out / "report.html")
    for name in ("cmc.png", "retrieval.png", "accuracy_vs_distance.png", "error_histogram.png", "metrics.json"):
        assert (out / name).is_file(), name
    stored = json.loads((out / "metrics.json").read_text())
    assert main(["evaluate", "--query", str(qh5), "--gallery", str(gh5), "--protocol", "sn6",
                 "--json", str(tmp_path / "e.json")]) == 0
    assert stored == json.loads((tmp_path / "e.json").read_text())  # the same keys (and values) as xgeo evaluate
    page = _parse(out / "report.html")
    assert len(page.images) == 4 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.metrics == stored["metrics"]
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temporary file left behind


def test_report_skips_grid_without_paths_and_cmc_matches_metrics(tmp_path, capsys):
    qh5, gh5 = _files(tmp_path, with_paths=False)
    report = write_report(qh5, gh5, "crossview", tmp_path / "r")
    assert "retrieval.png" not in report.files and "has no /paths" in report.skipped[0]
    assert "accuracy_vs_distance.png" not in report.files
    page = _parse(report.html)
    assert len(page.images) == 1 and page.metrics == report.metrics
    assert main(["report", "--query", str(qh5), "--gallery", str(gh5), "--protocol", "crossview", "--out",
                 str(tmp_path / "r2")]) == 0
    assert "retrieval.png skipped" in capsys.readouterr().out


def test_report_bad_input_is_one_line(tmp_path, capsys):
    qh5, gh5 = _files(tmp_path)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--query", str(qh5), "--gallery", str(gh5), "--protocol", "crossview", "--out", str(tmp_path / "afile")])
    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "afile" in err[0] and "--out" in err[0]


def test_localize_plot_paths_and_map(tmp_path):
    from xgeo.core.commands.localize import plot_paths, write_plots

    assert plot_paths(Path("m.png"), 1) == [Path("m.png")]
    assert plot_paths(Path("out/m.png"), 2) == [Path("out/m-1.png"), Path("out/m-2.png")]
    _, gh5 = _files(tmp_path, locations=True)
    hits = [[{"id": "p3", "index": 3, "location": [30.0, 0.0], "score": 0.9}, {"id": "p1", "index": 1, "location": [10.0, 0.0],
              "score": 0.5}]]
    (written,) = write_plots(tmp_path / "map.png", [Path("q.jpg")], hits, gh5, truth=(30.0, 0.0))
    assert written == tmp_path / "map.png" and written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------ xgeo demo
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_line_per_epoch_when_not_a_terminal():
    stream = io.StringIO()
    notify_epoch(0, 3, {"R@1": 50.0})  # outside a block: shown nowhere
    with epoch_progress("frgeo", stream):
        for epoch in range(3):
            notify_epoch(epoch, 3, {"R@1": 10.0 * epoch, "loss": 1.0})
    assert stream.getvalue().splitlines() == ["frgeo  epoch 1/3  R@1 0.0", "frgeo  epoch 2/3  R@1 10.0",
                                              "frgeo  epoch 3/3  R@1 20.0"]


def test_a_bar_over_epochs_with_the_latest_recall_on_a_terminal():
    stream = _Terminal()
    with epoch_progress("frgeo", stream) as progress:
        for epoch in range(4):
            notify_epoch(epoch, 4, {"R@1": 12.5 + epoch})
        assert progress.bar.n == 4 and progress.bar.total == 4
    text = stream.getvalue()
    assert "frgeo" in text and "R@1=15.5" in text and "epoch 1/4" not in text


def test_demo_writes_markdown_table_and_one_page(tmp_path):
    qh5, gh5 = _files(tmp_path)
    with_features = DemoResult("alpha", "synthetic X", {"R@1": 41.0, "R@5": 80.0}, {"R@1": 1.0, "R@5": 5.0}, 3.0,
                               query_features=qh5, gallery_features=gh5, protocol="crossview")
    metrics_only = DemoResult("beta", "synthetic Y", {"R@1": 7.0}, {"R@1": 1.0}, 2.0, notes="no features")
    page = write_outputs(tmp_path / "work", [with_features, metrics_only])
    assert page == tmp_path / "work" / "report.html"
    table = (tmp_path / "work" / "demo.md").read_text()
    assert "41.0 (1.0)" in table and "beta" in table
    parsed = _parse(page)
    assert len(parsed.images) == 2 and all(src.startswith("data:image/png;base64,") for src in parsed.images)
    assert "alpha" in page.read_text() and "no features" in page.read_text()
    assert parsed.cells == [("R@1", 41.0), ("R@5", 80.0), ("R@1", 7.0)]  # one table per method, in order
    assert Path(tmp_path / "work" / "report" / "alpha" / "alpha_cmc.png").is_file()
