"""Reading weights: ImageNet ResNet-34, our checkpoints, and the authors' released checkpoints.

The released ``cvusa.pth`` / ``cvact.pth`` hold ``{last_epoch, best_acc, count,
retrieval_model_dict, optimizer_dict}``; their model keys come from the original ``SAFA`` module:
``extract1`` / ``sa1`` is the aerial branch, ``extract2`` / ``sa2`` the ground branch, and each
``extractN.layers`` is an ``nn.Sequential`` of ResNet-34's children without the max-pool
(``0`` conv1, ``1`` bn1, ``2`` relu, ``3`` layer1, ``4`` layer2, ``5`` layer3). Nothing touches
the network; a broken or mismatching file is a one-line :class:`~xgeo.core.errors.XgeoError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from xgeo.core.errors import XgeoError
from xgeo.core.io import check_finite, load_state_dict_into, load_weights, read_weights, unwrap_state
from xgeo.lwcnn.model import LightCNN, ModelSpec

StateDict = dict[str, Any]

#: where the released code keeps its model weights inside the checkpoint
RELEASE_KEY = "retrieval_model_dict"
#: released module prefix -> ours
RELEASE_BRANCHES = {
    "extract1.layers.": "aerial_net.backbone.",
    "sa1.": "aerial_net.attention.",
    "extract2.layers.": "ground_net.backbone.",
    "sa2.": "ground_net.attention.",
}
#: index in the released nn.Sequential -> torchvision module name
RELEASE_LAYERS = {"0": "conv1", "1": "bn1", "3": "layer1", "4": "layer2", "5": "layer3"}


def load_pretrained_backbone(model: LightCNN, path: str | Path) -> int:
    """Initialise both backbones from one local torchvision ResNet-34 checkpoint; returns tensors per branch."""
    state = load_weights(path)
    loaded = 0
    for branch in (model.aerial_net, model.ground_net):
        expected = [k for k in branch.backbone.state_dict() if not k.endswith("num_batches_tracked")]
        missing = [k for k in expected if k not in state]
        if missing:
            raise XgeoError(
                path,
                f"not a torchvision ResNet-34 checkpoint (missing {missing[0]} and {len(missing) - 1} more)",
                "pass ImageNet ResNet-34 weights with torchvision names (conv1.weight, layer1.0.conv1.weight, ...)",
            )
        load_state_dict_into(branch.backbone, {k: state[k] for k in expected}, path, strict=False)
        loaded = len(expected)
    return loaded


def is_original_release(data: dict[str, Any]) -> bool:
    """True for a checkpoint written by the authors' code (``retrieval_model_dict`` inside)."""
    return isinstance(data.get(RELEASE_KEY), dict)


def rename_release_key(key: str) -> str:
    """One released model key under our names (unknown keys come back unchanged, to be reported)."""
    for old, new in RELEASE_BRANCHES.items():
        if key.startswith(old):
            rest = key[len(old):]
            if new.endswith("backbone."):
                index, _, tail = rest.partition(".")
                if index not in RELEASE_LAYERS:
                    return key
                rest = f"{RELEASE_LAYERS[index]}.{tail}"
            return new + rest
    return key


def convert_original_release(state: StateDict, model: LightCNN) -> StateDict:
    """An original ``retrieval_model_dict`` renamed to this package's model (spec included)."""
    out = {rename_release_key(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    out["_extra_state"] = model.get_extra_state()
    return out


def load_model(path: str | Path, default_spec: ModelSpec | None = None) -> tuple[LightCNN, dict[str, Any]]:
    """Rebuild the model from a checkpoint file; returns the model and the raw checkpoint.

    Checkpoints written by ``lwcnn-train`` carry their :class:`ModelSpec`; the authors' releases do
    not, so ``default_spec`` (from the command line: dataset, sizes, ``--sa_num``) describes them.
    Every key must match: a partial load is an error naming the first missing or unexpected key.
    """
    data = read_weights(path)
    if is_original_release(data):
        state = {k: v for k, v in data[RELEASE_KEY].items()}
        check_finite(state, path)
        model = LightCNN(default_spec or ModelSpec())
        state = convert_original_release(state, model)
    else:
        state = unwrap_state(data)
        if not any(isinstance(v, torch.Tensor) for v in state.values()):
            raise XgeoError(path, "checkpoint holds no weights", "pass a checkpoint written by lwcnn-train")
        check_finite(state, path)
        if not isinstance(state.get("_extra_state"), dict):
            raise XgeoError(
                path,
                "not a lightweight-CNN checkpoint (neither lwcnn-train's model spec nor the authors' retrieval_model_dict)",
                "pass checkpoint.pth.tar / model_best.pth.tar of lwcnn-train, or the authors' cvusa.pth / cvact.pth",
            )
        model = LightCNN(ModelSpec.from_dict(state["_extra_state"]))
    load_state_dict_into(model, state, path)
    return model, data
