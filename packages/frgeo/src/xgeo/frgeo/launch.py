"""The original distributed flags, mapped onto ``torchrun`` or a single process.

The original ``train.py`` starts one process per GPU itself (``--multiprocessing-distributed``
with ``--dist-url``, ``--world-size`` = number of nodes, ``--rank`` = node rank). Here processes
come from ``torchrun``; core's Trainer joins the group from its environment. So:

- under ``torchrun`` the flags are ignored (the launcher already decided);
- with ``--multiprocessing-distributed`` and several visible GPUs, ``frgeo-train`` re-launches
  itself through ``torch.distributed.run`` with one process per GPU on this node;
- otherwise the run is a single process.

Each case prints one line saying what happened.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from urllib.parse import urlparse

import torch

from xgeo.core.train.distributed import launched_by_torchrun
from xgeo.frgeo.config import RunOptions as Options

#: flags of the original launcher with the number of values each takes
DIST_FLAGS: dict[str, int] = {
    "--dist-url": 1,
    "--world-size": 1,
    "--rank": 1,
    "--dist-backend": 1,
    "--multiprocessing-distributed": 0,
}


def strip_dist_flags(argv: Sequence[str]) -> list[str]:
    """``argv`` without the original launcher's flags (both ``--flag value`` and ``--flag=value``)."""
    out: list[str] = []
    skip = 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in DIST_FLAGS:
            skip = DIST_FLAGS[name] if "=" not in arg else 0
            continue
        out.append(arg)
    return out


def torchrun_command(opts: Options, argv: Sequence[str], gpus: int) -> list[str]:
    """The ``torch.distributed.run`` command equivalent to the original multi-processing launch."""
    url = urlparse(opts.dist_url or "tcp://127.0.0.1:29500")
    nodes, node_rank = max(int(opts.world_size), 1), max(int(opts.rank), 0)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={gpus}",
        f"--nnodes={nodes}",
        f"--node_rank={node_rank}",
        f"--master_addr={url.hostname or '127.0.0.1'}",
        f"--master_port={url.port or 29500}",
        "-m",
        "xgeo.frgeo.cli",
        "train",
        *strip_dist_flags(argv),
    ]


def dist_flags_given(opts: Options) -> bool:
    return bool(opts.multiprocessing_distributed or opts.dist_url or opts.world_size != -1 or opts.rank != -1)


def maybe_relaunch(opts: Options, argv: Sequence[str]) -> int | None:
    """Exit code of a ``torchrun`` re-launch when one is needed, else ``None`` (run here)."""
    if launched_by_torchrun():
        if dist_flags_given(opts):
            print("running under torchrun: --dist-url/--world-size/--rank/--multiprocessing-distributed are ignored", flush=True)
        return None
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if opts.multiprocessing_distributed and gpus > 1 and opts.gpu is None and not opts.evaluate:
        command = torchrun_command(opts, argv, gpus)
        print(
            f"--multiprocessing-distributed: launching {gpus} processes per node with torchrun "
            f"(nodes={max(opts.world_size, 1)}, node rank={max(opts.rank, 0)})",
            flush=True,
        )
        return subprocess.call(command)
    if dist_flags_given(opts):
        where = f"{gpus} GPU" if gpus == 1 else ("CPU" if gpus == 0 else f"GPU {opts.gpu}")
        print(
            f"distributed flags mapped to a single process on {where} "
            "(for several GPUs or nodes: torchrun --nproc_per_node=N -m xgeo.frgeo.cli train ...)",
            flush=True,
        )
    return None
