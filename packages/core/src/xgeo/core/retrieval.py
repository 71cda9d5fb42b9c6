"""Exact nearest-neighbour search and the ranks of known positives, in bounded memory.

Scores are computed one block (a chunk of queries x a chunk of the gallery) at a time; the N x M
score matrix never exists. Every score ``s(i, j)`` is computed **exactly once**, by the block
that holds it, and the scores of a query's positives and semi-positives are read out of those
same blocks. So a positive and a gallery entry with the same score tie exactly (no second,
differently-rounded computation of the positive's score), whatever the chunk sizes.

Per query chunk, the gallery chunks holding a positive or semi-positive are computed first and
kept (up to ``cache_bytes``; a query chunk that would need more is split in halves), their
scores give the thresholds, then every gallery chunk is counted against them. Ranking
conventions (strict counting, optimistic ties, junk) are documented in :mod:`xgeo.core.metrics`.

Exact ties. BLAS rounding depends on the block shape and, with OpenBLAS, even on a column's
position inside one product, so two identical gallery rows need not get the same float32 score.
Bitwise-identical (non-junk) gallery rows are therefore scored once, as one row counted with
its multiplicity: they always tie. Scores whose arithmetic is exact (e.g. small integers) tie
whatever the order of summation.

Two engines compute the blocks: ``"numpy"`` (CPU, OpenBLAS; does not import torch, which keeps
``xgeo evaluate`` light) and ``"torch"`` (CPU or CUDA). ``engine="auto"`` picks NumPy on the CPU
and torch on a GPU. Similarities: ``"cosine"`` (rows L2-normalised first, unless the caller says
they already are), ``"dot"`` and ``"neg_sq_l2"`` (``-||q - g||^2 = 2 q.g - ||q||^2 - ||g||^2``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from xgeo.core.task import RetrievalTask

SIMILARITIES = ("cosine", "dot", "neg_sq_l2")
DEFAULT_QUERY_CHUNK = 1024
DEFAULT_GALLERY_CHUNK = 4096
DEFAULT_CACHE_BYTES = 256 * 2**20
_NORM_EPS = 1e-12
_NO_INDEX = np.iinfo(np.int64).max


class NonFiniteFeaturesError(ValueError):
    """Features handed to the search contain NaN or inf (``side`` is "query" or "gallery")."""

    def __init__(self, side: str) -> None:
        self.side = side
        super().__init__(f"{side} features contain NaN or inf")


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of an array-like or a (CPU or CUDA) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _is_cuda(x: Any) -> bool:
    return bool(getattr(x, "is_cuda", False))


# ---------------------------------------------------------------------------------------- engines
class NumpyEngine:
    """Blocks on the CPU with NumPy (OpenBLAS)."""

    name = "numpy"

    def __init__(self, device: str = "cpu", dtype: str = "float32") -> None:
        if device != "cpu":
            raise ValueError(f"the numpy engine runs on the CPU only, not {device!r}; use engine='torch'")
        self.dtype = self.np_dtype = np.dtype(dtype)
        self._mask = np.empty(0, dtype=bool)

    def put(self, x: Any) -> np.ndarray:
        return np.ascontiguousarray(to_numpy(x), dtype=self.dtype)

    def host(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    def all_finite(self, x: np.ndarray) -> bool:
        return bool(np.isfinite(x).all())

    def empty(self, size: int) -> np.ndarray:
        return np.empty(size, dtype=self.dtype)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        norms = np.sqrt(np.einsum("ij,ij->i", x, x))
        return x / np.maximum(norms, _NORM_EPS).astype(self.dtype)[:, None]

    def sq_norms(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", x, x)

    def scale(self, x: np.ndarray, factor: float) -> np.ndarray:
        return x * self.dtype.type(factor)

    def view(self, flat: np.ndarray, rows: int, cols: int) -> np.ndarray:
        return flat[: rows * cols].reshape(rows, cols)

    def matmul(self, q: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
        np.matmul(q, g.T, out=out)

    def subtract_outer(self, s: np.ndarray, row: np.ndarray, col: np.ndarray) -> None:
        np.subtract(s, row[:, None], out=s)
        np.subtract(s, col[None, :], out=s)

    def mask_columns(self, s: np.ndarray, cols: np.ndarray) -> None:
        s[:, cols] = -np.inf

    def take(self, s: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return s[rows, cols]

    def select_rows(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x[idx])

    def weights(self, w: np.ndarray) -> np.ndarray:
        return np.asarray(w, dtype=np.float64)

    def count_greater(self, s: np.ndarray, thresholds: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        if self._mask.size < s.size:
            self._mask = np.empty(s.size, dtype=bool)
        mask = self._mask[: s.size].reshape(s.shape)
        np.greater(s, thresholds[:, None], out=mask)
        if weights is None:
            return mask.view(np.uint8).sum(axis=1, dtype=np.int64)
        return np.rint(mask.astype(np.float64) @ weights).astype(np.int64)

    def bucket_counts(
        self, s: np.ndarray, rows: np.ndarray, sorted_thresholds: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        buckets = sorted_thresholds.shape[1] + 1
        out = np.empty((len(rows), buckets), dtype=np.int64)
        for i, r in enumerate(rows):
            idx = np.searchsorted(sorted_thresholds[i], s[r], side="left")
            out[i] = np.rint(np.bincount(idx, weights=weights, minlength=buckets))
        return out

    def topk(self, s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k == 1:
            idx = s.argmax(axis=1)[:, None]  # first occurrence of the maximum
        elif k >= s.shape[1]:
            idx = np.argsort(-s, axis=1, kind="stable")
        else:
            neg = -s
            idx = np.argpartition(neg, k - 1, axis=1)[:, :k]
            kth = np.take_along_axis(s, idx, axis=1).min(axis=1)
            for r in np.flatnonzero((s >= kth[:, None]).sum(axis=1) > k):  # ties at the boundary
                idx[r] = np.argsort(neg[r], kind="stable")[:k]
        return np.take_along_axis(s, idx, axis=1), idx


class TorchEngine:
    """Blocks with torch, on the CPU or a CUDA device."""

    name = "torch"

    def __init__(self, device: str = "cpu", dtype: str = "float32") -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.np_dtype = np.dtype(dtype)
        self._mask = torch.empty(0, dtype=torch.bool, device=self.device)

    def put(self, x: Any) -> Any:
        t = x if isinstance(x, self.torch.Tensor) else self.torch.from_numpy(np.ascontiguousarray(x))
        return t.detach().to(device=self.device, dtype=self.dtype).contiguous()

    def host(self, x: Any) -> np.ndarray:
        return x.cpu().numpy()

    def all_finite(self, x: Any) -> bool:
        return bool(self.torch.isfinite(x).all().item())

    def empty(self, size: int) -> Any:
        return self.torch.empty(size, dtype=self.dtype, device=self.device)

    def normalize(self, x: Any) -> Any:
        return x / x.norm(dim=1, keepdim=True).clamp_min(_NORM_EPS)

    def sq_norms(self, x: Any) -> Any:
        return (x * x).sum(dim=1)

    def scale(self, x: Any, factor: float) -> Any:
        return x * factor

    def view(self, flat: Any, rows: int, cols: int) -> Any:
        return flat[: rows * cols].view(rows, cols)

    def matmul(self, q: Any, g: Any, out: Any) -> None:
        self.torch.mm(q, g.T, out=out)

    def subtract_outer(self, s: Any, row: Any, col: Any) -> None:
        s.sub_(row[:, None]).sub_(col[None, :])

    def mask_columns(self, s: Any, cols: np.ndarray) -> None:
        s[:, self.torch.from_numpy(cols).to(self.device)] = float("-inf")

    def take(self, s: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        r = self.torch.from_numpy(rows).to(self.device)
        c = self.torch.from_numpy(cols).to(self.device)
        return s[r, c].cpu().numpy()

    def select_rows(self, x: Any, idx: np.ndarray) -> Any:
        return x[self.torch.from_numpy(idx).to(self.device)].contiguous()

    def weights(self, w: np.ndarray) -> Any:
        return self.torch.from_numpy(np.asarray(w, dtype=np.float64)).to(self.device)

    def count_greater(self, s: Any, thresholds: np.ndarray, weights: Any = None) -> np.ndarray:
        if self._mask.numel() < s.numel():
            self._mask = self.torch.empty(s.numel(), dtype=self.torch.bool, device=self.device)
        mask = self._mask[: s.numel()].view(s.shape)
        thr = self.torch.from_numpy(thresholds).to(self.device)
        self.torch.gt(s, thr[:, None], out=mask)
        if weights is None:
            return mask.sum(dim=1).cpu().numpy().astype(np.int64)
        return np.rint((mask.to(self.torch.float64) @ weights).cpu().numpy()).astype(np.int64)

    def bucket_counts(self, s: Any, rows: np.ndarray, sorted_thresholds: np.ndarray, weights: Any = None) -> np.ndarray:
        torch = self.torch
        buckets = sorted_thresholds.shape[1] + 1
        sub = s[torch.from_numpy(rows).to(self.device)]
        thr = torch.from_numpy(np.ascontiguousarray(sorted_thresholds)).to(self.device)
        idx = torch.searchsorted(thr, sub.contiguous(), right=False)
        idx += (torch.arange(len(rows), device=self.device) * buckets)[:, None]
        w = None if weights is None else weights[None, :].expand(len(rows), -1).flatten()
        counts = torch.bincount(idx.flatten(), weights=w, minlength=len(rows) * buckets)
        return np.rint(counts.view(len(rows), buckets).cpu().numpy()).astype(np.int64)

    def topk(self, s: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        if k == 1:
            vals, idx = torch.max(s, dim=1)  # first occurrence of the maximum
            return vals[:, None].cpu().numpy(), idx[:, None].cpu().numpy()
        if k >= s.shape[1]:
            idx = torch.sort(s, dim=1, descending=True, stable=True).indices
        else:
            vals, idx = torch.topk(s, k, dim=1, largest=True, sorted=False)
            kth = vals.min(dim=1).values
            for r in torch.nonzero((s >= kth[:, None]).sum(dim=1) > k).flatten().tolist():
                idx[r] = torch.sort(s[r], descending=True, stable=True).indices[:k]
        return torch.gather(s, 1, idx).cpu().numpy(), idx.cpu().numpy()


#: engine name -> class
ENGINES: dict[str, type] = {"numpy": NumpyEngine, "torch": TorchEngine}


def make_engine(device: str | None = None, engine: str = "auto", dtype: str = "float32", like: Any = None) -> Any:
    """Choose an engine: ``auto`` is NumPy on the CPU, torch elsewhere (CUDA tensors imply CUDA)."""
    if device is None:
        device = str(like.device) if _is_cuda(like) else "cpu"
    if engine == "auto":
        engine = "numpy" if device == "cpu" else "torch"
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {sorted(ENGINES)}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', not {dtype!r}")
    return ENGINES[engine](device, dtype)


# ---------------------------------------------------------------------------------------- results
@dataclass
class Ranking:
    """Where each query's positives landed, plus its top-k (see :mod:`xgeo.core.metrics`).

    ``first_rank[i]``: number of non-junk gallery entries with a strictly greater score than
    query ``i``'s best positive (``-1`` without a positive). ``positive_positions`` (CSR with
    ``positive_indptr``): every positive's 0-based position in the junk-free ranking, ascending,
    ties resolved in favour of positives. ``rank_without_semi``: ``first_rank`` with the
    query's semi-positives left out of the count (VIGOR hit), when semi-positives were given.
    """

    first_rank: np.ndarray
    positive_indptr: np.ndarray
    positive_positions: np.ndarray
    num_gallery: int
    num_ranked: int
    rank_without_semi: np.ndarray | None = None
    topk_scores: np.ndarray | None = None
    topk_indices: np.ndarray | None = None

    @property
    def num_queries(self) -> int:
        return len(self.first_rank)

    @staticmethod
    def concatenate(parts: Sequence[Ranking]) -> Ranking:
        """Stack the rankings of consecutive query batches."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        offsets = np.cumsum([0] + [len(p.positive_positions) for p in parts[:-1]])
        indptr = np.concatenate([[0]] + [p.positive_indptr[1:] + off for p, off in zip(parts, offsets, strict=True)])

        def cat(name: str) -> np.ndarray | None:
            values = [getattr(p, name) for p in parts]
            return None if values[0] is None else np.concatenate(values)

        return Ranking(
            first_rank=np.concatenate([p.first_rank for p in parts]),
            positive_indptr=indptr.astype(np.int64),
            positive_positions=np.concatenate([p.positive_positions for p in parts]),
            num_gallery=first.num_gallery,
            num_ranked=first.num_ranked,
            rank_without_semi=cat("rank_without_semi"),
            topk_scores=cat("topk_scores"),
            topk_indices=cat("topk_indices"),
        )


# ---------------------------------------------------------------------------------------- search
class Searcher:
    """A gallery prepared once (normalised, on its device) for repeated exact, chunked search."""

    def __init__(
        self,
        gallery: Any,
        similarity: str = "cosine",
        *,
        normalized: bool = False,
        junk: np.ndarray | None = None,
        query_chunk: int = DEFAULT_QUERY_CHUNK,
        gallery_chunk: int = DEFAULT_GALLERY_CHUNK,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        device: str | None = None,
        engine: str = "auto",
        dtype: str = "float32",
    ) -> None:
        if similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {similarity!r}; choose from {SIMILARITIES}")
        if query_chunk < 1 or gallery_chunk < 1:
            raise ValueError("chunk sizes must be positive")
        self.engine = make_engine(device, engine, dtype, like=gallery)
        self.similarity = similarity
        self.query_chunk = int(query_chunk)
        self.gallery_chunk = int(gallery_chunk)
        self.cache_bytes = int(cache_bytes)
        g = self.engine.put(gallery)
        if g.ndim != 2:
            raise ValueError(f"gallery features must be 2-D [M, D], got shape {tuple(g.shape)}")
        if not self.engine.all_finite(g):
            raise NonFiniteFeaturesError("gallery")
        if similarity == "cosine" and not normalized:
            g = self.engine.normalize(g)
        self.num_gallery, self.dim = int(g.shape[0]), int(g.shape[1])
        junk = np.zeros(self.num_gallery, dtype=bool) if junk is None else np.asarray(junk, dtype=bool)
        if junk.shape != (self.num_gallery,):
            raise ValueError(f"junk mask must have shape ({self.num_gallery},), got {junk.shape}")
        self.junk = junk
        self.num_ranked = int(self.num_gallery - junk.sum())
        # identical gallery rows are scored once (as one "unique row" with a weight) so they tie exactly
        self.duplicates = _Duplicates.find(self.engine.host(g), junk)
        unique_junk = junk
        self._weights = None
        if self.duplicates is not None:
            g = self.engine.select_rows(g, self.duplicates.canonical)
            unique_junk = junk[self.duplicates.canonical]
            self._weights = self.engine.weights(self.duplicates.counts)
        self._gallery = g
        self._gallery_sq = self.engine.sq_norms(g) if similarity == "neg_sq_l2" else None
        self._rows = int(g.shape[0])
        self._chunk_junk = [
            np.flatnonzero(unique_junk[a : a + self.gallery_chunk]) for a in range(0, self._rows, self.gallery_chunk)
        ]
        self._width = min(self.gallery_chunk, max(self._rows, 1))  # widest gallery chunk
        self._buffer = self.engine.empty(self.query_chunk * self._width)
        self._arena = self.engine.empty(0)  # reused memory of the kept chunks (at most ~cache_bytes)

    @property
    def num_chunks(self) -> int:
        return len(self._chunk_junk)

    def _chunk_bounds(self, chunk: int) -> tuple[int, int]:
        a = chunk * self.gallery_chunk
        return a, min(a + self.gallery_chunk, self._rows)

    # ------------------------------------------------------------------ public
    def rank(
        self,
        query: Any,
        positives: sp.csr_matrix | None = None,
        semi: np.ndarray | None = None,
        k: int = 0,
        normalized: bool = False,
    ) -> Ranking:
        """Rank a batch of queries: positives ``[n, M]`` (CSR), semi-positive gallery indices
        ``[n, S]`` (``-1`` pads) and top-``k``; processed ``query_chunk`` rows at a time."""
        q_all = self.engine.put(query)
        if q_all.ndim != 2 or int(q_all.shape[1]) != self.dim:
            raise ValueError(f"query features must have shape [n, {self.dim}], got {tuple(q_all.shape)}")
        if not self.engine.all_finite(q_all):
            raise NonFiniteFeaturesError("query")
        n = int(q_all.shape[0])
        k = min(int(k), self.num_gallery)
        positives = _clean_positives(positives, n, self.num_gallery, self.junk)
        semi = None if semi is None else np.asarray(semi, dtype=np.int64).reshape(n, -1)
        parts = []
        for a in range(0, n, self.query_chunk):
            b = min(a + self.query_chunk, n)
            q = q_all[a:b]
            if self.similarity == "cosine" and not normalized:
                q = self.engine.normalize(q)
            q_sq = None
            if self.similarity == "neg_sq_l2":
                q_sq = self.engine.sq_norms(q)
                q = self.engine.scale(q, 2.0)  # exact: 2 q.g computed as (2q).g
            pos = positives[a:b]
            parts.append(self._rank_block(q, q_sq, pos.indptr, pos.indices, None if semi is None else semi[a:b], k))
        if not parts:
            return _empty_ranking(self.num_gallery, self.num_ranked, semi is not None, k)
        return Ranking.concatenate(parts)

    # ------------------------------------------------------------------ blocks
    def _scores(self, q: Any, q_sq: Any, chunk: int, out: Any) -> Any:
        """Fill ``out`` with the scores of queries ``q`` against gallery chunk ``chunk``."""
        a, b = self._chunk_bounds(chunk)
        s = self.engine.view(out, int(q.shape[0]), b - a)
        self.engine.matmul(q, self._gallery[a:b], s)
        if self._gallery_sq is not None:
            self.engine.subtract_outer(s, q_sq, self._gallery_sq[a:b])
        if self._chunk_junk[chunk].size:
            self.engine.mask_columns(s, self._chunk_junk[chunk])
        return s

    def _rank_block(self, q: Any, q_sq: Any, indptr: np.ndarray, cols: np.ndarray, semi: np.ndarray | None, k: int) -> Ranking:
        n = int(q.shape[0])
        counts = np.diff(indptr)
        rows = np.repeat(np.arange(n), counts)
        semi_rows, semi_cols = _clean_semi(semi, rows, cols, self.junk)
        tracked_rows = np.concatenate([rows, semi_rows])
        tracked_cols = np.concatenate([cols, semi_cols]).astype(np.int64)
        if self.duplicates is not None:
            tracked_cols = self.duplicates.to_unique[tracked_cols]
        tracked_chunk = tracked_cols // self.gallery_chunk
        needed = np.unique(tracked_chunk)
        itemsize = self.engine.np_dtype.itemsize
        if n > 1 and len(needed) * n * self._width * itemsize > self.cache_bytes:
            half = n // 2
            halves = []
            for lo, hi in ((0, half), (half, n)):
                sub_ptr = indptr[lo : hi + 1] - indptr[lo]
                sub_cols = cols[indptr[lo] : indptr[hi]]
                sub_semi = None if semi is None else semi[lo:hi]
                halves.append(self._rank_block(q[lo:hi], None if q_sq is None else q_sq[lo:hi], sub_ptr, sub_cols, sub_semi, k))
            return Ranking.concatenate(halves)

        # 1. the chunks holding tracked entries: compute, keep, read the tracked scores out
        cache: dict[int, Any] = {}
        tracked = np.empty(len(tracked_cols), dtype=np.float64)
        block = n * self._width
        if len(self._arena) < len(needed) * block:
            self._arena = self.engine.empty(len(needed) * block)
        for slot, c in enumerate(needed.tolist()):
            s = self._scores(q, q_sq, c, self._arena[slot * block : (slot + 1) * block])
            sel = np.flatnonzero(tracked_chunk == c)
            tracked[sel] = self.engine.take(s, tracked_rows[sel], tracked_cols[sel] - c * self.gallery_chunk)
            cache[c] = s
        pos_scores = tracked[: len(cols)]
        th = _Thresholds(indptr, pos_scores, self.engine.np_dtype)

        # 2. count every chunk against the thresholds (and keep the top-k)
        best_gt = np.zeros(n, dtype=np.int64)
        buckets = np.zeros((len(th.multi_rows), th.width + 1), dtype=np.int64)
        top_v = np.full((n, k), -np.inf)
        top_i = np.full((n, k), _NO_INDEX, dtype=np.int64)
        order = list(cache) + [c for c in range(self.num_chunks) if c not in cache]  # cached chunks first
        for c in order:
            s = cache.pop(c) if c in cache else self._scores(q, q_sq, c, self._buffer)
            lo, hi = self._chunk_bounds(c)
            w = None if self._weights is None else self._weights[lo:hi]
            if len(cols):
                best_gt += self.engine.count_greater(s, th.best, w)
            if len(th.multi_rows):
                buckets += self.engine.bucket_counts(s, th.multi_rows, th.sorted_asc, w)
            if k:
                v, i = self.engine.topk(s, min(k, hi - lo))
                i = i + lo if self.duplicates is None else self.duplicates.canonical[i + lo]
                top_v, top_i = _merge_topk(top_v, top_i, v, i, k)
        if k and self.duplicates is not None:
            top_v, top_i = self.duplicates.expand_topk(top_v, top_i, k)

        positions, first = th.positions(best_gt, buckets)
        without_semi = None
        if semi is not None:
            semi_scores = tracked[len(cols) :]
            above = np.bincount(semi_rows[semi_scores > th.best[semi_rows]], minlength=n)
            without_semi = np.where(first >= 0, first - above, -1)
        return Ranking(
            first_rank=first,
            positive_indptr=np.asarray(indptr, dtype=np.int64),
            positive_positions=positions,
            num_gallery=self.num_gallery,
            num_ranked=self.num_ranked,
            rank_without_semi=without_semi,
            topk_scores=top_v.astype(self.engine.np_dtype) if k else None,
            topk_indices=top_i if k else None,
        )


@dataclass
class _Duplicates:
    """Bitwise-identical non-junk gallery rows, grouped so each group is scored once.

    ``canonical``: the lowest original index of every unique row (ascending); ``to_unique``:
    original index -> unique row; ``counts``: copies per unique row (the counting weights);
    ``members``/``indptr``: the original indices of each unique row, ascending.
    """

    canonical: np.ndarray
    to_unique: np.ndarray
    counts: np.ndarray
    indptr: np.ndarray
    members: np.ndarray

    @staticmethod
    def find(g: np.ndarray, junk: np.ndarray) -> _Duplicates | None:
        """Group identical rows of ``g`` (junk rows stay alone); ``None`` when all are distinct."""
        m = len(g)
        if m < 2:
            return None
        words = np.ascontiguousarray(g + g.dtype.type(0))  # -0.0 -> +0.0
        words = words.view(np.uint32 if g.dtype.itemsize == 4 else np.uint64).reshape(m, -1)
        coeff = np.random.default_rng(0).integers(1, 2**62, size=words.shape[1], dtype=np.uint64) * 2 + 1
        digest = np.empty(m, dtype=np.uint64)
        for a in range(0, m, 4096):  # wrapping 64-bit row hashes, in bounded memory
            digest[a : a + 4096] = (words[a : a + 4096].astype(np.uint64) * coeff).sum(axis=1)
        digest[junk] = np.arange(int(junk.sum()), dtype=np.uint64) ^ np.uint64(0xA5A5A5A5A5A5A5A5)
        _, inverse, counts = np.unique(digest, return_inverse=True, return_counts=True)
        candidates = np.flatnonzero((counts[inverse.ravel()] > 1) & ~junk)
        if candidates.size == 0:
            return None
        keys = np.ascontiguousarray(words[candidates]).view(np.dtype((np.void, words.shape[1] * words.itemsize))).ravel()
        _, first, group = np.unique(keys, return_index=True, return_inverse=True)
        label = np.arange(m)
        label[candidates] = candidates[first][group.ravel()]
        canonical = np.unique(label)
        if len(canonical) == m:
            return None  # hash collisions only
        to_unique = np.searchsorted(canonical, label)
        counts = np.bincount(to_unique, minlength=len(canonical))
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return _Duplicates(canonical, to_unique, counts, indptr, np.argsort(to_unique, kind="stable"))

    def expand_topk(self, v: np.ndarray, i: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Replace each unique-row candidate (keyed by its canonical index) by its copies."""
        n = len(v)
        real = i.ravel() != _NO_INDEX  # fewer unique rows than k leave padding slots
        u = self.to_unique[np.where(real, i.ravel(), 0)]
        reps = np.where(real, np.minimum(self.counts[u], k), 0)
        offsets = np.arange(int(reps.sum())) - np.repeat(np.cumsum(reps) - reps, reps)
        idx = self.members[np.repeat(self.indptr[u], reps) + offsets]
        val = np.repeat(v.ravel(), reps)
        row = np.repeat(np.repeat(np.arange(n), v.shape[1]), reps)
        order = np.lexsort((idx, -val, row))
        idx, val, row = idx[order], val[order], row[order]
        keep = (np.arange(len(row)) - np.searchsorted(row, row, side="left")) < k
        return val[keep].reshape(n, k), idx[keep].reshape(n, k)


class _Thresholds:
    """Per-query positive scores as counting thresholds, and the positions they imply."""

    def __init__(self, indptr: np.ndarray, scores: np.ndarray, dtype: np.dtype) -> None:
        n = len(indptr) - 1
        counts = np.diff(indptr)
        rows = np.repeat(np.arange(n), counts)
        order = np.lexsort((-scores, rows))  # by query, best positive first
        self.indptr, self.counts, self.rows = indptr, counts, rows
        self.order = order
        self.desc = scores[order]
        self.t = np.arange(len(rows)) - indptr[rows]  # 0-based place among the query's positives
        best = np.full(n, np.inf)
        best[counts > 0] = self.desc[indptr[:-1][counts > 0]]
        self.best = best.astype(dtype)
        self.multi_rows = np.flatnonzero(counts > 1)
        self.width = int(counts.max()) if n and counts.size else 0
        slot = np.full(n, -1, dtype=np.int64)
        slot[self.multi_rows] = np.arange(len(self.multi_rows))
        self.slot = slot
        sorted_asc = np.full((len(self.multi_rows), max(self.width, 1)), np.inf)
        in_multi = slot[rows] >= 0
        asc_pos = counts[rows] - 1 - self.t
        sorted_asc[slot[rows][in_multi], asc_pos[in_multi]] = self.desc[in_multi]
        self.sorted_asc = sorted_asc.astype(dtype)
        self.asc_pos = asc_pos
        self.in_multi = in_multi

    def positions(self, best_gt: np.ndarray, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions (ascending per query) and first ranks from the chunk counts."""
        rows, t = self.rows, self.t
        greater = best_gt[rows].copy()  # entries strictly above each positive
        if self.in_multi.any():
            suffix = np.cumsum(buckets[:, ::-1], axis=1)[:, ::-1]  # suffix[:, j] = sum(buckets[:, j:])
            suffix = np.concatenate([suffix, np.zeros((len(suffix), 1), dtype=np.int64)], axis=1)
            m = self.in_multi
            greater[m] = suffix[self.slot[rows[m]], self.asc_pos[m] + 1]
        # positives strictly above each positive: index of the first of its run of equal scores
        new_run = np.ones(len(rows), dtype=bool)
        if len(rows) > 1:
            new_run[1:] = (rows[1:] != rows[:-1]) | (self.desc[1:] != self.desc[:-1])
        run_start = np.maximum.accumulate(np.where(new_run, np.arange(len(rows)), 0))
        pos_above = run_start - self.indptr[rows]
        positions = (greater - pos_above + t).astype(np.int64)
        n = len(self.counts)
        first = np.full(n, -1, dtype=np.int64)
        has = self.counts > 0
        first[has] = positions[self.indptr[:-1][has]]
        return positions, first


def _merge_topk(v1: np.ndarray, i1: np.ndarray, v2: np.ndarray, i2: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of two candidate sets: descending score, ties to the lower gallery index."""
    v = np.concatenate([v1, v2.astype(np.float64)], axis=1)
    i = np.concatenate([i1, i2.astype(np.int64)], axis=1)
    order = np.lexsort((i, -v), axis=-1)[:, :k]
    return np.take_along_axis(v, order, axis=1), np.take_along_axis(i, order, axis=1)


def _clean_positives(positives: sp.csr_matrix | None, n: int, m: int, junk: np.ndarray) -> sp.csr_matrix:
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


def _clean_semi(semi: np.ndarray | None, rows: np.ndarray, cols: np.ndarray, junk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _empty_ranking(num_gallery: int, num_ranked: int, semi: bool, k: int) -> Ranking:
    z = np.zeros(0, dtype=np.int64)
    return Ranking(z, np.zeros(1, dtype=np.int64), z, num_gallery, num_ranked, z.copy() if semi else None,
                   np.zeros((0, k), dtype=np.float32) if k else None, np.zeros((0, k), dtype=np.int64) if k else None)


# ---------------------------------------------------------------------------------------- entry points
def rank_positives(
    query: Any,
    gallery: Any,
    positives: RetrievalTask | sp.csr_matrix,
    *,
    semi: np.ndarray | None = None,
    junk: np.ndarray | None = None,
    similarity: str = "cosine",
    normalized: bool = False,
    k: int = 0,
    query_chunk: int = DEFAULT_QUERY_CHUNK,
    gallery_chunk: int = DEFAULT_GALLERY_CHUNK,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    device: str | None = None,
    engine: str = "auto",
    dtype: str = "float32",
) -> Ranking:
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
    searcher = Searcher(
        gallery, similarity, normalized=normalized, junk=junk, query_chunk=query_chunk,
        gallery_chunk=gallery_chunk, cache_bytes=cache_bytes, device=device, engine=engine, dtype=dtype,
    )
    return searcher.rank(query, positives, semi, k=k, normalized=normalized)


def search(
    query: Any,
    gallery: Any,
    k: int = 10,
    similarity: str = "cosine",
    *,
    normalized: bool = False,
    query_chunk: int = DEFAULT_QUERY_CHUNK,
    gallery_chunk: int = DEFAULT_GALLERY_CHUNK,
    device: str | None = None,
    engine: str = "auto",
    dtype: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery entries per query: ``(scores [N, k], indices [N, k])``, best first,
    ties to the lower gallery index; same result as a full sort of the score matrix."""
    if k < 1:
        raise ValueError("k must be at least 1")
    searcher = Searcher(
        gallery, similarity, normalized=normalized, query_chunk=query_chunk, gallery_chunk=gallery_chunk,
        device=device, engine=engine, dtype=dtype,
    )
    ranking = searcher.rank(query, None, None, k=k, normalized=normalized)
    return ranking.topk_scores, ranking.topk_indices
