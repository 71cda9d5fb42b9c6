"""Per-epoch training loaders: deterministic order, resumable at a batch index, reproducible workers.

* The order of an epoch comes from ``sampler.set_epoch(epoch)`` (the trainer calls it) and the
  loader's generator is seeded per (seed, rank, epoch), so the global torch RNG is not consumed
  when an epoch's iterator is created.
* Resuming at batch ``k`` skips the first ``k`` batches of indices (:class:`SkipBatches`); no sample
  is loaded for them.
* With worker processes every item is fetched after seeding ``random``, numpy and torch from
  (seed, rank, epoch, position), so random augmentations do not depend on which worker got which
  batch. Without workers, items use the main process's generators, which checkpoints capture.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler

from xgeo.core.train.rng import item_seed


def move_to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move every tensor in a (nested) dict / list / tuple batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device, non_blocking) for v in batch)
    return batch


class SkipBatches(Sampler[list[int]]):
    """A batch sampler without its first ``skip`` batches (indices are generated, samples never loaded)."""

    def __init__(self, batches: Sampler[list[int]], skip: int = 0) -> None:
        self.batches = batches
        self.skip = skip

    def __iter__(self) -> Iterator[list[int]]:
        return itertools.islice(iter(self.batches), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.batches) - self.skip)  # type: ignore[arg-type]


class _KeyedBatches(Sampler[list[tuple[int, int, int]]]):
    """Tag every index with (epoch key, position in the epoch) so a worker can seed per item."""

    def __init__(self, batches: SkipBatches, key: int, batch_size: int) -> None:
        self.batches, self.key, self.batch_size = batches, key, batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        for b, batch in enumerate(self.batches, start=self.batches.skip):
            yield [(self.key, b * self.batch_size + j, int(i)) for j, i in enumerate(batch)]

    def __len__(self) -> int:
        return len(self.batches)


class _SeededItems(Dataset):
    """Fetch ``dataset[i]`` after seeding every global generator from (epoch key, position)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __getitem__(self, item: tuple[int, int, int]) -> Any:
        key, position, index = item
        seed = item_seed(key, position)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


def epoch_loader(
    dataset: Dataset,
    sampler: Sampler[int],
    batch_size: int,
    *,
    epoch: int,
    skip: int,
    seed: int,
    rank: int,
    num_workers: int = 0,
    collate_fn: Callable[[Sequence[Any]], Any] | None = None,
    pin_memory: bool = False,
) -> DataLoader:
    """The loader for one epoch of this rank, starting after ``skip`` batches (``drop_last``)."""
    key = item_seed(seed, rank, epoch)
    generator = torch.Generator()
    generator.manual_seed(key)
    batches = SkipBatches(BatchSampler(sampler, batch_size, drop_last=True), skip)
    if num_workers > 0:
        return DataLoader(
            _SeededItems(dataset),
            batch_sampler=_KeyedBatches(batches, key, batch_size),
            num_workers=num_workers,
            collate_fn=collate_fn,
            pin_memory=pin_memory,
            generator=generator,
        )
    return DataLoader(
        dataset, batch_sampler=batches, num_workers=0, collate_fn=collate_fn, pin_memory=pin_memory, generator=generator
    )
