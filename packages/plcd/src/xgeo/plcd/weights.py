"""Reading weights: local ImageNet ResNet checkpoints for the backbones, and PLCD checkpoints (teacher, tests)."""

from __future__ import annotations

from pathlib import Path

from xgeo.core.errors import XgeoError
from xgeo.core.io import load_state_dict_into, load_weights
from xgeo.plcd.model import ModelSpec, TwoViewNet

#: classifier keys of torchvision / timm ImageNet ResNets, dropped
_HEAD_PREFIXES = ("fc.", "head.", "classifier.")
#: torchvision trunks are Sequentials of the ResNet's children: ImageNet key prefix -> child index
_TORCHVISION_CHILD = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}


def load_pretrained(model: TwoViewNet, path: str | Path) -> int:
    """Initialise both backbones from one local ImageNet checkpoint of the same architecture; tensors per branch."""
    state = {k: v for k, v in load_weights(path).items() if not k.startswith(_HEAD_PREFIXES)}
    expected = model.backbone1.state_dict()
    renamed = {_TORCHVISION_CHILD.get(k.split(".", 1)[0], k.split(".", 1)[0]) + "." + k.split(".", 1)[1]: v
               for k, v in state.items() if "." in k} if next(iter(expected))[0].isdigit() else state
    missing = sorted(set(expected) - set(renamed))
    if missing:
        raise XgeoError(path, f"not a {model.spec.backbone} checkpoint (missing {missing[0]} and {len(missing) - 1} more)",
                        "pass ImageNet weights of the same ResNet as --backbone")
    for branch in (model.backbone1, model.backbone2):
        load_state_dict_into(branch, {k: renamed[k] for k in expected}, path)
    return len(expected)


def load_model(path: str | Path) -> TwoViewNet:
    """Rebuild a PLCD model from a checkpoint written by ``plcd-train-g2d`` / ``plcd-train-d2s``."""
    state = load_weights(path)
    spec = state.get("_extra_state")
    if not isinstance(spec, dict) or "kind" not in spec:
        raise XgeoError(path, "not a PLCD checkpoint (no model spec inside)",
                        "pass a run folder or checkpoint of plcd-train-g2d/-d2s")
    model = TwoViewNet(ModelSpec.from_dict(spec))
    load_state_dict_into(model, state, path)
    return model


def load_teacher(path: str | Path, kind: str) -> TwoViewNet:
    """The frozen previous generation (eval mode, no gradients)."""
    model = load_model(path)
    if model.spec.kind != kind:
        raise XgeoError(path, f"the teacher is a {model.spec.kind.upper()} model", f"pass a {kind.upper()} run as --old_name")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
