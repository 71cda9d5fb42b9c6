"""The six-sector sampler, training items, and the console scripts end to end on a tiny synthetic University-1652:
train (D2S and G2D gen 0 -> gen 1), test, evaluate, diffuse, index; bad input as one-line errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from xgeo.core.synthetic import write_dataset
from xgeo.plcd.cli import COMMANDS
from xgeo.plcd.data import AnchorDroneSet, SectorSampler, sector_frames

torch.set_num_threads(1)
RING = 6


def test_sector_frames_are_the_originals_six_sectors():
    assert sector_frames(0) == [1, 2, 3, 19, 20, 21, 37, 38, 39]
    assert sector_frames(5) == [16, 17, 18, 34, 35, 36, 52, 53, 54]
    assert sorted(f for k in range(6) for f in sector_frames(k)) == list(range(1, 55))
    assert sector_frames(2, ring=6) == [3, 9, 15]


def test_sampler_draws_one_frame_per_sector():
    files = [Path(f"/d/0001/image-{k:02d}.jpeg") for k in range(1, 55)]
    sampler = SectorSampler(files, [0] * 54)
    random.seed(0)
    for _ in range(20):
        frames = [int(p.name[6:8]) for p in sampler(0)]
        assert all(f in sector_frames(k) for k, f in enumerate(frames))
    seen = {int(p.name[6:8]) for _ in range(400) for p in sampler(0)}
    assert seen == set(range(1, 55)), "every frame of every sector and altitude ring is drawn"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset("university1652", tmp_path_factory.mktemp("u"), size=4, seed=0, ring=RING, street_views=2,
                         distractors=2, aerial_size=32, pano_size=(16, 32))


def test_training_items_hold_an_anchor_and_six_sector_positives(root):
    ds = AnchorDroneSet(root, "g2d", (32, 32), ring=RING)
    item = ds[0]
    assert len(ds) == 4 * 2 and ds.num_classes == 4
    assert item["anchor"].shape == (3, 32, 32) and item["positives"].shape == (6, 3, 32, 32) and int(item["label"]) == 0


def _run(prog: str, *argv: str) -> int:
    try:
        return COMMANDS[prog].main([str(a) for a in argv])
    except SystemExit as stop:  # user errors exit 2 with one line on stderr
        return int(stop.code)


TINY = ("--config", "demo", "--h", "32", "--w", "32", "--batchsize", "4", "--epochs", "1", "--max_steps", "1",
        "--ring", str(RING), "--no-progress")


def test_pipeline_train_test_evaluate_diffuse(root, tmp_path, capsys):
    models = tmp_path / "model"
    common = ("--data_dir", root, "--model_dir", models) + TINY
    assert _run("plcd-train-g2d", "--name", "step1", "--gen", "0", "--easy_pos", "--lambda2", "0.1", *common) == 0
    assert _run("plcd-train-g2d", "--name", "step2", "--gen", "1", "--old_name", "step1", "--lambda3", "1.0", *common) == 0
    assert _run("plcd-train-d2s", "--name", "d2s", "--lambda1", "5.0", "--lambda2", "0.5", *common) == 0
    assert _run("plcd-test-g2d", "--name", "step2", "--test_dir", root, "--model_dir", models) == 0
    assert _run("plcd-test-d2s", "--name", "d2s", "--test_dir", root, "--model_dir", models) == 0
    assert {p.name for p in (models / "d2s").glob("*.h5")} == {"query.h5", "gallery.h5", "drone_gallery.h5"}
    capsys.readouterr()
    assert _run("plcd-evaluate", "--name", "d2s", "--model_dir", models) == 0
    assert "R@1%" in capsys.readouterr().out
    out = tmp_path / "dfs.json"
    args = ("--name_g2d", "step2", "--name_d2s", "d2s", "--model_dir", models, "--kd", "5", "--n_trunc", "20")
    assert _run("plcd-diffuse", *args, "--json", out, "--ranks", tmp_path / "ranks.h5") == 0
    metrics = json.loads(out.read_text())
    assert {"R@1", "R@5", "R@10", "R@1%", "mAP"} <= set(metrics) and (tmp_path / "ranks.h5").is_file()
    assert len(list((models / "d2s" / "diffusion_cache").glob("offline-*.npz"))) == 1
    assert _run("plcd-diffuse", *args) == 0
    assert "from cache" in capsys.readouterr().out


def test_bad_input_is_one_line(root, tmp_path, capsys):
    assert _run("plcd-train-d2s", "--name", "x", "--model_dir", tmp_path, "--data_dir", tmp_path / "missing", *TINY) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "University1652" in err[0]
    assert _run("plcd-train-g2d", "--name", "y", "--model_dir", tmp_path, "--data_dir", root, "--gen", "1", *TINY) == 2
    assert "--old_name" in capsys.readouterr().err
    assert _run("plcd-train-g2d", "--name", "z", "--model_dir", tmp_path, "--data_dir", root, "--tau", "-1", *TINY) == 2
    assert "--tau" in capsys.readouterr().err
    assert _run("plcd-diffuse", "--name_g2d", "a", "--name_d2s", "b", "--model_dir", tmp_path) == 2
    assert "not found" in capsys.readouterr().err


def test_index_command_regenerates_files_and_limited_views(root, tmp_path, capsys):
    import shutil

    copy = Path(shutil.copytree(root, tmp_path / "u"))
    (copy / "train" / "drone_path.txt").unlink()
    assert _run("plcd-index", copy, "--limited-view", "--ring", RING) == 0
    out = capsys.readouterr().out
    assert "drone_path.txt" in out and "gallery_drone_high" in out
    assert (copy / "train" / "drone_path.txt").read_text() == (root / "train" / "drone_path.txt").read_text()
    assert _run("plcd-test-g2d", "--name", "nothing", "--test_dir", copy, "--model_dir", tmp_path) == 2
