"""The refinement network (the original ``ATEM``), dense and in plain torch (``specs/cmpc.md`` §5.3).

Input: node features ``X [B, K, N_in]`` and edges ``A [B, K, K]``.

1. each graph's ``K × N_in`` block is instance-normalised (zero mean, unit variance, no affine);
2. per-node projection ``N_in -> C`` + BatchNorm + ReLU;
3. four attention blocks: ``F = H W``; ``Q = K = F``, ``V = ELU(F)``; logits ``Q Kᵀ / √C`` times
   the edge attribute, softmax over the neighbours only (non-edges weigh 0); the result is
   instance-normalised over the block and added to ``H``; then a residual feed-forward block
   ``ReLU(BN(W_r H') + BN(IN(W_2 ReLU(BN(IN(W_1 H'))))))`` (IN: per channel over the nodes);
4. outputs: node features ``Z [B, K, C]`` and node scores ``u [B, K]`` (a linear ``C -> 1``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5


def graph_norm(x: torch.Tensor) -> torch.Tensor:
    """Instance norm of each graph's whole ``[K, C]`` block."""
    mean = x.mean(dim=(1, 2), keepdim=True)
    var = x.var(dim=(1, 2), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + EPS)


def node_norm(x: torch.Tensor) -> torch.Tensor:
    """Instance norm per channel over the nodes of each graph (``[B, K, C]``)."""
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + EPS)


class NodeBatchNorm(nn.BatchNorm1d):
    """BatchNorm over every node of every graph, per channel (``[B, K, C]``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, k, c = x.shape
        return super().forward(x.reshape(b * k, c)).reshape(b, k, c)


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor,
                     edge_attr: torch.Tensor) -> torch.Tensor:
    """``softmax`` of ``(q kᵀ / √C) * edge_attr`` over the entries where ``mask`` is true, applied to ``v``."""
    logits = (q @ k.transpose(1, 2)) / math.sqrt(q.shape[-1]) * edge_attr
    logits = logits.masked_fill(~mask, float("-inf"))
    attn = torch.softmax(logits, dim=-1).masked_fill(~mask, 0.0)  # rows without edges: all zero, not NaN
    return attn @ v


class FeedForward(nn.Module):
    """The residual feed-forward block after each attention."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.shortcut, self.shortcut_bn = nn.Linear(channels, channels), NodeBatchNorm(channels)
        self.fc1, self.bn1 = nn.Linear(channels, channels), NodeBatchNorm(channels)
        self.fc2, self.bn2 = nn.Linear(channels, channels), NodeBatchNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = F.relu(self.bn1(node_norm(self.fc1(x))))
        left = self.bn2(node_norm(self.fc2(left)))
        return F.relu(left + self.shortcut_bn(self.shortcut(x)))


class AttentionBlock(nn.Module):
    """Masked self-attention over the graph's edges, residual, then :class:`FeedForward`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, channels, bias=False)
        self.ffn = FeedForward(channels)

    def forward(self, h: torch.Tensor, mask: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        f = self.linear(h)
        message = graph_norm(masked_attention(f, f, F.elu(f), mask, edge_attr))
        return self.ffn(message + h)


class SceneGraphNet(nn.Module):
    """Node features and scores of a batch of scene graphs."""

    def __init__(self, in_dim: int, channels: int, blocks: int = 4) -> None:
        super().__init__()
        self.project = nn.Linear(in_dim, channels)
        self.project_bn = NodeBatchNorm(channels)
        self.blocks = nn.ModuleList(AttentionBlock(channels) for _ in range(blocks))
        self.score = nn.Linear(channels, 1)

    def forward(self, nodes: torch.Tensor, adjacency: torch.Tensor,
                edge_attr: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Z [B, K, C], u [B, K])``; ``edge_attr`` defaults to the binary adjacency."""
        attr = adjacency.to(nodes.dtype) if edge_attr is None else edge_attr
        h = F.relu(self.project_bn(self.project(graph_norm(nodes))))
        for block in self.blocks:
            h = block(h, adjacency, attr)
        return h, self.score(h).squeeze(-1)
