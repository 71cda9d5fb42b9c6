"""Exact counting helpers: the positives' error bands, near-tie resolution and positions.

A positive's score ``t`` comes out of the block that computes it, which may be any block of
the gallery pass; the entries of blocks computed earlier must still be counted against it. A
float64 reference ``r`` of that score (computed in a short first pass) and a rigorous bound
``e`` on the block product's rounding give ``lower < t <= upper`` with ``lower = r - e``,
``upper = r + e``: an entry above ``upper`` is counted at once, one at or below ``lower`` never,
and the few in between (the near-ties) are kept and compared with ``t`` at the end.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def error_bounds(dot: np.ndarray, absdot: np.ndarray, q_sq: np.ndarray | None, g_sq: np.ndarray | None,
                 dim: int, u: float, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` in ``dtype`` around each block score, from its float64 reference.

    A dot product of ``dim`` terms in any summation order (BLAS blocking, FMA) errs by at most
    ``gamma * sum|q_k g_k|``, ``gamma = dim u / (1 - dim u)``; ``neg_sq_l2`` adds two rounded
    subtractions. Everything is doubled for safety; the band only costs memory, never exactness.
    """
    gamma = dim * u / (1 - dim * u) if dim * u < 0.5 else np.inf
    gamma64 = dim * 2.0**-53 / (1 - dim * 2.0**-53)
    e1 = gamma * absdot
    ref, err, mags = dot, e1, absdot
    if q_sq is not None:
        qs, gs = q_sq.astype(np.float64), g_sq.astype(np.float64)
        ref = dot - qs - gs
        err = e1 + 3 * u * (np.abs(dot) + e1 + qs + gs)
        mags = absdot + qs + gs
    err = 2 * err + 4 * gamma64 * mags + 2 * dim * float(np.finfo(dtype).smallest_subnormal)
    lower, upper = ref - err, ref + err
    lo, hi = lower.astype(dtype), upper.astype(dtype)
    lo = np.where(lo > lower, np.nextafter(lo, dtype.type(-np.inf)), lo)  # round outwards
    hi = np.where(hi < upper, np.nextafter(hi, dtype.type(np.inf)), hi)
    return lo, hi


def resolve_band(rows: np.ndarray, values: np.ndarray, weights: np.ndarray, pos_rows: np.ndarray,
                 t: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Per positive ``p``: total weight of the kept entries of its row with ``t[p] < value <= upper[p]``."""
    if len(rows) == 0 or len(t) == 0:
        return np.zeros(len(t), dtype=np.int64)
    levels, rank = np.unique(np.concatenate([values, t, upper]).astype(np.float64), return_inverse=True)
    rank = rank.ravel()
    width = len(levels) + 1
    e_rank, t_rank, u_rank = np.split(rank, [len(values), len(values) + len(t)])
    keys = rows.astype(np.int64) * width + e_rank
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    cum = np.concatenate([[0.0], np.cumsum(weights[order], dtype=np.float64)])
    base = pos_rows.astype(np.int64) * width
    hi = np.searchsorted(keys, base + u_rank, side="right")
    lo = np.searchsorted(keys, base + t_rank, side="right")
    return np.rint(cum[hi] - cum[lo]).astype(np.int64)


def positions(indptr: np.ndarray, t: np.ndarray, greater: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (ascending per query), first ranks and best scores from each positive's score
    ``t`` and count of entries strictly above it, ``greater`` (ties resolved for positives)."""
    n = len(indptr) - 1
    counts = np.diff(indptr)
    rows = np.repeat(np.arange(n), counts)
    order = np.lexsort((-t, rows))  # by query, best positive first
    desc, greater = t[order], greater[order]
    idx = np.arange(len(rows))
    new_run = np.ones(len(rows), dtype=bool)
    if len(rows) > 1:
        new_run[1:] = (rows[1:] != rows[:-1]) | (desc[1:] != desc[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, idx, 0))
    pos = (greater - (run_start - indptr[rows]) + (idx - indptr[rows])).astype(np.int64)
    has = counts > 0
    first = np.full(n, -1, dtype=np.int64)
    first[has] = pos[indptr[:-1][has]]
    best = np.full(n, np.inf)
    best[has] = desc[indptr[:-1][has]]
    return pos, first, best


def clean_positives(positives: sp.csr_matrix | None, n: int, m: int, junk: np.ndarray) -> sp.csr_matrix:
    """Canonical boolean CSR ``[n, m]`` without junk columns."""
    if positives is None:
        return sp.csr_matrix((n, m), dtype=bool)
    pos = sp.csr_matrix(positives, dtype=bool)
    if pos.shape != (n, m):
        raise ValueError(f"positives must have shape ({n}, {m}), got {pos.shape}")
    pos.sum_duplicates()
    pos.eliminate_zeros()
    if junk.any():
        keep = ~junk[pos.indices]
        rows = np.repeat(np.arange(n), np.diff(pos.indptr))
        kept_per_row = np.bincount(rows[keep], minlength=n)
        indptr = np.concatenate([[0], np.cumsum(kept_per_row)])
        pos = sp.csr_matrix((np.ones(int(keep.sum()), dtype=bool), pos.indices[keep], indptr), shape=(n, m))
    pos.sort_indices()
    return pos


def clean_semi(semi: np.ndarray | None, rows: np.ndarray, cols: np.ndarray, junk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, gallery index) of each query's semi-positives: no pads, junk, positives or repeats."""
    if semi is None or semi.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    m = len(junk)
    r, s = np.nonzero(semi >= 0)
    c = semi[r, s]
    if (c >= m).any():
        raise ValueError(f"semi-positive index out of range for a gallery of {m}")
    keep = ~junk[c]
    keys = np.unique(r[keep] * m + c[keep])
    keys = keys[~np.isin(keys, rows.astype(np.int64) * m + cols)]
    return keys // m, keys % m
