"""Exact chunked search: the ranks of known positives and the top-k, in bounded memory.

The queries are taken ``Searcher.query_block_rows`` at a time (sized from
``SearchOptions.cache_bytes``); for each such batch the gallery is read twice, chunk by chunk:
a short pass for the float64 references of the positives' scores, then the pass that computes
every score block (``query_chunk`` x ``gallery_chunk``) exactly once and counts it. The scores
of positives and semi-positives are read out of those same blocks, so a positive and a gallery
entry with the same score tie exactly (see :mod:`xgeo.core.retrieval.counting`). A batch whose
near-ties outgrow the budget is split in halves. Ranking conventions (strict counting,
optimistic ties, junk) are documented in :mod:`xgeo.core.metrics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from xgeo.core.features import FeatureFile
from xgeo.core.retrieval.counting import clean_positives, clean_semi, error_bounds, positions, resolve_band
from xgeo.core.retrieval.engines import make_engine
from xgeo.core.retrieval.gallery import FileGallery, Gallery, MemoryGallery
from xgeo.core.retrieval.options import SIMILARITIES, NonFiniteFeaturesError, SearchOptions
from xgeo.core.retrieval.ranking import NO_INDEX, Ranking, merge_topk
from xgeo.core.task import RetrievalTask

_PAIRS = 1024  # positives per float64 reference batch


class _BandOverflow(Exception):
    """More near-ties than the memory budget allows: split the batch."""


class Searcher:
    """A gallery prepared once (normalised, deduplicated; in memory or streamed from a
    :class:`~xgeo.core.features.FeatureFile`) for repeated exact, chunked search."""

    def __init__(self, gallery: Any, similarity: str = "cosine", *, normalized: bool = False,
                 junk: np.ndarray | None = None, options: SearchOptions | None = None) -> None:
        if similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {similarity!r}; choose from {SIMILARITIES}")
        self.options = opts = options or SearchOptions()
        self.engine = make_engine(opts.device, opts.engine, opts.dtype, like=gallery)
        self.similarity = similarity
        self.query_chunk = opts.query_chunk
        source = FileGallery if isinstance(gallery, FeatureFile) else MemoryGallery
        self.gallery: Gallery = source(self.engine, gallery, similarity, normalized, junk, opts.gallery_chunk)
        g = self.gallery
        self.num_gallery, self.num_ranked, self.dim, self.junk = g.num_gallery, g.num_ranked, g.dim, g.junk
        self.duplicates = g.duplicates
        self._buffer = self.engine.empty(self.query_chunk * g.width)
        self._band_limit = max(opts.cache_bytes // 4 // 16, 1)  # kept near-ties (~16 bytes each)

    @property
    def query_block_rows(self) -> int:
        """Queries held per gallery pass: ``cache_bytes`` of rows, a multiple of ``query_chunk``."""
        per_block = self.query_chunk * self.dim * self.engine.np_dtype.itemsize
        return max(1, self.options.cache_bytes // max(per_block, 1)) * self.query_chunk

    def rank(self, query: Any, positives: sp.csr_matrix | None = None, semi: np.ndarray | None = None,
             k: int = 0, normalized: bool = False, *, inplace: bool = False) -> Ranking:
        """Rank a batch of queries: positives ``[n, M]`` (CSR), semi-positive gallery indices
        ``[n, S]`` (``-1`` pads) and top-``k``. ``inplace``: ``query`` may be overwritten."""
        q_all = self.engine.put(query)
        if q_all.ndim != 2 or int(q_all.shape[1]) != self.dim:
            raise ValueError(f"query features must have shape [n, {self.dim}], got {tuple(q_all.shape)}")
        if not self.engine.all_finite(q_all):
            raise NonFiniteFeaturesError("query")
        n = int(q_all.shape[0])
        k = min(int(k), self.num_gallery)
        positives = clean_positives(positives, n, self.num_gallery, self.junk)
        semi = None if semi is None else np.asarray(semi, dtype=np.int64).reshape(n, -1)
        step = self.query_block_rows
        parts = []
        for a in range(0, n, step):
            b = min(a + step, n)
            q, q_sq = self._prepare(q_all[a:b], normalized, inplace)
            pos = positives[a:b]
            parts.append(self._rank_rows(q, q_sq, pos.indptr, pos.indices, None if semi is None else semi[a:b], k))
        if not parts:
            return Ranking.empty(self.num_gallery, self.num_ranked, semi is not None, k)
        return Ranking.concatenate(parts)

    # ------------------------------------------------------------------ batches
    def _prepare(self, q: Any, normalized: bool, inplace: bool) -> tuple[Any, Any]:
        """Queries as the blocks take them (row by row: the same bits whatever the batch)."""
        e = self.engine
        if self.similarity == "cosine" and not normalized:
            q = e.normalize(q, inplace=inplace)
            inplace = True
        if self.similarity != "neg_sq_l2":
            return q, None
        q_sq = e.sq_norms(q)
        return e.scale(q, 2.0, inplace=inplace), q_sq  # exact: 2 q.g computed as (2q).g

    def _rank_rows(self, q: Any, q_sq: Any, indptr: np.ndarray, cols: np.ndarray, semi: np.ndarray | None,
                   k: int) -> Ranking:
        n = int(q.shape[0])
        try:
            return self._rank_batch(q, q_sq, indptr, cols, semi, k, n > 1)
        except _BandOverflow:
            qc = self.query_chunk
            mid = ((n // qc + 1) // 2) * qc if n > qc else n // 2
            halves = []
            for lo, hi in ((0, mid), (mid, n)):
                sub_ptr = indptr[lo : hi + 1] - indptr[lo]
                halves.append(self._rank_rows(q[lo:hi], None if q_sq is None else q_sq[lo:hi], sub_ptr,
                                              cols[indptr[lo] : indptr[hi]], None if semi is None else semi[lo:hi], k))
            return Ranking.concatenate(halves)

    def _block(self, q: Any, q_sq: Any, g: Any, g_sq: Any, chunk: int) -> Any:
        """The scores of queries ``q`` against the rows ``g`` of gallery chunk ``chunk``."""
        s = self.engine.view(self._buffer, int(q.shape[0]), int(g.shape[0]))
        self.engine.matmul(q, g, s)
        if g_sq is not None:
            self.engine.subtract_outer(s, q_sq, g_sq)
        if self.gallery.chunk_junk[chunk].size:
            self.engine.mask_columns(s, self.gallery.chunk_junk[chunk])
        return s

    def _references(self, q: Any, q_sq: Any, rows: np.ndarray, ucols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pass 1: error bands ``(lower, upper)`` of the positives' block scores."""
        e, g = self.engine, self.gallery
        dot, absdot = np.zeros(len(rows)), np.zeros(len(rows))
        qs = None if q_sq is None else e.host(q_sq)[rows]
        gs = None if q_sq is None else np.zeros(len(rows), dtype=e.np_dtype)
        chunk_of = ucols // g.chunk_rows
        for c in np.unique(chunk_of).tolist():
            rows_c, g_sq = g.chunk(c)
            lo = c * g.chunk_rows
            sel = np.flatnonzero(chunk_of == c)
            for a in range(0, len(sel), _PAIRS):
                part = sel[a : a + _PAIRS]
                local = ucols[part] - lo
                dot[part], absdot[part] = e.pair_dots(e.select_rows(q, rows[part]), e.select_rows(rows_c, local))
                if gs is not None:
                    gs[part] = e.host(g_sq)[local]
        return error_bounds(dot, absdot, qs, gs, self.dim, e.unit_roundoff(), e.np_dtype)

    def _rank_batch(self, q: Any, q_sq: Any, indptr: np.ndarray, cols: np.ndarray, semi: np.ndarray | None,
                    k: int, may_split: bool) -> Ranking:
        e, g, qc = self.engine, self.gallery, self.query_chunk
        n = int(q.shape[0])
        counts = np.diff(indptr)
        rows = np.repeat(np.arange(n), counts)
        semi_rows, semi_cols = clean_semi(semi, rows, cols, self.junk)
        t_rows = np.concatenate([rows, semi_rows])
        t_cols = np.concatenate([cols, semi_cols]).astype(np.int64)
        if self.duplicates is not None:
            t_cols = self.duplicates.to_unique[t_cols]
        npos = len(cols)
        lower, upper = self._references(q, q_sq, rows, t_cols[:npos])

        # per-row bounds (one positive) and ascending bounds (several positives)
        single = np.flatnonzero(counts == 1)
        row_lower = np.full(n, np.inf, dtype=e.np_dtype)
        row_upper = row_lower.copy()
        row_lower[single], row_upper[single] = lower[indptr[single]], upper[indptr[single]]
        multi = np.flatnonzero(counts > 1)
        width = int(counts.max()) if len(multi) else 0
        slot = np.full(n, -1, dtype=np.int64)
        slot[multi] = np.arange(len(multi))
        in_multi = slot[rows] >= 0
        asc, asc_lower = _ascending(upper, rows, indptr), _ascending(lower, rows, indptr)
        multi_upper = np.full((len(multi), max(width, 1)), np.inf, dtype=e.np_dtype)
        multi_lower = multi_upper.copy()
        multi_upper[slot[rows[in_multi]], asc[in_multi]] = upper[in_multi]
        multi_lower[slot[rows[in_multi]], asc_lower[in_multi]] = lower[in_multi]

        # pass 2: every block once
        tracked = np.empty(len(t_rows), dtype=np.float64)
        t_chunk = t_cols // g.chunk_rows
        single_gt = np.zeros(n, dtype=np.int64)
        buckets = np.zeros((len(multi), width + 1), dtype=np.int64)
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        num_kept = 0
        top_v, top_i = np.full((n, k), -np.inf), np.full((n, k), NO_INDEX, dtype=np.int64)
        for c in range(g.num_chunks):
            rows_c, g_sq = g.chunk(c)
            lo, hi = g.bounds(c)
            w = None if g.weights is None else g.weights[lo:hi]
            in_chunk = np.flatnonzero(t_chunk == c)
            for a in range(0, n, qc):
                b = min(a + qc, n)
                s = self._block(q[a:b], None if q_sq is None else q_sq[a:b], rows_c, g_sq, c)
                sel = in_chunk[(t_rows[in_chunk] >= a) & (t_rows[in_chunk] < b)]
                if len(sel):
                    tracked[sel] = e.take(s, t_rows[sel] - a, t_cols[sel] - lo)
                if np.isfinite(row_upper[a:b]).any():
                    above, (br, bc, bv) = e.band(s, row_lower[a:b], row_upper[a:b], w)
                    single_gt[a:b] += above
                    kept.append((br + a, bc + lo, bv))
                    num_kept += len(br)
                m_lo, m_hi = np.searchsorted(multi, [a, b])
                if m_hi > m_lo:
                    counted, (br, bc, bv) = e.multi_counts(s, multi[m_lo:m_hi] - a, multi_upper[m_lo:m_hi],
                                                           multi_lower[m_lo:m_hi], w)
                    buckets[m_lo:m_hi] += counted
                    kept.append((br + a, bc + lo, bv))
                    num_kept += len(br)
                if may_split and num_kept > self._band_limit:
                    raise _BandOverflow
                if k:
                    v, i = e.topk(s, min(k, hi - lo))
                    i = i + lo if self.duplicates is None else self.duplicates.canonical[i + lo]
                    top_v[a:b], top_i[a:b] = merge_topk(top_v[a:b], top_i[a:b], v, i, k)
        if k and self.duplicates is not None:
            top_v, top_i = self.duplicates.expand_topk(top_v, top_i, k)

        # counts of entries strictly above each positive's score
        t = tracked[:npos]
        if np.any((t <= lower) | (t > upper)):
            raise RuntimeError("a block score fell outside its rounding bound; the BLAS is not IEEE-accurate")
        greater = single_gt[rows]
        if in_multi.any():
            suffix = np.cumsum(buckets[:, ::-1], axis=1)[:, ::-1]  # suffix[:, j] = sum(buckets[:, j:])
            suffix = np.concatenate([suffix, np.zeros((len(suffix), 1), dtype=np.int64)], axis=1)
            greater[in_multi] = suffix[slot[rows[in_multi]], asc[in_multi] + 1]
        if kept:
            kr, kc, kv = (np.concatenate(x) for x in zip(*kept, strict=True))
            kw = np.ones(len(kr)) if self.duplicates is None else self.duplicates.counts[kc].astype(np.float64)
            greater = greater + resolve_band(kr, kv, kw, rows, t, upper)
        pos, first, best = positions(indptr, t, greater)
        without_semi = None
        if semi is not None:
            above = np.bincount(semi_rows[tracked[npos:] > best[semi_rows]], minlength=n)
            without_semi = np.where(first >= 0, first - above, -1)
        return Ranking(
            first_rank=first, positive_indptr=np.asarray(indptr, dtype=np.int64), positive_positions=pos,
            num_gallery=self.num_gallery, num_ranked=self.num_ranked, rank_without_semi=without_semi,
            topk_scores=top_v.astype(e.np_dtype) if k else None, topk_indices=top_i if k else None,
        )


def _ascending(values: np.ndarray, rows: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Each entry's 0-based place among its row's entries, by ascending value."""
    order = np.lexsort((values, rows))
    place = np.empty(len(values), dtype=np.int64)
    place[order] = np.arange(len(values)) - indptr[rows[order]]
    return place


# ---------------------------------------------------------------------------------------- entry points
def rank_positives(query: Any, gallery: Any, positives: RetrievalTask | sp.csr_matrix, *, semi: np.ndarray | None = None,
                   junk: np.ndarray | None = None, similarity: str = "cosine", normalized: bool = False, k: int = 0,
                   options: SearchOptions | None = None) -> Ranking:
    """Rank every query's positives among the (non-junk) gallery, exactly, in bounded memory.

    ``positives`` is a :class:`RetrievalTask` (its relation, junk and semi-positives are used) or
    a boolean ``[N, M]`` sparse matrix with optional ``semi`` ``[N, S]`` gallery indices and
    ``junk`` ``[M]`` mask. ``k > 0`` also returns the top-``k``.
    """
    if isinstance(positives, RetrievalTask):
        task = positives
        junk = task.junk_mask if junk is None else junk
        semi = task.semi_positive_gallery_indices() if semi is None else semi
        positives = task.relation()
    searcher = Searcher(gallery, similarity, normalized=normalized, junk=junk, options=options)
    return searcher.rank(query, positives, semi, k=k, normalized=normalized)


def search(query: Any, gallery: Any, k: int = 10, similarity: str = "cosine", *, normalized: bool = False,
           options: SearchOptions | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery entries per query: ``(scores [N, k], indices [N, k])``, best first,
    ties to the lower gallery index; same result as a full sort of the score matrix."""
    if k < 1:
        raise ValueError("k must be at least 1")
    searcher = Searcher(gallery, similarity, normalized=normalized, options=options)
    ranking = searcher.rank(query, None, None, k=k, normalized=normalized)
    return ranking.topk_scores, ranking.topk_indices
