"""``torch.distributed`` set-up from ``torchrun`` environment variables, plus small collectives.

A process started by ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT`` set, any number of nodes) joins the process group with NCCL when it trains on CUDA
and gloo otherwise; any other process is a plain single-process run (rank 0 of 1). Every helper
here also works when no process group exists.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from xgeo.core.errors import XgeoError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 (the one that writes files and shows progress)."""
        return self.rank == 0


def is_initialized() -> bool:
    """Whether a process group is active."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if is_initialized() else 1


def launched_by_torchrun() -> bool:
    """Whether the ``torchrun`` environment variables are present."""
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def process_info() -> DistInfo:
    """Where this process sits, without joining anything: the process group, else the ``torchrun``
    environment (before the Trainer joins), else rank 0 of 1."""
    if is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    env = os.environ
    return DistInfo(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:<local_rank>`` when CUDA is present, else CPU; other names as given."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise XgeoError(None, f"unknown device {name!r}", "use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise XgeoError(None, f"device {name!r} requested but CUDA is not available", "use device auto or cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def setup(device: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join (or reuse) the process group when launched by ``torchrun``; return rank info and device."""
    if is_initialized():
        local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        info = DistInfo(dist.get_rank(), dist.get_world_size(), local_rank)
        return info, resolve_device(device, local_rank)
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        return DistInfo(0, 1, 0), resolve_device(device, local_rank)
    rank, world, local_rank = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    dev = resolve_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
        dist.init_process_group("nccl", rank=rank, world_size=world, device_id=dev)
    else:
        dist.init_process_group("gloo", rank=rank, world_size=world)
    atexit.register(cleanup)
    return DistInfo(rank, world, local_rank), dev


def cleanup() -> None:
    """Leave the process group (safe to call twice)."""
    if is_initialized():
        dist.destroy_process_group()


def comm_device() -> torch.device:
    """The device collectives need: the current CUDA device for NCCL, CPU for gloo."""
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if is_initialized():
        dist.barrier()


def all_reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean over ranks of a tensor of the same shape on each rank (returned on the input's device)."""
    if not is_initialized():
        return values
    buf = values.detach().to(comm_device(), copy=True)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return (buf / dist.get_world_size()).to(values.device)


def all_gather_rows(local: torch.Tensor) -> torch.Tensor:
    """Concatenate ``[n_r, ...]`` tensors from all ranks in rank order; ``n_r`` may differ.

    All ranks must pass the same trailing shape and dtype (a rank with no rows passes ``[0, ...]``).
    """
    if not is_initialized():
        return local
    world, dev = dist.get_world_size(), comm_device()
    sizes = [torch.zeros(1, dtype=torch.int64, device=dev) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([local.shape[0]], dtype=torch.int64, device=dev))
    sizes_list = [int(s.item()) for s in sizes]
    longest = max(sizes_list)
    padded = torch.zeros((longest, *local.shape[1:]), dtype=local.dtype, device=dev)
    padded[: local.shape[0]] = local.to(dev)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes_list, strict=True)]).to(local.device)


def all_gather_objects(obj: Any) -> list[Any]:
    """Picklable object from every rank, in rank order (``[obj]`` in a single process)."""
    if not is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` from rank ``src`` on every rank."""
    if not is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
