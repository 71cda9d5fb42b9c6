"""Weighted (B+1)-tuple loss (WBL), symmetric, with weight ``alpha`` (10 in the paper).

For unit-length ground descriptors ``q_i`` and aerial descriptors ``r_i`` of a batch with
cosine similarities ``s_ij = q_i · r_j``::

    L_q→r = mean_i log(1 + Σ_{j≠i} exp(α (s_ij − s_ii)))
    L_r→q = the same on the transposed similarity matrix
    L     = (L_q→r + L_r→q) / 2

Since ``log(1 + Σ_{j≠i} e^{α(s_ij − s_ii)}) = −log softmax_j(α s_ij)[i]``, this equals a symmetric
InfoNCE with a fixed temperature ``1/α`` and is computed that way (numerically stable).

``local_batch`` splits the batch into sub-batches and averages their losses, which is what the
original 2-GPU runs did: each GPU computed the loss over its own share of the batch. The batch is
dealt round-robin (sub-batch ``k`` takes rows ``k, k+R, k+2R, …`` with ``R = B / local_batch``),
exactly as the distributed sampler deals a global batch to ``R`` ranks, so one process with
``local_batch=16`` sees the same sub-batches as the authors' two GPUs with a total batch of 32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xgeo.core.losses import symmetric_infonce

DEFAULT_ALPHA = 10.0


def wbl(query: torch.Tensor, reference: torch.Tensor, alpha: float = DEFAULT_ALPHA) -> torch.Tensor:
    """Symmetric weighted (B+1)-tuple loss of one batch of paired descriptors ``[B, D]``."""
    return symmetric_infonce(query, reference, temperature=1.0 / alpha)


def chunked_wbl(
    query: torch.Tensor, reference: torch.Tensor, alpha: float = DEFAULT_ALPHA, local_batch: int | None = None
) -> torch.Tensor:
    """Mean of :func:`wbl` over round-robin sub-batches of ``local_batch`` pairs (one batch if ``None``)."""
    n = len(query)
    if not local_batch or local_batch >= n:
        return wbl(query, reference, alpha)
    if n % local_batch:
        raise ValueError(f"batch of {n} does not split into sub-batches of {local_batch}")
    parts = n // local_batch
    losses = [wbl(query[k::parts], reference[k::parts], alpha) for k in range(parts)]
    return torch.stack(losses).mean()


class WeightedTupleLoss(nn.Module):
    """Module form of :func:`chunked_wbl`, with the diagnostics the original logs."""

    def __init__(self, alpha: float = DEFAULT_ALPHA, local_batch: int | None = None) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.local_batch = local_batch

    def forward(self, query: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return chunked_wbl(query, reference, self.alpha, self.local_batch)

    @staticmethod
    def diagnostics(query: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
        """Mean positive and mean negative cosine similarity of the batch."""
        with torch.no_grad():
            sim = F.normalize(query, dim=1) @ F.normalize(reference, dim=1).t()
            n = len(sim)
            pos = sim.diagonal().mean().item()
            neg = ((sim.sum() - sim.diagonal().sum()) / max(n * n - n, 1)).item()
        return {"mean_pos": pos, "mean_neg": neg}
