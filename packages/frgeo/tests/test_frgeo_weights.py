"""Loading weights: ImageNet ConvNeXt checkpoints (Facebook or timm naming) and original FRGeo releases."""

from __future__ import annotations

import re

import numpy as np
import torch

from xgeo.core.features import read_features
from xgeo.frgeo import cli
from xgeo.frgeo.model import FRGeo, ModelSpec, create_backbone
from xgeo.frgeo.weights import load_model, load_pretrained_backbone


def facebook_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm ConvNeXt names -> the names of the Facebook ConvNeXt code (which FRGeo's release used)."""
    out = {}
    for k, v in state.items():
        k = k.replace("stem.", "downsample_layers.0.")
        k = re.sub(r"stages\.(\d+)\.downsample\.(\d+)", r"downsample_layers.\1.\2", k)
        k = re.sub(r"stages\.(\d+)\.blocks\.(\d+)", r"stages.\1.\2", k)
        k = k.replace("conv_dw", "dwconv").replace("mlp.fc", "pwconv").replace("head.norm", "norm")
        out[k] = v.clone()
    return out


def test_imagenet_checkpoint_in_facebook_naming_initialises_both_branches(tmp_path):
    torch.manual_seed(0)
    source = create_backbone("convnext_atto")
    state = facebook_names(source.state_dict())
    state["head.weight"], state["head.bias"] = torch.zeros(1000, 320), torch.zeros(1000)  # classifier: ignored
    torch.save({"model": state}, tmp_path / "in1k.pth")
    model = FRGeo(ModelSpec(backbone="convnext_atto"))
    load_pretrained_backbone(model, tmp_path / "in1k.pth")
    for branch in (model.query_net, model.reference_net):
        for name, tensor in source.state_dict().items():
            assert torch.equal(branch.backbone.state_dict()[name], tensor), name


def test_safetensors_checkpoint_in_timm_naming(tmp_path):
    from safetensors.torch import save_file

    source = create_backbone("convnext_atto")
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(tmp_path / "w.safetensors"))
    model = FRGeo(ModelSpec(backbone="convnext_atto"))
    load_pretrained_backbone(model, tmp_path / "w.safetensors")
    assert torch.equal(model.reference_net.backbone.stem[0].weight, source.stem[0].weight)


def test_original_release_is_evaluated_like_the_same_weights(frgeo_cvusa, tmp_path, run_cli):
    torch.manual_seed(1)
    model = FRGeo(ModelSpec(backbone="convnext_atto", dataset="cvusa"))
    ours = tmp_path / "ours.pth.tar"
    torch.save({"state_dict": model.state_dict()}, ours)
    original = {}
    for branch in ("query_net", "reference_net"):
        for k, v in facebook_names(getattr(model, branch).backbone.state_dict()).items():
            original[f"module.{branch}.{k}"] = v
    release = tmp_path / "model_best.pth.tar"
    torch.save({"epoch": 50, "state_dict": original, "best_acc1": 97.0}, release)

    loaded, _ = load_model(release, ModelSpec(backbone="convnext_atto", dataset="cvusa"))
    for name, tensor in model.state_dict().items():
        if isinstance(tensor, torch.Tensor):
            assert torch.equal(loaded.state_dict()[name], tensor), name

    features = {}
    for name, path, extra in (("ours", ours, []), ("release", release, ["--backbone", "convnext_atto"])):
        code, _, err = run_cli(
            cli.eval_main,
            [
                "--checkpoint",
                str(path),
                "--dataset",
                "cvusa",
                "--data-root",
                str(frgeo_cvusa),
                "--out",
                str(tmp_path / name),
                *extra,
            ],
        )
        assert code == 0, err
        features[name] = read_features(tmp_path / name / "query.h5").features
    assert np.array_equal(features["ours"], features["release"])
