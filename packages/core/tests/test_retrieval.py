"""Chunked exact retrieval: equal to brute force, exact ties, junk, semi-positives, engines."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from xgeo.core.errors import XgeoError
from xgeo.core.features import FeatureFile, FeatureSet, write_features
from xgeo.core.registry import UnknownNameError
from xgeo.core.retrieval import NonFiniteFeaturesError, Ranking, Searcher, SearchOptions, rank_positives, search
from xgeo.core.task import RetrievalTask

ENGINES = ["numpy", "torch"]
CHUNKS = [(7, 11), (37, 53), (1, 5), (64, 64), (5, 1), (16, 13)]


def brute_scores(q: np.ndarray, g: np.ndarray, similarity: str) -> np.ndarray:
    """float64 scores; identical gallery rows are scored once, so they tie exactly."""
    g, back = np.unique(g, axis=0, return_inverse=True)
    return _scores64(q, g, similarity)[:, back.ravel()]


def _scores64(q: np.ndarray, g: np.ndarray, similarity: str) -> np.ndarray:
    q, g = q.astype(np.float64), g.astype(np.float64)
    if similarity == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        g = g / np.linalg.norm(g, axis=1, keepdims=True)
    if similarity == "neg_sq_l2":
        return -((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    return q @ g.T


def brute_positions(scores: np.ndarray, q_labels: np.ndarray, g_labels: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """First ranks and AP positions by the documented rule, one query at a time."""
    junk = g_labels == -1
    first, positions = [], []
    for i, row in enumerate(scores):
        pos = np.flatnonzero((g_labels == q_labels[i]) & ~junk)
        negatives = row[~junk & (g_labels != q_labels[i])]
        ps = np.sort(row[pos])[::-1]
        p = [int((negatives > v).sum()) + t for t, v in enumerate(ps)]
        first.append(p[0] if p else -1)
        positions.append(p)
    return np.array(first), positions


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    n, m, d = 37, 53, 9
    q = rng.standard_normal((n, d)).astype(np.float32)
    g = rng.standard_normal((m, d)).astype(np.float32)
    q_labels = rng.integers(0, 12, n)
    g_labels = rng.integers(-1, 12, m)  # several positives per query, some junk (-1)
    return q, g, q_labels, g_labels


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("similarity", ["cosine", "dot", "neg_sq_l2"])
def test_chunked_equals_brute_force(problem, engine, similarity):
    q, g, q_labels, g_labels = problem
    task = RetrievalTask.from_labels(range(len(q)), range(len(g)), q_labels, g_labels)
    scores = brute_scores(q, g, similarity)
    first, positions = brute_positions(scores, q_labels, g_labels)
    masked = np.where(g_labels[None, :] == -1, -np.inf, scores)
    top = np.argsort(-masked, axis=1, kind="stable")[:, :6]
    for qc, gc in CHUNKS:
        opts = SearchOptions(query_chunk=qc, gallery_chunk=gc, engine=engine)
        r = rank_positives(q, g, task, similarity=similarity, k=6, options=opts)
        np.testing.assert_array_equal(r.first_rank, first)
        for i in range(len(q)):
            got = r.positive_positions[r.positive_indptr[i] : r.positive_indptr[i + 1]]
            assert got.tolist() == positions[i]
        np.testing.assert_array_equal(r.topk_indices, top)
        np.testing.assert_allclose(r.topk_scores, np.take_along_axis(masked, top, 1), rtol=1e-4, atol=1e-4)
        assert r.num_gallery == len(g) and r.num_ranked == int((g_labels != -1).sum())


def test_search_matches_full_sort_and_float64(problem):
    q, g, _, _ = problem
    scores = brute_scores(q, g, "cosine")
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :4]
    for dtype in ("float32", "float64"):
        vals, idx = search(q, g, k=4, options=SearchOptions(query_chunk=5, gallery_chunk=8, dtype=dtype))
        np.testing.assert_array_equal(idx, expected)
        assert vals.dtype == np.dtype(dtype)
        assert np.all(np.diff(vals, axis=1) <= 0)
    vals, idx = search(q, g, k=500)  # k larger than the gallery is clamped
    assert idx.shape == (len(q), len(g))
    np.testing.assert_array_equal(idx, np.argsort(-scores, axis=1, kind="stable"))


@pytest.mark.parametrize("engine", ENGINES)
def test_exact_ties_are_not_counted_and_junk_is_removed(engine):
    # dot products of small integers are exact in float32 whatever the summation order
    q = np.array([[1, 0], [0, 1]], dtype=np.float32)
    g = np.array([[1, 0], [1, 5], [2, 0], [0, 1], [3, 3], [1, 1]], dtype=np.float32)
    # query 0: positive g0 (score 1); g1 and g5 tie at 1, g2 (2) and g4 (3) are above -> rank 2
    # query 1: positive g3 (score 1); g1 (5), g4 (3) above, g5 ties -> rank 2; with g4 junk -> rank 1
    relation = sp.csr_matrix(np.array([[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0]], dtype=bool))
    for qc, gc in [(1, 1), (2, 6), (1, 4), (2, 3)]:
        opts = SearchOptions(query_chunk=qc, gallery_chunk=gc, engine=engine)
        r = rank_positives(q, g, relation, similarity="dot", options=opts)
        assert r.first_rank.tolist() == [2, 2]
        junk = np.array([0, 0, 0, 0, 1, 0], dtype=bool)
        opts = SearchOptions(query_chunk=qc, gallery_chunk=gc, engine=engine)
        r = rank_positives(q, g, relation, junk=junk, similarity="dot", options=opts)
        assert r.first_rank.tolist() == [1, 1]
        assert r.num_ranked == 5


@pytest.mark.parametrize("engine", ENGINES)
def test_tied_positives_take_consecutive_positions(engine):
    q = np.array([[1, 0]], dtype=np.float32)
    # scores: 2, 1, 1, 1, 0, 1 ; positives g1, g2 (tie at 1, with negatives g3 and g5 also at 1), g4 (0)
    g = np.array([[2, 0], [1, 0], [1, 7], [1, 1], [0, 1], [1, 2]], dtype=np.float32)
    relation = sp.csr_matrix(np.array([[0, 1, 1, 0, 1, 0]], dtype=bool))
    for gc in (1, 2, 4, 6):
        r = rank_positives(q, g, relation, similarity="dot", options=SearchOptions(gallery_chunk=gc, engine=engine))
        # one negative strictly above the tied pair -> positions 1, 2; g4 has 1 + 2 negatives above and 2 positives
        assert r.positive_positions.tolist() == [1, 2, 5]
        assert r.first_rank.tolist() == [1]


@pytest.mark.parametrize("engine", ENGINES)
def test_positive_scores_come_from_the_blocks(engine):
    """Each gallery row appears twice, the copy in other chunks and at other block positions.
    A positive's copy must tie with it exactly (never push it down), whatever the chunking;
    a score recomputed any other way (or by a BLAS at another block position) may differ by an
    ulp and would count the copy as strictly greater."""
    rng = np.random.default_rng(1)
    n, d = 60, 67
    base = rng.standard_normal((n, d)).astype(np.float32)
    q = base + 0.9 * rng.standard_normal((n, d)).astype(np.float32)
    g = np.concatenate([base, base])
    one = RetrievalTask.one_to_one(range(n), range(n))
    first_copy = sp.hstack([one.relation(), sp.csr_matrix((n, n), dtype=bool)]).tocsr()
    both_copies = sp.hstack([one.relation(), one.relation()]).tocsr()
    for similarity in ("cosine", "dot", "neg_sq_l2"):
        expected = brute_positions(brute_scores(q, base, similarity), one.query_labels, one.gallery_labels)[0]
        for qc, gc in [(7, 13), (60, 120), (16, 50), (3, 7)]:
            kwargs = dict(similarity=similarity, options=SearchOptions(query_chunk=qc, gallery_chunk=gc, engine=engine))
            r = rank_positives(q, g, first_copy, **kwargs)
            # the positive's copy ties (not counted); every other negative is counted twice
            np.testing.assert_array_equal(r.first_rank, 2 * expected)
            r = rank_positives(q, g, both_copies, **kwargs)
            np.testing.assert_array_equal(r.positive_positions.reshape(n, 2), np.stack([2 * expected, 2 * expected + 1], 1))


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicated_gallery_rows_tie_exactly(engine):
    rng = np.random.default_rng(3)
    n, m, d = 23, 40, 33
    q = rng.standard_normal((n, d)).astype(np.float32)
    g = rng.standard_normal((m, d)).astype(np.float32)
    g[20:35] = g[rng.integers(0, 20, 15)]  # 15 copies of earlier rows, in other chunks
    q_labels = rng.integers(0, 8, n)
    g_labels = rng.integers(-1, 8, m)
    task = RetrievalTask.from_labels(range(n), range(m), q_labels, g_labels)
    for similarity in ("cosine", "neg_sq_l2"):
        scores = brute_scores(q, g, similarity)
        first, positions = brute_positions(scores, q_labels, g_labels)
        masked = np.where(g_labels[None, :] == -1, -np.inf, scores)
        top = np.argsort(-masked, axis=1, kind="stable")[:, :7]
        for qc, gc in [(5, 7), (23, 40), (1, 3)]:
            opts = SearchOptions(query_chunk=qc, gallery_chunk=gc, engine=engine)
            r = rank_positives(q, g, task, similarity=similarity, k=7, options=opts)
            np.testing.assert_array_equal(r.first_rank, first)
            assert r.positive_positions.tolist() == [p for row in positions for p in row]
            np.testing.assert_array_equal(r.topk_indices, top)


@pytest.mark.parametrize("engine", ENGINES)
def test_collapsed_features_rank_every_positive_first(engine):
    """All gallery features identical (a collapsed model): every score ties, nothing is above."""
    rng = np.random.default_rng(4)
    q = rng.standard_normal((6, 16)).astype(np.float32)
    g = np.tile(rng.standard_normal((1, 16)).astype(np.float32), (30, 1))
    labels = np.arange(30) % 6
    task = RetrievalTask.from_labels(range(6), range(30), np.arange(6), labels)
    r = rank_positives(q, g, task, k=3, options=SearchOptions(gallery_chunk=7, engine=engine))
    assert r.first_rank.tolist() == [0] * 6
    assert r.positive_positions.reshape(6, 5).tolist() == [[0, 1, 2, 3, 4]] * 6
    assert r.topk_indices.tolist() == [[0, 1, 2]] * 6


def test_semi_positives_and_hit():
    q = np.array([[1, 0]], dtype=np.float32)
    g = np.array([[0.5, 0], [0.9, 0], [0.7, 0], [0.8, 0], [0.1, 0]], dtype=np.float32)
    relation = sp.csr_matrix(np.array([[0, 0, 1, 0, 0]], dtype=bool))
    # positive g2 (0.7); above it g1 (0.9) and g3 (0.8)
    r = rank_positives(q, g, relation, semi=np.array([[1, 3, -1]]), similarity="dot", options=SearchOptions(gallery_chunk=2))
    assert r.first_rank.tolist() == [2] and r.rank_without_semi.tolist() == [0]
    r = rank_positives(q, g, relation, semi=np.array([[1, 0, 4]]), similarity="dot", options=SearchOptions(gallery_chunk=2))
    assert r.rank_without_semi.tolist() == [1]  # g3 is not a semi-positive


@pytest.mark.parametrize("engine", ENGINES)
def test_semi_positive_tied_with_the_positive_changes_no_hit(engine):
    """A semi-positive scoring exactly the positive's score was never counted above it, so leaving
    it out must not move the positive: a hit stays a hit, a miss stays a miss."""
    q = np.array([[1, 0]] * 3, dtype=np.float32)
    # scores: g0 3 (positive), g1 3 (other row, same score), g2 4, g3 1, g4 = copy of g0 (bit-identical)
    g = np.array([[3, 0], [3, 7], [4, 0], [1, 0], [3, 0]], dtype=np.float32)
    relation = sp.csr_matrix(np.array([[1, 0, 0, 0, 0]] * 3, dtype=bool))
    for gc in (1, 2, 5):
        opts = SearchOptions(gallery_chunk=gc, engine=engine)
        # without g2 in the gallery the positive is first; tied semi-positives must keep it a hit
        keep = [0, 1, 3, 4]
        r = rank_positives(q, g[keep], relation[:, keep], semi=np.array([[1, 3], [1, -1], [3, 2]]), similarity="dot",
                           options=opts)
        assert r.first_rank.tolist() == [0, 0, 0] and r.rank_without_semi.tolist() == [0, 0, 0]
        # with g2 (a negative at 4) above the positive: still a miss whatever tied semi-positive is left out
        r = rank_positives(q, g, relation, semi=np.array([[1, 4], [1, -1], [4, 3]]), similarity="dot", options=opts)
        assert r.first_rank.tolist() == [1, 1, 1] and r.rank_without_semi.tolist() == [1, 1, 1]


def test_task_with_semi_positives_and_no_positive_query():
    q = np.array([[1, 0], [0, 1]], dtype=np.float32)
    g = np.array([[0.9, 0.1], [1, 0], [0.2, 1]], dtype=np.float32)
    task = RetrievalTask.with_semi_positives(["a", "b"], ["x", "y", "z"], [0, -1], [[1, -1], [-1, -1]])
    r = rank_positives(q, g, task, similarity="dot")
    assert r.first_rank.tolist() == [1, -1]
    assert r.rank_without_semi.tolist() == [0, -1]
    assert r.positive_indptr.tolist() == [0, 1, 1]


def test_small_cache_splits_query_chunks_without_changing_results(problem):
    q, g, q_labels, g_labels = problem
    task = RetrievalTask.from_labels(range(len(q)), range(len(g)), q_labels, g_labels)
    full = rank_positives(q, g, task, k=3, options=SearchOptions(gallery_chunk=4))
    tiny = rank_positives(q, g, task, k=3, options=SearchOptions(gallery_chunk=4, cache_bytes=64))
    np.testing.assert_array_equal(full.first_rank, tiny.first_rank)
    np.testing.assert_array_equal(full.positive_positions, tiny.positive_positions)
    np.testing.assert_array_equal(full.topk_indices, tiny.topk_indices)


def test_topk_ties_go_to_the_lower_index():
    q = np.ones((2, 1), dtype=np.float32)
    g = np.array([[1], [3], [2], [3], [3], [1]], dtype=np.float32)
    for engine in ENGINES:
        for gc in (1, 2, 6):
            vals, idx = search(q, g, k=3, similarity="dot", options=SearchOptions(gallery_chunk=gc, engine=engine))
            assert idx.tolist() == [[1, 3, 4], [1, 3, 4]]
            vals, idx = search(q, g, k=1, similarity="dot", options=SearchOptions(gallery_chunk=gc, engine=engine))
            assert idx.tolist() == [[1], [1]]
            vals, idx = search(q, g, k=5, similarity="dot", options=SearchOptions(gallery_chunk=gc, engine=engine))
            assert idx[0].tolist() == [1, 3, 4, 2, 0]


@pytest.mark.parametrize("engine", ENGINES)
def test_topk_ties_of_different_rows_in_different_chunks_go_to_the_lower_index(engine):
    """Rows that are not bit-identical (so not grouped as duplicates) but score exactly the same:
    which one the merge of two chunks keeps is decided by the index alone."""
    q = np.array([[1, 0], [0, 1]], dtype=np.float32)
    # query 0 (dot = first column): g1, g3, g4, g6 tie at 3; g0 and g5 at 1; g2 at 4
    # query 1 (dot = second column): g0, g5 tie at 2; g3, g6 tie at 1; g1 at 0; g2, g4 at -1
    # g1, g3, g4 differ; g5 copies g0 and g6 copies g3 (duplicates next to the non-identical ties)
    g = np.array([[1, 2], [3, 0], [4, -1], [3, 1], [3, -1], [1, 2], [3, 1]], dtype=np.float32)
    expected = {1: [[2], [0]], 3: [[2, 1, 3], [0, 5, 3]], 5: [[2, 1, 3, 4, 6], [0, 5, 3, 6, 1]]}
    for gc in (1, 2, 3, 4, 7):  # 7: one chunk wider than k, ties cut at its own top-k boundary
        for k, want in expected.items():
            opts = SearchOptions(query_chunk=1, gallery_chunk=gc, engine=engine)
            vals, idx = search(q, g, k=k, similarity="dot", options=opts)
            assert idx.tolist() == want, (gc, k)
    # the merge itself: equal scores are ordered by index, whichever side (earlier or later chunks) they come from
    from xgeo.core.retrieval.ranking import merge_topk

    v, i = merge_topk(np.array([[3.0, 1.0]]), np.array([[4, 9]]), np.array([[3.0, 3.0]], np.float32), np.array([[2, 7]]), 3)
    assert i.tolist() == [[2, 4, 7]] and v.tolist() == [[3.0, 3.0, 3.0]]


def test_streaming_batches_concatenate(problem):
    q, g, q_labels, g_labels = problem
    task = RetrievalTask.from_labels(range(len(q)), range(len(g)), q_labels, g_labels)
    whole = rank_positives(q, g, task, k=2)
    searcher = Searcher(g, junk=task.junk_mask, options=SearchOptions(query_chunk=4, gallery_chunk=10))
    rel = task.relation()
    parts = [searcher.rank(q[a : a + 9], rel[a : a + 9], k=2) for a in range(0, len(q), 9)]
    joined = Ranking.concatenate(parts)
    np.testing.assert_array_equal(joined.first_rank, whole.first_rank)
    np.testing.assert_array_equal(joined.positive_indptr, whole.positive_indptr)
    np.testing.assert_array_equal(joined.positive_positions, whole.positive_positions)
    np.testing.assert_array_equal(joined.topk_indices, whole.topk_indices)


def test_torch_tensors_and_bad_inputs(problem):
    torch = pytest.importorskip("torch")
    q, g, _, _ = problem
    a = search(torch.from_numpy(q), torch.from_numpy(g), k=3, options=SearchOptions(engine="torch"))[1]
    b = search(q, g, k=3)[1]
    np.testing.assert_array_equal(a, b)
    bad = q.copy()
    bad[3, 2] = np.nan
    with pytest.raises(NonFiniteFeaturesError):
        search(bad, g, k=1)
    with pytest.raises(ValueError, match="similarity"):
        search(q, g, k=1, similarity="euclid")
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="CPU only"):
            search(q, g, k=1, options=SearchOptions(device="cuda", engine="numpy"))
    else:  # an unusable device is refused when the options are made
        with pytest.raises(XgeoError, match="device"):
            SearchOptions(device="cuda", engine="numpy")


# ------------------------------------------------------------------------------------------ options
def test_search_options_defaults_are_frozen_and_checked():
    opts = SearchOptions()
    assert (opts.query_chunk, opts.gallery_chunk, opts.engine, opts.dtype, opts.device) == (1024, 4096, "auto", "float32", None)
    with pytest.raises(AttributeError):
        opts.query_chunk = 3
    for bad in (dict(query_chunk=0), dict(gallery_chunk=-1), dict(cache_bytes=0), dict(dtype="float16"),
                dict(query_chunk=2.5)):
        with pytest.raises(XgeoError):
            SearchOptions(**bad)


def test_options_change_how_not_what(problem):
    q, g, q_labels, g_labels = problem
    task = RetrievalTask.from_labels(range(len(q)), range(len(g)), q_labels, g_labels)
    base = rank_positives(q, g, task, k=4)
    other = rank_positives(q, g, task, k=4, options=SearchOptions(query_chunk=3, gallery_chunk=5, dtype="float64"))
    np.testing.assert_array_equal(base.first_rank, other.first_rank)
    np.testing.assert_array_equal(base.topk_indices, other.topk_indices)
    assert other.topk_scores.dtype == np.float64 and base.topk_scores.dtype == np.float32


def test_unknown_engine_is_a_registry_error(problem):
    q, g, _, _ = problem
    with pytest.raises(UnknownNameError, match="unknown --engine jax"):
        search(q, g, k=1, options=SearchOptions(engine="jax"))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_gallery_is_rejected(problem, value):
    q, g, _, _ = problem
    bad = g.copy()
    bad[7, 1] = value
    with pytest.raises(NonFiniteFeaturesError) as err:
        search(q, bad, k=1)
    assert err.value.side == "gallery"


def test_empty_gallery_is_rejected(problem):
    q, g, _, _ = problem
    with pytest.raises(ValueError, match="no rows"):
        search(q, g[:0], k=1)


# ------------------------------------------------------------------------------------------ streaming
def streaming_problem():
    """Duplicate rows far apart (other chunks for any small chunk size), exact integer ties, junk."""
    rng = np.random.default_rng(7)
    n, m, d = 19, 45, 5
    g = rng.integers(-2, 3, (m, d)).astype(np.float32)  # small integers: many exact ties
    g[30:40] = g[rng.integers(0, 12, 10)]  # copies of early rows
    g[np.all(g == 0, axis=1)] = 1
    q = rng.integers(-2, 3, (n, d)).astype(np.float32)
    q[np.all(q == 0, axis=1)] = 1
    q_labels = rng.integers(0, 6, n)
    g_labels = rng.integers(-1, 6, m)
    semi = rng.integers(-1, m, (n, 3))
    return q, g, q_labels, g_labels, semi


def write_gallery(path, g, g_labels, normalized=False):
    write_features(path, FeatureSet(g, [f"g{j}" for j in range(len(g))], g_labels, normalized=normalized), chunk_rows=4)
    return path


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("similarity", ["cosine", "dot", "neg_sq_l2"])
def test_streamed_gallery_equals_in_memory(tmp_path, engine, similarity):
    q, g, q_labels, g_labels, semi = streaming_problem()
    task = RetrievalTask.from_labels(range(len(q)), range(len(g)), q_labels, g_labels)
    path = write_gallery(tmp_path / "g.h5", g, g_labels)
    scores = brute_scores(q, g, similarity)
    first, positions = brute_positions(scores, q_labels, g_labels)
    for qc, gc, cache in [(1, 1, 1 << 20), (4, 7, 1 << 20), (5, 3, 64), (19, 45, 1 << 20), (2, 8, 200)]:
        opts = SearchOptions(query_chunk=qc, gallery_chunk=gc, cache_bytes=cache, engine=engine)
        memory = Searcher(g, similarity, junk=task.junk_mask, options=opts)
        with FeatureFile(path) as f:
            streamed = Searcher(f, similarity, junk=task.junk_mask, options=opts)
            assert streamed.duplicates is not None and memory.duplicates is not None
            np.testing.assert_array_equal(streamed.duplicates.canonical, memory.duplicates.canonical)
            a = memory.rank(q, task.relation(), semi, k=6)
            b = streamed.rank(q, task.relation(), semi, k=6)
        for name in ("first_rank", "positive_indptr", "positive_positions", "rank_without_semi", "topk_indices"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        np.testing.assert_array_equal(a.topk_scores.view(np.uint32), b.topk_scores.view(np.uint32))
        if similarity != "cosine":  # integer arithmetic is exact: ties are not counted, copies tie
            np.testing.assert_array_equal(b.first_rank, first)
            assert b.positive_positions.tolist() == [p for row in positions for p in row]


def test_streamed_gallery_reads_no_more_than_a_chunk(tmp_path, monkeypatch):
    q, g, q_labels, g_labels, _ = streaming_problem()
    path = write_gallery(tmp_path / "g.h5", g, g_labels)
    largest = []
    original = FeatureFile.read_rows

    def spy(self, start, stop):
        largest.append(stop - start)
        return original(self, start, stop)

    monkeypatch.setattr(FeatureFile, "read_rows", spy)
    with FeatureFile(path) as f:
        Searcher(f, options=SearchOptions(gallery_chunk=6)).rank(q, k=3)
    assert largest and max(largest) <= 6
    monkeypatch.setattr(FeatureFile, "read_features", lambda *a, **k: pytest.fail("whole gallery read"))
    with FeatureFile(path) as f:
        Searcher(f, options=SearchOptions(gallery_chunk=6)).rank(q, k=3)


def test_near_ties_over_budget_split_the_batch_without_changing_results(monkeypatch):
    """Small-integer features: every score equal to a positive's is a near-tie (and an exact tie)."""
    rng = np.random.default_rng(11)
    g = rng.integers(-1, 2, (60, 4)).astype(np.float32)
    q = rng.integers(-1, 2, (12, 4)).astype(np.float32)
    task = RetrievalTask.from_labels(range(12), range(60), np.arange(12) % 5, np.arange(60) % 5)
    first, positions = brute_positions(brute_scores(q, g, "dot"), task.query_labels, task.gallery_labels)
    batches = []
    original = Searcher._rank_batch
    monkeypatch.setattr(Searcher, "_rank_batch", lambda self, q, *a: batches.append(len(q)) or original(self, q, *a))
    for cache in (1 << 20, 64):
        batches.clear()
        r = rank_positives(q, g, task, similarity="dot", options=SearchOptions(query_chunk=12, gallery_chunk=60,
                                                                               cache_bytes=cache))
        np.testing.assert_array_equal(r.first_rank, first)
        assert r.positive_positions.tolist() == [p for row in positions for p in row]
        assert (batches == [12]) == (cache > 64)  # the tight budget split the batch


@pytest.mark.parametrize("name", ENGINES)
def test_every_registered_engine_has_the_interface(name):
    from xgeo.core.retrieval import ENGINES as REGISTRY
    from xgeo.core.retrieval import Engine

    assert isinstance(REGISTRY.get(name)("cpu", "float32"), Engine)
