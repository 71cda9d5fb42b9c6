"""Protocols on hand-built features (known ranks, exact ties), files vs arrays, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from xgeo.core.cli import main
from xgeo.core.errors import XgeoError
from xgeo.core.evaluate import PROTOCOLS, evaluate_arrays, evaluate_files, format_table
from xgeo.core.features import FeatureSet, write_features
from xgeo.core.registry import UnknownNameError
from xgeo.core.retrieval import SearchOptions
from xgeo.core.task import RetrievalTask


def ids(n: int, prefix: str) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def one_hot_problem(weights: list[dict[int, float]], m: int) -> tuple[np.ndarray, np.ndarray]:
    """Gallery = identity (one-hot rows); query i puts weight w on gallery entry j, so the cosine
    score of (i, j) is w / |q_i|, exactly, and equal weights tie exactly."""
    q = np.zeros((len(weights), m), dtype=np.float32)
    for i, row in enumerate(weights):
        for j, w in row.items():
            q[i, j] = w
    return q, np.eye(m, dtype=np.float32)


def ranked(rank: int, ties: int = 0, positive: int = 0, start: int = 100) -> dict[int, float]:
    """Query weights: the positive at 1, ``rank`` entries above it (2), ``ties`` level with it."""
    row = {positive: 1.0}
    row.update({start + k: 2.0 for k in range(rank)})
    row.update({start + rank + k: 1.0 for k in range(ties)})
    return row


def crossview_problem():
    # M = 350: R@1% has K = 3 (floor), 4 (floor+1), 5 (round(3.5) + 1)
    ranks = [0, 1, 2, 3, 4, 12]
    q, g = one_hot_problem([ranked(r, ties=3, positive=i) for i, r in enumerate(ranks)], 350)
    task = RetrievalTask.from_labels(ids(6, "q"), ids(350, "g"), np.arange(6), np.arange(350))
    return q, g, task


#: the crossview problem's metrics, by hand: ranks [0, 1, 2, 3, 4, 12], M = 350 (floor K = 3)
CROSSVIEW_BY_HAND = {"R@1": 100 / 6, "R@5": 500 / 6, "R@10": 500 / 6, "R@1%": 50.0}


def test_crossview_and_percent_conventions():
    q, g, task = crossview_problem()
    out = evaluate_arrays(q, g, task, "crossview")
    assert out == pytest.approx(CROSSVIEW_BY_HAND)
    # the same ranks under the other two R@1% conventions
    assert evaluate_arrays(q, g, task, "university1652")["R@1%"] == pytest.approx(500 / 6)


def test_vigor_hit_rate_and_floor_plus_one():
    weights = [
        {0: 1.0, 1: 2.0, 2: 2.0},  # two semi-positives above the positive: rank 2, hit
        {3: 1.0, 4: 2.0, 5: 2.0, 10: 2.0},  # a semi-positive and two negatives above: rank 3, miss
        {6: 1.0, 7: 0.5},  # rank 0, hit
        {8: 1.0, 9: 1.0},  # a negative tied with the positive: rank 0, hit
    ]
    q, g = one_hot_problem(weights, 350)
    task = RetrievalTask.with_semi_positives(ids(4, "q"), ids(350, "g"), [0, 3, 6, 8], [[1, 2], [4, -1], [7, -1], [-1, -1]])
    out = evaluate_arrays(q, g, task, "vigor")
    assert out == pytest.approx({"R@1": 50.0, "R@5": 100.0, "R@10": 100.0, "R@1%": 100.0, "hit": 75.0})
    assert evaluate_arrays(q, g, task, "crossview")["R@1%"] == pytest.approx(75.0)  # K = 3 (floor), not 4
    floor = evaluate_arrays(q, g, task, "vigor", percent_convention="floor")  # FRGeo on VIGOR: floor R@1% and hit
    assert floor == pytest.approx({**out, "R@1%": 75.0})
    with pytest.raises(UnknownNameError, match="unknown --percent-convention ceil"):
        evaluate_arrays(q, g, task, "vigor", percent_convention="ceil")


def university_problem():
    labels = np.array([0, 0, 1, 1, 1, -1, 2, 3])
    weights = [
        {0: 0.5, 1: 0.9, 5: 1.0, 2: 0.7, 6: 0.8},  # positives g1 (pos. 0) and g0 (pos. 3); junk g5 removed
        {2: 0.3, 3: 0.3, 4: 0.1, 0: 0.6, 7: 0.3},  # g2, g3 tie with negative g7: positions 1, 2; g4: 4
        {0: 1.0},  # label 4 has no positive in the gallery: AP 0, still counted
    ]
    q, g = one_hot_problem(weights, 8)
    task = RetrievalTask.from_labels(ids(3, "q"), ids(8, "g"), [0, 1, 4], labels)
    return q, g, task


_AP0 = (1.0 + (1 / 3 + 2 / 4) / 2) / 2
_AP1 = ((0 + 1 / 2) / 2 + (1 / 2 + 2 / 3) / 2 + (2 / 4 + 3 / 5) / 2) / 3
#: the university problem's metrics, by hand (M = 8: R@1% is CMC[round(0.08)] = CMC[0])
UNIVERSITY_BY_HAND = {"mAP": 100 * (_AP0 + _AP1 + 0) / 3, "R@1": 100 / 3, "R@5": 200 / 3, "R@10": 200 / 3, "R@1%": 100 / 3}


def test_university1652_map_with_junk_ties_and_missing_positives():
    q, g, task = university_problem()
    out = evaluate_arrays(q, g, task, "university1652")
    assert {k: out[k] for k in UNIVERSITY_BY_HAND} == pytest.approx(UNIVERSITY_BY_HAND)


def text_image_problem():
    # image rows are permutations of one weight multiset (equal norms), captions are one-hot
    w = np.array([[3, 1, 0, 0, 0, 5, 4, 2, 0, 0], [0, 2, 0, 0, 0, 5, 4, 0, 3, 1]], dtype=np.float32)
    task = RetrievalTask.captions(ids(2, "img"), ids(10, "cap"))
    return w, np.eye(10, dtype=np.float32), task


#: i2t ranks [2, 0]; t2i ranks [0, 1, 0, 0, 0, 0(tie), 0, 1, 0, 0]
TEXT_IMAGE_BY_HAND = {"i2t_R@1": 50.0, "i2t_R@5": 100.0, "i2t_R@10": 100.0, "t2i_R@1": 80.0, "t2i_R@5": 100.0,
                      "t2i_R@10": 100.0, "rsum": 530.0, "mR": 530.0 / 6}


def test_text_image_both_directions():
    images, captions, task = text_image_problem()
    out = evaluate_arrays(images, captions, task, "text-image")
    assert out == pytest.approx(TEXT_IMAGE_BY_HAND)


def sn6_problem():
    g = np.array([[0, 0], [10, 0], [0, 10], [20, 0]], dtype=np.float32)
    q = np.array([[1, 0], [4, 0], [0, 6], [9, 9]], dtype=np.float32)
    task = RetrievalTask.from_labels(
        ids(4, "sar"), ids(4, "opt"), [0, 1, 2, 3], [0, 1, 2, 3],
        query_locations=[[30, 40], [100, 0], [0, 160], [200, 0]],
        gallery_locations=[[0, 0], [100, 0], [0, 100], [200, 0]], crs="metres",
    )
    return q, g, task


#: ranks [0, 1, 0, 3]; top-1 g0, g0, g2, g1 (g1 and g2 tie at -82: lower index);
#: errors against the queries' own locations: 50, 100, 60, 100
SN6_BY_HAND = {"R@1": 50.0, "R@5": 100.0, "R@10": 100.0, "R@20": 100.0, "MRR": 100 * (1 + 0.5 + 1 + 0.25) / 4,
               "acc@50m": 25.0, "acc@100m": 100.0, "acc@150m": 100.0, "acc@200m": 100.0, "mean_error_m": 77.5}


def test_sn6_neg_sq_l2_mrr_and_metre_accuracy():
    q, g, task = sn6_problem()
    out = evaluate_arrays(q, g, task, "sn6")
    assert out == pytest.approx(SN6_BY_HAND)
    custom = evaluate_arrays(q, g, task, "sn6", thresholds=[55, 99])
    assert custom["acc@55m"] == 25.0 and custom["acc@99m"] == 50.0 and "acc@50m" not in custom


def test_arrays_errors():
    q, g, task = crossview_problem()
    with pytest.raises(XgeoError, match="semi-positives"):
        evaluate_arrays(q, g, task, "vigor")
    with pytest.raises(XgeoError, match="locations"):
        evaluate_arrays(q, g, task, "sn6")
    bad = q.copy()
    bad[0, 0] = np.nan
    with pytest.raises(XgeoError, match="query features contain NaN"):
        evaluate_arrays(bad, g, task, "crossview")
    with pytest.raises(UnknownNameError, match="unknown --protocol cvusa"):
        evaluate_arrays(q, g, task, "cvusa")


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    q, g, task = crossview_problem()
    opts = SearchOptions(engine="torch")
    out = evaluate_arrays(torch.from_numpy(q), torch.from_numpy(g), task, "crossview", options=opts)
    assert out == pytest.approx(CROSSVIEW_BY_HAND)
    assert evaluate_arrays(torch.from_numpy(q), torch.from_numpy(g), task, "crossview") == pytest.approx(CROSSVIEW_BY_HAND)


# ------------------------------------------------------------------------------------------ files
def write_pair(tmp_path, q, g, task, normalized=False):
    qp, gp = tmp_path / "q.h5", tmp_path / "g.h5"
    write_features(qp, FeatureSet.from_task(q, task, "query", normalized=normalized), chunk_rows=3)
    write_features(gp, FeatureSet.from_task(g, task, "gallery", normalized=normalized), chunk_rows=3)
    return qp, gp


@pytest.mark.parametrize(
    "protocol, problem, by_hand",
    [("crossview", crossview_problem, CROSSVIEW_BY_HAND), ("university1652", university_problem, UNIVERSITY_BY_HAND),
     ("text-image", text_image_problem, TEXT_IMAGE_BY_HAND), ("sn6", sn6_problem, SN6_BY_HAND)],
)
def test_files_equal_arrays(tmp_path, protocol, problem, by_hand):
    q, g, task = problem()
    qp, gp = write_pair(tmp_path, q, g, task)
    got = evaluate_files(qp, gp, protocol, options=SearchOptions(query_chunk=2, gallery_chunk=3))
    assert {k: got[k] for k in by_hand} == pytest.approx(by_hand)  # the hand-computed values
    assert got == evaluate_arrays(q, g, task, protocol)


def test_files_equal_arrays_random_vigor(tmp_path):
    rng = np.random.default_rng(0)
    n, m, d = 40, 64, 8
    g = rng.standard_normal((m, d)).astype(np.float32)
    positive = rng.permutation(m)[:n]
    q = g[positive] + rng.standard_normal((n, d)).astype(np.float32)
    semi = np.stack([(positive + 1) % m, (positive + 7) % m, np.full(n, -1)], 1)
    task = RetrievalTask.with_semi_positives(ids(n, "q"), ids(m, "g"), positive, semi)
    qp, gp = write_pair(tmp_path, q, g, task)
    # float64 brute force: cosine scores, ranks by strict counting, semi-positives left out for the hit
    qn = q.astype(np.float64) / np.linalg.norm(q.astype(np.float64), axis=1, keepdims=True)
    gn = g.astype(np.float64) / np.linalg.norm(g.astype(np.float64), axis=1, keepdims=True)
    scores = qn @ gn.T
    own = scores[np.arange(n), positive]
    gaps = np.abs(scores - own[:, None])
    gaps[np.arange(n), positive] = np.inf
    assert gaps.min() > 1e-5  # no near-tie: float32 and float64 rank alike
    above = scores > own[:, None]
    first = above.sum(1)
    is_semi = np.zeros((n, m), dtype=bool)
    for i in range(n):
        is_semi[i, semi[i][semi[i] >= 0]] = True
    without_semi = (above & ~is_semi).sum(1)
    k_percent = m // 100 + 1  # VIGOR's floor(0.01 M) + 1
    by_hand = {"R@1": 100 * np.mean(first < 1), "R@5": 100 * np.mean(first < 5), "R@10": 100 * np.mean(first < 10),
               "R@1%": 100 * np.mean(first < k_percent), "hit": 100 * np.mean(without_semi == 0)}
    assert 0 < by_hand["R@1"] < by_hand["hit"] < 100  # the semi-positives matter for some queries, not all
    expected = evaluate_arrays(q, g, task, "vigor")
    assert expected == pytest.approx(by_hand)
    assert evaluate_files(qp, gp, "vigor", options=SearchOptions(query_chunk=7, gallery_chunk=9)) == expected
    floor = evaluate_files(qp, gp, "vigor", percent_convention="floor", options=SearchOptions(query_chunk=7))
    assert floor == pytest.approx({**by_hand, "R@1%": 100 * np.mean(first < m // 100)})


def test_files_respect_the_normalized_flag(tmp_path):
    # the positive g0 wins by cosine (1 against 0.71) and loses by the raw dot product (1 against 3)
    q = np.array([[1, 0]], dtype=np.float32)
    g = np.array([[1, 0], [3, 3]], dtype=np.float32)
    task = RetrievalTask.from_labels(["q0"], ["g0", "g1"], [0], [0, 1])
    qp, gp = write_pair(tmp_path, q, g, task, normalized=True)  # claims normalised: scored as stored
    assert evaluate_files(qp, gp, "crossview") == {"R@1": 0.0, "R@5": 100.0, "R@10": 100.0, "R@1%": 0.0}
    qp, gp = write_pair(tmp_path, q, g, task, normalized=False)  # normalised before scoring
    assert evaluate_files(qp, gp, "crossview") == {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "R@1%": 0.0}
    assert evaluate_arrays(q, g, task, "crossview", normalized=True)["R@1"] == 0.0


def test_files_missing_what_the_protocol_needs(tmp_path):
    q, g, task = crossview_problem()
    qp, gp = write_pair(tmp_path, q, g, task)
    with pytest.raises(XgeoError) as err:
        evaluate_files(qp, gp, "vigor")
    assert str(qp) in err.value.line() and "/semi_labels" in err.value.line()
    with pytest.raises(XgeoError) as err:
        evaluate_files(qp, gp, "sn6")
    assert "/locations" in err.value.line()
    other = tmp_path / "other.h5"
    write_features(other, FeatureSet(np.ones((2, 3)), ["a", "b"], [0, 1]))
    with pytest.raises(XgeoError) as err:
        evaluate_files(qp, other, "crossview")
    assert str(other) in err.value.line() and "dimension" in err.value.line()


def test_format_table():
    text = format_table({"R@1": 12.3456, "R@1%": 100.0})
    assert text.splitlines() == ["metric   value", "------  ------", "R@1      12.35", "R@1%    100.00"]


# ------------------------------------------------------------------------------------------ CLI
def test_cli_prints_table_and_writes_json(tmp_path, capsys):
    q, g, task = sn6_problem()
    qp, gp = write_pair(tmp_path, q, g, task)
    out_json = tmp_path / "out" / "metrics.json"
    code = main(["evaluate", "--query", str(qp), "--gallery", str(gp), "--protocol", "sn6", "--json", str(out_json),
                 "--thresholds", "55", "99"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "acc@55m" in printed and "25.00" in printed
    saved = json.loads(out_json.read_text())
    assert saved["protocol"] == "sn6"
    assert saved["metrics"] == evaluate_arrays(q, g, task, "sn6", thresholds=[55, 99])


def broken_files(tmp_path, kind):
    """A valid gallery and a query file broken in one way; returns (query path, message)."""
    q, g, task = crossview_problem()
    qp, gp = write_pair(tmp_path, q, g, task)
    if kind == "missing":
        qp.unlink()
        return qp, gp, "feature file not found"
    if kind == "malformed":
        qp.write_bytes(b"\x00garbage" * 64)
        return qp, gp, "not a readable HDF5"
    with h5py.File(qp, "a") as f:
        if kind == "no-dataset":
            del f["ids"]
            message = "missing dataset /ids"
        elif kind == "schema":
            f.attrs["schema"] = "someone.else/3"
            message = "schema is 'someone.else/3'"
        else:
            f["features"][4, 1] = np.nan
            message = "NaN or inf (row 4)"
    return qp, gp, message


@pytest.mark.parametrize("kind", ["missing", "malformed", "no-dataset", "schema", "nan"])
def test_cli_errors_are_one_line_exit_2(tmp_path, capsys, kind):
    qp, gp, message = broken_files(tmp_path, kind)
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--query", str(qp), "--gallery", str(gp), "--protocol", "crossview"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {qp}: ") and message in err
    assert "Traceback" not in err


def test_cli_subprocess_error(tmp_path):
    qp, gp, message = broken_files(tmp_path, "nan")
    proc = subprocess.run(
        [sys.executable, "-m", "xgeo.core.cli", "evaluate", "--query", str(qp), "--gallery", str(gp), "--protocol", "crossview"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and str(qp) in proc.stderr and message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_cli_help_lists_the_protocols(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in PROTOCOLS) and "R@1%" in text


def test_every_protocol_is_documented():
    assert set(PROTOCOLS) == {"crossview", "vigor", "university1652", "text-image", "sn6"}
    assert all(p.description for _, p in PROTOCOLS.items())


# ------------------------------------------------------------------------------------------ bad input
def cli_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("flag, value", [("--query-chunk", "0"), ("--gallery-chunk", "0"), ("--query-chunk", "-3"),
                                         ("--device", "tpu"), ("--device", "cuda:99")])
def test_cli_refuses_bad_search_options(tmp_path, capsys, flag, value):
    q, g, task = crossview_problem()
    qp, gp = write_pair(tmp_path, q, g, task)
    err = cli_error(["evaluate", "--query", str(qp), "--gallery", str(gp), "--protocol", "crossview", flag, value], capsys)
    assert flag in err and value in err


def unwritable(tmp_path, kind):
    if kind == "directory":
        return tmp_path
    if kind == "read-only folder":  # chmod does not stop root; /proc refuses new files to everyone
        return Path("/proc/xgeo-test/m.json")
    afile = tmp_path / "afile"  # nothing can be created under a regular file
    afile.write_text("{}")
    return afile / "m.json"


@pytest.mark.parametrize("kind", ["directory", "read-only folder", "under a file"])
def test_cli_checks_json_before_reading_features(tmp_path, capsys, kind):
    qp, gp, _ = broken_files(tmp_path, "nan")  # reading the features would fail with another message
    out = unwritable(tmp_path, kind)
    err = cli_error(["evaluate", "--query", str(qp), "--gallery", str(gp), "--protocol", "crossview", "--json", str(out)],
                    capsys)
    assert err.count("\n") == 1 and "--json" in err and "NaN" not in err


@pytest.mark.parametrize("side", ["query", "gallery"])
def test_empty_feature_files_are_refused(tmp_path, capsys, side):
    q, g, task = crossview_problem()
    qp, gp = write_pair(tmp_path, q, g, task)
    empty = tmp_path / "empty.h5"
    write_features(empty, FeatureSet(np.zeros((0, q.shape[1]), dtype=np.float32), [], []))
    args = {"query": qp, "gallery": gp, side: empty}
    err = cli_error(["evaluate", "--query", str(args["query"]), "--gallery", str(args["gallery"]),
                     "--protocol", "crossview"], capsys)
    assert err.startswith(f"error: {empty}: ") and "no rows" in err and err.count("\n") == 1
    with pytest.raises(XgeoError, match=f"{side} features have no rows"):
        evaluate_arrays(q[:0] if side == "query" else q, g[:0] if side == "gallery" else g, task, "crossview")


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_gallery_arrays_and_files_are_refused(tmp_path, capsys, value):
    q, g, task = crossview_problem()
    bad = g.copy()
    bad[5, 5] = value
    with pytest.raises(XgeoError, match="gallery features contain NaN or inf"):
        evaluate_arrays(q, bad, task, "crossview")
    with pytest.raises(XgeoError, match="query features contain NaN or inf"):  # the query side, for contrast
        evaluate_arrays(bad[:6], g[:6], RetrievalTask.one_to_one(ids(6, "q"), ids(6, "g")), "crossview")
    qp, gp = write_pair(tmp_path, q, g, task)
    with h5py.File(gp, "a") as f:  # the writer refuses NaN: break the file afterwards
        f["features"][5, 5] = value
    err = cli_error(["evaluate", "--query", str(qp), "--gallery", str(gp), "--protocol", "crossview"], capsys)
    assert err.startswith(f"error: {gp}: ") and "NaN or inf (row 5)" in err


def test_streamed_files_equal_arrays_with_duplicates_and_tiny_chunks(tmp_path):
    rng = np.random.default_rng(2)
    n, m, d = 30, 50, 6
    g = rng.integers(-2, 3, (m, d)).astype(np.float32)
    g[np.all(g == 0, axis=1)] = 1
    g[35:45] = g[rng.integers(0, 10, 10)]  # copies in other chunks
    positive = rng.permutation(m)[:n]
    q = g[positive] + rng.integers(-1, 2, (n, d)).astype(np.float32)
    q[np.all(q == 0, axis=1)] = 1
    semi = np.stack([(positive + 1) % m, (positive + 36) % m, np.full(n, -1)], 1)
    task = RetrievalTask.with_semi_positives(ids(n, "q"), ids(m, "g"), positive, semi)
    qp, gp = write_pair(tmp_path, q, g, task)
    for opts in (SearchOptions(query_chunk=1, gallery_chunk=1), SearchOptions(query_chunk=4, gallery_chunk=7, cache_bytes=300)):
        assert evaluate_files(qp, gp, "vigor", options=opts) == evaluate_arrays(q, g, task, "vigor", options=opts)
