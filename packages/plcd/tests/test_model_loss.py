"""Model pieces and losses against hand computations: region windows, shared head, mining, L_tri, L_id, L_kd."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from xgeo.core.train.optimizers import build_optimizer
from xgeo.plcd.config import resolve
from xgeo.plcd.loss import id_loss, mine, similarity_kd, similarity_rows, soft_margin_triplet
from xgeo.plcd.model import ModelSpec, build_model, region_maxima, region_windows
from xgeo.plcd.task import learning_rate_groups

torch.set_num_threads(1)


def test_region_windows_are_the_originals_29_on_a_12x12_map():
    windows = region_windows(12, 12)
    assert len(windows) == 29
    assert windows[:4] == [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 8), (4, 4, 8, 8)]
    assert [w[:2] for w in windows[4:13]] == [(r, c) for r in (0, 3, 6) for c in (0, 3, 6)] and windows[4][2:] == (6, 6)
    assert sorted({w[0] for w in windows[13:]}) == [0, 2, 5, 8] and windows[13][2:] == (4, 4)


def test_region_maxima_match_hand_computed_window_maxima():
    fmap = torch.arange(2 * 3 * 12 * 12, dtype=torch.float32).reshape(2, 3, 12, 12)
    fmap[1, 2, 5, 1] = 1e6  # row 5, col 1: inside the 3x3-level windows at (0, 0) and (3, 0) only
    maxima = region_maxima(fmap, region_windows(12, 12))
    # a ramp grows with row and column: each window's maximum sits at its bottom-right cell
    for k, (r, c, h, w) in enumerate(region_windows(12, 12)):
        assert maxima[0, k, 1] == fmap[0, 1, r + h - 1, c + w - 1]
    level3 = {(r, c): 4 + i for i, (r, c) in enumerate((r, c) for r in (0, 3, 6) for c in (0, 3, 6))}
    assert maxima[1, level3[(0, 0)], 2] == 1e6 and maxima[1, level3[(3, 0)], 2] == 1e6
    assert maxima[1, level3[(6, 0)], 2] < 1e6 and maxima[1, level3[(0, 3)], 2] < 1e6


def _tiny(kind: str = "g2d", regions: bool = True):
    torch.manual_seed(0)
    return build_model(ModelSpec(kind=kind, backbone="resnet18", num_classes=5, dim=16, regions=regions, size=[64, 64]))


def test_forward_shapes_regions_and_bn_statistics():
    model = _tiny()
    x1, x2 = torch.rand(2, 3, 64, 64), torch.rand(12, 3, 64, 64)
    before = model.head.bn.running_mean.clone()
    regions = model.regions(model.backbone2(x2), 13)
    assert regions.shape == (12, 13, 16) and torch.allclose(regions.norm(dim=2), torch.ones(12, 13), atol=1e-5)
    assert torch.equal(model.head.bn.running_mean, before), "region batches must not move the BN running statistics"
    out = model(x1, x2, regions=13)
    assert out.e1.shape == (2, 16) and out.logits2.shape == (12, 5) and out.regions2.shape == (12, 13, 16)
    assert not torch.equal(model.head.bn.running_mean, before), "global batches do update them"
    model.eval()
    enc = model.encoder("drone")(x2[:3])
    flipped = model.encoder("drone")(torch.flip(x2[:3], dims=[3]))
    assert torch.allclose(enc, flipped, atol=1e-5), "the test descriptor averages an image and its mirror"
    with pytest.raises(Exception, match="no 'satellite' branch"):
        model.encoder("satellite")


def test_backbones_are_not_shared_and_get_a_tenth_of_the_rate():
    model = _tiny("d2s", regions=False)
    assert model.backbone1[0].weight.data_ptr() != model.backbone2[0].weight.data_ptr()
    config = resolve({"config": "d2s"}, "d2s")
    groups = learning_rate_groups(config.train.lr, config.model.backbone_lr_scale)(model)
    opt = build_optimizer(groups, config.train)  # core's sgd_nesterov, as the Trainer builds it
    lrs = sorted(g["lr"] for g in opt.param_groups)
    assert lrs == pytest.approx([0.001, 0.01]) and all(g["nesterov"] for g in opt.param_groups)
    head = {id(p) for p in model.head.parameters()}
    assert all(id(p) in head for g in opt.param_groups if g["lr"] == pytest.approx(0.01) for p in g["params"])


def _unit(*shape):
    return F.normalize(torch.randn(*shape), dim=-1)


def test_mining_takes_easy_or_hard_positive_and_the_hardest_negatives():
    torch.manual_seed(1)
    anchor, drones = _unit(2, 8), _unit(12, 8)
    labels = torch.tensor([0, 1])
    scores = anchor @ drones.T
    pos_easy, neg, valid = mine(anchor, drones, labels, 6, easy_pos=True, n_neg=3)
    pos_hard, _, _ = mine(anchor, drones, labels, 6, easy_pos=False, n_neg=3)
    assert pos_easy.tolist() == [int(scores[0, :6].argmax()), 6 + int(scores[1, 6:].argmax())]
    assert pos_hard.tolist() == [int(scores[0, :6].argmin()), 6 + int(scores[1, 6:].argmin())]
    assert neg[0].tolist() == (6 + scores[0, 6:].argsort(descending=True)[:3]).tolist() and bool(valid.all())


def test_soft_margin_triplet_by_hand_with_both_pairings():
    torch.manual_seed(2)
    b, n_neg = 3, 2
    anchor, drones = _unit(b, 8), _unit(6 * b, 8)
    labels = torch.arange(b)
    pos, neg, _ = mine(anchor, drones, labels, 6, easy_pos=True, n_neg=n_neg)
    s_pos = [float(anchor[a] @ drones[pos[a]]) for a in range(b)]
    s_neg = [[float(anchor[a] @ drones[neg[a, j]]) for j in range(n_neg)] for a in range(b)]
    fixed = sum(math.log1p(math.exp(s_neg[a][j] - s_pos[a])) for a in range(b) for j in range(n_neg)) / (b * n_neg)
    tiled = sum(math.log1p(math.exp(s_neg[a][j] - s_pos[(n_neg * a + j) % b]))
                for a in range(b) for j in range(n_neg)) / (b * n_neg)
    assert float(soft_margin_triplet(anchor, drones, labels, 6, True, n_neg, "fixed")) == pytest.approx(fixed, rel=1e-5)
    assert float(soft_margin_triplet(anchor, drones, labels, 6, True, n_neg, "faithful")) == pytest.approx(tiled, rel=1e-5)


def test_id_loss_is_two_cross_entropies():
    logits1, logits2 = torch.randn(2, 4), torch.randn(12, 4)
    labels = torch.tensor([1, 3])
    expected = F.cross_entropy(logits1, labels) + F.cross_entropy(logits2, torch.tensor([1] * 6 + [3] * 6))
    assert torch.allclose(id_loss(logits1, logits2, labels), expected)


def test_kd_loss_against_a_hand_computation():
    student = torch.tensor([[0.2, 0.1, -0.3]])
    teacher = torch.tensor([[0.5, -0.1, 0.0]])
    tau = 0.1

    def softmax(row):
        e = [math.exp(v / tau) for v in row]
        return [v / sum(e) for v in e]

    p, q = softmax(teacher[0].tolist()), softmax(student[0].tolist())
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))
    assert float(similarity_kd(student, teacher, tau)) == pytest.approx(expected, rel=1e-5)
    assert float(similarity_kd(teacher, teacher, tau)) == pytest.approx(0.0, abs=1e-7)


def test_similarity_rows_put_globals_then_each_region_block():
    anchor, drones, regions = _unit(2, 4), _unit(3, 4), _unit(3, 2, 4)
    rows = similarity_rows(anchor, drones, regions)
    assert rows.shape == (2, 3 * 3)
    assert torch.allclose(rows[:, :3], anchor @ drones.T) and torch.allclose(rows[:, 6:], anchor @ regions[:, 1].T)


def test_pretrained_imagenet_weights_load_into_both_backbones(tmp_path):
    import torchvision

    from xgeo.core.errors import XgeoError
    from xgeo.plcd.weights import load_pretrained

    torch.manual_seed(3)
    imagenet = torchvision.models.resnet18(weights=None)
    torch.save(imagenet.state_dict(), tmp_path / "r18.pth")
    model = _tiny("d2s", regions=False)
    load_pretrained(model, tmp_path / "r18.pth")
    for trunk in (model.backbone1, model.backbone2):
        assert torch.equal(trunk[0].weight, imagenet.conv1.weight)
        assert torch.equal(trunk[7][1].bn2.bias, imagenet.layer4[1].bn2.bias)
    torch.save({"conv1.weight": imagenet.conv1.weight}, tmp_path / "partial.pth")
    with pytest.raises(XgeoError, match="not a resnet18 checkpoint"):
        load_pretrained(model, tmp_path / "partial.pth")
