"""Distributed evaluation embedding: each rank embeds a contiguous shard, features gathered in order."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from xgeo.core.train.data import move_to_device
from xgeo.core.train.distributed import all_gather_rows, get_rank, get_world_size


def shard_range(n: int, rank: int, world_size: int) -> range:
    """Rank ``rank``'s contiguous share of ``range(n)`` (the last shards may be shorter or empty)."""
    per = math.ceil(n / world_size) if n else 0
    lo = min(n, rank * per)
    return range(lo, min(n, lo + per))


@contextlib.contextmanager
def _eval_mode(fn: Any) -> Iterator[None]:
    """Put an ``nn.Module`` in eval mode for the duration, then restore its previous mode."""
    if isinstance(fn, torch.nn.Module):
        was_training = fn.training
        fn.eval()
        try:
            yield
        finally:
            fn.train(was_training)
    else:
        yield


def embed(
    fn: Callable[[torch.Tensor], torch.Tensor],
    dataset: Dataset,
    batch_size: int,
    device: torch.device | str,
    key: str | None,
    num_workers: int = 0,
) -> torch.Tensor:
    """Features ``[N, D]`` (float32, on CPU) of every item of ``dataset``, in dataset order, on every rank.

    Each rank runs ``fn`` (under ``torch.no_grad``; an ``nn.Module`` is put in eval mode) on its own
    contiguous shard, ``batch_size`` items at a time; ``key`` picks the input out of each sample dict
    (``None``: the sample itself). Call it on all ranks together, as it gathers across them.
    """
    device = torch.device(device)
    rank, world = get_rank(), get_world_size()
    shard = shard_range(len(dataset), rank, world)  # type: ignore[arg-type]
    loader = DataLoader(
        Subset(dataset, shard), batch_size=batch_size, shuffle=False, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    chunks: list[torch.Tensor] = []
    with torch.no_grad(), _eval_mode(fn):
        for batch in loader:
            inputs = batch[key] if key is not None else batch
            feats = fn(move_to_device(inputs, device, non_blocking=True))
            chunks.append(feats.detach().float().reshape(feats.shape[0], -1))
    local = torch.cat(chunks) if chunks else None
    if world == 1:
        return local.cpu() if local is not None else torch.zeros((0, 0))
    # A rank whose shard is empty learns the feature width from the others.
    dims = all_gather_rows(torch.tensor([[-1 if local is None else local.shape[1]]], dtype=torch.int64))
    dim = int(dims.max())
    if local is None:
        local = torch.zeros((0, max(dim, 0)), device=device)
    return all_gather_rows(local).cpu()
