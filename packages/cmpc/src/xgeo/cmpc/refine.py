"""The refinement stage: candidates, the scene-graph pass, its losses and the test-time re-ranking.

Training (``specs/cmpc.md`` §5.1, §5.5): for each query, +1 is added to its ground-truth
reference's similarity before taking the top-K, so node 0 is the positive and the other K-1
nodes are the hardest negatives. Losses: cross-entropy of the node scores ``u`` with target 0, and
the margin ranking loss on the refined similarities ``r_k = <q, Z_k / |Z_k|>``::

    L_rank = mean_b max(0, max_{k >= 1} r_{b,k} - r_{b,0} + 0.3)

(``reference_compat``: the released code's broadcast form, the mean over all pairs (i, j) of
``max(0, neg_j - pos_i + 0.3)``). At test time the top-K (no ground truth injected) are re-sorted
by ``r``; the scores ``u`` are not used.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

RANK_MARGIN = 0.3


def top_candidates(query: torch.Tensor, gallery: torch.Tensor, k: int, positive: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, k]`` gallery indices by descending dot product; ``positive`` (gallery index per query) is forced first."""
    sim = query @ gallery.t()
    if positive is not None:
        sim = sim.scatter_add(1, positive[:, None], torch.full_like(sim[:, :1], 1.0 + float(sim.abs().max()) * 2))
    return sim.topk(min(k, gallery.shape[0]), dim=1).indices


def refined_similarity(query: torch.Tensor, node_features: torch.Tensor) -> torch.Tensor:
    """``r [B, K]``: the query against each unit-length refined node feature."""
    if node_features.shape[-1] != query.shape[-1]:
        raise ValueError(f"refined features have {node_features.shape[-1]} channels, queries {query.shape[-1]}")
    return torch.einsum("bd,bkd->bk", query, F.normalize(node_features, dim=-1))


def ranking_loss(r: torch.Tensor, margin: float = RANK_MARGIN, reference_compat: bool = False) -> torch.Tensor:
    """Margin ranking between node 0 (the positive) and the hardest other node, per query."""
    pos, neg = r[:, 0], r[:, 1:].amax(dim=1)
    if reference_compat:
        return F.relu(neg[None, :] - pos[:, None] + margin).mean()
    return F.relu(neg - pos + margin).mean()


def refinement_losses(scores: torch.Tensor, r: torch.Tensor, margin: float = RANK_MARGIN,
                      reference_compat: bool = False) -> dict[str, torch.Tensor]:
    """``{"cls": CE(u, 0), "rank": L_rank}`` for graphs whose node 0 is the positive."""
    target = torch.zeros(len(scores), dtype=torch.long, device=scores.device)
    return {"cls": F.cross_entropy(scores, target), "rank": ranking_loss(r, margin, reference_compat)}


@torch.no_grad()
def refine_order(refiner: torch.nn.Module, query: torch.Tensor, gallery: torch.Tensor, positions: torch.Tensor,
                 topk_indices: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """``[N, K]`` new order of each query's top-K (new position -> old position), by descending ``r``."""
    was_training = refiner.training
    refiner.eval()
    orders = []
    try:
        for start in range(0, len(query), batch_size):
            idx = torch.as_tensor(topk_indices[start:start + batch_size], dtype=torch.long)
            q = query[start:start + batch_size]
            _, r = refiner(q, gallery[idx], positions[idx])
            orders.append(torch.argsort(r, dim=1, descending=True, stable=True).cpu().numpy())
    finally:
        refiner.train(was_training)
    return np.concatenate(orders) if orders else np.zeros((0, topk_indices.shape[1]), np.int64)
