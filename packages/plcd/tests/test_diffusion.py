"""Cross-diffusion: the graph on a hand-sized example, the truncated solves against dense and per-node
solutions, the online step, the cache key, the id check and the tie-breaking ranking."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xgeo.core.errors import XgeoError
from xgeo.core.evaluate import evaluate_arrays
from xgeo.core.features import FeatureSet
from xgeo.core.task import RetrievalTask
from xgeo.plcd.crossdiffusion import (
    CrossDiffusionInputs,
    cache_key,
    cached_offline,
    cross_diffuse,
    metrics_from_scores,
    ranking_from_scores,
)
from xgeo.plcd.diffusion import (
    DiffusionParams,
    affinity,
    knn,
    laplacian_alpha,
    normalized_affinity,
    offline,
    online,
    seed_weights,
)
from xgeo.plcd.diffusion_reference import offline_per_node


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


#: six points on the unit circle (degrees): two tight groups and an outlier opposite the first group
ANGLES = (0.0, 10.0, 25.0, 90.0, 100.0, 200.0)


def circle() -> np.ndarray:
    a = np.radians(ANGLES)
    return np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)


def test_knn_is_exact_and_breaks_ties_by_index():
    x = np.array([[1, 0], [0, 1], [1, 0], [1, 0]], np.float32)
    sims, ids = knn(x, x, 3)
    assert ids[0].tolist() == [0, 2, 3] and ids[1].tolist() == [1, 0, 2]
    assert np.allclose(sims[1], [1, 0, 0])


def test_mutual_affinity_and_laplacian_on_six_nodes():
    x = circle()
    sims, ids = knn(x, x, 3)  # each node and its two nearest others
    # by hand: 3-NN lists (self first) on the circle
    assert [sorted(r) for r in ids.tolist()] == [[0, 1, 2], [0, 1, 2], [0, 1, 2], [2, 3, 4], [2, 3, 4], [3, 4, 5]]
    w = affinity(sims, ids, gamma=3.0).toarray()
    cos = x.astype(np.float64) @ x.T.astype(np.float64)
    expected = np.zeros((6, 6))
    for i, j in [(0, 1), (0, 2), (1, 2), (3, 4), (2, 3), (2, 4)]:
        if i in ids[j] and j in ids[i]:
            expected[i, j] = expected[j, i] = max(cos[i, j], 0.0) ** 3
    # 2-3 and 2-4 are not mutual (3 and 4 list 2, but 2 lists 0 and 1); 5 is nobody's neighbour
    assert expected[2, 3] == 0 and expected[5].sum() == 0
    assert np.allclose(w, expected, atol=1e-6) and np.all(np.diag(w) == 0)
    d = expected.sum(1) + 1e-12
    s_dense = expected / np.sqrt(d[:, None] * d[None, :])
    assert np.allclose(normalized_affinity(sp.csr_matrix(w)).toarray(), s_dense, atol=1e-6)
    assert np.allclose(laplacian_alpha(sp.csr_matrix(w), 0.99).toarray(), np.eye(6) - 0.99 * s_dense, atol=1e-6)


def test_untruncated_diffusion_equals_the_dense_inverse():
    x = unit(np.random.default_rng(0), 24, 5)
    params = DiffusionParams(kd=6, n_trunc=24, cg_tol=1e-12, cg_maxiter=500)
    f = offline(x, params).toarray()
    sims, ids = knn(x, x, 24)
    lap = laplacian_alpha(affinity(sims[:, :6], ids[:, :6]), 0.99).toarray().astype(np.float64)
    assert np.allclose(f, np.linalg.inv(lap), atol=1e-4 * np.abs(f).max())


def test_compiled_solves_equal_per_node_scipy_cg():
    x = unit(np.random.default_rng(1), 300, 16)
    params = DiffusionParams(kd=12, n_trunc=60)
    fast, slow = offline(x, params), offline_per_node(x, params)
    assert fast.nnz == slow.nnz == 300 * 60
    assert np.abs(fast - slow).max() <= 1e-6 * np.abs(slow).max()


def test_online_step_is_the_weighted_sum_of_seed_rows():
    rng = np.random.default_rng(2)
    drones, query = unit(rng, 8, 4), unit(rng, 2, 4)
    f = sp.csr_matrix(rng.random((11, 11)).astype(np.float32))  # 8 drone + 3 satellite nodes
    y = seed_weights(query, drones, kq=3, gamma=3.0)
    s = query @ drones.T
    for q in range(2):
        top = np.argsort(-s[q])[:3]
        expected = sum(s[q, j] ** 3 * f.toarray()[j, 8:] for j in top)
        assert np.allclose(online(y, f, slice(8, 11))[q], expected, atol=1e-6)
    assert np.all(np.diff(y.indptr) == 3)
    # regions: three rows per drone image, the image scores with its best row
    y_regions = seed_weights(query, np.repeat(drones, 3, axis=0), kq=3, gamma=3.0, regions=2)
    assert np.allclose(y_regions.toarray(), y.toarray())


def test_cache_key_covers_features_and_every_offline_parameter(tmp_path):
    x = unit(np.random.default_rng(3), 40, 8)
    base = DiffusionParams(kd=10, n_trunc=20)
    assert cache_key(x, base) == cache_key(x.copy(), DiffusionParams(kd=10, n_trunc=20, kq=5))  # kq is online only
    assert cache_key(x, base) != cache_key(x, DiffusionParams(kd=11, n_trunc=20))
    assert cache_key(x, base) != cache_key(x, DiffusionParams(kd=10, n_trunc=21))
    assert cache_key(x, base) != cache_key(x[::-1], base)
    first, hit = cached_offline(x, base, tmp_path)
    again, hit2 = cached_offline(x, base, tmp_path)
    assert not hit and hit2 and np.array_equal(first.toarray(), again.toarray())
    _, hit3 = cached_offline(x, DiffusionParams(kd=11, n_trunc=20), tmp_path)
    assert not hit3 and len(list(tmp_path.glob("offline-*.npz"))) == 2


def _inputs(rng: np.random.Generator, drone_ids: list[str], d2s_ids: list[str]) -> CrossDiffusionInputs:
    def fs(n: int, ids, lab=None) -> FeatureSet:
        return FeatureSet(unit(rng, n, 6), ids, np.arange(n) // 2 if lab is None else lab, normalized=True)

    return CrossDiffusionInputs(
        ground=fs(3, ["g0", "g1", "g2"], [0, 1, 9]),
        drone_g2d=fs(len(drone_ids), drone_ids),
        drone_d2s=fs(len(d2s_ids), d2s_ids),
        satellite=fs(4, ["s0", "s1", "s2", "s3"], [0, 1, 2, 3]),
    )


def test_drone_id_mismatch_is_refused():
    rng = np.random.default_rng(4)
    ids = [f"d{i}" for i in range(8)]
    _inputs(rng, ids, ids).check()
    with pytest.raises(XgeoError, match="drone ids differ"):
        _inputs(rng, ids, ids[:3] + ["x"] + ids[4:]).check()
    with pytest.raises(XgeoError, match="rows"):
        _inputs(rng, ids, ids[:6]).check()


def test_cross_diffusion_scores_satellites_and_ranks_ties_by_index():
    rng = np.random.default_rng(5)
    ids = [f"d{i}" for i in range(8)]
    inputs = _inputs(rng, ids, ids)
    scores, hit = cross_diffuse(inputs, DiffusionParams(kq=2, kd=3, n_trunc=6))
    assert scores.shape == (3, 4) and not hit
    tied = np.array([[0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    task = RetrievalTask.from_labels(["a", "b"], ["s0", "s1", "s2", "s3"], [2, 3], [0, 1, 2, 3])
    ranking = ranking_from_scores(tied, task)
    assert ranking.first_rank.tolist() == [2, 3]  # after the better s1, then ties in index order
    assert ranking.topk_indices[0].tolist() == [1, 0, 2, 3]


def test_metrics_from_scores_follow_core_on_cosine_scores():
    rng = np.random.default_rng(6)
    q, g = unit(rng, 30, 8), unit(rng, 12, 8)
    gl = np.arange(12)
    gl[3], gl[7] = 5, -1
    task = RetrievalTask.from_labels([str(i) for i in range(30)], [str(i) for i in range(12)], rng.integers(0, 13, 30), gl)
    ours = metrics_from_scores(q.astype(np.float64) @ g.T, task)
    core = evaluate_arrays(q, g, task, "university1652")
    assert ours.keys() == core.keys() and all(abs(ours[k] - core[k]) < 1e-9 for k in ours)
