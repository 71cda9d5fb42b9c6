"""The shared network: stride-1 last stage, max pooling, unit outputs, spec carried by the state dict, sampler."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xgeo.cmpc.data import CMPCTransform, UniqueIdSampler, random_shift
from xgeo.cmpc.model import CMPC, ModelSpec
from xgeo.core.errors import XgeoError


@pytest.fixture(scope="module")
def model() -> CMPC:
    torch.manual_seed(0)
    return CMPC(ModelSpec(arch="test_resnet", low_dim=16, image_size=64)).eval()


def test_last_stage_runs_at_stride_one_and_pools_by_max(model):
    net = model.embedding.backbone.net
    fmap = net.forward_features(torch.randn(1, 3, 64, 64))
    assert fmap.shape[-2:] == (4, 4)  # 64 / 16: the last stage no longer halves the map
    x = torch.randn(2, 3, 64, 64)
    raw = model.embedding.backbone(x)
    assert torch.allclose(raw, net.forward_features(x).amax(dim=(2, 3)))


def test_outputs_are_unit_and_shared_between_modalities(model):
    x = torch.randn(3, 3, 64, 64)
    (sar_feat, sar_vec), (opt_feat, opt_vec) = model(x, x.clone())
    assert sar_feat.shape == (3, model.dim) and sar_vec.shape == (3, 16)
    assert torch.allclose(sar_feat.norm(dim=1), torch.ones(3)) and torch.allclose(opt_vec.norm(dim=1), torch.ones(3))
    assert torch.allclose(sar_feat, opt_feat) and torch.allclose(sar_vec, opt_vec)  # one network for both


def test_spec_travels_in_the_state_dict(model):
    state = model.state_dict()
    rebuilt = CMPC(ModelSpec.from_dict(state["_extra_state"]))
    rebuilt.load_state_dict(state)
    assert rebuilt.spec == model.spec
    with pytest.raises(XgeoError, match="checkpoint holds a test_resnet"):
        CMPC(ModelSpec(arch="test_resnet", low_dim=8)).load_state_dict(state, strict=False)


def test_bad_specs_are_one_line():
    with pytest.raises(XgeoError, match="edge_topk 10"):
        CMPC(ModelSpec(arch="test_resnet", edge_topk=10))
    with pytest.raises(XgeoError, match="not a ResNet"):
        CMPC(ModelSpec(arch="test_convnext"))


def test_unique_id_sampler_batches_have_distinct_ids():
    labels = np.array([0, 0, 1, 2, 2, 3, 4, 5])
    sampler = UniqueIdSampler(labels, batch_size=4, seed=3)
    sampler.set_epoch(1)
    batches = sampler.global_batches()
    assert len(batches) == len(labels) // 4 + 1 and len(list(sampler)) == len(sampler) == 12
    for batch in batches:
        assert len(batch) == 4 and len(set(labels[batch])) == 4
    assert batches == sampler.global_batches()  # deterministic per epoch
    with pytest.raises(XgeoError, match="distinct optical ids"):
        UniqueIdSampler(labels, batch_size=7)


def test_random_shift_moves_each_view_by_at_most_shift_pixels():
    image = torch.arange(3 * 16 * 16, dtype=torch.float32).view(3, 16, 16)
    seen = set()
    for seed in range(30):
        torch.manual_seed(seed)
        out = random_shift(image, 2)
        assert out.shape == image.shape
        # the interior is the input moved by (dy, dx) with |dy|, |dx| <= 2
        moves = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(out[:, 2:-2, 2:-2], image[:, 2 - dy:14 - dy, 2 - dx:14 - dx])]
        assert len(moves) == 1
        seen.add(moves[0])
    assert len(seen) > 5  # the shift is drawn, not fixed
    sample = {"query": torch.rand(3, 20, 20), "gallery": torch.rand(3, 20, 20)}
    plain = CMPCTransform(16)(dict(sample))
    assert torch.equal(CMPCTransform(16, shift=0)(dict(sample))["query"], plain["query"])


def test_keep_best_loads_the_best_epoch_into_the_model(model, tmp_path):
    """After phase 1 the model (so the dump, the refinement and cmpc-test) carries model_best's weights."""
    from xgeo.cmpc.run import keep_best

    keep_best(model, tmp_path)  # no best checkpoint (e.g. --max-steps inside an epoch): the model is kept
    before = {k: v.clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    other = CMPC(model.spec)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)
    torch.save({"state_dict": other.state_dict(), "epoch": 3}, tmp_path / "model_best.pth.tar")
    keep_best(model, tmp_path)
    after = model.state_dict()
    name = next(k for k, v in before.items() if v.is_floating_point() and k.startswith("embedding."))
    assert not torch.equal(after[name], before[name]) and torch.equal(after[name], other.state_dict()[name])
