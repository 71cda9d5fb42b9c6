"""The authors' released checkpoint layout, ImageNet ResNet-34 weights, and refusing partial loads."""

from __future__ import annotations

import re

import pytest
import torch
from torchvision.models import resnet34

from xgeo.core.errors import XgeoError
from xgeo.lwcnn.model import LightCNN, ModelSpec
from xgeo.lwcnn.weights import load_model, load_pretrained_backbone

TINY = ModelSpec(ground_size=[16, 64], aerial_size=[32, 32])
# the released SAFA module: extract1/sa1 = aerial, extract2/sa2 = ground; extractN.layers = resnet children
# without the max-pool: 0 conv1, 1 bn1, 2 relu, 3 layer1, 4 layer2, 5 layer3
ORIGINAL_INDEX = {"conv1": "0", "bn1": "1", "layer1": "3", "layer2": "4", "layer3": "5"}
ORIGINAL_BRANCH = {"aerial_net": "1", "ground_net": "2"}


def original_name(key: str) -> str:
    """Our key written the way the released code names it (spelled out here, independently of weights.py)."""
    branch, part, rest = key.split(".", 2)
    number = ORIGINAL_BRANCH[branch]
    if part == "attention":
        return f"sa{number}.{rest}"
    module, tail = rest.split(".", 1)
    return f"extract{number}.layers.{ORIGINAL_INDEX[module]}.{tail}"


@pytest.fixture(scope="module")
def source() -> LightCNN:
    torch.manual_seed(1)
    return LightCNN(TINY)


def release(model: LightCNN) -> dict:
    state = {original_name(k): v.clone() for k, v in model.state_dict().items() if k != "_extra_state"}
    return {"last_epoch": 41, "best_acc": 93.5, "count": 1234, "retrieval_model_dict": state, "optimizer_dict": {}}


def test_release_names_look_like_the_original_code(source):
    names = set(release(source)["retrieval_model_dict"])
    assert {"extract1.layers.0.weight", "extract2.layers.5.5.bn2.running_var", "sa1.w1", "sa2.b2"} <= names
    assert not any(re.match(r"extract\d\.layers\.2\.", k) for k in names)  # relu has no weights


def test_a_release_loads_into_the_right_branches(source, tmp_path):
    path = tmp_path / "cvusa.pth"
    torch.save(release(source), path)
    model, raw = load_model(path, default_spec=TINY)
    assert raw["last_epoch"] == 41
    for ours, theirs in zip(model.state_dict().values(), source.state_dict().values(), strict=True):
        if isinstance(ours, torch.Tensor):
            assert torch.equal(ours, theirs)
    assert torch.equal(model.aerial_net.attention.w1, source.aerial_net.attention.w1)
    assert not torch.equal(model.ground_net.attention.w1, source.aerial_net.attention.w1)


def test_missing_and_unexpected_keys_are_one_line_errors(source, tmp_path):
    data = release(source)
    del data["retrieval_model_dict"]["sa2.b2"]
    path = tmp_path / "partial.pth"
    torch.save(data, path)
    with pytest.raises(XgeoError, match=r"missing key ground_net\.attention\.b2"):
        load_model(path, default_spec=TINY)
    data = release(source)
    data["retrieval_model_dict"]["extract1.layers.6.0.conv1.weight"] = torch.zeros(1)
    torch.save(data, path)
    with pytest.raises(XgeoError, match=r"unexpected key extract1\.layers\.6\.0\.conv1\.weight"):
        load_model(path, default_spec=TINY)


def test_a_release_for_other_input_sizes_names_the_shape(source, tmp_path):
    path = tmp_path / "cvact.pth"
    torch.save(release(source), path)
    with pytest.raises(XgeoError, match=r"sa1\.w1|aerial_net\.attention\.w1"):
        load_model(path, default_spec=ModelSpec(ground_size=[16, 64], aerial_size=[64, 64]))  # aerial n = 64, not 16


def test_imagenet_resnet34_initialises_both_backbones(tmp_path):
    torch.manual_seed(2)
    imagenet = resnet34(weights=None).state_dict()
    path = tmp_path / "resnet34.pth"
    torch.save(imagenet, path)
    model = LightCNN(TINY)
    load_pretrained_backbone(model, path)
    for branch in (model.aerial_net, model.ground_net):
        assert torch.equal(branch.backbone.layer3[5].conv2.weight, imagenet["layer3.5.conv2.weight"])
        assert torch.equal(branch.backbone.conv1.weight, imagenet["conv1.weight"])
    del imagenet["layer2.0.downsample.0.weight"]
    torch.save(imagenet, path)
    with pytest.raises(XgeoError, match="missing layer2.0.downsample.0.weight"):
        load_pretrained_backbone(model, path)
