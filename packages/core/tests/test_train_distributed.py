"""Two gloo processes (torchrun environment) train like one process with the same global batch; embed gathers in order."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from xgeo.core.train.embed import shard_range

WORKER = Path(__file__).with_name("_train_worker.py")
_spec = importlib.util.spec_from_file_location("_train_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # type: ignore[union-attr]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_single_process_and_embed_gathers(tmp_path: Path) -> None:
    # The two ranks get exactly the environment torchrun gives its workers (without the launcher process).
    port = str(_free_port())
    cmd = [
        sys.executable,
        str(WORKER),
        str(tmp_path / "ddp"),
        "--mode",
        "ddp",
        "--final",
        str(tmp_path / "ddp.pt"),
        "--ddp-check",
        str(tmp_path / "check"),
    ]
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": port,
            "OMP_NUM_THREADS": "1",
        }
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))

    # meanwhile, the same run in this process (world size 1)
    single, seen = worker.ddp_trainer(str(tmp_path / "one"))
    single.fit()

    for proc in procs:
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output[-3000:]
    ddp_state = torch.load(tmp_path / "ddp.pt", weights_only=True)
    moved = False
    for name, value in single.model.state_dict().items():
        assert torch.allclose(ddp_state[name], value, atol=1e-5), name
        moved |= not torch.allclose(value, worker.make_model().state_dict()[name])
    assert moved
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert [h["train_loss"] for h in two["history"]] == pytest.approx([h["train_loss"] for h in one["history"]], rel=1e-5)
    assert two["R@1"] == pytest.approx(one["R@1"], rel=1e-5)

    probe = worker.Regression(11)
    expected = torch.stack([probe.x[:, 0] * 2.0, probe.x.sum(1)], 1)
    for rank in (0, 1):
        check = torch.load(f"{tmp_path / 'check'}.{rank}", weights_only=True)
        assert check["world_size"] == 2 and check["rank"] == rank
        assert len(check["embedded"]) == 2  # evaluate ran after each epoch on every rank
        for feats in check["embedded"]:
            assert torch.equal(feats, expected)  # all 11 rows, in dataset order, on both ranks
    assert [list(shard_range(11, r, 2)) for r in (0, 1)] == [list(range(6)), list(range(6, 11))]
    assert list(shard_range(2, 2, 3)) == []
