"""hvsa-train / hvsa-eval / hvsa-search end to end on a tiny synthetic RSITMD, and bad input."""

from __future__ import annotations

import json

import pytest

from xgeo.core.features import read_features
from xgeo.hvsa.cli import eval_main, search_main, train_main


def test_train_runs_each_seed_on_its_own_split_and_averages(trained):
    summary = json.loads((trained / "test_metrics.json").read_text())
    assert summary["seeds"] == [3, 4] and len(summary["runs"]) == 2
    for run in summary["runs"]:
        assert run["images"] == 2 and run["captions"] == 10
    for key in ("i2t_R@1", "t2i_R@10", "rsum", "mR"):
        assert summary["mean"][key] == pytest.approx(sum(r[key] for r in summary["runs"]) / 2)
    assert summary["mean"]["mR"] == pytest.approx(summary["mean"]["rsum"] / 6)
    for k in (0, 1):
        assert (trained / f"run{k}" / "checkpoint.pth.tar").is_file()
    # each run carved its own image-level split: 3 of the 4 training images, chosen by its seed
    from xgeo.hvsa.data import split_images

    assert split_images(4, 0.75, 3)[1].tolist() != split_images(4, 0.75, 4)[1].tolist()


def test_second_train_into_a_finished_experiment_is_refused(trained, rsitmd_root, tiny_preset, capsys):
    with pytest.raises(SystemExit) as stop:
        train_main(["--config", str(tiny_preset), "--data-root", str(rsitmd_root), "--save-path", str(trained)])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--overwrite" in err


def test_eval_averages_runs_prints_examples_and_writes_features(trained, rsitmd_root, tiny_preset, capsys):
    assert eval_main(["--config", str(tiny_preset), "--data-root", str(rsitmd_root), "--save-path", str(trained)]) == 0
    out = capsys.readouterr().out
    assert "mean over 2 run(s)" in out
    assert sum(" -> " in line for line in out.splitlines()) == 2 * 2  # per run: 1 sentence -> images, 1 image -> sentences
    images = read_features(trained / "run0" / "features-test" / "query.h5")
    captions = read_features(trained / "run0" / "features-test" / "gallery.h5")
    assert (len(images), len(captions)) == (2, 10) and images.view == "image" and captions.view == "text"
    assert captions.labels.tolist() == [0] * 5 + [1] * 5


def test_search_ranks_gallery_images_for_free_text(trained, capsys):
    gallery = trained / "run0" / "features-test" / "query.h5"
    if not gallery.is_file():
        eval_main(["--checkpoint", str(trained / "run0"), "--out", str(gallery.parent)])
    capsys.readouterr()
    assert search_main(["two buildings next to a road", "a lake", "--checkpoint", str(trained / "run0"),
                        "--gallery", str(gallery), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == '"two buildings next to a road"' and len(lines) == 6
    ids = set(read_features(gallery).ids.tolist())
    assert all(line.split()[1] in ids for line in lines[1:3])


def test_search_bad_input_is_one_line(trained, capsys):
    captions = trained / "run0" / "features-test" / "gallery.h5"
    for argv in (["", "--checkpoint", str(trained / "run0"), "--gallery", str(captions)],
                 ["a lake", "--checkpoint", str(trained / "run0"), "--gallery", str(trained / "missing.h5")],
                 ["a lake", "--checkpoint", str(trained / "nothing"), "--gallery", str(captions)]):
        with pytest.raises(SystemExit) as stop:
            search_main(argv)
        assert stop.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err
