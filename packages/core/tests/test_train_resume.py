"""A run killed with SIGKILL mid-epoch and resumed ends bit-identical to an uninterrupted run (CPU)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from xgeo.core.errors import XgeoError
from xgeo.core.io import load_torch

WORKER = Path(__file__).with_name("_train_worker.py")
_spec = importlib.util.spec_from_file_location("_train_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # type: ignore[union-attr]
STEPS_PER_EPOCH, EPOCHS = 6, 3  # 48 samples, batch 8 (see _train_worker.kill_config)


def _run(*args: str, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw
    )


def _checkpoint(path: Path) -> dict | None:
    try:
        return load_torch(path)
    except XgeoError:
        return None


def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path: Path) -> None:
    victim = _run(str(tmp_path / "run"), "--sleep", "0.2")
    worker.run_kill(str(tmp_path / "ref"), resume=False, sleep=0.0, final=str(tmp_path / "ref.pt"))  # uninterrupted, here
    ckpt_path = tmp_path / "run" / "checkpoint.pth.tar"
    deadline = time.monotonic() + 90
    while True:  # wait for a checkpoint written mid-way through the second epoch, then kill
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no mid-epoch checkpoint appeared"
        ckpt = _checkpoint(ckpt_path)
        if ckpt is not None and ckpt["epoch"] == 1 and 2 <= ckpt["batch_in_epoch"] <= 3:
            break
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    at_kill = load_torch(ckpt_path)
    assert at_kill["epoch"] == 1 and 0 < at_kill["batch_in_epoch"] < STEPS_PER_EPOCH  # really mid-epoch

    resumed = _run(str(tmp_path / "run"), "--resume", "--final", str(tmp_path / "resumed.pt"))
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out[-3000:]

    ref = torch.load(tmp_path / "ref.pt", weights_only=True)
    res = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert ref["model"].keys() == res["model"].keys()
    for name in ref["model"]:
        assert torch.equal(ref["model"][name], res["model"][name]), name
    for pid, state in ref["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, res["optimizer"]["state"][pid][key]), (pid, key)
    assert torch.equal(ref["bank"], res["bank"])  # the sampler's memory bank came back too
    final = load_torch(tmp_path / "run" / "checkpoint.pth.tar")
    assert (final["epoch"], final["global_step"]) == (EPOCHS, EPOCHS * STEPS_PER_EPOCH)
