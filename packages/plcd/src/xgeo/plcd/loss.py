"""PLCD's losses (spec §3.2-§3.3): soft-margin triplet on mined pairs, ID losses, similarity distillation.

All embeddings are unit length, so every score is a cosine. For anchor ``a`` (ground or satellite)
with six drone positives, mining picks one positive (the easiest with ``easy_pos``, else the hardest)
and the ``n_neg`` hardest drone images of other buildings in the batch; the loss is
``mean log(1 + exp(s(a, n) - s(a, p*)))``. ``pairing="faithful"`` reproduces the original's tiled
pairing (slot ``(a, j)`` uses the positive of anchor ``(n_neg a + j) mod B``); the default pairs each
negative with its own anchor's positive, as intended.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PAIRINGS = ("fixed", "faithful")


def mine(anchor: torch.Tensor, drones: torch.Tensor, labels: torch.Tensor, per_anchor: int, easy_pos: bool,
         n_neg: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices into ``drones`` ``[per_anchor B, D]`` (anchor-major): the mined positive ``[B]``, the ``n_neg`` hardest
    negatives ``[B, n_neg]`` (``-1`` where too few exist) and their validity mask. Scores are detached."""
    b = len(anchor)
    with torch.no_grad():
        scores = anchor @ drones.T  # [B, 6B]
        own = scores.reshape(b, b, per_anchor)[torch.arange(b), torch.arange(b)]  # [B, 6]
        pick = own.argmax(dim=1) if easy_pos else own.argmin(dim=1)
        positive = torch.arange(b, device=anchor.device) * per_anchor + pick
        drone_labels = labels.repeat_interleave(per_anchor)
        other = drone_labels[None, :] != labels[:, None]
        masked = torch.where(other, scores, torch.full_like(scores, float("-inf")))
        k = min(n_neg, masked.shape[1])
        values, negatives = masked.topk(k, dim=1)
        valid = torch.isfinite(values)
    return positive, torch.where(valid, negatives, torch.full_like(negatives, -1)), valid


def soft_margin_triplet(anchor: torch.Tensor, drones: torch.Tensor, labels: torch.Tensor, per_anchor: int = 6,
                        easy_pos: bool = False, n_neg: int = 10, pairing: str = "fixed") -> torch.Tensor:
    """L_tri: mean over (anchor, negative) slots of ``log(1 + exp(s_neg - s_pos))`` (spec §3.3)."""
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}")
    positive, negatives, valid = mine(anchor, drones, labels, per_anchor, easy_pos, n_neg)
    s_pos = (anchor * drones[positive]).sum(dim=1)  # [B]
    s_neg = (anchor[:, None, :] * drones[negatives.clamp(min=0)]).sum(dim=2)  # [B, k]
    b, k = s_neg.shape
    if pairing == "faithful":
        slots = torch.arange(b * k, device=anchor.device).reshape(b, k) % b
        s_pos_slots = s_pos[slots]
    else:
        s_pos_slots = s_pos[:, None].expand(b, k)
    terms = F.softplus(s_neg - s_pos_slots)
    return (terms * valid).sum() / valid.sum().clamp(min=1)


def id_loss(logits1: torch.Tensor, logits2: torch.Tensor, labels: torch.Tensor, per_anchor: int = 6) -> torch.Tensor:
    """L_id: cross-entropy of the anchors plus that of their drone positives (each a batch mean)."""
    return F.cross_entropy(logits1, labels) + F.cross_entropy(logits2, labels.repeat_interleave(per_anchor))


def similarity_rows(anchor: torch.Tensor, drones: torch.Tensor, regions: torch.Tensor | None = None) -> torch.Tensor:
    """``S_a`` ``[B, M (1 + h)]``: anchor scores against every drone global embedding, then against each
    region of every drone image (region-major blocks: all drones' region 1, then region 2, ...)."""
    rows = [anchor @ drones.T]
    if regions is not None:
        rows += [anchor @ regions[:, r].T for r in range(regions.shape[1])]
    return torch.cat(rows, dim=1)


def similarity_kd(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """L_kd = (1/B) sum_a KL(softmax(T_a / tau) || softmax(S_a / tau)), no tau^2 factor; teacher detached."""
    target = F.softmax(teacher.detach() / tau, dim=1)
    return F.kl_div(F.log_softmax(student / tau, dim=1), target, reduction="batchmean")
