"""Run folders, checkpoint resolution, feature writing and metric lines."""

import numpy as np
import pytest

from xgeo.core.errors import XgeoError
from xgeo.core.features import read_features
from xgeo.core.runs import format_metrics, prepare_run_dir, resolve_checkpoint, write_split_features
from xgeo.core.task import RetrievalTask


def _finished_run(path):
    path.mkdir()
    for name, text in {"checkpoint.pth.tar": "c", "model_best.pth.tar": "b", "metrics.json": "{}", "log.jsonl": "{}\n"}.items():
        (path / name).write_text(text)
    return {p.name: p.read_text() for p in path.iterdir()}


def test_a_finished_run_is_refused_unless_resumed_or_overwritten(tmp_path):
    run = tmp_path / "run"
    before = _finished_run(run)
    with pytest.raises(XgeoError, match=r"already holds a run .*--resume .*--overwrite"):
        prepare_run_dir(run, None, overwrite=False)
    assert {p.name: p.read_text() for p in run.iterdir()} == before  # nothing changed
    assert prepare_run_dir(run, run / "checkpoint.pth.tar", overwrite=False) == run
    assert prepare_run_dir(run, run, overwrite=False) == run
    with pytest.raises(XgeoError):
        prepare_run_dir(run, tmp_path / "elsewhere" / "checkpoint.pth.tar", overwrite=False)
    prepare_run_dir(run, None, overwrite=True)
    assert list(run.iterdir()) == []  # the old log is not appended to
    assert prepare_run_dir(tmp_path / "fresh", None, overwrite=False) == tmp_path / "fresh"
    (tmp_path / "file").write_text("x")
    with pytest.raises(XgeoError, match="this is a file"):
        prepare_run_dir(tmp_path / "file", None, overwrite=False)


def test_resolve_checkpoint_prefers_best(tmp_path):
    with pytest.raises(XgeoError, match="no model_best.pth.tar or checkpoint.pth.tar"):
        resolve_checkpoint(tmp_path)
    (tmp_path / "checkpoint.pth.tar").write_text("c")
    assert resolve_checkpoint(tmp_path).name == "checkpoint.pth.tar"
    (tmp_path / "model_best.pth.tar").write_text("b")
    assert resolve_checkpoint(tmp_path).name == "model_best.pth.tar"
    with pytest.raises(XgeoError, match="checkpoint not found"):
        resolve_checkpoint(tmp_path / "missing.pth")


def test_write_split_features_round_trip(tmp_path):
    task = RetrievalTask.one_to_one(["a", "b"], ["a", "b"])
    q = np.eye(2, 3, dtype=np.float64)
    g = np.eye(2, 3, k=1, dtype=np.float32)
    qpath, gpath = write_split_features(tmp_path, q, g, task, "toy")
    query, gallery = read_features(qpath), read_features(gpath)
    assert query.features.dtype == np.float32 and np.array_equal(query.features, q.astype(np.float32))
    assert np.array_equal(gallery.features, g) and list(gallery.ids) == ["a", "b"]


def test_format_metrics_orders_known_keys():
    assert format_metrics({"R@5": 50, "R@1": 12.345, "loss": 3}) == "R@1 12.35  R@5 50.00"
