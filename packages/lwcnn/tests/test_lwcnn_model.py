"""The architecture: parameter counts, the SA module on hand-made inputs, descriptor shapes."""

from __future__ import annotations

import pytest
import torch

from xgeo.core.errors import XgeoError
from xgeo.lwcnn.attention import MaxMapAttention, SpatialAwareAttention
from xgeo.lwcnn.model import LightCNN, ModelSpec, build_model, count_parameters

TINY = {"ground_size": [16, 64], "aerial_size": [32, 32]}


@pytest.fixture(scope="module")
def tiny() -> LightCNN:
    torch.manual_seed(0)
    return build_model(ModelSpec(**TINY))


def test_paper_configuration_has_33_142_400_parameters():
    assert count_parameters(build_model(ModelSpec())) == 33_142_400


def test_without_fc_attention_only_the_backbones_remain():
    assert count_parameters(build_model(ModelSpec(attention="none"))) == 16_340_608


def test_sa_layer_sizes_follow_the_input_size(tiny):
    model = tiny
    sa = model.ground_net.attention
    assert tuple(sa.w1.shape) == (16, 8, 8) and tuple(sa.b1.shape) == (1, 8, 8)
    assert tuple(sa.w2.shape) == (8, 16, 8) and tuple(sa.b2.shape) == (1, 16, 8)
    assert tuple(model.aerial_net.attention.w1.shape) == (16, 8, 8)


def test_backbone_keeps_torchvision_names_and_drops_maxpool_and_layer4(tiny):
    names = {k.split(".")[0] for k in tiny.aerial_net.backbone.state_dict()}
    assert names == {"conv1", "bn1", "layer1", "layer2", "layer3"}


def _hand_sa() -> SpatialAwareAttention:
    sa = SpatialAwareAttention(positions=4, heads=2)
    with torch.no_grad():
        for p in sa.parameters():
            p.zero_()
        sa.w1[0, 0, 0] = 1.0  # head 0 hidden = [m0, 0]
        sa.w2[0, 0, 0] = 1.0  # head 0 map = [m0, 0, 0, 0]
        sa.w1[3, 1, 1] = 1.0  # head 1 hidden = [0, m3]
        sa.w2[1, 3, 1] = 1.0  # head 1 map = [0, 0, 0, m3] + 1
        sa.b2[0, :, 1] = 1.0
    return sa


def test_sa_output_on_hand_made_input_is_channel_major():
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]]])  # [B=1, C=2, n=4]; channel max = [4, 3, 3, 4]
    sa = _hand_sa()
    maps = sa.maps(x)
    assert torch.allclose(maps[0, :, 0], torch.tensor([4.0, 0.0, 0.0, 0.0]))
    assert torch.allclose(maps[0, :, 1], torch.tensor([1.0, 1.0, 1.0, 5.0]))
    # G[c, k]: head 0 -> [4, 16], head 1 -> [1+2+3+20, 4+3+2+5] = [26, 14]; flattened as c*K + k
    expected = torch.tensor([4.0, 26.0, 16.0, 14.0])
    assert torch.allclose(sa(x)[0], expected / expected.norm())


def test_without_fc_the_channel_max_is_the_single_map():
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 1.0]]])  # channel max = [1, 2, 3, 4]
    out = MaxMapAttention()(x)
    expected = torch.tensor([30.0, 4.0])
    assert torch.allclose(out[0], expected / expected.norm())


def test_descriptors_are_unit_rows_of_the_right_length(tiny):
    model = tiny.eval()
    with torch.no_grad():
        ground, aerial = model(torch.rand(2, 3, 16, 64), torch.rand(2, 3, 32, 32))
        fmap = model.aerial_net.backbone(torch.rand(2, 3, 32, 32))
        without_fc = MaxMapAttention()(fmap.flatten(2))  # the "none" variant on the same backbone
    assert ground.shape == aerial.shape == (2, 2048) and model.dim == 2048
    assert without_fc.shape == (2, 256)
    for rows in (ground, aerial, without_fc):
        assert torch.allclose(rows.norm(dim=1), torch.ones(2), atol=1e-5)


def test_branches_have_separate_weights(tiny):
    model = tiny
    assert model.aerial_net.backbone.conv1.weight is not model.ground_net.backbone.conv1.weight
    assert not torch.equal(model.aerial_net.attention.w1, model.ground_net.attention.w1)


def test_wrong_input_size_and_bad_sizes_are_one_line_errors(tiny):
    model = tiny
    with pytest.raises(XgeoError, match="SA layer was built for 16×64"):
        model.ground_net(torch.rand(1, 3, 32, 64))
    with pytest.raises(XgeoError, match="multiples of 8"):
        LightCNN(ModelSpec(ground_size=[20, 64], aerial_size=[32, 32]))
    with pytest.raises(XgeoError, match="attention"):
        LightCNN(ModelSpec(attention="softmax", **TINY))


def test_spec_travels_in_the_state_dict(tiny):
    state = tiny.state_dict()
    assert state["_extra_state"] == ModelSpec(**TINY).to_dict()
    state["_extra_state"] = dict(state["_extra_state"], attention="none")
    with pytest.raises(XgeoError, match="attention=none"):
        tiny.load_state_dict(state)
