"""Invariants checked over many generated cases (hypothesis, fixed seed and budget: deterministic in CI).

- chunked exact search equals a float64 brute force written here, for any shape, chunking, junk,
  duplicate rows and exact ties;
- every R@1% convention equals its formula for every gallery size from 1 to 1,000;
- a feature-store round trip gives back exactly what was written.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from xgeo.core import metrics as M
from xgeo.core.features import FeatureSet, read_features, write_features
from xgeo.core.retrieval import SearchOptions, rank_positives

#: fixed budget and seed: the same examples on every run, no example database
PROPERTY = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------- chunked exact search
@st.composite
def tied_rows(draw, count: int, dim: int) -> np.ndarray:
    """Rows of four entries +-0.5 and zeros elsewhere: unit length, and every dot product is a
    multiple of 1/4 computed exactly in float32 whatever the summation order, so ties are exact."""
    rows = np.zeros((count, dim), dtype=np.float32)
    for r in range(count):
        cols = draw(st.lists(st.integers(0, dim - 1), min_size=4, max_size=4, unique=True))
        rows[r, cols] = draw(st.lists(st.sampled_from([-0.5, 0.5]), min_size=4, max_size=4))
    return rows


@st.composite
def search_problems(draw) -> dict:
    dim = draw(st.integers(4, 9))
    n, m = draw(st.integers(1, 7)), draw(st.integers(1, 24))
    g = draw(tied_rows(m, dim))
    for src, dst in draw(st.lists(st.tuples(st.integers(0, m - 1), st.integers(0, m - 1)), max_size=m // 2)):
        g[dst] = g[src]  # duplicate rows, anywhere (other chunks included)
    return {
        "q": draw(tied_rows(n, dim)),
        "g": g,
        # any relation, any junk mask: a junk entry may also be a positive (it is dropped from both)
        "positive": draw(hnp.arrays(bool, (n, m))),
        "junk": draw(hnp.arrays(bool, m)),
        "similarity": draw(st.sampled_from(["cosine", "dot", "neg_sq_l2"])),
        "options": SearchOptions(query_chunk=draw(st.integers(1, n + 1)), gallery_chunk=draw(st.integers(1, m + 1)),
                                 cache_bytes=draw(st.sampled_from([64, 512, 1 << 20])),
                                 engine=draw(st.sampled_from(["numpy", "torch"]))),
        "k": draw(st.integers(1, m)),
    }


def float64_scores(q: np.ndarray, g: np.ndarray, similarity: str) -> np.ndarray:
    q, g = q.astype(np.float64), g.astype(np.float64)
    if similarity == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        g = g / np.linalg.norm(g, axis=1, keepdims=True)
    if similarity == "neg_sq_l2":
        return -((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    return q @ g.T


@PROPERTY
@given(search_problems())
def test_chunked_search_equals_float64_brute_force(p):
    q, g, junk = p["q"], p["g"], p["junk"]
    r = rank_positives(q, g, sp.csr_matrix(p["positive"]), junk=junk, similarity=p["similarity"], k=p["k"],
                       options=p["options"])
    scores = float64_scores(q, g, p["similarity"])
    for i, row in enumerate(scores):
        positive = p["positive"][i] & ~junk
        negatives = row[~junk & ~positive]
        # every positive's position: negatives strictly above it + positives placed before it (ties favour positives)
        expected = [int((negatives > v).sum()) + t for t, v in enumerate(np.sort(row[positive])[::-1])]
        got = r.positive_positions[r.positive_indptr[i] : r.positive_indptr[i + 1]].tolist()
        assert got == expected
        assert r.first_rank[i] == (expected[0] if expected else -1)
    masked = np.where(junk[None, :], -np.inf, scores)
    top = np.argsort(-masked, axis=1, kind="stable")[:, : p["k"]]  # best first, ties to the lower index
    ranked = min(p["k"], int((~junk).sum()))
    np.testing.assert_array_equal(r.topk_indices[:, :ranked], top[:, :ranked])
    np.testing.assert_array_equal(r.topk_scores[:, :ranked], np.take_along_axis(masked, top, 1)[:, :ranked])


# ------------------------------------------------------------------------------------- R@1% formulas
#: each convention's definition as a condition on a 0-based rank r, in exact rational arithmetic
PERCENT_DEFINITIONS = {
    "floor": lambda r, m: r < math.floor(Fraction(m, 100)),  # K = floor(M / 100)
    "floor+1": lambda r, m: r <= math.floor(Fraction(m, 100)),  # K = floor(0.01 M) + 1
    "round": lambda r, m: r <= round(Fraction(m, 100)),  # CMC at index round(0.01 M), half to even
    "float": lambda r, m: r < Fraction(m, 100),  # rank < 0.01 M
}


def test_every_percent_convention_equals_its_formula_for_every_gallery_size():
    assert set(PERCENT_DEFINITIONS) == set(M.PERCENT_CONVENTIONS.names())
    for convention, counts in PERCENT_DEFINITIONS.items():
        for m in range(1, 1001):
            k = next((r for r in range(m) if not counts(r, m)), m)  # ranks 0..k-1 count as found, k does not
            assert M.percent_k(m, convention) == k, (convention, m)
            ranks = np.arange(m)  # one query at every rank
            assert M.recall_at_percent(ranks, m, convention) == pytest.approx(100.0 * k / m), (convention, m)


# ------------------------------------------------------------------------------ feature store round trip
_ID_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@st.composite
def feature_sets(draw) -> tuple[FeatureSet, int]:
    n, d = draw(st.integers(0, 9)), draw(st.integers(1, 5))
    finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
    semi_width = draw(st.one_of(st.none(), st.integers(0, 3)))
    located = draw(st.booleans())
    return FeatureSet(
        features=draw(hnp.arrays(np.float32, (n, d), elements=finite32)),
        ids=draw(st.lists(st.text(_ID_CHARS, max_size=6), min_size=n, max_size=n)),
        labels=draw(hnp.arrays(np.int64, n, elements=st.integers(-(2**63), 2**63 - 1))),
        semi_labels=None if semi_width is None else draw(hnp.arrays(np.int64, (n, semi_width), elements=st.integers(-1, 10**6))),
        locations=draw(hnp.arrays(np.float64, (n, 2), elements=st.floats(allow_nan=False, allow_infinity=False)))
        if located else None,
        crs=draw(st.sampled_from(["latlon", "metres"])) if located else None,
        view=draw(st.text(_ID_CHARS, max_size=5)),
        method=draw(st.text(_ID_CHARS, max_size=5)),
        normalized=draw(st.booleans()),
    ), draw(st.integers(1, 10))


@PROPERTY
@given(feature_sets())
def test_feature_store_round_trip_is_the_identity(tmp_path, case):
    fs, chunk_rows = case
    path = tmp_path / "f.h5"
    write_features(path, fs, chunk_rows=chunk_rows)
    back = read_features(path)
    np.testing.assert_array_equal(back.features.view(np.uint32), fs.features.view(np.uint32))  # bit for bit (-0.0 too)
    assert back.ids.tolist() == fs.ids.tolist()
    np.testing.assert_array_equal(back.labels, fs.labels)
    if fs.semi_labels is None:
        assert back.semi_labels is None
    else:
        assert back.semi_labels.shape == fs.semi_labels.shape
        np.testing.assert_array_equal(back.semi_labels, fs.semi_labels)
    if fs.locations is None:
        assert back.locations is None and back.crs is None
    else:
        np.testing.assert_array_equal(back.locations.view(np.uint64), fs.locations.view(np.uint64))
        assert back.crs == fs.crs
    assert (back.view, back.method, back.normalized) == (fs.view, fs.method, fs.normalized)


@pytest.mark.parametrize("rows, width", [(2, 0), (0, 2), (0, 0)], ids=["no-semi-column", "no-row", "neither"])
def test_semi_labels_without_columns_or_rows_round_trip(tmp_path, rows, width):
    """Edge cases the property test found: a [N, 0] semi-positive table (a task whose queries have
    none) and an empty side of a VIGOR-style task."""
    fs = FeatureSet(np.ones((rows, 3)), [f"x{i}" for i in range(rows)], np.arange(rows), semi_labels=np.zeros((rows, width)))
    write_features(tmp_path / "f.h5", fs)
    back = read_features(tmp_path / "f.h5")
    assert back.semi_labels.shape == (rows, width) and back.features.shape == (rows, 3)
