"""Contrastive losses shared by methods."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def symmetric_infonce(query: torch.Tensor, gallery: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Cross-entropy over in-batch cosine similarities ``/ temperature``, averaged over both
    directions; row ``i`` of ``query`` and of ``gallery`` ``[B, D]`` form the positive pair."""
    if query.shape != gallery.shape or query.ndim != 2:
        raise ValueError(f"expected two [B, D] tensors of the same shape, got {tuple(query.shape)} and {tuple(gallery.shape)}")
    logits = F.normalize(query, dim=1) @ F.normalize(gallery, dim=1).t() / temperature
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
