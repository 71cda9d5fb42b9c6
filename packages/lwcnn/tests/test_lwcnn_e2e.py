"""End to end on tiny synthetic worlds: lwcnn-train (demo preset) -> lwcnn-test -> features -> xgeo localize."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xgeo.core.features import read_features
from xgeo.lwcnn import cli


def test_train_test_and_features(lwcnn_cvact, tmp_path, run_cli, fast):
    """CVACT: the 25 m mask in training, UTM locations in the features (CVUSA trains in the resume test)."""
    dataset, root = "cvact", lwcnn_cvact
    run, feats = tmp_path / "run", tmp_path / "feats"
    code, out, err = run_cli(cli.train_main, [f"--data_root_{dataset}", str(root), f"--{dataset.upper()}", *fast,
                                              "-o", str(run)])
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    last = metrics["history"][-1] if "history" in metrics else metrics
    for key in ("R@1", "R@5", "R@10", "R@1%", "a2g_R@1", "a2g_R@1%"):
        assert 0.0 <= last[key] <= 100.0
    assert last["train_hard_ratio"] == 1.0

    code, out, err = run_cli(cli.test_main, ["--checkpoint", str(run), f"--data_root_{dataset}", str(root),
                                             f"--{dataset.upper()}", "--out", str(feats)])
    assert code == 0, err
    assert "ground->aerial" in out and "aerial->ground" in out
    ours = json.loads((feats / "eval_metrics.json").read_text())
    query, gallery = read_features(feats / "query.h5"), read_features(feats / "gallery.h5")
    assert query.method == "lwcnn" and query.dim == 2048 and len(query) == ours["queries"]
    # R@1 from the stored features by hand: ground j is right when no aerial beats its own (ties count as success)
    sims = query.features @ gallery.features.T
    r1 = 100.0 * np.mean([(sims[j] > sims[j, j] + 1e-6).sum() == 0 for j in range(len(sims))])
    assert ours["R@1"] == pytest.approx(r1, abs=1e-6)
    a2g = 100.0 * np.mean([(sims[:, i] > sims[i, i] + 1e-6).sum() == 0 for i in range(len(sims))])
    assert ours["a2g_R@1"] == pytest.approx(a2g, abs=1e-6)

    # CVACT features carry UTM locations: xgeo localize ranks with the plugin's encoder
    from xgeo.core.commands.localize import localize
    from xgeo.core.datasets import get_dataset

    split = get_dataset("cvact", root, "val")
    hits = localize(split.query_files[:2], "lwcnn", run / "checkpoint.pth.tar", feats / "gallery.h5", "ground", top_k=3)
    assert np.allclose(gallery.locations, split.locations)
    for i, found in enumerate(hits):
        assert len(found) == 3
        assert found[0]["id"] == str(gallery.ids[int(np.argmax(sims[i]))])
