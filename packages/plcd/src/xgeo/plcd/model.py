"""PLCD's two-branch network (spec §2): G2D (ground | drone) and D2S (satellite | drone) are one class.

Two ResNet backbones that share no weights (branch 1: ground or satellite, branch 2: drone), global
max (or average) pooling, L2 normalisation, then **one shared head**: ``z = Dropout(BN(W_b g))``
(2048 -> 512), ``logits = W_c z`` over the training buildings, embedding ``e = z / |z|``. For G2D
generations >= 1 the drone branch also yields region embeddings: the 2x2, 3x3 and 4x4 windows of
:func:`region_windows` on the last feature map, each max-pooled, normalised, passed through the
shared bottleneck (no classifier) and normalised again. Region batches use their own batch
statistics in BatchNorm but never update its running statistics (the original let them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from xgeo.core.errors import XgeoError
from xgeo.core.registry import Registry

#: region levels: a level ``l`` tiles the map with an ``l x l`` grid of overlapping windows
REGION_LEVELS = (2, 3, 4)
VIEW_KINDS = {"g2d": ("ground", "drone"), "d2s": ("satellite", "drone")}


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model (stored inside every checkpoint)."""

    kind: str = "g2d"
    backbone: str = "resnet50"
    num_classes: int = 701
    dim: int = 512
    pool: str = "max"
    droprate: float = 0.5
    regions: bool = False
    size: list[int] = field(default_factory=lambda: [384, 384])

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @property
    def views(self) -> tuple[str, str]:
        """The views of branch 1 and branch 2."""
        return VIEW_KINDS[self.kind]


# ------------------------------------------------------------------------------------------ backbones
def _torchvision(name: str) -> Callable[[], tuple[nn.Module, int]]:
    def build() -> tuple[nn.Module, int]:
        import torchvision

        net = getattr(torchvision.models, name)(weights=None)
        channels = net.fc.in_features
        return nn.Sequential(*list(net.children())[:-2]), channels

    return build


def _timm(name: str) -> Callable[[], tuple[nn.Module, int]]:
    def build() -> tuple[nn.Module, int]:
        import timm

        net = timm.create_model(name, pretrained=False, num_classes=0, global_pool="")
        return net, int(net.num_features)

    return build


#: backbone name -> builder of (feature-map trunk, channels); ``timm/<name>`` names any timm model
BACKBONES: Registry[Callable[[], tuple[nn.Module, int]]] = Registry("backbone", "--backbone")
for _name in ("resnet18", "resnet34", "resnet50", "resnet101"):
    BACKBONES.register(_name, _torchvision(_name))


def build_backbone(name: str) -> tuple[nn.Module, int]:
    """A feature-map trunk (no pooling, no classifier) and its channel count."""
    if name.startswith("timm/"):
        return _timm(name.split("/", 1)[1])()
    return BACKBONES.get(name)()


# ------------------------------------------------------------------------------------------ regions
def region_windows(height: int, width: int, levels: tuple[int, ...] = REGION_LEVELS) -> list[tuple[int, int, int, int]]:
    """``(row, col, rows, cols)`` windows, level by level, row-major within a level. Level ``l`` uses windows of
    ``floor(2 S / (l + 1))`` cells starting at ``floor(k (S - w) / (l - 1))`` (on a 12 x 12 map: 8 x 8 at
    {0, 4}, 6 x 6 at {0, 3, 6}, 4 x 4 at {0, 2, 5, 8}: the original's 29 windows)."""

    def axis(size: int, level: int) -> tuple[int, list[int]]:
        w = max(1, (2 * size) // (level + 1))
        return w, [int(k * (size - w) / (level - 1)) for k in range(level)]

    out = []
    for level in levels:
        h, rows = axis(height, level)
        w, cols = axis(width, level)
        out += [(r, c, h, w) for r in rows for c in cols]
    return out


def region_maxima(fmap: torch.Tensor, windows: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """``[B, R, C]`` channel maxima of each window of ``fmap`` ``[B, C, H, W]``."""
    return torch.stack([fmap[:, :, r:r + h, c:c + w].amax(dim=(2, 3)) for r, c, h, w in windows], dim=1)


# ------------------------------------------------------------------------------------------ the network
class SharedHead(nn.Module):
    """Bottleneck ``Linear -> BN -> Dropout`` (the embedding) and the building classifier."""

    def __init__(self, channels: int, dim: int, num_classes: int, droprate: float) -> None:
        super().__init__()
        self.linear = nn.Linear(channels, dim)
        self.bn = nn.BatchNorm1d(dim)
        self.dropout = nn.Dropout(droprate)
        self.classifier = nn.Linear(dim, num_classes)
        nn.init.kaiming_normal_(self.linear.weight, a=0, mode="fan_out")
        nn.init.zeros_(self.linear.bias)
        nn.init.normal_(self.bn.weight, 1.0, 0.02)
        nn.init.zeros_(self.bn.bias)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def bottleneck(self, x: torch.Tensor, update_stats: bool = True) -> torch.Tensor:
        """``Dropout(BN(W x))``; with ``update_stats=False`` a training batch is normalised by its own statistics
        without touching the running ones."""
        y = self.linear(x)
        if self.training and not update_stats:
            y = F.batch_norm(y, None, None, self.bn.weight, self.bn.bias, True, 0.0, self.bn.eps)
        else:
            y = self.bn(y)
        return self.dropout(y)


class Output(NamedTuple):
    """What a training forward pass returns (spec §2)."""

    e1: torch.Tensor
    logits1: torch.Tensor
    e2: torch.Tensor
    logits2: torch.Tensor
    regions2: torch.Tensor | None


class TwoViewNet(nn.Module):
    """Two unshared backbones and one shared head; see the module docstring."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if spec.kind not in VIEW_KINDS:
            raise XgeoError(None, f"unknown model kind {spec.kind!r}", f"use one of: {', '.join(VIEW_KINDS)}")
        if spec.pool not in ("max", "avg"):
            raise XgeoError(None, f"--pool {spec.pool}", "use --pool max (the paper) or avg")
        self.spec = spec
        self.backbone1, channels = build_backbone(spec.backbone)
        self.backbone2, _ = build_backbone(spec.backbone)
        self.channels = channels
        self.head = SharedHead(channels, spec.dim, spec.num_classes, spec.droprate)

    # the spec travels inside state_dict(), so a checkpoint rebuilds its own model
    def get_extra_state(self) -> dict[str, Any]:
        return self.spec.to_dict()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if ModelSpec.from_dict(state) != self.spec:
            raise ValueError("checkpoint model spec differs from this model")

    @property
    def dim(self) -> int:
        return self.spec.dim

    def _pool(self, fmap: torch.Tensor) -> torch.Tensor:
        g = fmap.amax(dim=(2, 3)) if self.spec.pool == "max" else fmap.mean(dim=(2, 3))
        return F.normalize(g, dim=1)

    def branch(self, view: str) -> nn.Module:
        """The backbone of a view name (``ground``/``satellite`` -> 1, ``drone`` -> 2)."""
        views = self.spec.views
        if view not in views:
            raise XgeoError(None, f"a {self.spec.kind.upper()} model has no {view!r} branch", f"use one of: {', '.join(views)}")
        return self.backbone1 if view == views[0] else self.backbone2

    def _global(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.head.bottleneck(self._pool(fmap))
        return F.normalize(z, dim=1), self.head.classifier(z)

    def regions(self, fmap: torch.Tensor, count: int | None = None) -> torch.Tensor:
        """``[B, R, dim]`` unit region embeddings of a drone feature map (the first ``count`` windows)."""
        windows = region_windows(fmap.shape[2], fmap.shape[3])[:count]
        maxima = F.normalize(region_maxima(fmap, windows), dim=2)
        b, r, c = maxima.shape
        z = self.head.bottleneck(maxima.reshape(b * r, c), update_stats=False)
        return F.normalize(z, dim=1).reshape(b, r, -1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, regions: int | None = None) -> Output:
        """Branch 1 on ``x1``, branch 2 on ``x2``; drone regions when the spec has them (first ``regions``)."""
        e1, logits1 = self._global(self.backbone1(x1))
        fmap2 = self.backbone2(x2)
        e2, logits2 = self._global(fmap2)
        r2 = self.regions(fmap2, regions) if self.spec.regions and regions != 0 else None
        return Output(e1, logits1, e2, logits2, r2)

    def encode(self, x: torch.Tensor, view: str) -> torch.Tensor:
        """Unit embeddings of one view (the model's current mode decides dropout/BN)."""
        return self._global(self.branch(view)(x))[0]

    def encoder(self, view: str) -> ViewEncoder:
        """The test-time descriptor of a view (spec §5) as a module (so ``eval()`` reaches the model)."""
        self.branch(view)
        return ViewEncoder(self, view)


class ViewEncoder(nn.Module):
    """``x -> normalize(e(x) + e(flip(x)))`` for one view of a :class:`TwoViewNet`."""

    def __init__(self, model: TwoViewNet, view: str) -> None:
        super().__init__()
        self.model, self.view = model, view

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.model.encode(x, self.view) + self.model.encode(torch.flip(x, dims=[3]), self.view)
        return F.normalize(e, dim=1)


def build_model(spec: ModelSpec) -> TwoViewNet:
    """A freshly initialised model (random backbones; see :func:`xgeo.plcd.weights.load_pretrained`)."""
    return TwoViewNet(spec)

