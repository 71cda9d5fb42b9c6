"""Re-ranking the top-k of a retrieval, and scoring a protocol on any ranking.

A re-ranker (CMPC's scene-graph refinement, PLCD's diffusion) reorders each query's top-k
gallery entries and leaves the rest of the ranking as it was, so the top-k block stays above
everything else. :func:`coarse_ranking` gives the protocol's ranking with its top-k,
:func:`reorder_top_k` applies a new order inside the top-k, and :func:`score_ranking` computes the
protocol's metrics (recalls, MRR, metre accuracy of the new top-1, ...) with the one metric code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from xgeo.core.evaluate import Context, get_protocol
from xgeo.core.retrieval import Ranking, Searcher
from xgeo.core.task import RetrievalTask


def coarse_ranking(query: Any, gallery: Any, task: RetrievalTask, protocol: str, k: int) -> Ranking:
    """The protocol's ranking of ``query`` against ``gallery`` with each query's top ``k`` entries."""
    proto = get_protocol(protocol)
    searcher = Searcher(gallery, proto.similarity, junk=task.junk_mask)
    return searcher.rank(query, task.relation(), None, k=min(max(k, proto.k), task.num_gallery))


def reorder_top_k(ranking: Ranking, task: RetrievalTask, order: np.ndarray) -> Ranking:
    """``ranking`` with each query's top-k entries put in ``order`` (``[N, k]``, a permutation of
    ``0..k-1`` per row: new position -> old position). Positives inside the top-k take their new
    positions; positives outside it keep theirs (at least ``k``: the block stays on top)."""
    if ranking.topk_indices is None:
        raise ValueError("the ranking has no top-k to reorder")
    old = ranking.topk_indices
    k = old.shape[1]
    order = np.asarray(order, dtype=np.int64)
    if order.shape != old.shape or not (np.sort(order, axis=1) == np.arange(k)).all():
        raise ValueError(f"order must hold a permutation of 0..{k - 1} per query, shape {old.shape}")
    new = np.take_along_axis(old, order, axis=1)
    scores = None if ranking.topk_scores is None else np.take_along_axis(ranking.topk_scores, order, axis=1)
    relation = task.relation()
    first = np.empty_like(ranking.first_rank)
    positions: list[np.ndarray] = []
    for i in range(ranking.num_queries):
        lo, hi = ranking.positive_indptr[i], ranking.positive_indptr[i + 1]
        pos_cols = relation.indices[relation.indptr[i]:relation.indptr[i + 1]]
        inside = np.flatnonzero(np.isin(new[i], pos_cols))
        outside = np.maximum(ranking.positive_positions[lo:hi], k)[: (hi - lo) - len(inside)]
        merged = np.sort(np.concatenate([inside, outside])).astype(np.int64)
        positions.append(merged)
        if ranking.first_rank[i] < 0:
            first[i] = -1
        else:
            first[i] = inside[0] if len(inside) else max(int(ranking.first_rank[i]), k)
    indptr = np.concatenate([[0], np.cumsum([len(p) for p in positions])]).astype(np.int64)
    return Ranking(
        first_rank=first, positive_indptr=indptr,
        positive_positions=np.concatenate(positions) if positions else np.zeros(0, np.int64),
        num_gallery=ranking.num_gallery, num_ranked=ranking.num_ranked, topk_scores=scores, topk_indices=new,
    )


def score_ranking(ranking: Ranking, task: RetrievalTask, protocol: str,
                  thresholds: Sequence[float] | None = None) -> dict[str, float]:
    """The metrics of ``protocol`` (one direction, no semi-positives) for a given ranking."""
    proto = get_protocol(protocol)
    chosen = proto.thresholds if thresholds is None else tuple(float(t) for t in thresholds)
    ctx = Context(ranking, task, chosen)
    out: dict[str, float] = {}
    for metric in proto.metrics:
        out.update({key: float(value) for key, value in metric(ctx).items()})
    return out
