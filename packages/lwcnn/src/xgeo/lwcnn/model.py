"""The lightweight cross-view CNN: two truncated ResNet-34 branches (separate weights), each with SA.

A branch is torchvision's ResNet-34 stem and ``layer1``-``layer3`` with the max-pool removed
(stride 8, 256 channels), followed by the attention of :mod:`xgeo.lwcnn.attention`. The SA layer
sizes follow from the input size (``n = H/8 · W/8``), so the model is tied to its input size; the
model carries its :class:`ModelSpec` in its ``state_dict`` (extra state) so a checkpoint alone
rebuilds it. With the paper's sizes (aerial 256×256, ground 128×512, ``K = 8``) it has
33,142,400 parameters and gives 2048-d unit-length descriptors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet34

from xgeo.core.errors import XgeoError
from xgeo.core.registry import Registry
from xgeo.lwcnn.attention import MaxMapAttention, SpatialAwareAttention

#: the truncated backbone's output stride and channel count
STRIDE = 8
CHANNELS = 256
#: the ResNet-34 modules a branch keeps, in order (the max-pool, layer4, avgpool and fc are dropped)
KEPT = ("conv1", "bn1", "relu", "layer1", "layer2", "layer3")


@dataclass
class ModelSpec:
    """Everything needed to rebuild the model and its input preprocessing."""

    dataset: str = "cvusa"
    #: ``"fc"``: the released SA module; ``"none"``: the max-pooled map as the only attention map
    attention: str = "fc"
    heads: int = 8
    #: network input sizes (rows, columns)
    ground_size: list[int] = field(default_factory=lambda: [128, 512])
    aerial_size: list[int] = field(default_factory=lambda: [256, 256])
    #: the folder layout trained on: ``flat`` CVACT panoramas are used as stored, ``original`` ones are
    #: cropped to their middle rows first (the query encoder must do the same)
    layout: str = "original"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        spec = cls(**{k: v for k, v in data.items() if k in known})
        spec.ground_size = [int(v) for v in spec.ground_size]
        spec.aerial_size = [int(v) for v in spec.aerial_size]
        spec.heads = int(spec.heads)
        return spec


#: ``--attention`` -> (positions, heads) -> the attention module
ATTENTIONS: Registry[Callable[[int, int], nn.Module]] = Registry("attention", "--attention")
ATTENTIONS.register("fc", SpatialAwareAttention)
ATTENTIONS.register("none", lambda positions, heads: MaxMapAttention())


class TruncatedResNet34(nn.Sequential):
    """torchvision ResNet-34 up to ``layer3`` without the max-pool (random init; never downloads)."""

    def __init__(self) -> None:
        net = resnet34(weights=None)
        # torchvision's names (conv1, bn1, layer1, ...) so ImageNet weights load by name
        super().__init__(OrderedDict((name, getattr(net, name)) for name in KEPT))


def positions(size: list[int]) -> int:
    """Feature-map cells for an input of ``size`` (rows, columns)."""
    return (int(size[0]) // STRIDE) * (int(size[1]) // STRIDE)


class Branch(nn.Module):
    """One view's encoder: truncated ResNet-34 then attention; ``[B, 3, H, W]`` -> ``[B, D]`` unit rows."""

    def __init__(self, size: list[int], attention: str, heads: int) -> None:
        super().__init__()
        self.size = [int(v) for v in size]
        self.backbone = TruncatedResNet34()
        self.attention = ATTENTIONS.get(attention)(positions(size), heads)

    @property
    def dim(self) -> int:
        """Descriptor length: channels × heads."""
        return CHANNELS * self.attention.heads

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        fmap = self.backbone(images)
        expected = positions(self.size)
        if fmap.shape[2] * fmap.shape[3] != expected:
            raise XgeoError(
                None,
                f"input {tuple(images.shape[2:])} gives {fmap.shape[2]}×{fmap.shape[3]} cells; the SA layer was built for "
                f"{self.size[0]}×{self.size[1]} ({expected} cells)",
                "resize the images to the model's input size (the loaders of xgeo-lwcnn do)",
            )
        return self.attention(fmap.flatten(2))


class LightCNN(nn.Module):
    """Aerial and ground branches with separate weights; ``forward(ground, aerial)`` -> their descriptors."""

    def __init__(self, spec: ModelSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or ModelSpec()
        check_spec(self.spec)
        self.aerial_net = Branch(self.spec.aerial_size, self.spec.attention, self.spec.heads)
        self.ground_net = Branch(self.spec.ground_size, self.spec.attention, self.spec.heads)

    @property
    def dim(self) -> int:
        return self.ground_net.dim

    def forward(self, ground: torch.Tensor, aerial: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-length descriptors of a batch of panoramas and a batch of aerial images."""
        return self.ground_net(ground), self.aerial_net(aerial)

    def encoder(self, view: str) -> Branch:
        """The branch for ``view``: ``"query"``/``"ground"`` or ``"gallery"``/``"aerial"``."""
        branches = {"query": self.ground_net, "ground": self.ground_net, "gallery": self.aerial_net, "aerial": self.aerial_net}
        if view not in branches:
            raise XgeoError(None, f"unknown view {view!r}", f"use one of {', '.join(branches)}")
        return branches[view]

    # the spec travels inside state_dict() as "_extra_state"
    def get_extra_state(self) -> dict[str, Any]:
        return self.spec.to_dict()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        loaded = ModelSpec.from_dict(state)
        same = (loaded.attention, loaded.heads, loaded.ground_size, loaded.aerial_size)
        if same != (self.spec.attention, self.spec.heads, self.spec.ground_size, self.spec.aerial_size):
            raise XgeoError(
                None,
                f"checkpoint was trained with attention={loaded.attention}, heads={loaded.heads}, ground "
                f"{loaded.ground_size}, aerial {loaded.aerial_size}; the model was built differently",
                "rebuild the model from the checkpoint (xgeo.lwcnn.weights.load_model)",
            )
        self.spec = loaded


def check_spec(spec: ModelSpec) -> None:
    """Input sizes must be multiples of the stride (the SA layer is sized from them); names must exist."""
    ATTENTIONS.get(spec.attention)
    if spec.heads < 1:
        raise XgeoError(None, f"--sa_num {spec.heads}: need at least one attention head", "use --sa_num 8 (the paper)")
    for flag, size in (("ground", spec.ground_size), ("aerial", spec.aerial_size)):
        if len(size) != 2 or min(size) < 2 * STRIDE or any(int(v) % STRIDE for v in size):
            raise XgeoError(
                None,
                f"{flag} input size {list(size)} is not two multiples of {STRIDE} of at least {2 * STRIDE}",
                f"use e.g. --{'grd' if flag == 'ground' else 'sat'}_size_h/_w with multiples of {STRIDE}",
            )


def build_model(spec: ModelSpec) -> LightCNN:
    """A randomly initialised model for ``spec``."""
    return LightCNN(spec)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())
