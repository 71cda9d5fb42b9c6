"""i2t / t2i through core's text-image protocol on hand-made 2 x 10 similarity matrices."""

from __future__ import annotations

import numpy as np
import pytest

from xgeo.core.evaluate import evaluate_arrays
from xgeo.core.task import RetrievalTask


def _metrics(sims: np.ndarray) -> dict[str, float]:
    """Image rows as unit basis vectors and captions as the columns: the dot products are ``sims``."""
    n, m = sims.shape
    task = RetrievalTask.captions([f"img{i}" for i in range(n)], [f"cap{c}" for c in range(m)])
    return evaluate_arrays(np.eye(n, dtype=np.float32), sims.T.astype(np.float32).copy(), task, "text-image", normalized=True)


def test_toy_example_of_the_spec():
    # image 0 ranks captions 7, 3, 0, ...: its first ground truth (caption 3) sits at position 1
    row0 = np.array([0.5, 0.1, 0.2, 0.8, 0.05, 0.15, 0.25, 0.9, 0.3, 0.35])
    # image 1 ranks its own caption 6 first
    row1 = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.95, 0.0, 0.05, 0.15])
    out = _metrics(np.stack([row0, row1]))
    assert out["i2t_R@1"] == 50.0 and out["i2t_R@5"] == 100.0 and out["i2t_R@10"] == 100.0
    # text->image: caption c is compared across the two images in its column
    col_wins = [row0[c] > row1[c] for c in range(5)] + [row1[c] > row0[c] for c in range(5, 10)]
    assert out["t2i_R@1"] == pytest.approx(100.0 * sum(col_wins) / 10)
    assert out["t2i_R@5"] == out["t2i_R@10"] == 100.0
    assert out["rsum"] == pytest.approx(sum(out[f"{d}_R@{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10)))
    assert out["mR"] == pytest.approx(out["rsum"] / 6)


def test_perfect_and_inverted_matrices():
    perfect = np.zeros((2, 10))
    perfect[0, :5], perfect[1, 5:] = 1.0, 1.0
    out = _metrics(perfect)
    assert out["rsum"] == 600.0 and out["mR"] == 100.0
    out = _metrics(1.0 - perfect)  # every caption prefers the other image
    assert out["t2i_R@1"] == 0.0 and out["i2t_R@1"] == 0.0 and out["i2t_R@5"] == 0.0
    assert out["i2t_R@10"] == 100.0 and out["t2i_R@5"] == 100.0


def _reference(sims: np.ndarray) -> dict[str, float]:
    """The spec's §7 formulas (acc_i2t / acc_t2i of the original code)."""
    n = sims.shape[0]
    i2t = np.array([min(np.where(np.argsort(-sims[i]) == c)[0][0] for c in range(5 * i, 5 * i + 5)) for i in range(n)])
    t2i = np.array([np.where(np.argsort(-sims[:, c]) == c // 5)[0][0] for c in range(5 * n)])
    return {f"{d}_R@{k}": 100.0 * float(np.mean(r < k)) for d, r in (("i2t", i2t), ("t2i", t2i)) for k in (1, 5, 10)}


def test_random_matrices_match_the_reference_formulas():
    rng = np.random.default_rng(0)
    for n in (2, 7):
        sims = rng.standard_normal((n, 5 * n))
        ours, ref = _metrics(sims), _reference(sims)
        for key, value in ref.items():
            assert ours[key] == pytest.approx(value, abs=1e-9), key


def test_chance_levels_of_the_demo():
    from xgeo.hvsa.plugin import text_image_chance

    two = text_image_chance(2)
    assert two["t2i_R@1"] == 50.0 and two["i2t_R@1"] == pytest.approx(50.0)  # 5 of the 10 captions are right
    assert two["i2t_R@5"] == pytest.approx(100.0 * (1 - 1 / 252))  # C(5,5)/C(10,5) to miss all five
    hundred = text_image_chance(100)
    assert hundred["t2i_R@10"] == 10.0 and hundred["mR"] == pytest.approx(hundred["rsum"] / 6)
    assert 5.0 < hundred["mR"] < 6.0
