"""FRM: part geometry and order on hand-made feature maps, descriptor sizes, parameter count."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from xgeo.frgeo.frm import aerial_quadrants, ground_strips, recombine
from xgeo.frgeo.model import FRGeo, ModelSpec, count_parameters


def coded_map(h: int, w: int) -> torch.Tensor:
    """[1, 2, h, w]: channel 0 holds the row index, channel 1 the column index."""
    rows = torch.arange(h, dtype=torch.float32)[:, None].expand(h, w)
    cols = torch.arange(w, dtype=torch.float32)[None, :].expand(h, w)
    return torch.stack([rows, cols])[None]


def test_ground_strips_left_to_right_with_remainder_in_last():
    fmap = coded_map(4, 10)  # w // 4 = 2: strips [0,2) [2,4) [4,6) [6,10)
    out = recombine(fmap, nn.Identity(), "ground").view(4, 2)
    assert torch.allclose(out[:, 0], torch.full((4,), 1.5))  # every strip uses all rows
    assert torch.allclose(out[:, 1], torch.tensor([0.5, 2.5, 4.5, 7.5]))  # mean column of each strip


def test_aerial_quadrants_bottom_left_top_left_top_right_bottom_right():
    fmap = coded_map(8, 8)
    out = recombine(fmap, nn.Identity(), "aerial").view(4, 2)
    # (mean row, mean col): BL, TL, TR, BR
    expected = torch.tensor([[5.5, 1.5], [1.5, 1.5], [1.5, 5.5], [5.5, 5.5]])
    assert torch.equal(out, expected)


def test_part_slices_cover_the_map_once():
    for h, w in [(4, 16), (10, 20), (3, 7)]:
        mask = torch.zeros(h, w, dtype=torch.int32)
        for rows, cols in ground_strips(h, w):
            mask[rows, cols] += 1
        assert torch.all(mask == 1)
    for n in [8, 10, 5]:
        mask = torch.zeros(n, n, dtype=torch.int32)
        for rows, cols in aerial_quadrants(n, n):
            mask[rows, cols] += 1
        assert torch.all(mask == 1)


def test_each_pooled_part_goes_through_the_shared_final_norm():
    torch.manual_seed(0)
    fmap = torch.randn(2, 6, 4, 4)
    norm = nn.GroupNorm(1, 6)  # normalises over channels of a [B, C, 1, 1] map, like LayerNorm2d
    norm.weight.data.uniform_(0.5, 2.0)
    norm.bias.data.uniform_(-1.0, 1.0)
    out = recombine(fmap, norm, "aerial")
    first = fmap[:, :, 2:, :2].mean(dim=(2, 3))  # bottom-left
    ref = torch.nn.functional.layer_norm(first, (6,), eps=norm.eps) * norm.weight + norm.bias
    assert out.shape == (2, 24)
    assert torch.allclose(out[:, :6], ref, atol=1e-5)


def test_model_uses_branch_not_squareness():
    torch.manual_seed(0)
    model = FRGeo(ModelSpec(backbone="convnext_atto")).eval()
    x = torch.randn(1, 3, 128, 128)  # square input to the ground branch: still strips
    with torch.no_grad():
        fmap = model.query_net.backbone.forward_features(x)
        strips = recombine(fmap, model.query_net.backbone.head.norm, "ground")
        quads = recombine(fmap, model.query_net.backbone.head.norm, "aerial")
        got = model.query_net(x)
    assert torch.allclose(got, strips)
    assert not torch.allclose(got, quads)
    assert model.dim == 4 * 320 == got.shape[1]


def test_paper_configuration_parameter_count():
    model = FRGeo(ModelSpec(backbone="convnext_tiny"))
    assert count_parameters(model) == 2 * 27_820_128  # ≈ 55.64 M, no extra FRM parameters
    assert model.dim == 3072
    q, r = model(torch.zeros(1, 3, 128, 512), torch.zeros(1, 3, 256, 256))
    assert q.shape == r.shape == (1, 3072)


def test_spec_travels_in_state_dict():
    spec = ModelSpec(backbone="convnext_atto", dataset="vigor", ground_size=[32, 64], aerial_size=[32, 32], fov=90)
    model = FRGeo(spec)
    state = model.state_dict()
    clone = FRGeo(ModelSpec.from_dict(state["_extra_state"]))
    clone.load_state_dict(state)
    assert clone.spec == spec


@pytest.mark.parametrize("name", ["resnet18", "no_such_model"])
def test_non_convnext_backbone_is_a_user_error(name):
    from xgeo.core.errors import XgeoError

    with pytest.raises(XgeoError):
        FRGeo(ModelSpec(backbone=name))
