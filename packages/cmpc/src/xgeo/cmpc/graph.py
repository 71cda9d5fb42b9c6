"""Scene graphs over each query's top-K candidates (``specs/cmpc.md`` §5.2).

Node ``k`` = the query feature concatenated with candidate ``k``'s feature (``node_func="cat"``;
``"product"`` and ``"sum"`` as alternatives). Each node gets directed edges to its ``edge_topk``
nearest other nodes, nearest by

- ``"position"`` (default, as the paper describes): Euclidean distance in metres between the
  candidates' positions; edge weights ``exp(-d / sigma)`` with ``sigma`` in metres;
- ``"feature"`` (the released config's ``KNN_inner``): Euclidean distance between the
  re-normalised candidate features.

``reference_compat`` reproduces the released code: positions are normalised to unit length
(a direction, not a place) and ``sigma`` is 0.0005, so weights underflow to 0 beyond a distance of
about 0.05 and the neighbours are then picked by ``topk``'s tie order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from xgeo.core.registry import Registry

EDGE_MODES = ("position", "feature")
REFERENCE_SIGMA = 0.0005

#: node_func -> node features from (query [B, 1, D], candidates [B, K, D])
NODE_FUNCS: Registry = Registry("node function", "node_func")
NODE_FUNCS.register("cat", lambda q, x: torch.cat([q.expand_as(x), x], dim=-1))
NODE_FUNCS.register("product", lambda q, x: q * x)
NODE_FUNCS.register("sum", lambda q, x: q + x)


@dataclass
class SceneGraph:
    """A dense batch of K-node graphs."""

    nodes: torch.Tensor  #: [B, K, node_dim]
    adjacency: torch.Tensor  #: [B, K, K] bool, adjacency[b, k, l]: edge k -> l
    weights: torch.Tensor  #: [B, K, K] edge weights exp(-d / sigma)


def node_dim(feature_dim: int, node_func: str) -> int:
    """Length of a node feature for candidates of ``feature_dim``."""
    return 2 * feature_dim if node_func == "cat" else feature_dim


def edge_distances(features: torch.Tensor, positions: torch.Tensor, mode: str, reference_compat: bool = False) -> torch.Tensor:
    """``[B, K, K]`` distances between candidates, by position (metres) or by feature."""
    if mode == "feature":
        x = F.normalize(features, dim=-1)
        return torch.cdist(x, x)
    if mode != "position":
        raise ValueError(f"unknown edge mode {mode!r}; use one of {EDGE_MODES}")
    p = positions.to(features.dtype if features.is_floating_point() else torch.float32)
    if reference_compat:
        p = F.normalize(p, dim=-1)
    return torch.cdist(p, p)


def build_graph(query: torch.Tensor, features: torch.Tensor, positions: torch.Tensor, edge_topk: int = 5,
                mode: str = "position", sigma: float = 100.0, reference_compat: bool = False,
                node_func: str = "cat") -> SceneGraph:
    """The scene graphs of a batch: ``query [B, D]``, candidate ``features [B, K, D]``, ``positions [B, K, 2]``."""
    k = features.shape[1]
    if not 0 < edge_topk < k:
        raise ValueError(f"edge_topk must be in 1..{k - 1} for {k} candidates, got {edge_topk}")
    sigma = REFERENCE_SIGMA if reference_compat else float(sigma)
    dist = edge_distances(features, positions, mode, reference_compat).double()
    weights = torch.exp(-dist / sigma)
    eye = torch.eye(k, dtype=torch.bool, device=features.device)
    # by distance (no underflow ties); the released code ranks the weights, self-loops pushed below all
    ranked = weights.masked_fill(eye, -0.1) if reference_compat else (-dist).masked_fill(eye, float("-inf"))
    neighbours = ranked.topk(edge_topk, dim=-1).indices
    adjacency = torch.zeros_like(eye).expand(len(features), k, k).clone()
    adjacency.scatter_(2, neighbours, True)
    nodes = NODE_FUNCS.get(node_func)(query[:, None, :], features)
    return SceneGraph(nodes, adjacency, weights.to(features.dtype))
