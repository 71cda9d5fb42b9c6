"""Two processes under torchrun (gloo, CPU) train exactly like one process with local_batch = per-rank batch.

This checks the round-robin dealing of mined batches, the all-gathered memory bank, DDP gradient
averaging inside ASAM, and that ``local_batch`` reproduces multi-GPU loss sub-batches.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import torch

from xgeo.core.io import load_torch
from xgeo.frgeo import cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_equal_one_process_with_local_batch(frgeo_cvusa, tmp_path, run_cli, fast):
    argv = ["--dataset", "cvusa", *fast, "--epochs", "2", "--device", "cpu", "--data-root", str(frgeo_cvusa)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "-m",
        "xgeo.frgeo.cli",
        *argv,
        "--save_path",
        str(tmp_path / "ddp"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    code, _, err = run_cli(cli.train_main, [*argv, "--local-batch", "4", "--save_path", str(tmp_path / "one")])
    assert code == 0, err

    ddp, one = load_torch(tmp_path / "ddp" / "checkpoint.pth.tar"), load_torch(tmp_path / "one" / "checkpoint.pth.tar")
    assert ddp["world_size"] == 2 and ddp["global_step"] == one["global_step"] == 6
    assert np.array_equal(ddp["sampler"]["order"].numpy(), one["sampler"]["order"].numpy())  # same mined batches
    assert torch.allclose(ddp["sampler"]["bank"]["aerial"], one["sampler"]["bank"]["aerial"], atol=1e-5)
    for name, tensor in one["state_dict"].items():
        if isinstance(tensor, torch.Tensor):
            assert torch.allclose(ddp["state_dict"][name], tensor, atol=1e-4), name
    for a, b in zip(ddp["history"], one["history"], strict=True):
        assert a["train_loss"] == b["train_loss"] or abs(a["train_loss"] - b["train_loss"]) < 1e-4
        assert a["R@1"] == b["R@1"]
