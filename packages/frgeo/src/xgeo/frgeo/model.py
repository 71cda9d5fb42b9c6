"""The FRGeo model: two ConvNeXt branches (no weight sharing) each ending in the FRM.

The ground branch encodes panoramas with vertical strips, the aerial branch encodes tiles with
quadrants (see :mod:`xgeo.frgeo.frm`). Descriptors are ``4·C`` long (3072 for ConvNeXt-Tiny) and
are not L2-normalised here; the loss and the evaluation normalise them.

The model carries its own description (:class:`ModelSpec`) in its ``state_dict`` as extra state,
so a checkpoint alone is enough to rebuild it (backbone, dataset preprocessing, FoV).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import timm
import torch
from timm.models.convnext import ConvNeXt
from torch import nn

from xgeo.core.errors import XgeoError
from xgeo.frgeo.frm import PARTS, recombine

#: the paper's backbone
DEFAULT_BACKBONE = "convnext_tiny"


@dataclass
class ModelSpec:
    """Everything needed to rebuild an FRGeo model and its input preprocessing."""

    backbone: str = DEFAULT_BACKBONE
    dataset: str = "cvusa"
    #: network input sizes (rows, columns) of the panorama and of the aerial image
    ground_size: list[int] = field(default_factory=lambda: [128, 512])
    aerial_size: list[int] = field(default_factory=lambda: [256, 256])
    fov: int = 0
    #: ``"branch"``: ground strips for the query branch, quadrants for the aerial branch;
    #: ``"by-shape"``: the original code's squareness rule (parity checks only)
    frm: str = "branch"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        spec = cls(**{k: v for k, v in data.items() if k in known})
        spec.ground_size = [int(v) for v in spec.ground_size]
        spec.aerial_size = [int(v) for v in spec.aerial_size]
        return spec


#: FRM selection -> mode of (ground branch, aerial branch)
FRM_MODES: dict[str, tuple[str, str]] = {
    "branch": ("ground", "aerial"),
    "by-shape": ("by-shape", "by-shape"),
}


def create_backbone(name: str) -> ConvNeXt:
    """A randomly initialised timm ConvNeXt without classifier (never downloads anything)."""
    try:
        net = timm.create_model(name, pretrained=False, num_classes=0)
    except RuntimeError as err:  # timm: "Unknown model (...)"
        raise XgeoError(
            None, f"unknown backbone {name!r} ({err})", "pass a timm ConvNeXt name such as convnext_tiny or convnext_atto"
        ) from None
    if not isinstance(net, ConvNeXt) or isinstance(getattr(net.head, "norm", nn.Identity()), nn.Identity):
        raise XgeoError(
            None,
            f"backbone {name!r} is not a timm ConvNeXt with a final head norm",
            "pass a ConvNeXt name such as convnext_tiny or convnext_atto",
        )
    return net


class Branch(nn.Module):
    """One ConvNeXt encoder whose last feature map goes through the FRM."""

    def __init__(self, backbone: str, mode: str) -> None:
        super().__init__()
        if mode not in PARTS:
            raise ValueError(f"unknown FRM mode {mode!r}")
        self.backbone = create_backbone(backbone)
        self.mode = mode

    @property
    def dim(self) -> int:
        """Descriptor length, 4 × the backbone's channel count."""
        return 4 * self.backbone.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.backbone.forward_features(x)
        return recombine(fmap, self.backbone.head.norm, self.mode)


class FRGeo(nn.Module):
    """Ground (query) and aerial (reference) branches with separate weights."""

    def __init__(self, spec: ModelSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or ModelSpec()
        if self.spec.frm not in FRM_MODES:
            raise XgeoError(None, f"unknown FRM selection {self.spec.frm!r}", f"use one of {', '.join(FRM_MODES)}")
        ground_mode, aerial_mode = FRM_MODES[self.spec.frm]
        self.query_net = Branch(self.spec.backbone, ground_mode)
        self.reference_net = Branch(self.spec.backbone, aerial_mode)

    @property
    def dim(self) -> int:
        return self.query_net.dim

    def forward(self, query: torch.Tensor, gallery: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Descriptors of a batch of panoramas and a batch of aerial images."""
        return self.query_net(query), self.reference_net(gallery)

    def encoder(self, view: str) -> Branch:
        """The branch for ``view``: ``"query"``/``"ground"`` or ``"gallery"``/``"aerial"``."""
        branches = {
            "query": self.query_net,
            "ground": self.query_net,
            "gallery": self.reference_net,
            "aerial": self.reference_net,
        }
        if view not in branches:
            raise XgeoError(None, f"unknown view {view!r}", f"use one of {', '.join(branches)}")
        return branches[view]

    # the spec travels inside state_dict() as "_extra_state"
    def get_extra_state(self) -> dict[str, Any]:
        return asdict(self.spec)

    def set_extra_state(self, state: dict[str, Any]) -> None:
        loaded = ModelSpec.from_dict(state)
        if loaded.backbone != self.spec.backbone:
            raise XgeoError(
                None,
                f"checkpoint was trained with backbone {loaded.backbone!r}, model built with {self.spec.backbone!r}",
                f"pass --backbone {loaded.backbone}",
            )
        if loaded.frm not in FRM_MODES:
            raise XgeoError(
                None, f"checkpoint names an unknown FRM selection {loaded.frm!r}", "pass a checkpoint written by xgeo-frgeo"
            )
        self.query_net.mode, self.reference_net.mode = FRM_MODES[loaded.frm]
        self.spec = loaded


#: the ConvNeXt feature map is the input divided by this (rounded down)
STRIDE = 32


def fov_width(width: int, fov: int) -> int:
    """Ground input width for a limited field of view of ``fov`` degrees (0: full panorama)."""
    return width if not fov else int(fov / 360.0 * width)


def check_input_sizes(spec: ModelSpec) -> None:
    """The FRM needs a ground map at least 4 cells wide and an aerial map of at least 2×2 cells."""
    ground_w = fov_width(spec.ground_size[1], spec.fov)
    if spec.ground_size[0] < STRIDE or ground_w < 4 * STRIDE:
        raise XgeoError(
            None,
            f"panorama input {spec.ground_size[0]}×{ground_w} (after --fov {spec.fov}) is too small for four strips",
            f"use --ground-size with height >= {STRIDE} and a width (times fov/360) >= {4 * STRIDE}",
        )
    if min(spec.aerial_size) < 2 * STRIDE:
        raise XgeoError(
            None,
            f"aerial input {spec.aerial_size[0]}×{spec.aerial_size[1]} is too small for four quadrants",
            f"use --aerial-size of at least {2 * STRIDE} {2 * STRIDE}",
        )


def build_model(spec: ModelSpec) -> FRGeo:
    """A randomly initialised FRGeo for ``spec``, after checking that its inputs suit the FRM."""
    check_input_sizes(spec)
    return FRGeo(spec)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in model.parameters())
