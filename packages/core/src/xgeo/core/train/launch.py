"""The original scripts' distributed flags, mapped onto ``torchrun`` or a single process.

Original training scripts start their processes themselves: ``--multiprocessing-distributed`` with
``--dist-url``, ``--world-size`` (number of nodes) and ``--rank`` (node rank) spawns one process per
GPU; ``--gpu N`` pins one GPU; others take ``--gpu_ids 0,1``. Here processes come from ``torchrun``
and the :class:`~xgeo.core.train.Trainer` joins the group from its environment. So a command adds
the flags with :func:`add_dist_flags`, and before any work asks :func:`plan_launch` what to do:

- under ``torchrun`` the flags are ignored (the launcher already decided);
- ``--multiprocessing-distributed`` with several visible GPUs (or several nodes) re-launches the
  command through ``python -m torch.distributed.run`` with one process per GPU on this node;
- ``--gpu_ids`` with several ids re-launches it with one process per id (``CUDA_VISIBLE_DEVICES``
  set to those GPUs); one id is a single process on that GPU, ``-1`` a single process on the CPU;
- otherwise the command runs here, in one process.

:meth:`Launch.execute` prints the one line that says which, and runs the re-launch if there is one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from xgeo.core.checks import arg_type
from xgeo.core.errors import XgeoError
from xgeo.core.train.distributed import launched_by_torchrun

DIST_FLAGS: dict[str, int] = {
    "--dist-url": 1,
    "--world-size": 1,
    "--rank": 1,
    "--dist-backend": 1,
    "--multiprocessing-distributed": 0,
    "--gpu": 1,
    "--gpu_ids": 1,
    "--gpu-ids": 1,
}
"""The original launcher's flags, with the number of values each takes (stripped before a re-launch)."""

DEFAULT_URL = "tcp://127.0.0.1:29500"
IGNORED_UNDER_TORCHRUN = "--dist-url/--world-size/--rank/--multiprocessing-distributed/--gpu_ids"


def gpu_ids(text: str) -> str:
    """``--gpu_ids`` value, normalised: ``"0,1"`` (distinct ids >= 0) or ``"-1"`` (the CPU)."""
    ids = [int(part) for part in text.replace(" ", "").split(",")]
    if ids == [-1]:
        return "-1"
    if not ids or min(ids) < 0 or len(set(ids)) != len(ids):
        raise ValueError(text)
    return ",".join(str(i) for i in ids)


def add_dist_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add the original distributed flags to ``parser`` (or an argument group).

    No defaults are set here: under ``argument_default=argparse.SUPPRESS`` a flag the user did not
    type stays out of the namespace; otherwise it is ``None`` (``False`` for the switch).
    :meth:`DistFlags.from_args` reads either.
    """
    parser.add_argument("--world-size", dest="world_size", type=int, help="number of nodes (mapped onto torchrun)")
    parser.add_argument("--rank", type=int, help="node rank (mapped onto torchrun)")
    parser.add_argument("--dist-url", dest="dist_url", help="rendezvous address (mapped onto torchrun)")
    parser.add_argument("--dist-backend", dest="dist_backend", help="accepted; nccl on CUDA, gloo on CPU")
    parser.add_argument("--gpu", type=int, help="use this single GPU")
    parser.add_argument(
        "--gpu_ids",
        "--gpu-ids",
        dest="gpu_ids",
        type=arg_type(gpu_ids),
        metavar="IDS",
        help="GPUs to use, e.g. 0,1: one process per GPU (through torchrun); -1: the CPU",
    )
    parser.add_argument(
        "--multiprocessing-distributed",
        dest="multiprocessing_distributed",
        action="store_true",
        help="one process per GPU (through torchrun)",
    )


@dataclass(frozen=True)
class DistFlags:
    """The values of the original distributed flags (``-1``/``None``/``False``: not given)."""

    dist_url: str | None = None
    world_size: int = -1
    rank: int = -1
    multiprocessing_distributed: bool = False
    gpu: int | None = None
    gpu_ids: str | None = None

    @classmethod
    def from_args(cls, args: Any) -> DistFlags:
        """From an argparse namespace or an options object; missing or ``None`` attributes keep the defaults."""
        values = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in values.items() if value is not None})

    @property
    def given(self) -> bool:
        """Whether a flag asks for a distributed run (``--gpu`` and ``--dist-backend`` alone do not)."""
        return bool(
            self.multiprocessing_distributed or self.dist_url or self.world_size != -1 or self.rank != -1 or self.gpu_ids
        )

    @property
    def nodes(self) -> int:
        """Number of nodes (``--world-size`` in the multi-processing convention)."""
        return max(int(self.world_size), 1)

    @property
    def node_rank(self) -> int:
        """This node's rank (``--rank`` in the multi-processing convention)."""
        return max(int(self.rank), 0)

    def gpu_list(self) -> list[int] | None:
        """``--gpu_ids`` as a list (``[]`` for ``-1``, the CPU); ``None`` when not given."""
        if self.gpu_ids is None:
            return None
        try:
            normal = gpu_ids(str(self.gpu_ids))
        except ValueError:
            raise XgeoError(None, f"--gpu_ids {self.gpu_ids!r} is not a list of GPU ids", "use e.g. --gpu_ids 0,1") from None
        return [] if normal == "-1" else [int(i) for i in normal.split(",")]


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


def torchrun_command(flags: DistFlags, argv: Sequence[str], module: str, nproc: int) -> list[str]:
    """``python -m torch.distributed.run ... -m <module> <argv without the distributed flags>``."""
    url = urlparse(flags.dist_url or DEFAULT_URL)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        f"--nnodes={flags.nodes}",
        f"--node_rank={flags.node_rank}",
        f"--master_addr={url.hostname or '127.0.0.1'}",
        f"--master_port={url.port or 29500}",
        "-m",
        module,
        *strip_dist_flags(argv),
    ]


@dataclass(frozen=True)
class Launch:
    """What to do with a command: re-launch it under ``torchrun``, or run it here."""

    message: str | None = None
    """The one line to print (``None``: nothing to say)."""
    command: list[str] | None = None
    """The ``torchrun`` re-launch; ``None``: run in this process."""
    env: dict[str, str] = field(default_factory=dict)
    """Variables set for the re-launch (``CUDA_VISIBLE_DEVICES``)."""
    device: str | None = None
    """Running here: the device the flags chose (``cuda:N``, ``cpu``); ``None``: the configured one."""

    def execute(self) -> int | None:
        """Print the line; run the re-launch and return its exit code, or ``None`` to run here."""
        if self.message:
            print(self.message, flush=True)
        if self.command is None:
            return None
        return subprocess.call(self.command, env={**os.environ, **self.env})


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _physical_ids(ids: list[int], environ: Mapping[str, str]) -> str:
    """``ids`` (indices of the GPUs this process sees) as a ``CUDA_VISIBLE_DEVICES`` value."""
    visible = [v.strip() for v in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return ",".join(visible[i] if i < len(visible) else str(i) for i in ids)


def _nodes_note(flags: DistFlags) -> str:
    return f"nodes={flags.nodes}, node rank={flags.node_rank}"


def _processes(n: int) -> str:
    return f"{n} process" if n == 1 else f"{n} processes"


def _plan_gpu_ids(
    flags: DistFlags, ids: list[int], argv: Sequence[str], module: str, single_process: bool, environ: Mapping[str, str]
) -> Launch:
    shown = f"--gpu_ids {flags.gpu_ids}"
    if not ids:
        return Launch(f"{shown}: a single process on the CPU", device="cpu")
    if single_process:
        return Launch(f"{shown}: this command runs in one process, on GPU {ids[0]}", device=f"cuda:{ids[0]}")
    if len(ids) == 1 and flags.nodes == 1:
        return Launch(f"{shown}: a single process on GPU {ids[0]}", device=f"cuda:{ids[0]}")
    return Launch(
        f"{shown}: launching {_processes(len(ids))} per node with torchrun on GPUs {flags.gpu_ids} ({_nodes_note(flags)})",
        command=torchrun_command(flags, argv, module, len(ids)),
        env={"CUDA_VISIBLE_DEVICES": _physical_ids(ids, environ)},
    )


def plan_launch(
    flags: DistFlags,
    argv: Sequence[str],
    module: str,
    *,
    single_process: bool = False,
    gpus: int | None = None,
    under_torchrun: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> Launch:
    """Decide how to run ``module`` started with ``argv`` and these ``flags`` (nothing is run or printed).

    ``single_process``: the command always runs in one process (e.g. evaluation). ``gpus`` (the
    visible CUDA devices), ``under_torchrun`` and ``environ`` default to this process's; tests pass
    them. A ``--gpu_ids`` id this machine does not have, or ``--gpu`` with ``--gpu_ids``, is a
    one-line :class:`~xgeo.core.errors.XgeoError`.
    """
    environ = os.environ if environ is None else environ
    if under_torchrun if under_torchrun is not None else launched_by_torchrun():
        return Launch(f"running under torchrun: {IGNORED_UNDER_TORCHRUN} are ignored" if flags.given else None)
    gpus = _visible_gpus() if gpus is None else gpus
    ids = flags.gpu_list()
    if ids is not None:
        if flags.gpu is not None:
            raise XgeoError(None, f"--gpu {flags.gpu} and --gpu_ids {flags.gpu_ids} both given", "pass only one of them")
        if ids and max(ids) >= gpus:
            raise XgeoError(
                None,
                f"--gpu_ids {flags.gpu_ids}: this machine has {gpus} visible GPU(s)",
                f"use ids below {gpus}" if gpus else "use --gpu_ids -1 (the CPU) or leave it out",
            )
        return _plan_gpu_ids(flags, ids, argv, module, single_process, environ)
    device = f"cuda:{flags.gpu}" if flags.gpu is not None else None
    spread = flags.multiprocessing_distributed and flags.gpu is None and not single_process
    if spread and (gpus > 1 or flags.nodes > 1):
        nproc = max(gpus, 1)
        return Launch(
            f"--multiprocessing-distributed: launching {_processes(nproc)} per node with torchrun ({_nodes_note(flags)})",
            command=torchrun_command(flags, argv, module, nproc),
        )
    if not flags.given:
        return Launch(device=device)
    where = f"GPU {flags.gpu}" if flags.gpu is not None else ("the CPU" if gpus == 0 else "GPU 0")
    return Launch(
        f"distributed flags mapped to a single process on {where} "
        f"(for several GPUs or nodes: torchrun --nproc_per_node=N -m {module} ...)",
        device=device,
    )
