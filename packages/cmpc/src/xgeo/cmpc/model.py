"""The CMPC model: the shared embedding network, the modality critic and the scene-graph refiner.

- :class:`EmbeddingNet`: one ResNet (stride-1 last stage, global max pooling) for SAR and optical
  alike; ``feat`` = the unit-length descriptor (2048-d for ResNet-50) used for retrieval and as
  graph input; ``vec`` = the unit-length 512-d projection ``BN(W feat_raw + b)`` used by the losses.
- :class:`~xgeo.cmpc.loss.WassersteinCritic` on ``vec``.
- :class:`Refiner`: builds the scene graphs of the top-K candidates and runs
  :class:`~xgeo.cmpc.gnn.SceneGraphNet`; its width equals the descriptor length (so that ``r``
  compares refined node features with the query).

The :class:`ModelSpec` travels in the ``state_dict`` (extra state), so a checkpoint alone rebuilds it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xgeo.cmpc.backbone import MaxPoolResNet
from xgeo.cmpc.gnn import SceneGraphNet
from xgeo.cmpc.graph import EDGE_MODES, NODE_FUNCS, build_graph, node_dim
from xgeo.cmpc.loss import WassersteinCritic
from xgeo.cmpc.refine import refined_similarity
from xgeo.core.errors import XgeoError


@dataclass
class ModelSpec:
    """Everything needed to rebuild a CMPC model and its preprocessing."""

    arch: str = "resnet50"
    low_dim: int = 512
    image_size: int = 200
    node_topk: int = 10
    edge_topk: int = 5
    edge_mode: str = "position"
    edge_sigma: float = 100.0
    edge_weight: bool = False
    reference_compat: bool = False
    node_func: str = "cat"
    gnn_blocks: int = 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class EmbeddingNet(nn.Module):
    """Shared backbone + projector: ``x -> (feat, vec)``, both unit length."""

    def __init__(self, arch: str, low_dim: int) -> None:
        super().__init__()
        self.backbone = MaxPoolResNet(arch)
        self.projector = nn.Linear(self.backbone.dim, low_dim)
        self.projector_bn = nn.BatchNorm1d(low_dim)
        nn.init.kaiming_normal_(self.projector.weight, mode="fan_out")
        nn.init.zeros_(self.projector.bias)
        nn.init.normal_(self.projector_bn.weight, 1.0, 0.02)
        nn.init.zeros_(self.projector_bn.bias)

    @property
    def dim(self) -> int:
        return self.backbone.dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self.backbone(x)
        return F.normalize(raw, dim=1), F.normalize(self.projector_bn(self.projector(raw)), dim=1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The retrieval descriptor only."""
        return F.normalize(self.backbone(x), dim=1)


class Refiner(nn.Module):
    """Scene graphs over candidates, then the attention GNN: ``(u, r)`` per candidate."""

    def __init__(self, spec: ModelSpec, feature_dim: int) -> None:
        super().__init__()
        self.spec = spec
        self.gnn = SceneGraphNet(node_dim(feature_dim, spec.node_func), feature_dim, spec.gnn_blocks)

    def forward(self, query: torch.Tensor, features: torch.Tensor,
                positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.spec
        graph = build_graph(query, features, positions, s.edge_topk, s.edge_mode, s.edge_sigma, s.reference_compat,
                            s.node_func)
        z, scores = self.gnn(graph.nodes, graph.adjacency, graph.weights if s.edge_weight else None)
        return scores, refined_similarity(query, z)


class CMPC(nn.Module):
    """The whole method: ``embedding``, ``critic`` and ``refiner``."""

    def __init__(self, spec: ModelSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or ModelSpec()
        check_spec(self.spec)
        self.embedding = EmbeddingNet(self.spec.arch, self.spec.low_dim)
        self.critic = WassersteinCritic(self.spec.low_dim)
        self.refiner = Refiner(self.spec, self.embedding.dim)

    @property
    def dim(self) -> int:
        """Retrieval descriptor length."""
        return self.embedding.dim

    def forward(self, sar: torch.Tensor, opt: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
        """Both modalities in one pass through the shared network (joint BatchNorm statistics)."""
        feat, vec = self.embedding(torch.cat([sar, opt]))
        n = len(sar)
        return (feat[:n], vec[:n]), (feat[n:], vec[n:])

    def get_extra_state(self) -> dict[str, Any]:
        return self.spec.to_dict()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        loaded = ModelSpec.from_dict(state)
        if (loaded.arch, loaded.low_dim) != (self.spec.arch, self.spec.low_dim):
            raise XgeoError(None, f"checkpoint holds a {loaded.arch} with a {loaded.low_dim}-d projection, the model is "
                            f"a {self.spec.arch} with {self.spec.low_dim}", "build the model from the checkpoint's spec")
        self.spec = loaded
        self.refiner.spec = loaded


def check_spec(spec: ModelSpec) -> None:
    """One-line errors for settings the model cannot be built with."""
    if spec.edge_mode not in EDGE_MODES:
        raise XgeoError(None, f"unknown edge mode {spec.edge_mode!r}", f"use one of {', '.join(EDGE_MODES)}")
    NODE_FUNCS.get(spec.node_func)
    if not 0 < spec.edge_topk < spec.node_topk:
        raise XgeoError(None, f"edge_topk {spec.edge_topk} must be between 1 and node_topk - 1 ({spec.node_topk - 1})",
                        "lower edge_topk or raise node_topk")
    if spec.image_size < 32:
        raise XgeoError(None, f"image size {spec.image_size} is too small for a ResNet", "use 32 or more")


def build_model(spec: ModelSpec) -> CMPC:
    """A randomly initialised CMPC for ``spec``."""
    return CMPC(spec)
