"""The original distributed flags map onto torchrun or a single process, with one line saying which."""

from __future__ import annotations

import argparse
import sys

import pytest

from xgeo.core.errors import XgeoError
from xgeo.core.train import launch
from xgeo.core.train.launch import DistFlags, Launch, add_dist_flags, plan_launch, strip_dist_flags, torchrun_command

MODULE = "some.method.cli_train"
ARGV = [
    "--lr",
    "0.0001",
    "--dist-url",
    "tcp://localhost:8080",
    "--multiprocessing-distributed",
    "--world-size",
    "1",
    "--rank",
    "0",
    "--dataset",
    "cvusa",
    "--dist-backend=nccl",
]


def _parser(suppress: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(argument_default=argparse.SUPPRESS) if suppress else argparse.ArgumentParser()
    p.add_argument("--lr", type=float)
    p.add_argument("--dataset")
    add_dist_flags(p.add_argument_group("original flags"))
    return p


def _plan(argv: list[str], **kw) -> Launch:
    flags = DistFlags.from_args(_parser(True).parse_args(argv))
    return plan_launch(flags, argv, MODULE, **{"gpus": 0, "under_torchrun": False, "environ": {}, **kw})


def test_strip_dist_flags_in_both_spellings() -> None:
    assert strip_dist_flags(ARGV) == ["--lr", "0.0001", "--dataset", "cvusa"]
    argv = ["--gpu_ids", "0,1", "--gpu-ids=2", "--gpu", "1", "--epochs", "3", "--world-size=2"]
    assert strip_dist_flags(argv) == ["--epochs", "3"]


@pytest.mark.parametrize("suppress", [True, False])
def test_add_dist_flags_only_typed_flags_count(suppress: bool) -> None:
    parser = _parser(suppress)
    untyped = parser.parse_args(["--lr", "0.1"])
    if suppress:
        assert vars(untyped) == {"lr": 0.1}  # argument_default=SUPPRESS: nothing the user did not type
    assert DistFlags.from_args(untyped) == DistFlags() and not DistFlags().given
    flags = DistFlags.from_args(parser.parse_args([*ARGV, "--gpu_ids", "1, 0"]))
    assert flags == DistFlags("tcp://localhost:8080", 1, 0, True, None, "1,0") and flags.given
    assert DistFlags.from_args(parser.parse_args(["--gpu", "1"])).given is False  # one pinned GPU is not distributed


def test_bad_gpu_ids_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in ("0,x", "0,0", "-2", ""):
        with pytest.raises(SystemExit) as info:
            _parser(True).parse_args(["--gpu_ids", bad])
        assert info.value.code == 2
    assert "is not a valid gpu_ids" in capsys.readouterr().err


def test_torchrun_command_relaunches_the_module_without_the_dist_flags() -> None:
    flags = DistFlags.from_args(_parser(True).parse_args(ARGV))
    cmd = torchrun_command(flags, ARGV, MODULE, nproc=2)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert {"--nproc_per_node=2", "--nnodes=1", "--node_rank=0", "--master_addr=localhost", "--master_port=8080"} <= set(cmd)
    assert cmd[-6:] == ["-m", MODULE, "--lr", "0.0001", "--dataset", "cvusa"]
    default = torchrun_command(DistFlags(world_size=3, rank=2), [], MODULE, nproc=1)
    assert {"--nnodes=3", "--node_rank=2", "--master_addr=127.0.0.1", "--master_port=29500"} <= set(default)


def test_multiprocessing_distributed_uses_torchrun_with_one_process_per_gpu() -> None:
    plan = _plan(ARGV, gpus=4)
    assert plan.command == torchrun_command(DistFlags.from_args(_parser(True).parse_args(ARGV)), ARGV, MODULE, 4)
    assert plan.message == "--multiprocessing-distributed: launching 4 processes per node with torchrun (nodes=1, node rank=0)"
    assert plan.env == {} and plan.device is None
    nodes = _plan(["--multiprocessing-distributed", "--world-size", "2", "--rank", "1"], gpus=1)  # one GPU per node
    assert nodes.command is not None and {"--nproc_per_node=1", "--nnodes=2", "--node_rank=1"} <= set(nodes.command)


@pytest.mark.parametrize(
    ("argv", "kw", "where"),
    [
        (ARGV, {"gpus": 0}, "the CPU"),
        (ARGV, {"gpus": 1}, "GPU 0"),
        ([*ARGV, "--gpu", "1"], {"gpus": 2}, "GPU 1"),
        (ARGV, {"gpus": 2, "single_process": True}, "GPU 0"),
    ],
)
def test_otherwise_a_single_process_says_so(argv: list[str], kw: dict, where: str) -> None:
    plan = _plan(argv, **kw)
    assert plan.command is None
    assert plan.message == (
        f"distributed flags mapped to a single process on {where} "
        f"(for several GPUs or nodes: torchrun --nproc_per_node=N -m {MODULE} ...)"
    )


def test_no_flags_no_line_and_under_torchrun_the_flags_are_ignored() -> None:
    assert _plan(["--lr", "0.1"], gpus=8) == Launch()
    assert _plan(["--gpu", "1"], gpus=2) == Launch(device="cuda:1")
    assert _plan(ARGV, gpus=8, under_torchrun=True) == Launch(
        "running under torchrun: --dist-url/--world-size/--rank/--multiprocessing-distributed/--gpu_ids are ignored"
    )
    assert _plan(["--lr", "0.1"], under_torchrun=True) == Launch()


def test_gpu_ids_pick_the_gpus() -> None:
    one = _plan(["--gpu_ids", "1"], gpus=2)
    assert (one.command, one.device, one.message) == (None, "cuda:1", "--gpu_ids 1: a single process on GPU 1")
    assert _plan(["--gpu_ids", "-1"], gpus=2) == Launch("--gpu_ids -1: a single process on the CPU", device="cpu")

    several = _plan(["--gpu_ids", "1,3", "--lr", "0.1"], gpus=4)
    assert several.command is not None and "--nproc_per_node=2" in several.command
    assert several.command[-4:] == ["-m", MODULE, "--lr", "0.1"] and several.env == {"CUDA_VISIBLE_DEVICES": "1,3"}
    assert several.message == "--gpu_ids 1,3: launching 2 processes per node with torchrun on GPUs 1,3 (nodes=1, node rank=0)"
    # ids count among the GPUs this process sees: with CUDA_VISIBLE_DEVICES=4,5,6,7, ids 1,3 are GPUs 5 and 7
    masked = _plan(["--gpu_ids", "1,3"], gpus=4, environ={"CUDA_VISIBLE_DEVICES": "4,5,6,7"})
    assert masked.env == {"CUDA_VISIBLE_DEVICES": "5,7"}
    evaluation = _plan(["--gpu_ids", "1,3"], gpus=4, single_process=True)
    assert (evaluation.command, evaluation.device) == (None, "cuda:1")


def test_gpu_ids_the_machine_lacks_or_with_gpu_are_one_line_errors() -> None:
    with pytest.raises(XgeoError) as info:
        _plan(["--gpu_ids", "0,2"], gpus=2)
    assert info.value.line() == "--gpu_ids 0,2: this machine has 2 visible GPU(s); use ids below 2"
    with pytest.raises(XgeoError, match="use --gpu_ids -1"):
        _plan(["--gpu_ids", "0"], gpus=0)
    with pytest.raises(XgeoError, match="--gpu 0 and --gpu_ids 1 both given; pass only one"):
        _plan(["--gpu", "0", "--gpu_ids", "1"], gpus=2)


def test_execute_prints_one_line_and_runs_the_relaunch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(launch.subprocess, "call", lambda cmd, env: calls.append((cmd, env)) or 3)
    assert Launch("here", device="cpu").execute() is None and not calls
    assert Launch().execute() is None
    assert Launch("there", command=["x"], env={"CUDA_VISIBLE_DEVICES": "1"}).execute() == 3
    assert capsys.readouterr().out == "here\nthere\n"
    assert calls[0][0] == ["x"] and calls[0][1]["CUDA_VISIBLE_DEVICES"] == "1" and "PATH" in calls[0][1]
