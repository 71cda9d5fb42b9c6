"""The spatial-aware (SA) attention of the lightweight CNN, and its "without FC" reading.

For a feature map ``X`` of ``C`` channels over ``n = H·W`` positions (flattened to ``[B, C, n]``):

1. ``m = max_c X``, the channel-wise maximum, ``[B, n]``;
2. ``K`` per-head pairs of fully connected layers with nothing between them,
   ``a_k = (m W1_k + b1_k) W2_k + b2_k`` with ``W1_k: n × n/2`` and ``W2_k: n/2 × n``;
3. ``G = X · A``, ``[B, C, K]``: head ``k`` is a spatially weighted sum of every channel;
4. flattened channel-major (entry ``c·K + k``) and L2-normalised: a ``C·K`` descriptor.

The weights are stored as the released code stores them (``w1: [n, n/2, K]``, ``b1: [1, n/2, K]``,
``w2: [n/2, n, K]``, ``b2: [1, n, K]``), initialised N(0, 0.005²) and biases 0.1.

``attention="none"`` is our reading of the paper's ablation without the FC layer (not in the
released code): ``m`` itself is the one attention map, giving a ``C``-long descriptor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: the released initialisation
WEIGHT_STD = 0.005
BIAS_VALUE = 0.1


def _per_head(rows: int, cols: int, heads: int) -> tuple[nn.Parameter, nn.Parameter]:
    weight = nn.Parameter(torch.empty(rows, cols, heads).normal_(0.0, WEIGHT_STD))
    bias = nn.Parameter(torch.full((1, cols, heads), BIAS_VALUE))
    return weight, bias


def channel_max(features: torch.Tensor) -> torch.Tensor:
    """``[B, C, n]`` -> ``[B, n]``: the maximum over channels at every position."""
    return features.max(dim=1).values


def aggregate(features: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """``[B, C, n]`` features weighted by ``[B, n, K]`` maps: ``[B, C·K]`` channel-major, unit length."""
    pooled = torch.matmul(features, maps)
    return F.normalize(pooled.reshape(len(features), -1), p=2, dim=1)


class SpatialAwareAttention(nn.Module):
    """``K`` attention maps from two linear layers per head (no activation), over ``positions`` cells."""

    def __init__(self, positions: int, heads: int = 8) -> None:
        super().__init__()
        if positions < 2 or heads < 1:
            raise ValueError(f"SA needs at least 2 positions and 1 head, got {positions} and {heads}")
        self.positions, self.heads = int(positions), int(heads)
        hidden = self.positions // 2
        self.w1, self.b1 = _per_head(self.positions, hidden, self.heads)
        self.w2, self.b2 = _per_head(hidden, self.positions, self.heads)

    def maps(self, features: torch.Tensor) -> torch.Tensor:
        """The ``[B, n, K]`` attention maps of ``[B, C, n]`` features."""
        strongest = channel_max(features)
        hidden = torch.einsum("bi,ijk->bjk", strongest, self.w1) + self.b1
        return torch.einsum("bjk,jik->bik", hidden, self.w2) + self.b2

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return aggregate(features, self.maps(features))


class MaxMapAttention(nn.Module):
    """No FC layer: the channel-wise maximum is the single attention map (descriptor of ``C``)."""

    heads = 1

    def maps(self, features: torch.Tensor) -> torch.Tensor:
        return channel_max(features).unsqueeze(-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return aggregate(features, self.maps(features))
