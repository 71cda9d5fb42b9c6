"""User errors end in one line and exit code 2; presets, flag precedence and the distributed flags."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xgeo.core.presets import load_preset, preset_names, preset_path
from xgeo.core.train import launch
from xgeo.core.train.launch import DistFlags, torchrun_command
from xgeo.frgeo import cli
from xgeo.frgeo.config import SCHEMA, resolve


def parse(argv: list[str]):
    """The resolved config of a frgeo-train command line."""
    from xgeo.core.console import typed_options

    return resolve(typed_options(cli.TRAIN.parser().parse_args(argv)))


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture
def train_error(run_cli):
    def run(argv: list[str]) -> str:
        code, _, err = run_cli(cli.train_main, argv)
        assert code == 2
        return one_error_line(err)

    return run


def test_missing_data_root(tmp_path, train_error, fast):
    line = train_error(
        ["--dataset", "cvusa", *fast, "--data-root", str(tmp_path / "nowhere"), "--save_path", str(tmp_path / "o")]
    )
    assert "nowhere" in line and "CVUSA" in line
    line = train_error(["--dataset", "vigor", *fast, "--save_path", str(tmp_path / "o")])
    assert "--data-root" in line


def test_broken_cvusa_split_file(frgeo_cvusa, tmp_path, train_error, fast):
    root = Path(shutil.copytree(frgeo_cvusa, tmp_path / "cvusa"))
    (root / "splits" / "train-19zl.csv").write_text("bingmap/19/0000001.jpg\n")
    line = train_error(["--dataset", "cvusa", *fast, "--data-root", str(root), "--save_path", str(tmp_path / "o")])
    assert "train-19zl.csv" in line


def test_broken_vigor_label_file(frgeo_vigor, tmp_path, train_error, fast):
    root = Path(shutil.copytree(frgeo_vigor, tmp_path / "vigor"))
    labels = root / "splits" / "NewYork" / "pano_label_balanced.txt"
    first, *rest = labels.read_text().splitlines()
    labels.write_text("\n".join([" ".join(first.split()[:12]), *rest]) + "\n")
    line = train_error(["--dataset", "vigor", "--cross", *fast, "--data-root", str(root), "--save_path", str(tmp_path / "o")])
    assert "pano_label_balanced.txt" in line and "13" in line


def test_broken_cvact_mat_file(frgeo_cvact, tmp_path, train_error, fast):
    root = Path(shutil.copytree(frgeo_cvact, tmp_path / "cvact"))
    (root / "ACT_data.mat").write_bytes(b"not a mat file")
    line = train_error(["--dataset", "cvact", *fast, "--data-root", str(root), "--save_path", str(tmp_path / "o")])
    assert "ACT_data.mat" in line


def test_dim_must_match_the_descriptor(frgeo_cvusa, tmp_path, train_error, fast):
    line = train_error(
        ["--dataset", "cvusa", *fast, "--dim", "3072", "--data-root", str(frgeo_cvusa), "--save_path", str(tmp_path)]
    )
    assert "--dim 3072" in line and "1280" in line


def test_nan_pretrained_weights_and_wrong_checkpoints(frgeo_cvusa, tmp_path, train_error, run_cli, fast):
    from xgeo.frgeo.model import create_backbone

    state = create_backbone("convnext_atto").state_dict()
    state["stem.0.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pth")
    line = train_error(
        [
            "--dataset",
            "cvusa",
            *fast,
            "--pretrained",
            str(tmp_path / "nan.pth"),
            "--data-root",
            str(frgeo_cvusa),
            "--save_path",
            str(tmp_path / "o"),
        ]
    )
    assert "nan.pth" in line and "NaN" in line

    torch.save(create_backbone("convnext_femto").state_dict(), tmp_path / "femto.pth")
    line = train_error(
        [
            "--dataset",
            "cvusa",
            *fast,
            "--pretrained",
            str(tmp_path / "femto.pth"),
            "--data-root",
            str(frgeo_cvusa),
            "--save_path",
            str(tmp_path / "o"),
        ]
    )
    assert "femto.pth" in line

    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pth.tar").write_bytes(b"garbage")
    line = train_error(["--dataset", "cvusa", "-e", "--dim", "auto", "--data-root", str(frgeo_cvusa), "--save_path", str(run)])
    assert "checkpoint.pth.tar" in line

    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pth")
    code, _, err = run_cli(
        cli.eval_main, ["--checkpoint", str(tmp_path / "other.pth"), "--dataset", "cvusa", "--data-root", str(frgeo_cvusa)]
    )
    assert code == 2 and "other.pth" in one_error_line(err)


def test_unknown_preset_and_preset_keys(tmp_path, train_error):
    line = train_error(["--config", "nope", "--dataset", "cvusa"])
    assert "nope" in line
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: 0.1\nlearning_rate: 0.2\n")
    line = train_error(["--config", str(bad), "--dataset", "cvusa"])
    assert "bad.yaml" in line and "learning_rate" in line


def test_console_script_prints_one_line_and_exits_2(tmp_path):
    script = Path(sys.executable).with_name("frgeo-train")
    proc = subprocess.run(
        [str(script), "--dataset", "cvusa", "--data-root", str(tmp_path / "none"), "--save_path", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    one_error_line(proc.stderr)


def test_presets_ship_and_flags_override_only_when_given():
    assert {"cvusa", "cvact", "vigor", "vigor_cross", "demo"} <= set(preset_names(SCHEMA))
    for name in preset_names(SCHEMA):
        resolve({"config": name})  # every shipped key is a known option with a valid value
    paper = resolve({"dataset": "cvusa"})  # no --config: the dataset's paper preset
    train = paper.train
    assert (
        train.lr,
        train.batch_size,
        train.epochs,
        train.optimizer,
        train.sam,
        train.rho,
        train.weight_decay,
        paper.data.mining,
        train.schedule,
        paper.model.dim,
    ) == (1e-4, 32, 50, "adamw", "asam", 2.5, 0.03, True, "cosine", 3072)
    assert resolve({"dataset": "vigor", "cross": True}).preset == "vigor_cross"
    demo = resolve({"config": "demo", "dataset": "vigor", "lr": 0.5})
    assert demo.train.lr == 0.5 and demo.model.backbone == "convnext_atto" and demo.model.dim is None
    assert demo.data.dataset == "vigor"
    parsed = parse(["--config", "demo", "--no-mining", "-b", "16"])
    demo_epochs = load_preset(SCHEMA, "demo")[1]["train"]["epochs"]
    assert parsed.data.mining is False and parsed.train.batch_size == 16 and parsed.train.epochs == demo_epochs
    # --op and --asam typed over a preset: --op adam turns SAM off, --no-asam keeps plain SAM
    assert (parse(["--config", "demo", "--op", "adam"]).train.sam, parse(["--config", "demo", "--no-asam"]).train.sam) == (
        None,
        "sam",
    )


def test_original_distributed_flags_map_onto_torchrun(monkeypatch, capsys):
    # The mapping itself is core's (packages/core/tests/test_train_launch.py); here: frgeo-train's wiring.
    argv = "--lr 0.0001 --dist-url tcp://localhost:8080 --multiprocessing-distributed --world-size 1 --rank 0".split()
    argv += ["--dataset", "cvusa", "--dist-backend=nccl"]
    opts = parse(argv).run
    flags = DistFlags.from_args(opts)
    assert flags == DistFlags("tcp://localhost:8080", 1, 0, True) and opts.dist_backend == "nccl"
    cmd = torchrun_command(flags, argv, "xgeo.frgeo.cli", nproc=2)
    assert {"--nproc_per_node=2", "--nnodes=1", "--node_rank=0", "--master_addr=localhost", "--master_port=8080"} <= set(cmd)
    assert cmd[-6:] == ["-m", "xgeo.frgeo.cli", "--lr", "0.0001", "--dataset", "cvusa"]

    calls = []
    monkeypatch.setattr(launch.subprocess, "call", lambda command, env: calls.append(command) or 0)
    two_nodes = ["--config", "demo", "--multiprocessing-distributed", "--world-size", "2", "--rank", "1", "--save_path", "x"]
    assert cli.train_main(two_nodes) == 0  # re-launched: nothing trains in this process
    assert calls and calls[0][-6:] == ["-m", "xgeo.frgeo.cli", "--config", "demo", "--save_path", "x"]
    assert "launching 1 process per node with torchrun (nodes=2, node rank=1)" in capsys.readouterr().out
    assert parse(["--gpu_ids", "0,1"]).run.gpu_ids == "0,1"


def test_gpu_with_gpu_ids_is_a_one_line_error(train_error):
    assert "--gpu 0 and --gpu_ids 1 both given" in train_error(["--config", "demo", "--gpu", "0", "--gpu_ids", "1"])


def test_inputs_too_small_for_the_frm(frgeo_cvusa, tmp_path, train_error, fast):
    line = train_error(
        ["--dataset", "cvusa", *fast, "--fov", "270", "--data-root", str(frgeo_cvusa), "--save_path", str(tmp_path)]
    )
    assert "--fov 270" in line and "four strips" in line
    line = train_error(
        ["--dataset", "cvusa", *fast, "--aerial-size", "48", "48", "--data-root", str(frgeo_cvusa), "--save_path", str(tmp_path)]
    )
    assert "quadrants" in line


def test_preset_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()  # e.g. `xgeo demo --workdir demo`
    assert preset_path(SCHEMA, "demo").name == "demo.yaml" and preset_path(SCHEMA, "demo").is_file()
    (tmp_path / "mine.yaml").write_text("lr: 0.5\n")  # a legacy flat preset
    assert resolve({"config": "mine.yaml", "dataset": "cvusa"}).train.lr == 0.5
