"""Reading weights: HVSA checkpoints (which carry their spec and vocabulary) and local ImageNet
ResNet-18 weights for the image backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from xgeo.core.errors import XgeoError
from xgeo.core.io import check_finite, load_state_dict_into, load_weights, read_weights, unwrap_state
from xgeo.hvsa.model import HVSA, ModelSpec

_HEAD = ("fc.",)


def load_pretrained_backbone(model: HVSA, path: str | Path) -> int:
    """Initialise the ResNet trunk from a local ImageNet checkpoint (torchvision/timm names); returns tensors loaded."""
    state = {k: v for k, v in load_weights(path).items() if not k.startswith(_HEAD)}
    backbone = model.image_encoder.backbone
    expected = set(backbone.state_dict())
    missing = sorted(expected - set(state))
    if missing:
        raise XgeoError(path, f"not a {model.spec.backbone} checkpoint (missing {missing[0]} and {len(missing) - 1} more)",
                        "pass ImageNet weights of the same ResNet")
    load_state_dict_into(backbone, {k: v for k, v in state.items() if k in expected}, path, strict=False)
    return len(expected)


def load_model(path: str | Path) -> tuple[HVSA, dict[str, Any]]:
    """Rebuild an HVSA model from a checkpoint of ``hvsa-train``; returns the model and the raw checkpoint."""
    data = read_weights(path)
    state = unwrap_state(data)
    if not isinstance(state.get("_extra_state"), dict) or "word2idx" not in state["_extra_state"]:
        raise XgeoError(path, "not an HVSA checkpoint (no model spec and vocabulary inside)",
                        "pass model_best.pth.tar or checkpoint.pth.tar written by hvsa-train")
    if not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise XgeoError(path, "checkpoint holds no weights", "pass a checkpoint written by hvsa-train")
    check_finite(state, path)
    model = HVSA(ModelSpec.from_dict(state["_extra_state"]))
    load_state_dict_into(model, state, path)
    model.eval()
    return model, data
