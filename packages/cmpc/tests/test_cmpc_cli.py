"""The console scripts end to end on a tiny synthetic SN6-CMPC: phases from saved artifacts, the test, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xgeo.cmpc import cli
from xgeo.cmpc.config import resolve
from xgeo.cmpc.run import load_model
from xgeo.core import cli as xgeo_cli
from xgeo.core.evaluate import evaluate_files

SMALL = ["--threads", "1"]


def _demo32(tmp_path: Path) -> Path:
    """The demo preset at 32 px (the synthetic patches' size), as a YAML preset file."""
    from importlib import resources

    text = (resources.files("xgeo.cmpc.presets") / "demo.yaml").read_text()  # 32 px patches
    text = text.replace("image_size: 32", "image_size: 32\n  node_topk: 4\n  edge_topk: 2")
    path = tmp_path / "demo32.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def embedded(sn6, tmp_path_factory, tiny_flags) -> tuple[Path, Path]:
    """cmpc-train-emb --output-feat: an embedding checkpoint and training features on disk."""
    out = tmp_path_factory.mktemp("runs")
    preset = _demo32(out)
    assert cli.train_emb_main(["exp", str(preset), *tiny_flags(sn6, out), *SMALL, "--output-feat"]) == 0
    return out, preset


def test_refine_only_runs_from_saved_artifacts(sn6, embedded, capsys, tiny_flags):
    out, preset = embedded
    run = out / "exp"
    assert (run / "embed_feats" / "query.h5").is_file() and (run / "embedding" / "checkpoint.pth.tar").is_file()
    before = load_model(run / "embedding" / "checkpoint.pth.tar")
    assert cli.train_refine_main(["exp", str(preset), *tiny_flags(sn6, out), *SMALL]) == 0
    assert "refinement done" in capsys.readouterr().out
    after = load_model(run / "refine" / "checkpoint.pth.tar")
    for (name, a), b in zip(before.embedding.state_dict().items(), after.embedding.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # the embedding is frozen in phase 2
    changed = [not torch.equal(a, b) for a, b in zip(before.refiner.parameters(), after.refiner.parameters(), strict=True)]
    assert any(changed)
    # a second refine run into the same folder is refused without --overwrite
    assert pytest.raises(SystemExit, cli.train_refine_main, ["exp", str(preset), *tiny_flags(sn6, out)]).value.code == 2
    assert "--overwrite" in capsys.readouterr().err


def test_cmpc_test_reports_both_stages_writes_features_and_plots(sn6, embedded, capsys, tiny_flags):
    out, preset = embedded
    run = out / "exp"
    if not (run / "refine" / "checkpoint.pth.tar").is_file():
        assert cli.train_refine_main(["exp", str(preset), *tiny_flags(sn6, out), *SMALL, "--overwrite"]) == 0
    capsys.readouterr()
    assert cli.test_main([str(run), str(preset), "--data-root", str(sn6), "--threshold-preset", "reference-grid", *SMALL]) == 0
    printed = capsys.readouterr().out
    assert "coarse:" in printed and "refined:" in printed and "42.1 m (release '50 m')" in printed
    test_dir = run / "test"
    for name in ("cmc_coarse_vs_refined.png", "accuracy_vs_threshold.png", "retrieval_grid.png"):
        assert (test_dir / name).read_bytes()[:4] == b"\x89PNG"
    results = json.loads((test_dir / "eval_metrics.json").read_text())
    assert results["thresholds_m"] == pytest.approx([42.105263, 94.736842, 147.368421, 200.0])
    # the feature files carry metres: xgeo evaluate --protocol sn6 gives the coarse numbers
    again = evaluate_files(test_dir / "query.h5", test_dir / "gallery.h5", "sn6", results["thresholds_m"])
    assert again == pytest.approx(results["coarse"])
    assert xgeo_cli.main(["evaluate", "--query", str(test_dir / "query.h5"), "--gallery", str(test_dir / "gallery.h5"),
                          "--protocol", "sn6"]) == 0
    # refinement reorders only the top-K: R@K for K >= node_topk (4, the whole gallery) cannot change
    assert results["refined"]["R@5"] == results["coarse"]["R@5"] == 100.0


def test_train_both_phases_and_localize(sn6, tmp_path, capsys, tiny_flags):
    preset = _demo32(tmp_path)
    assert cli.train_main(["both", str(preset), *tiny_flags(sn6, tmp_path), *SMALL]) == 0
    run = tmp_path / "both"
    assert (run / "embed_feats" / "gallery.h5").is_file() and (run / "refine" / "checkpoint.pth.tar").is_file()
    assert cli.test_main([str(run), str(preset), "--data-root", str(sn6), "--out", str(tmp_path / "t"), *SMALL]) == 0
    capsys.readouterr()
    sar = sorted((sn6 / "test" / "imgs" / "sar").glob("*.png"))[:2]
    checkpoint = run / "refine" / "checkpoint.pth.tar"
    code = xgeo_cli.main(["localize", *map(str, sar), "--method", "cmpc", "--checkpoint", str(checkpoint),
                          "--gallery", str(tmp_path / "t" / "gallery.h5"), "--view", "sar", "--top-k", "3"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and len(lines) == 2 * 4 and "6" in lines[1]  # UTM-like northing in metres


def test_original_experiment_json_keys(tmp_path):
    from importlib import resources

    text = (resources.files("xgeo.cmpc.presets") / "same_advwd_gnn_e2e.yaml").read_text()
    import yaml

    released = yaml.safe_load(text) | {"KNN_inner": True, "graphedge_sigma": 0.0005, "epochs": 3}
    path = tmp_path / "same_advwd_gnn_e2e.json"
    path.write_text(json.dumps(released))
    config = resolve({"config": str(path), "exp_name": "x"})
    assert config.model.edge_mode == "feature" and config.model.edge_sigma == 0.0005
    assert config.train.epochs == 3 and config.train.optimizer == "sgd_nesterov" and config.train.batch_size == 24
    assert config.coarse.lr_mlp == 0.025 and config.coarse.critic and config.coarse.d_steps == 5
    assert config.data.data_root == "data/SN6-CMPC/samearea" and config.run.exp_name == "x"
    paper = resolve({"config": "same_advwd_gnn_e2e"})
    assert paper.model.arch == "resnet50" and paper.model.edge_mode == "position" and paper.train.milestones == (20.0,)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"model": "XmodNet"}, "model='XmodNet' is not implemented"),
        ({"embed_loss": ["Wasserstein_Loss"]}, "has no Triplet_Loss"),
        ({"lr": "fast"}, "wrong type"),
        ({"specify_num": 2}, "out of range"),
        ({"no_such_key": 1}, "unknown option 'no_such_key'"),
    ],
)
def test_bad_experiment_json_is_one_line(tmp_path, capsys, change, needle):
    path = tmp_path / "exp.json"
    path.write_text(json.dumps({"lr": 0.0025, **change}))
    with pytest.raises(SystemExit) as stop:
        cli.train_main(["x", str(path), "--data-root", str(tmp_path), "--result-path", str(tmp_path)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_malformed_annotation_stops_training_with_one_line(sn6, tmp_path, capsys, tiny_flags):
    import shutil

    root = tmp_path / "samearea"
    shutil.copytree(sn6, root)
    bad = root / "train" / "annotations" / "sar" / "3.json"
    bad.write_text('{"id": 1, "file_path": "3.png", "pos": {"x": 1,')
    with pytest.raises(SystemExit) as stop:
        cli.train_main(["x", "demo", *tiny_flags(root, tmp_path)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and str(bad) in err and "malformed annotation JSON" in err and "Traceback" not in err
    assert not np.any([p.name == "checkpoint.pth.tar" for p in tmp_path.rglob("*")])


def test_missing_checkpoint_and_data_root(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.test_main([str(tmp_path / "nothing.pth.tar"), "demo", "--data-root", str(tmp_path)])
    assert stop.value.code == 2 and "checkpoint not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        cli.train_main(["x", "demo", "--result-path", str(tmp_path)])
    assert stop.value.code == 2 and "pass --data-root" in capsys.readouterr().err
