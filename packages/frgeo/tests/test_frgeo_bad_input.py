"""Each class of bad input ends in one line, exit code 2, before any work, with nothing on disk changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from xgeo.frgeo import cli


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def refused(run_cli):
    """Run frgeo-train; assert exit 2 and a single ``error:`` line; return that line."""

    def run(argv: list[str], main=cli.train_main) -> str:
        code, _, err = run_cli(main, argv)
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
        return lines[0]

    return run


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, frgeo_cvusa):
    """A one-step run of the demo preset on CVUSA (read-only: copy before changing)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    argv = [
        "--dataset",
        "cvusa",
        "--config",
        "demo",
        "-b",
        "8",
        "--epochs",
        "1",
        "--max-steps",
        "1",
        "--no-mining",
        "--eval-batch-size",
        "16",
        "--no-progress",
        "--data-root",
        str(frgeo_cvusa),
        "--save_path",
        str(out),
    ]
    assert cli.train_main(argv) == 0
    return out, argv


def test_a_finished_run_is_never_overwritten_silently(finished_run, refused, run_cli, tmp_path):
    import shutil

    out = Path(shutil.copytree(finished_run[0], tmp_path / "run"))
    argv = [*finished_run[1][:-1], str(out)]
    (out / "log.jsonl").write_text('{"kind": "note", "step": 0, "message": "the old run"}\n')
    assert json.loads((out / "metrics.json").read_text())["partial_epoch"] is True  # --max-steps leaves metrics.json
    (out / "metrics.json").write_text('{"R@1": 50.0}\n')  # a finished run's result
    before = snapshot(out)
    line = refused(argv)
    assert str(out) in line and "--resume" in line and "--overwrite" in line
    assert snapshot(out) == before
    code, _, err = run_cli(cli.train_main, [*argv, "--overwrite"])
    assert code == 0, err
    assert not (out / "log.jsonl").exists() or "the old run" not in (out / "log.jsonl").read_text()  # not appended to
    assert "partial_epoch" in json.loads((out / "metrics.json").read_text())  # the new run's, not the old one's


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--lr", "nan"], "--lr=nan"),
        (["--lr", "-1"], "--lr=-1.0"),
        (["--lr", "inf"], "--lr=inf"),
        (["-b", "0"], "--batch-size=0"),
        (["--eval-batch-size", "0"], "--eval-batch-size=0"),
        (["--top-k", "0"], "--top-k=0"),
        (["--pool-size", "0"], "--pool-size=0"),
        (["--epochs", "0"], "--epochs=0"),
        (["-j", "-1"], "--workers=-1"),
        (["--wd", "-0.1"], "--wd=-0.1"),
        (["--fov", "400"], "--fov=400"),
        (["--alpha", "nan"], "--alpha=nan"),
        (["--device", "banana"], "--device='banana'"),
        (["--gpu", "7"], "--gpu 7"),
        (["--max-steps", "0"], "--max-steps=0"),
    ],
)
def test_option_values_are_checked_before_any_work(flags, fragment, refused, frgeo_cvusa, tmp_path):
    out = tmp_path / "out"
    line = refused(["--dataset", "cvusa", "--config", "demo", *flags, "--data-root", str(frgeo_cvusa), "--save_path", str(out)])
    assert fragment in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('train:\n  lr: "fast"\n', "train.lr='fast'"),
        ("train:\n  epochs: [1, 2]\n", "train.epochs"),
        ("data:\n  top_k: 0\n", "data.top_k=0"),
        ("lr: -3\n", "train.lr=-3"),
    ],
)
def test_preset_values_are_checked_naming_the_file(text, fragment, refused, frgeo_cvusa, tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text(text)
    line = refused(
        ["--config", str(preset), "--dataset", "cvusa", "--data-root", str(frgeo_cvusa), "--save_path", str(tmp_path / "o")]
    )
    assert "mine.yaml" in line and fragment in line


def test_output_locations_are_checked_before_any_work(refused, frgeo_cvusa, finished_run, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    base = ["--dataset", "cvusa", "--config", "demo", "--data-root", str(frgeo_cvusa)]
    assert "--save_path" in refused([*base, "--save_path", str(afile)])
    assert "--save_path" in refused([*base, "--save_path", str(afile / "sub")])
    assert "--save_path" in refused([*base, "--save_path", "/proc/xgeo-run"])
    checkpoint = finished_run[0] / "checkpoint.pth.tar"
    line = refused(
        ["--checkpoint", str(checkpoint), "--dataset", "cvusa", "--data-root", str(frgeo_cvusa), "--out", str(afile)],
        cli.eval_main,
    )
    assert "--out" in line and afile.read_text() == "keep"
    assert "-b/--batch-size" in refused(
        ["--checkpoint", str(checkpoint), "--dataset", "cvusa", "--data-root", str(frgeo_cvusa), "-b", "0"], cli.eval_main
    )


def test_resume_refuses_a_checkpoint_of_another_dataset_or_nan_weights(finished_run, refused, frgeo_cvact, tmp_path):
    import shutil

    out = Path(shutil.copytree(finished_run[0], tmp_path / "run"))
    before = snapshot(out)
    argv = ["--config", "demo", "-b", "8", "--no-mining", "--no-progress", "--save_path", str(out), "--resume", str(out)]
    line = refused(["--dataset", "cvact", "--data-root", str(frgeo_cvact), *argv])
    assert "checkpoint.pth.tar" in line and "dataset 'cvusa'" in line and "'cvact'" in line
    assert snapshot(out) == before
    state = torch.load(out / "checkpoint.pth.tar", weights_only=True)
    next(v for v in state["state_dict"].values() if isinstance(v, torch.Tensor) and v.is_floating_point()).view(-1)[0] = float(
        "nan"
    )
    torch.save(state, out / "checkpoint.pth.tar")
    line = refused(["--dataset", "cvusa", "--data-root", str(finished_run[1][finished_run[1].index("--data-root") + 1]), *argv])
    assert "NaN" in line
