"""The HVSA dual encoder: ResNet-18 + KEA + Linear for images, skip-thought GRU + ReLU projection
for captions, cosine similarity between them, and the learned loss weighting.

The model carries its :class:`ModelSpec` (vocabulary included) in its ``state_dict`` as extra
state, so a checkpoint alone rebuilds it and encodes free text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import timm
import torch
import torch.nn.functional as F
from torch import nn

from xgeo.core.datasets.vocab import Vocabulary
from xgeo.core.errors import XgeoError
from xgeo.hvsa.kea import KEA
from xgeo.hvsa.loss import AutoWeight, cosine_scores
from xgeo.hvsa.text import TextEncoder, encode_batch

#: ImageNet statistics (the ResNet-18 input normalisation)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


@dataclass
class ModelSpec:
    """Everything needed to rebuild an HVSA model and its preprocessing."""

    word2idx: dict[str, int] = field(default_factory=dict)
    backbone: str = "resnet18"
    image_size: int = 256
    word_dim: int = 620
    hidden_dim: int = 2400
    embed_dim: int = 512
    dropout: float = 0.25
    fixed_emb: bool = False
    kea_units: int = 64
    kea_tied: bool = True
    dataset: str = "rsitmd"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def vocab(self) -> Vocabulary:
        return Vocabulary(dict(self.word2idx))


def create_backbone(name: str) -> nn.Module:
    """A randomly initialised timm ResNet trunk (no pooling, no classifier; never downloads)."""
    try:
        net = timm.create_model(name, pretrained=False, num_classes=0, global_pool="")
    except RuntimeError as err:
        raise XgeoError(None, f"unknown backbone {name!r} ({err})", "pass a timm ResNet such as resnet18") from None
    if not hasattr(net, "layer4"):
        raise XgeoError(None, f"backbone {name!r} is not a ResNet", "pass a timm ResNet such as resnet18")
    return net


class ImageEncoder(nn.Module):
    """ResNet → KEA → global average pool → Linear (no activation, no normalisation)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.backbone = create_backbone(spec.backbone)
        channels = self.backbone.num_features
        self.kea = KEA(channels, spec.kea_units, spec.kea_tied)
        self.fc = nn.Linear(channels, spec.embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        fmap = self.kea(self.backbone.forward_features(images))
        return self.fc(fmap.mean(dim=(2, 3)))


class HVSA(nn.Module):
    """Image and caption encoders into one ``embed_dim`` space; scores are cosine similarities."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        if not spec.word2idx:
            raise XgeoError(None, "the model needs a vocabulary", "build one from the training captions or pass --vocab")
        self.spec = spec
        self.vocab = spec.vocab
        self.image_encoder = ImageEncoder(spec)
        self.text_encoder = TextEncoder(self.vocab.size, spec.word_dim, spec.hidden_dim, spec.embed_dim, spec.dropout,
                                        spec.fixed_emb)
        self.loss_weighting = AutoWeight(2)

    @property
    def dim(self) -> int:
        return self.spec.embed_dim

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, S, S]`` normalised images → ``[B, D]``."""
        return self.image_encoder(images)

    def encode_sentences(self, captions: Sequence[str]) -> torch.Tensor:
        """Raw caption strings → ``[B, D]`` (tokenised with the model's vocabulary)."""
        ids, lengths = encode_batch(self.vocab, list(captions))
        device = self.text_encoder.project.weight.device
        return self.text_encoder(ids.to(device), lengths)

    def forward(self, images: torch.Tensor, captions: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_image(images), self.encode_sentences(captions)

    similarity = staticmethod(cosine_scores)

    def encoder(self, view: str) -> Any:
        """``"image"`` → image encoder, ``"text"`` → the sentence encoder (plain strings in)."""
        if view in ("image", "query"):
            return self.image_encoder
        if view in ("text", "caption", "gallery"):
            return self.encode_sentences
        raise XgeoError(None, f"unknown view {view!r}", "use image or text")

    # the spec travels inside state_dict() as "_extra_state"
    def get_extra_state(self) -> dict[str, Any]:
        return self.spec.to_dict()

    def set_extra_state(self, state: dict[str, Any]) -> None:
        loaded = ModelSpec.from_dict(state)
        if loaded.word2idx != self.spec.word2idx:
            raise XgeoError(None, "the checkpoint's vocabulary differs from the model's", "rebuild the model from the checkpoint")
        self.spec = loaded


def build_model(spec: ModelSpec) -> HVSA:
    """A randomly initialised HVSA for ``spec``."""
    if spec.image_size < 32:
        raise XgeoError(None, f"image size {spec.image_size} is too small for ResNet-18", "use 32 or more")
    return HVSA(spec)


def unit(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length."""
    return F.normalize(x, dim=1)
