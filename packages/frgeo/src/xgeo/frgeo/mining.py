"""Hard-negative mining: a memory bank of embeddings and distributed batch samplers built on it.

Each epoch the sampler writes one *global order* of training-pair indices, a whole number of global
batches long (a random subset of the items when they do not fill the last batch), and deals it
round-robin to the ranks (rank ``r`` takes positions ``r, r+R, …``).
Before mining starts the order is a plain shuffle. Once it runs, every global batch of ``B`` is
``B/2`` anchors (taken from the first half of the shuffle) followed by ``B/2`` hard negatives, the
``k``-th chosen for the ``k``-th anchor among the 100 aerial images most similar to the anchor's
ground embedding within a random pool of up to 40,000 aerial embeddings of the bank. Dealt to two
ranks, each rank's batch therefore holds its anchors together with their own negatives.

- :class:`PairMiningSampler` (CVUSA, CVACT): one item per training pair; a negative is re-drawn
  while it repeats an anchor or a negative of its batch.
- :class:`VigorMiningSampler`: items are the aerial images that are the positive of some training
  panorama, each visited twice per epoch with one of its panoramas. A negative aerial is re-drawn
  while it *overlaps* the batch: while any of its panoramas shares any of its four labels
  (positive or semi-positive aerial) with a panorama already in the batch. (The original code meant
  this check but compared aerial positions with panorama indices.)

The bank is filled from the embeddings of every training step (the first SAM pass), gathered from
all ranks, so every rank holds the same bank and generates the same order. ``state_dict`` saves
the bank and the order of the current epoch, so a run resumed mid-epoch continues the very same
batches. Randomness comes from a NumPy generator seeded with ``(seed, epoch)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Sampler

from xgeo.core.train import all_gather_rows
from xgeo.core.train.distributed import process_info

#: size of the random pool of aerial embeddings searched per epoch
POOL_SIZE = 40_000
#: hard-negative candidates kept per anchor
TOP_K = 100
#: draws from an anchor's candidate list before falling back to any valid item
MAX_DRAWS = 200


class MemoryBank:
    """Latest unit-length ground embedding per query and aerial embedding per gallery entry."""

    def __init__(self, num_queries: int, num_gallery: int, dim: int) -> None:
        self.ground = torch.zeros(num_queries, dim)
        self.aerial = torch.zeros(num_gallery, dim)
        self.ground_filled = torch.zeros(num_queries, dtype=torch.bool)
        self.aerial_filled = torch.zeros(num_gallery, dtype=torch.bool)

    @property
    def dim(self) -> int:
        return self.ground.shape[1]

    @torch.no_grad()
    def update(self, query_idx: torch.Tensor, gallery_idx: torch.Tensor, ground: torch.Tensor, aerial: torch.Tensor) -> None:
        """Store the normalised embeddings at their rows (later rows win on repeats)."""
        if ground.shape[1] != self.dim:
            raise ValueError(f"embeddings of size {ground.shape[1]} do not fit a bank of size {self.dim}")
        qi, gi = query_idx.long().cpu(), gallery_idx.long().cpu()
        self.ground[qi] = F.normalize(ground.detach().float().cpu(), dim=1)
        self.aerial[gi] = F.normalize(aerial.detach().float().cpu(), dim=1)
        self.ground_filled[qi] = True
        self.aerial_filled[gi] = True

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "ground": self.ground.clone(),
            "aerial": self.aerial.clone(),
            "ground_filled": self.ground_filled.clone(),
            "aerial_filled": self.aerial_filled.clone(),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if tuple(state["ground"].shape) != tuple(self.ground.shape) or tuple(state["aerial"].shape) != tuple(self.aerial.shape):
            raise ValueError(
                f"bank of shape {tuple(state['ground'].shape)}/{tuple(state['aerial'].shape)} "
                f"does not fit {tuple(self.ground.shape)}/{tuple(self.aerial.shape)}"
            )
        self.ground.copy_(state["ground"])
        self.aerial.copy_(state["aerial"])
        self.ground_filled.copy_(state["ground_filled"])
        self.aerial_filled.copy_(state["aerial_filled"])

    @torch.no_grad()
    def top_candidates(
        self,
        query_rows: np.ndarray,
        rng: np.random.Generator,
        pool_size: int = POOL_SIZE,
        top_k: int = TOP_K,
        device: str | torch.device = "cpu",
        chunk: int = 4096,
    ) -> np.ndarray:
        """``[len(query_rows), k]`` gallery rows most similar to each query row's ground embedding.

        The search runs over a random pool of at most ``pool_size`` filled aerial rows.
        """
        filled = np.flatnonzero(self.aerial_filled.numpy())
        pool = np.sort(rng.choice(filled, size=min(pool_size, len(filled)), replace=False))
        k = min(top_k, len(pool))
        pool_t = torch.from_numpy(pool)
        aerial = self.aerial[pool_t].to(device)
        out = []
        for start in range(0, len(query_rows), chunk):
            rows = torch.from_numpy(np.asarray(query_rows[start : start + chunk], dtype=np.int64))
            sim = self.ground[rows].to(device) @ aerial.t()
            out.append(pool_t[sim.topk(k, dim=1).indices.cpu()])
        return torch.cat(out).numpy() if out else np.zeros((0, k), dtype=np.int64)


class MiningSampler(Sampler[int], ABC):
    """Base of the mining samplers: epoch orders, round-robin dealing, bank and checkpoint state."""

    def __init__(
        self,
        pairs: np.ndarray,
        num_queries: int,
        num_gallery: int,
        batch_size: int,
        dim: int,
        *,
        mining: bool = True,
        mining_start: int = 1,
        seed: int = 0,
        pool_size: int = POOL_SIZE,
        top_k: int = TOP_K,
        device: str | torch.device = "cpu",
    ) -> None:
        self.pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        if batch_size < 1 or (mining and batch_size % 2):
            raise ValueError(f"mining needs an even global batch size, got {batch_size}")
        self.batch_size = int(batch_size)
        self.mining = bool(mining)
        self.mining_start = int(mining_start)
        self.seed = int(seed)
        self.pool_size, self.top_k = int(pool_size), int(top_k)
        self.device = device
        self.bank = MemoryBank(num_queries, num_gallery, dim)
        self.epoch = 0
        self.order: np.ndarray | None = None
        self._order_epoch: int | None = None
        #: negatives that had to be taken outside the candidate list in the last generated epoch
        self.fallbacks = 0

    # ------------------------------------------------------------------ to override
    @abstractmethod
    def num_items(self) -> int:
        """How many items one epoch could visit (before rounding down to whole batches)."""

    @abstractmethod
    def plain_order(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Pair indices for shuffled items without mining."""

    @abstractmethod
    def mined_order(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Pair indices of whole global batches: half anchors, half their hard negatives."""

    # ------------------------------------------------------------------ epoch orders
    def epoch_size(self) -> int:
        """Items per epoch: a whole number of global batches."""
        return (self.num_items() // self.batch_size) * self.batch_size

    def mining_active(self, epoch: int) -> bool:
        return self.mining and epoch >= self.mining_start and bool(self.bank.aerial_filled.any())

    def generate(self, epoch: int) -> np.ndarray:
        """The global order of pair indices for ``epoch`` (same on every rank)."""
        rng = np.random.default_rng([self.seed, epoch])
        items = rng.permutation(self.num_items())[: self.epoch_size()]
        self.fallbacks = 0
        if self.mining_active(epoch):
            return self.mined_order(items[: len(items) // 2], rng)
        return self.plain_order(items, rng)

    def set_epoch(self, epoch: int) -> None:
        """Prepare ``epoch``; keeps a restored order when resuming inside that same epoch."""
        self.epoch = int(epoch)
        if self._order_epoch != self.epoch or self.order is None:
            self.order = self.generate(self.epoch)
            self._order_epoch = self.epoch

    def _world(self) -> tuple[int, int]:
        info = process_info()
        rank, world = info.rank, info.world_size
        if self.batch_size % world:
            from xgeo.core.errors import XgeoError

            raise XgeoError(
                None,
                f"batch size {self.batch_size} does not split evenly over {world} processes",
                f"use a batch size divisible by {world}",
            )
        return rank, world

    def __iter__(self) -> Iterator[int]:
        if self._order_epoch != self.epoch or self.order is None:
            self.set_epoch(self.epoch)
        rank, world = self._world()
        return iter(self.order[rank::world].tolist())

    def __len__(self) -> int:
        _, world = self._world()
        return self.epoch_size() // world

    # ------------------------------------------------------------------ bank
    def update(self, pair_idx: torch.Tensor, ground: torch.Tensor, aerial: torch.Tensor) -> None:
        """Write the embeddings of training pairs ``pair_idx`` into the bank."""
        pairs = torch.from_numpy(self.pairs[pair_idx.long().cpu().numpy()])
        self.bank.update(pairs[:, 0], pairs[:, 1], ground, aerial)

    def state_dict(self) -> dict[str, Any]:
        """Bank plus the current epoch's global order (tensors only: safe for ``weights_only`` loading)."""
        order = torch.from_numpy(self.order.copy()) if self.order is not None else torch.zeros(0, dtype=torch.int64)
        return {
            "epoch": self.epoch,
            "order_epoch": -1 if self._order_epoch is None else self._order_epoch,
            "order": order,
            "bank": self.bank.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.bank.load_state_dict(state["bank"])
        self.epoch = int(state["epoch"])
        order_epoch = int(state["order_epoch"])
        self._order_epoch = None if order_epoch < 0 else order_epoch
        self.order = state["order"].numpy().astype(np.int64) if self._order_epoch is not None else None


def _draw(candidates: np.ndarray, ok, rng: np.random.Generator, fallback: np.ndarray) -> tuple[int, bool]:
    """A random candidate accepted by ``ok``; after ``MAX_DRAWS`` rejections any accepted fallback item.

    Returns ``(item, from_candidates)``; ``item`` is -1 when nothing is acceptable.
    """
    for _ in range(MAX_DRAWS):
        c = int(candidates[rng.integers(len(candidates))])
        if ok(c):
            return c, True
    for c in rng.permutation(fallback):
        if ok(int(c)):
            return int(c), False
    return -1, False


class PairMiningSampler(MiningSampler):
    """CVUSA / CVACT: items are training pairs (query ``i`` pairs with gallery ``i``)."""

    def num_items(self) -> int:
        return len(self.pairs)

    def plain_order(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return items.astype(np.int64)

    def mined_order(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # gallery row -> pair index, to turn mined aerial rows back into pairs
        pair_of_gallery = np.full(self.bank.aerial.shape[0], -1, dtype=np.int64)
        pair_of_gallery[self.pairs[:, 1]] = np.arange(len(self.pairs))
        top = self.bank.top_candidates(self.pairs[anchors, 0], rng, self.pool_size, self.top_k, self.device)
        top = pair_of_gallery[top]
        half = self.batch_size // 2
        everything = np.arange(len(self.pairs))
        out = []
        for b in range(len(anchors) // half):
            batch_anchors = anchors[b * half : (b + 1) * half]
            taken = set(batch_anchors.tolist())
            negatives = []

            def ok(c: int, taken: set[int] = taken) -> bool:
                return c not in taken

            for k in range(half):
                cand = top[b * half + k]
                neg, mined = _draw(cand[cand >= 0], ok, rng, everything)
                self.fallbacks += not mined
                taken.add(neg)
                negatives.append(neg)
            out.append(np.concatenate([batch_anchors, np.asarray(negatives, dtype=np.int64)]))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


class VigorMiningSampler(MiningSampler):
    """VIGOR: items are covered aerial images (each twice per epoch), each with one of its panoramas.

    ``labels`` is ``[num_queries, 4]``: each panorama's positive and three semi-positive gallery
    rows (``-1`` pads). Two panoramas overlap when their label sets intersect.
    """

    def __init__(self, pairs: np.ndarray, labels: np.ndarray, num_gallery: int, batch_size: int, dim: int, **kwargs: Any) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        super().__init__(pairs, labels.shape[0], num_gallery, batch_size, dim, **kwargs)
        self.labels = labels
        self.label_sets = [frozenset(int(v) for v in row if v >= 0) for row in labels]
        #: covered aerial rows, in first-appearance order, and the training pairs of each
        self.covered, first = np.unique(self.pairs[:, 1], return_index=True)
        self.covered = self.covered[np.argsort(first)]
        by_aerial = np.argsort(self.pairs[:, 1], kind="stable")
        bounds = np.searchsorted(self.pairs[by_aerial, 1], self.covered)
        counts = np.bincount(self.pairs[:, 1])[self.covered]
        self.pairs_of: dict[int, np.ndarray] = {
            int(a): by_aerial[s : s + n] for a, s, n in zip(self.covered, bounds, counts, strict=True)
        }
        #: union of the label sets of every panorama of each covered aerial
        self.aerial_labels = {
            a: frozenset().union(*(self.label_sets[self.pairs[p, 0]] for p in ps)) for a, ps in self.pairs_of.items()
        }

    def num_items(self) -> int:
        return 2 * len(self.covered)

    def _pair_for(self, aerial: int, rng: np.random.Generator) -> int:
        options = self.pairs_of[aerial]
        return int(options[rng.integers(len(options))])

    def plain_order(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        aerials = self.covered[items % len(self.covered)]
        return np.asarray([self._pair_for(int(a), rng) for a in aerials], dtype=np.int64)

    def mined_order(self, anchors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        anchor_pairs = self.plain_order(anchors, rng)
        top = self.bank.top_candidates(self.pairs[anchor_pairs, 0], rng, self.pool_size, self.top_k, self.device)
        covered_set = set(self.covered.tolist())
        half = self.batch_size // 2
        out = []
        for b in range(len(anchor_pairs) // half):
            batch_pairs = anchor_pairs[b * half : (b + 1) * half]
            used: set[int] = set()
            for p in batch_pairs:
                used |= self.label_sets[self.pairs[p, 0]]
            negatives = []

            def ok(a: int, used: set[int] = used) -> bool:
                return not (self.aerial_labels[a] & used)

            for k in range(half):
                cand = np.asarray([c for c in top[b * half + k] if int(c) in covered_set], dtype=np.int64)
                neg, mined = _draw(cand, ok, rng, self.covered) if len(cand) else _draw(self.covered, ok, rng, self.covered)
                self.fallbacks += not mined
                if neg < 0:  # nothing in the whole set avoids the batch: take any other aerial
                    neg = int(self.covered[rng.integers(len(self.covered))])
                pair = self._pair_for(neg, rng)
                used |= self.label_sets[self.pairs[pair, 0]]
                negatives.append(pair)
            out.append(np.concatenate([batch_pairs, np.asarray(negatives, dtype=np.int64)]))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def feed_bank(sampler: MiningSampler, pair_idx: torch.Tensor, ground: torch.Tensor, aerial: torch.Tensor) -> None:
    """Gather a step's embeddings from all ranks (in rank order) and write them into ``sampler``'s bank."""
    sampler.update(all_gather_rows(pair_idx.reshape(-1)), all_gather_rows(ground.detach()), all_gather_rows(aerial.detach()))
