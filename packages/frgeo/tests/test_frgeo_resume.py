"""SIGKILL mid-epoch (while mining) and --resume: the mining state continues and the run ends bit-identical."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from xgeo.core.io import load_torch
from xgeo.frgeo import cli
from xgeo.frgeo.mining import PairMiningSampler

#: runs frgeo-train and SIGKILLs it right after the checkpoint of a given optimizer step is written
KILLER = """
import os, signal, sys
import torch
torch.set_num_threads(1)
from xgeo.core.train import trainer
kill_at = int(sys.argv[1])
save = trainer.Trainer.save_checkpoint
def save_then_die(self):
    path = save(self)
    if self.global_step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return path
trainer.Trainer.save_checkpoint = save_then_die
from xgeo.frgeo.cli import train_main as main
main(sys.argv[2:])
"""


def test_kill_and_resume_continues_mining_state(frgeo_cvusa, tmp_path, run_cli, fast):
    # 24 training pairs, global batch 8: 3 steps per epoch; mining runs in epoch 1 (steps 4-6)
    argv = ["--dataset", "cvusa", *fast, "--epochs", "2", "--checkpoint-every", "1", "--data-root", str(frgeo_cvusa)]
    killed, straight = tmp_path / "killed", tmp_path / "straight"

    proc = subprocess.run(
        [sys.executable, "-c", KILLER, "5", *argv, "--save_path", str(killed)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr
    at_kill = load_torch(killed / "checkpoint.pth.tar")
    assert (at_kill["epoch"], at_kill["batch_in_epoch"], at_kill["global_step"]) == (1, 2, 5)
    sampler_state = at_kill["sampler"]
    assert sampler_state["order_epoch"] == 1 and bool(sampler_state["bank"]["aerial_filled"].all())
    stored_order = sampler_state["order"].numpy()

    # the bank has moved on since the epoch began, so the stored batches are not re-derivable from it
    pairs = np.stack([np.arange(24), np.arange(24)], 1)
    regenerated = PairMiningSampler(pairs, 24, 24, batch_size=8, dim=1280, seed=0)
    regenerated.bank.load_state_dict(sampler_state["bank"])
    assert not np.array_equal(regenerated.generate(1), stored_order)

    code, _, err = run_cli(cli.train_main, [*argv, "--save_path", str(killed), "--resume", str(killed)])
    assert code == 0, err
    code, _, err = run_cli(cli.train_main, [*argv, "--save_path", str(straight)])
    assert code == 0, err

    resumed, reference = load_torch(killed / "checkpoint.pth.tar"), load_torch(straight / "checkpoint.pth.tar")
    assert resumed["global_step"] == reference["global_step"] == 6
    assert np.array_equal(resumed["sampler"]["order"].numpy(), stored_order)
    assert np.array_equal(reference["sampler"]["order"].numpy(), stored_order)
    for key in ("ground", "aerial"):
        assert torch.equal(resumed["sampler"]["bank"][key], reference["sampler"]["bank"][key])
    for name, tensor in reference["state_dict"].items():
        if isinstance(tensor, torch.Tensor):
            assert torch.equal(resumed["state_dict"][name], tensor), name
    assert resumed["history"][-1]["R@1"] == reference["history"][-1]["R@1"]
