"""The weighted soft-margin triplet loss, its in-batch hard-negative schedule and the 25 m mask.

For unit-length aerial descriptors ``a_i`` and ground descriptors ``g_j`` of one batch,
``d_ij = 2 − 2 a_i·g_j`` (rows: aerial, columns: ground) and, with weight ``λ``:

- aerial anchor ``i``, ground negative ``j``: ``t_ij = log(1 + exp(λ (d_ii − d_ij)))``;
- ground anchor ``j``, aerial negative ``i``: ``s_ij = log(1 + exp(λ (d_jj − d_ij)))``.

Each direction averages its ``k`` largest terms over the candidate negatives, with ``k`` all of
them at ratio 1 and ``int(ratio · N(N−1))`` below (at least 1); the loss is the mean of the two
directions. On CVACT a pair closer than 25 m is not a negative (:func:`far_pairs`).

``faithful=True`` reproduces the released code's masking instead: a masked pair keeps the constant
``log 2`` (its difference is multiplied by 0), stays selectable by the top-k, and the divisor is
``min(int(ratio · N(N−1)), #valid)``. Without a mask both modes agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_WEIGHT = 10.0
#: CVACT: negatives must be at least this far from the anchor (metres)
NEGATIVE_RADIUS_M = 25.0


def distances(aerial: torch.Tensor, ground: torch.Tensor) -> torch.Tensor:
    """``d_ij = 2 − 2 a_i·g_j`` for unit rows ``[N, D]`` (rows aerial, columns ground)."""
    return 2.0 - 2.0 * aerial @ ground.t()


def far_pairs(locations: torch.Tensor, radius_m: float = NEGATIVE_RADIUS_M) -> torch.Tensor:
    """``[N, N]`` bool: pairs whose planar (UTM) positions ``[N, 2]`` are at least ``radius_m`` apart."""
    diff = locations[:, None, :].double() - locations[None, :, :].double()
    return (diff * diff).sum(-1) >= float(radius_m) ** 2


def hard_count(ratio: float, num_pairs: int) -> int:
    """How many of ``num_pairs = N(N−1)`` terms the top-k keeps at ``ratio`` (all at ratio >= 1)."""
    return num_pairs if ratio >= 1.0 else max(1, int(ratio * num_pairs))


def _hardest_mean(terms: torch.Tensor, candidates: torch.Tensor, ratio: float, num_pairs: int) -> torch.Tensor:
    values = terms[candidates]
    if values.numel() == 0:
        return terms.sum() * 0.0
    k = min(hard_count(ratio, num_pairs), values.numel())
    if k < values.numel():
        values = torch.topk(values, k).values
    return values.sum() / k


def _faithful_mean(terms: torch.Tensor, valid: torch.Tensor, ratio: float, num_pairs: int) -> torch.Tensor:
    valid_count = int(valid.sum())
    if valid_count == 0:
        return terms.sum() * 0.0
    wanted = int(ratio * num_pairs)
    k = wanted if wanted < valid_count else valid_count
    flat = terms.reshape(-1)
    if k != valid_count:
        flat = torch.topk(flat, max(k, 1)).values
    return flat.sum() / max(k, 1)


def soft_margin_triplet(
    aerial: torch.Tensor,
    ground: torch.Tensor,
    ratio: float = 1.0,
    weight: float = DEFAULT_WEIGHT,
    valid: torch.Tensor | None = None,
    faithful: bool = False,
) -> torch.Tensor:
    """The symmetric weighted soft-margin triplet loss of one batch of unit descriptors ``[N, D]``.

    ``valid`` (``[N, N]`` bool, e.g. :func:`far_pairs`) marks the pairs allowed as negatives;
    ``None`` allows every off-diagonal pair.
    """
    if aerial.shape != ground.shape or aerial.ndim != 2:
        raise ValueError(f"expected two [N, D] tensors of the same shape, got {tuple(aerial.shape)} and {tuple(ground.shape)}")
    n = len(aerial)
    dist = distances(aerial, ground)
    positive = dist.diagonal()
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=dist.device)
    candidates = off_diagonal if valid is None else off_diagonal & valid.to(dist.device)
    aerial_anchor = positive[:, None] - dist  # (i, j): aerial i against ground negative j
    ground_anchor = positive[None, :] - dist  # (i, j): ground j against aerial negative i
    num_pairs = n * (n - 1)
    if faithful and valid is not None:
        keep = candidates.to(dist.dtype)
        losses = []
        for diff in (aerial_anchor, ground_anchor):
            terms = F.softplus(weight * diff * keep).masked_fill(~off_diagonal, 0.0)
            losses.append(_faithful_mean(terms, candidates, ratio, num_pairs))
        return 0.5 * (losses[0] + losses[1])
    losses = [_hardest_mean(F.softplus(weight * diff), candidates, ratio, num_pairs) for diff in (aerial_anchor, ground_anchor)]
    return 0.5 * (losses[0] + losses[1])


@dataclass(frozen=True)
class HardRatioSchedule:
    """The in-batch hard-negative ratio by 0-based epoch: ``ratios[i]`` from epoch ``starts[i]`` on."""

    ratios: Sequence[float] = (1.0, 0.1, 0.05, 0.01)
    starts: Sequence[int] = (0, 21, 41, 61)

    def __post_init__(self) -> None:
        if len(self.ratios) != len(self.starts) or not self.starts or self.starts[0] != 0:
            raise ValueError("one ratio per start epoch, the first starting at epoch 0")
        if any(b <= a for a, b in zip(self.starts, self.starts[1:], strict=False)):
            raise ValueError(f"start epochs must increase, got {list(self.starts)}")

    def __call__(self, epoch: int) -> float:
        ratio = self.ratios[0]
        for start, value in zip(self.starts, self.ratios, strict=True):
            if epoch >= start:
                ratio = value
        return float(ratio)


class SoftMarginTripletLoss(nn.Module):
    """Module form of :func:`soft_margin_triplet` with its weight and masking mode."""

    def __init__(self, weight: float = DEFAULT_WEIGHT, faithful: bool = False) -> None:
        super().__init__()
        self.weight, self.faithful = float(weight), bool(faithful)

    def forward(
        self, aerial: torch.Tensor, ground: torch.Tensor, ratio: float = 1.0, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        return soft_margin_triplet(aerial, ground, ratio, self.weight, valid, self.faithful)
