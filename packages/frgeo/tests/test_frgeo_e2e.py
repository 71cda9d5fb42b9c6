"""End to end on tiny synthetic worlds: train a few steps, evaluate, write features, `xgeo evaluate` agrees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xgeo.core.cli import main as xgeo_main
from xgeo.core.features import read_features
from xgeo.frgeo import cli
from xgeo.frgeo.plugin import METHOD

README_DIST_FLAGS = ["--dist-url", "tcp://localhost:8080", "--multiprocessing-distributed", "--world-size", "1", "--rank", "0"]


def xgeo_evaluate(run_cli, query: Path, gallery: Path, protocol: str, out: Path) -> dict[str, float]:
    code, _, err = run_cli(
        xgeo_main, ["evaluate", "--query", str(query), "--gallery", str(gallery), "--protocol", protocol,
                   "--percent-convention", "floor", "--json", str(out)]
    )
    assert code == 0, err
    return json.loads(out.read_text())["metrics"]


@pytest.mark.parametrize(
    "dataset, extra, protocol",
    [
        ("cvusa", [], "crossview"),
        ("vigor", ["--cross"], "vigor"),
    ],
)
def test_train_then_evaluate_features(dataset, extra, protocol, request, tmp_path, run_cli, fast):
    root = request.getfixturevalue(f"frgeo_{dataset}")
    save = tmp_path / "run"
    code, out, err = run_cli(
        cli.train_main,
        ["--dataset", dataset, *extra, *fast, *README_DIST_FLAGS, "--data-root", str(root), "--save_path", str(save),
         "--report", str(tmp_path / "train_report")],
    )
    assert code == 0, err
    assert "random weights" in out and "single process" in out
    # --report: core's report of the best checkpoint, its images inlined and its grid drawn from /paths
    assert out.strip().splitlines()[-1].endswith(str(tmp_path / "train_report" / "report.html"))
    page = (tmp_path / "train_report" / "report.html").read_text()
    assert page.count('<img alt="') == page.count('src="data:image/png;base64,') >= 2
    assert (tmp_path / "train_report" / "retrieval.png").is_file()
    best = json.loads((tmp_path / "train_report" / "metrics.json").read_text())["metrics"]
    metrics = json.loads((save / "metrics.json").read_text())
    expected_keys = {"R@1", "R@5", "R@10", "R@1%"} | ({"hit"} if dataset == "vigor" else set())
    assert expected_keys <= set(metrics)
    assert expected_keys <= set(best)  # the report scored the best checkpoint
    assert best[metrics["best"]["metric"]] == pytest.approx(metrics["best"]["value"], abs=1e-9)
    assert (save / "checkpoint.pth.tar").is_file() and (save / "model_best.pth.tar").is_file()

    feats = tmp_path / "features"
    code, out, err = run_cli(
        cli.eval_main, ["--checkpoint", str(save), "--dataset", dataset, *extra, "--data-root", str(root), "--out", str(feats),
                        "--report", str(tmp_path / "eval_report")]
    )
    assert code == 0, err
    assert json.loads((tmp_path / "eval_report" / "metrics.json").read_text())["metrics"] == best
    ours = json.loads((feats / "eval_metrics.json").read_text())
    for key in expected_keys:  # the checkpoint reproduces the epoch's evaluation
        assert ours[key] == pytest.approx(metrics[key], abs=1e-9)

    query, gallery = read_features(feats / "query.h5"), read_features(feats / "gallery.h5")
    assert query.method == "frgeo" and query.normalized and query.dim == 1280
    assert all(f.is_file() for f in query.image_files() + gallery.image_files())  # /paths name the images
    assert np.allclose(np.linalg.norm(query.features, axis=1), 1.0, atol=1e-5)
    theirs = xgeo_evaluate(run_cli, feats / "query.h5", feats / "gallery.h5", protocol, tmp_path / "x.json")
    for key in expected_keys:  # FRGeo's numbers: the dataset's protocol with the floor R@1%
        assert theirs[key] == pytest.approx(ours[key], abs=1e-9)
    if dataset == "vigor":
        # xgeo localize finds the plugin by entry point and ranks with its query encoder
        from xgeo.core.commands.localize import localize
        from xgeo.frgeo.config import resolve
        from xgeo.frgeo.data import open_split

        split = open_split(resolve({"dataset": "vigor", "cross": True, "data_root": str(root)}).data, "test", None)
        hits = localize(split.query_files[:2], "frgeo", save / "model_best.pth.tar", feats / "gallery.h5", "ground", top_k=3)
        for i, found in enumerate(hits):
            best = int(np.argmax(gallery.features @ query.features[i]))
            assert found[0]["id"] == str(gallery.ids[best])

    # the original -e form evaluates <save_path>/checkpoint.pth.tar and writes the same features
    code, out, err = run_cli(
        cli.train_main,
        ["--dataset", dataset, *extra, "--config", "demo", "-e", "--data-root", str(root), "--save_path", str(save)],
    )
    assert code == 0, err
    again = read_features(save / "query.h5")
    assert np.array_equal(again.features, query.features)


def test_plugin_is_registered():
    from xgeo.core.methods import installed_methods

    plugin = installed_methods().get("frgeo")
    assert plugin is METHOD and plugin.version == "0.1.0" and plugin.demo is not None
    assert {"frgeo-train", "frgeo-eval"} == set(plugin.commands)


def test_query_encoder_matches_evaluation_features(frgeo_cvact, tmp_path, run_cli, fast):
    save = tmp_path / "run"
    code, _, err = run_cli(
        cli.train_main,
        [
            "--dataset",
            "cvact",
            *fast,
            "--max-steps",
            "1",
            "--no-mining",
            "--data-root",
            str(frgeo_cvact),
            "--save_path",
            str(save),
        ],
    )
    assert code == 0, err
    feats = tmp_path / "f"
    code, _, err = run_cli(
        cli.eval_main,
        [
            "--checkpoint",
            str(save / "checkpoint.pth.tar"),
            "--dataset",
            "cvact",
            "--data-root",
            str(frgeo_cvact),
            "--out",
            str(feats),
        ],
    )
    assert code == 0, err
    from xgeo.frgeo.config import resolve
    from xgeo.frgeo.data import open_split

    split = open_split(resolve({"dataset": "cvact", "data_root": str(frgeo_cvact)}).data, "val", None)
    encode = METHOD.query_encoder(save / "checkpoint.pth.tar", "ground")
    got = encode(split.query_files[:3])  # raw files: the CVACT crop is applied here too
    stored = read_features(feats / "query.h5").features[:3]
    assert got.dtype == np.float32 and np.allclose(got, stored, atol=1e-5)
