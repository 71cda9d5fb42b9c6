"""The weighted soft-margin triplet loss against hand computations, the top-k, the 25 m mask, the schedule."""

from __future__ import annotations

import math

import pytest
import torch

from xgeo.lwcnn.loss import HardRatioSchedule, far_pairs, hard_count, soft_margin_triplet

# a_i and g_j chosen so that cos(a, g) = [[1, 0, .8], [0, 1, .6], [.6, .8, .96]], d = 2 - 2 cos:
#   d = [[0, 2, .4], [2, 0, .8], [.8, .4, .08]]
AERIAL = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=torch.float64)
GROUND = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.8, 0.6]], dtype=torch.float64)
# d_ii - d_ij for aerial anchors, keyed (i, j), and d_jj - d_ij for ground anchors, keyed (i, j)
AERIAL_ANCHOR = {(0, 1): -2.0, (0, 2): -0.4, (1, 0): -2.0, (1, 2): -0.8, (2, 0): -0.72, (2, 1): -0.32}
GROUND_ANCHOR = {(1, 0): -2.0, (2, 0): -0.8, (0, 1): -2.0, (2, 1): -0.4, (0, 2): -0.32, (1, 2): -0.72}


def sp(x: float, weight: float = 10.0) -> float:
    return math.log1p(math.exp(weight * x))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_all_negatives_at_ratio_one():
    expected = 0.5 * (mean(sp(v) for v in AERIAL_ANCHOR.values()) + mean(sp(v) for v in GROUND_ANCHOR.values()))
    assert soft_margin_triplet(AERIAL, GROUND, ratio=1.0).item() == pytest.approx(expected, rel=1e-9)


def test_weight_scales_the_exponent():
    expected = 0.5 * (mean(sp(v, 3.0) for v in AERIAL_ANCHOR.values()) + mean(sp(v, 3.0) for v in GROUND_ANCHOR.values()))
    assert soft_margin_triplet(AERIAL, GROUND, weight=3.0).item() == pytest.approx(expected, rel=1e-9)


def test_hard_negative_top_k_keeps_the_largest_terms():
    # k = int(0.34 * 3 * 2) = 2: the two hardest negatives of each direction, -0.32 and -0.4
    expected = 0.5 * (mean([sp(-0.32), sp(-0.4)]) + mean([sp(-0.32), sp(-0.4)]))
    assert soft_margin_triplet(AERIAL, GROUND, ratio=0.34).item() == pytest.approx(expected, rel=1e-9)
    assert hard_count(0.34, 6) == 2 and hard_count(1.0, 6) == 6 and hard_count(0.01, 6) == 1


def test_negatives_closer_than_25_m_are_excluded():
    utm = torch.tensor([[0.0, 0.0], [100.0, 0.0], [10.0, 0.0]])  # places 0 and 2 are 10 m apart
    valid = far_pairs(utm)
    assert valid.tolist() == [[False, True, False], [True, False, True], [False, True, False]]
    kept = [(0, 1), (1, 0), (1, 2), (2, 1)]
    expected = 0.5 * (mean(sp(AERIAL_ANCHOR[p]) for p in kept) + mean(sp(GROUND_ANCHOR[p]) for p in kept))
    assert soft_margin_triplet(AERIAL, GROUND, valid=valid).item() == pytest.approx(expected, rel=1e-9)
    # top-1 among the valid pairs only: the hardest valid term per direction (-0.32 and -0.4)
    hard = 0.5 * (sp(-0.32) + sp(-0.4))
    assert soft_margin_triplet(AERIAL, GROUND, ratio=0.2, valid=valid).item() == pytest.approx(hard, rel=1e-9)


def test_faithful_mask_keeps_log2_for_masked_pairs():
    valid = far_pairs(torch.tensor([[0.0, 0.0], [100.0, 0.0], [10.0, 0.0]]))
    kept = [(0, 1), (1, 0), (1, 2), (2, 1)]
    # ratio 1: every off-diagonal term (masked ones are log 2) over the 4 valid pairs
    a2g = (sum(sp(AERIAL_ANCHOR[p]) for p in kept) + 2 * math.log(2)) / 4
    g2a = (sum(sp(GROUND_ANCHOR[p]) for p in kept) + 2 * math.log(2)) / 4
    got = soft_margin_triplet(AERIAL, GROUND, valid=valid, faithful=True).item()
    assert got == pytest.approx(0.5 * (a2g + g2a), rel=1e-9)
    # ratio 0.34 -> k = 2 < 4 valid: the top-2 are the two masked log 2 terms
    got = soft_margin_triplet(AERIAL, GROUND, ratio=0.34, valid=valid, faithful=True).item()
    assert got == pytest.approx(math.log(2), rel=1e-9)


def test_no_valid_negative_gives_zero_with_a_graph():
    aerial = AERIAL.clone().requires_grad_(True)
    loss = soft_margin_triplet(aerial, GROUND, valid=torch.zeros(3, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and aerial.grad is not None


def test_gradient_pulls_positives_together():
    aerial = AERIAL.clone().requires_grad_(True)
    soft_margin_triplet(aerial, GROUND).backward()
    step = aerial - 0.01 * aerial.grad
    assert soft_margin_triplet(step.detach(), GROUND).item() < soft_margin_triplet(AERIAL, GROUND).item()


@pytest.mark.parametrize(
    ("epoch", "ratio"), [(0, 1.0), (20, 1.0), (21, 0.1), (40, 0.1), (41, 0.05), (60, 0.05), (61, 0.01), (299, 0.01)]
)
def test_ratio_schedule_at_its_boundary_epochs(epoch, ratio):
    assert HardRatioSchedule()(epoch) == ratio


def test_schedule_rejects_unordered_starts():
    with pytest.raises(ValueError):
        HardRatioSchedule(ratios=(1.0, 0.1), starts=(0, 0))
