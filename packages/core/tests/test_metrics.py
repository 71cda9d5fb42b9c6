"""Every metric against hand-computed values (ranks in, percentages out)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xgeo.core import metrics as M
from xgeo.core.registry import UnknownNameError


def test_recall_at_k_counts_missing_positives_as_misses():
    ranks = [0, 1, 4, -1]
    assert M.recall_at_k(ranks, 1) == 25.0
    assert M.recall_at_k(ranks, 2) == 50.0
    assert M.recall_at_k(ranks, 5) == 75.0  # rank 4 < 5; the query without positive never counts
    assert M.recall_at_k(ranks, 1000) == 75.0
    assert M.recall_at_k([], 1) == 0.0


@pytest.mark.parametrize(
    "m, floor, floor1, rnd",
    [
        (8884, 88, 89, 90),  # CVUSA / CVACT_val: round(88.84) + 1 = 90
        (90618, 906, 907, 907),  # VIGOR same-area: round(906.18) + 1
        (46563, 465, 466, 467),  # VIGOR cross-area: round(465.63) + 1
        (92802, 928, 929, 929),  # CVACT_test
        (951, 9, 10, 11),  # University-1652 satellite gallery: R@11
        (51355, 513, 514, 515),  # drone gallery: R@515
        (34237, 342, 343, 343),
        (17119, 171, 172, 172),
    ],
)
def test_percent_k_conventions(m, floor, floor1, rnd):
    assert M.percent_k(m, "floor") == floor
    assert M.percent_k(m, "floor+1") == floor1
    assert M.percent_k(m, "round") == rnd


def test_percent_k_python_round_and_float_convention():
    assert M.percent_k(250, "round") == 3  # round(2.5) == 2 (banker's rounding) -> K = 3
    assert M.percent_k(350, "round") == 5  # round(3.5) == 4
    assert M.percent_k(8800, "float") == 88 and M.percent_k(8884, "float") == 89
    assert M.percent_k(8800, "floor+1") == 89  # floor+1 and float differ only when 100 divides M
    with pytest.raises(UnknownNameError, match="convention"):
        M.percent_k(100, "ceil")


def test_recall_at_percent_uses_the_convention():
    ranks = [87, 88, 89, 0]  # M = 8884: floor K = 88, floor+1 K = 89, round K = 90
    assert M.recall_at_percent(ranks, 8884, "floor") == 50.0
    assert M.recall_at_percent(ranks, 8884, "floor+1") == 75.0
    assert M.recall_at_percent(ranks, 8884, "round") == 100.0


def test_hit_rate():
    assert M.hit_rate([0, 0, 2, -1]) == 50.0


def test_hit_rate_of_ranks_with_semi_positives_in_the_gallery():
    """Ranks from a real ranking with semi-positives (not pre-cleaned): scores are exact small
    integers, so each query's hit is known by hand."""
    import scipy.sparse as sp

    from xgeo.core.retrieval import rank_positives

    q = np.array([[1, 0]] * 4, dtype=np.float32)
    g = np.array([[5, 0], [4, 0], [3, 0], [2, 0], [1, 0]], dtype=np.float32)  # scores 5, 4, 3, 2, 1
    relation = sp.csr_matrix(np.array([[0, 0, 1, 0, 0]] * 4, dtype=bool))  # positive g2 (score 3): rank 2
    semi = np.array([[0, 1], [0, -1], [3, 4], [-1, -1]])  # both above / one above / only below / none
    r = rank_positives(q, g, relation, semi=semi, similarity="dot")
    assert r.first_rank.tolist() == [2, 2, 2, 2]
    assert r.rank_without_semi.tolist() == [0, 1, 2, 2]
    assert M.hit_rate(r.rank_without_semi) == 25.0 and M.recall_at_k(r.first_rank, 1) == 0.0


def test_cmc_curve():
    np.testing.assert_allclose(M.cmc([0, 2, -1], 4), [100 / 3, 100 / 3, 200 / 3, 200 / 3])
    np.testing.assert_allclose(M.cmc([7], 3), [0, 0, 0])


def test_average_precision_trapezoid_rule():
    assert M.average_precision([0]) == 1.0
    assert M.average_precision([3]) == pytest.approx(1 / 8)  # 1 / (2 (r + 1)), not 1 / (r + 1)
    # positions 0 and 2: (1 + (1/2 + 2/3) / 2) / 2
    assert M.average_precision([0, 2]) == pytest.approx((1.0 + (0.5 + 2 / 3) / 2) / 2)
    # positions 1 and 2: ((0 + 1/2) / 2 + (1/2 + 2/3) / 2) / 2
    assert M.average_precision([2, 1]) == pytest.approx((0.25 + (0.5 + 2 / 3) / 2) / 2)
    # tied positives placed consecutively (0, 1) score a perfect AP
    assert M.average_precision([0, 1]) == 1.0
    assert M.average_precision([]) == 0.0


def test_mean_average_precision_keeps_queries_without_positives():
    # query 0: positions [0, 2]; query 1: none (AP 0, still counted); query 2: [3]
    indptr, positions = [0, 2, 2, 3], [0, 2, 3]
    expected = ((1.0 + (0.5 + 2 / 3) / 2) / 2 + 0.0 + 1 / 8) / 3 * 100
    assert M.mean_average_precision(indptr, positions) == pytest.approx(expected)
    assert M.mean_average_precision([0], []) == 0.0


def test_mean_reciprocal_rank():
    assert M.mean_reciprocal_rank([0, 1, 3, -1]) == pytest.approx((1 + 0.5 + 0.25 + 0) / 4 * 100)


def test_text_image_recall_rsum_and_mr():
    i2t = [0, 1, 5, 12]  # R@1 25, R@5 50, R@10 75
    t2i = [0, 0, 9, 10, -1]  # R@1 40, R@5 40, R@10 60
    out = M.text_image_recall(i2t, t2i)
    assert out["i2t_R@1"] == 25.0 and out["i2t_R@5"] == 50.0 and out["i2t_R@10"] == 75.0
    assert out["t2i_R@1"] == 40.0 and out["t2i_R@5"] == 40.0 and out["t2i_R@10"] == 60.0
    assert out["rsum"] == pytest.approx(290.0)
    assert out["mR"] == pytest.approx(290.0 / 6)


def test_accuracy_at_thresholds_is_inclusive():
    errors = [0.0, 30.0, 42.1, 42.2, 50.0]
    acc = M.accuracy_at_thresholds(errors, [42.105, 50, 10])
    assert acc == {"acc@42.105m": 60.0, "acc@50m": 100.0, "acc@10m": 20.0}
    assert M.mean_error(errors) == pytest.approx(164.3 / 5)
    assert math.isnan(M.mean_error([]))


def test_distances():
    one_degree = M.EARTH_RADIUS_M * math.pi / 180  # 111,195.08 m with R = 6,371,004 m
    np.testing.assert_allclose(M.great_circle_m([[0, 0], [10, 20]], [[1, 0], [10, 20]]), [one_degree, 0.0], atol=1e-6)
    np.testing.assert_allclose(M.great_circle_m([[0, 0]], [[0, 1]]), [one_degree])  # along the equator
    np.testing.assert_allclose(M.great_circle_m([[60, 0]], [[60, 1]]), [one_degree * 0.5], rtol=1e-4)
    np.testing.assert_allclose(M.euclidean_m([[0, 0], [1, 1]], [[3, 4], [1, 1]]), [5.0, 0.0])


@pytest.mark.parametrize(
    "a, b, central_angle_deg",
    [
        # spherical law of cosines by hand: cos c = sin(lat1) sin(lat2) + cos(lat1) cos(lat2) cos(dlon)
        ((0.0, 0.0), (60.0, 90.0), 90.0),  # 0 + 1 * 1/2 * 0 = 0
        ((30.0, 0.0), (-30.0, 90.0), math.degrees(math.acos(-0.25))),  # -1/4 + 3/4 * 0
        ((45.0, 10.0), (45.0, 100.0), 60.0),  # 1/2 + 1/2 * 0 = 1/2
        ((60.0, -20.0), (30.0, 40.0), math.degrees(math.acos(math.sqrt(3) / 4 + math.sqrt(3) / 8))),  # cos 60 deg = 1/2
    ],
)
def test_great_circle_of_points_differing_in_latitude_and_longitude(a, b, central_angle_deg):
    expected = M.EARTH_RADIUS_M * math.radians(central_angle_deg)
    np.testing.assert_allclose(M.great_circle_m([a], [b]), [expected], rtol=1e-9)
    np.testing.assert_allclose(M.great_circle_m([b], [a]), [expected], rtol=1e-9)  # symmetric
    assert 10_007_000 < M.great_circle_m([[0.0, 0.0]], [[60.0, 90.0]])[0] < 10_008_000  # a quarter of the globe


def test_metre_accuracy_uses_the_crs():
    pred = np.array([[0.0, 0.0], [0.0, 0.001]])
    true = np.array([[0.0, 0.0], [0.0, 0.0]])
    out = M.metre_accuracy(pred, true, "latlon", [100, 200])
    assert out["acc@100m"] == 50.0 and out["acc@200m"] == 100.0  # 0.001 deg of longitude ~ 111 m
    assert out["mean_error_m"] == pytest.approx(M.EARTH_RADIUS_M * math.radians(0.001) / 2)
    out = M.metre_accuracy(np.array([[3.0, 4.0]]), np.array([[0.0, 0.0]]), "metres", [5])
    assert out == {"acc@5m": 100.0, "mean_error_m": 5.0}
    with pytest.raises(ValueError, match="crs"):
        M.localization_errors(pred, true, "utm")


def test_chance_levels_of_a_random_ranking():
    from xgeo.core.metrics import chance_levels

    assert chance_levels(200, num_semi=3) == pytest.approx({"R@1": 0.5, "R@5": 2.5, "R@10": 5.0, "R@1%": 1.0, "hit": 100 / 197})
    assert chance_levels(250, ks=(1,), percent_convention="floor+1") == pytest.approx({"R@1": 0.4, "R@1%": 1.2})
    assert chance_levels(4)["R@10"] == 100.0
