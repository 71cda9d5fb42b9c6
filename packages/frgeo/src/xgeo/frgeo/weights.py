"""Reading weights: ImageNet ConvNeXt checkpoints, our checkpoints, and the original FRGeo releases.

Nothing here touches the network; every file is local. A broken or mismatching file becomes a
one-line :class:`~xgeo.core.errors.XgeoError` naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from timm.models.convnext import checkpoint_filter_fn

from xgeo.core.errors import XgeoError
from xgeo.core.io import check_finite, load_state_dict_into, load_weights, read_weights, unwrap_state
from xgeo.frgeo.model import FRGeo, ModelSpec

StateDict = dict[str, torch.Tensor]

#: keys of a classifier head that FRGeo drops
_HEAD_PREFIXES = ("head.fc.", "head.pre_logits.")


def _backbone_state(state: StateDict, backbone: torch.nn.Module) -> StateDict:
    """Map an ImageNet ConvNeXt state (Facebook or timm naming) to timm names, without the classifier."""
    mapped = checkpoint_filter_fn(dict(state), backbone)
    return {k: v for k, v in mapped.items() if not k.startswith(_HEAD_PREFIXES)}


def load_pretrained_backbone(model: FRGeo, path: str | Path) -> int:
    """Initialise both branches from one local ImageNet ConvNeXt checkpoint; returns tensors loaded per branch."""
    state = load_weights(path)
    loaded = 0
    for branch in (model.query_net, model.reference_net):
        mapped = _backbone_state(state, branch.backbone)
        expected = {k for k in branch.backbone.state_dict() if not k.startswith(_HEAD_PREFIXES)}
        missing = sorted(expected - set(mapped))
        if missing:
            raise XgeoError(
                path,
                f"not a {model.spec.backbone} checkpoint (missing {missing[0]} and {len(missing) - 1} more)",
                "pass ImageNet weights of the same ConvNeXt variant as --backbone",
            )
        load_state_dict_into(branch.backbone, {k: v for k, v in mapped.items() if k in expected}, path, strict=False)
        loaded = len(expected)
    return loaded


def is_original_release(state: StateDict) -> bool:
    """True for a checkpoint of the original FRGeo code (Facebook ConvNeXt names under query_net/reference_net)."""
    return any(k.startswith("query_net.downsample_layers.") for k in state)


def convert_original_release(state: StateDict, model: FRGeo) -> StateDict:
    """Rename an original FRGeo ``state_dict`` to this package's model."""
    out: StateDict = {}
    for branch_name in ("query_net", "reference_net"):
        prefix = f"{branch_name}."
        part = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        branch = getattr(model, branch_name)
        for k, v in _backbone_state(part, branch.backbone).items():
            out[f"{branch_name}.backbone.{k}"] = v
    out["_extra_state"] = model.get_extra_state()
    return out


def load_model(path: str | Path, default_spec: ModelSpec | None = None) -> tuple[FRGeo, dict[str, Any]]:
    """Rebuild an FRGeo model from a checkpoint file; returns the model and the raw checkpoint.

    Checkpoints written by ``frgeo-train`` carry their :class:`ModelSpec`; releases of the
    original code do not, so ``default_spec`` (from the command line) describes them.
    """
    data = read_weights(path)
    state = unwrap_state(data)
    if not state or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise XgeoError(path, "checkpoint holds no weights", "pass a checkpoint written by frgeo-train")
    check_finite(state, path)
    if is_original_release(state):
        model = FRGeo(default_spec or ModelSpec())
        state = convert_original_release(state, model)
    elif "_extra_state" in state:
        model = FRGeo(ModelSpec.from_dict(state["_extra_state"]))
    else:
        raise XgeoError(
            path,
            "not an FRGeo checkpoint (no FRGeo model weights inside)",
            "pass checkpoint.pth.tar / model_best.pth.tar written by frgeo-train or by the original FRGeo code",
        )
    load_state_dict_into(model, state, path)
    return model, data
