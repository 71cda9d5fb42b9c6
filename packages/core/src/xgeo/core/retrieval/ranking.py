"""The result of ranking: where each query's positives landed, plus its top-k."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NO_INDEX = np.iinfo(np.int64).max


@dataclass
class Ranking:
    """Where each query's positives landed, plus its top-k (see :mod:`xgeo.core.metrics`).

    ``first_rank[i]``: number of non-junk gallery entries with a strictly greater score than
    query ``i``'s best positive (``-1`` without a positive). ``positive_positions`` (CSR with
    ``positive_indptr``): every positive's 0-based position in the junk-free ranking, ascending,
    ties resolved in favour of positives. ``rank_without_semi``: ``first_rank`` with the
    query's semi-positives left out of the count (VIGOR hit), when semi-positives were given.
    """

    first_rank: np.ndarray
    positive_indptr: np.ndarray
    positive_positions: np.ndarray
    num_gallery: int
    num_ranked: int
    rank_without_semi: np.ndarray | None = None
    topk_scores: np.ndarray | None = None
    topk_indices: np.ndarray | None = None

    @property
    def num_queries(self) -> int:
        return len(self.first_rank)

    @staticmethod
    def concatenate(parts: Sequence[Ranking]) -> Ranking:
        """Stack the rankings of consecutive query batches."""
        if not parts:
            raise ValueError("nothing to concatenate")
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        offsets = np.cumsum([0] + [len(p.positive_positions) for p in parts[:-1]])
        indptr = np.concatenate([[0]] + [p.positive_indptr[1:] + off for p, off in zip(parts, offsets, strict=True)])

        def cat(name: str) -> np.ndarray | None:
            values = [getattr(p, name) for p in parts]
            return None if values[0] is None else np.concatenate(values)

        return Ranking(
            first_rank=np.concatenate([p.first_rank for p in parts]),
            positive_indptr=indptr.astype(np.int64),
            positive_positions=np.concatenate([p.positive_positions for p in parts]),
            num_gallery=first.num_gallery,
            num_ranked=first.num_ranked,
            rank_without_semi=cat("rank_without_semi"),
            topk_scores=cat("topk_scores"),
            topk_indices=cat("topk_indices"),
        )

    @staticmethod
    def empty(num_gallery: int, num_ranked: int, semi: bool, k: int) -> Ranking:
        """The ranking of zero queries."""
        z = np.zeros(0, dtype=np.int64)
        return Ranking(z, np.zeros(1, dtype=np.int64), z, num_gallery, num_ranked, z.copy() if semi else None,
                       np.zeros((0, k), dtype=np.float32) if k else None, np.zeros((0, k), dtype=np.int64) if k else None)


def merge_topk(v1: np.ndarray, i1: np.ndarray, v2: np.ndarray, i2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of two candidate sets: descending score, ties to the lower gallery index."""
    v = np.concatenate([v1, v2.astype(np.float64)], axis=1)
    i = np.concatenate([i1, i2.astype(np.int64)], axis=1)
    order = np.lexsort((i, -v), axis=-1)[:, :k]
    return np.take_along_axis(v, order, axis=1), np.take_along_axis(i, order, axis=1)
