"""The loss terms against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from xgeo.hvsa.loss import AutoWeight, Curriculum, HVSALoss, cosine_scores, difficulty_weighted_hinge, feature_uniformity


def _term(c: float, beta: float) -> float:
    return c * math.exp(-beta * c) if c > 0 else 0.0


def test_difficulty_weighted_hinge_by_hand():
    s = torch.tensor([[0.9, 0.8, 0.1], [0.3, 0.5, 0.6], [0.2, 0.7, 0.4]])
    alpha, beta = 0.2, 0.5
    expected = 0.0
    for i in range(3):
        for j in range(3):
            if i != j:
                expected += _term(alpha + s[i, j].item() - s[i, i].item(), beta)  # image i vs wrong caption j
                expected += _term(alpha + s[i, j].item() - s[j, j].item(), beta)  # caption j vs wrong image i
    # e.g. (0,1): c_s = 0.2+0.8-0.9 = 0.1, c_im = 0.2+0.8-0.5 = 0.5; (1,2): c_s = 0.3, c_im = 0.4
    assert difficulty_weighted_hinge(s, alpha, beta).item() == pytest.approx(expected / 9, rel=1e-6)
    assert expected > 0


def test_hinge_is_zero_when_every_negative_is_beyond_the_margin_and_counts_all_negatives():
    s = torch.eye(4) * 0.9
    assert difficulty_weighted_hinge(s, 0.2, 0.5).item() == 0.0
    # every negative violating by the same cost c: all 2·B(B−1) terms count (no hardest-negative max)
    s = torch.zeros(4, 4)
    c = 0.2
    assert difficulty_weighted_hinge(s, 0.2, 0.5).item() == pytest.approx(2 * 12 * _term(c, 0.5) / 16)


def test_weight_is_not_detached():
    s = torch.tensor([[0.5, 0.6], [0.1, 0.4]], requires_grad=True)
    difficulty_weighted_hinge(s, 0.2, 0.5).backward()
    # d/dc [c e^{-βc}] = e^{-βc}(1 − βc); for s01 both costs involve it: c_s = 0.3, c_im = 0.4
    g = math.exp(-0.15) * (1 - 0.15) + math.exp(-0.2) * (1 - 0.2)
    assert s.grad[0, 1].item() == pytest.approx(g / 4, rel=1e-5)


def test_uniformity_by_hand_uses_every_fifth_row():
    x = torch.zeros(11, 2)
    x[0] = torch.tensor([1.0, 0.0])
    x[5] = torch.tensor([0.0, 3.0])  # normalised to (0, 1): squared distance 2 from row 0
    x[10] = torch.tensor([-2.0, 0.0])  # (−1, 0): distance² 4 from row 0, 2 from row 5
    x[1:5] = 7.0  # ignored rows
    expected = (math.exp(-2 * 2) + math.exp(-2 * 4) + math.exp(-2 * 2)) / 3
    assert feature_uniformity(x, gamma=2.0).item() == pytest.approx(expected, rel=1e-5)
    assert feature_uniformity(x[:3], gamma=2.0).item() == 0.0


def test_cosine_scores():
    a = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert torch.allclose(cosine_scores(a, b), torch.tensor([[0.6, 0.8], [0.0, 0.0]]))


def test_autoweight_mixes_by_softmax_of_the_mlp():
    torch.manual_seed(0)
    mix = AutoWeight(2)
    losses = torch.tensor([0.3, 0.7])
    w = mix.weights(losses)
    assert w.sum().item() == pytest.approx(1.0) and (w > 0).all()
    assert mix(losses).item() == pytest.approx((w * losses).sum().item())
    assert sum(p.numel() for p in mix.parameters()) == 2 * 64 + 1 + 64 * 128 + 1 + 128 * 2


def test_full_loss_matches_its_parts():
    torch.manual_seed(1)
    img, txt, mix = torch.randn(10, 8), torch.rand(10, 8), AutoWeight(2)
    loss = HVSALoss(0.2, 2.0)
    total, parts = loss(img, txt, mix)
    align = difficulty_weighted_hinge(cosine_scores(img, txt), 0.2, 0.5)
    unif = feature_uniformity(img, 2.0)
    w = mix.weights(torch.stack([align, unif]))
    assert total.item() == pytest.approx((w[0] * align + w[1] * unif).item(), rel=1e-6)
    assert parts["align"] == pytest.approx(align.item())


def test_released_behaviour_is_default_and_linear_curriculum_moves_beta():
    assert Curriculum().beta_at(0) == Curriculum().beta_at(40) == 0.5
    pace = Curriculum("linear", beta_start=2.0, beta_end=0.0, pace_epochs=10)
    assert [pace.beta_at(e) for e in (0, 5, 10, 30)] == [2.0, 1.0, 0.0, 0.0]
    epoch = {"now": 0}
    loss = HVSALoss(0.2, 2.0, pace, epoch=lambda: epoch["now"])
    early = loss.parts(torch.eye(3), torch.eye(3)[[1, 2, 0]])[0]
    epoch["now"] = 10
    late = loss.parts(torch.eye(3), torch.eye(3)[[1, 2, 0]])[0]
    assert late > early  # hard pairs weigh more once beta has come down


def test_equal_weighting_option_ignores_the_mlp():
    torch.manual_seed(2)
    img, txt, mix = torch.randn(10, 8), torch.rand(10, 8), AutoWeight(2)
    total, parts = HVSALoss(0.2, 2.0, weighting="equal")(img, txt, mix)
    assert total.item() == pytest.approx(0.5 * (parts["align"] + parts["unif"]), rel=1e-6)
    assert parts["w_align"] == 0.5
    with pytest.raises(ValueError):
        HVSALoss(weighting="max")
