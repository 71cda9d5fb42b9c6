"""The gallery side of a search: rows prepared once, served one chunk of unique rows at a time.

:class:`MemoryGallery` holds the prepared rows; :class:`FileGallery` streams them from a
feature file (:class:`~xgeo.core.features.FeatureFile`) on every pass, so the gallery is never
whole in memory. Both serve the same chunks bit for bit: preparation (L2 normalisation, squared
norms) works row by row, and the chunks are the same rows in the same order.

Exact ties. Bitwise-identical (non-junk) gallery rows, after normalisation, are scored once, as
one unique row counted with its multiplicity, so they always tie. Rows are grouped by a 128-bit
BLAKE2b digest of their bytes, computed chunk by chunk (so a file needs no second copy).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from xgeo.core.features import FeatureFile
from xgeo.core.retrieval.engines import Engine
from xgeo.core.retrieval.options import NonFiniteFeaturesError
from xgeo.core.retrieval.ranking import NO_INDEX


def row_digests(rows: np.ndarray) -> np.ndarray:
    """A 16-byte digest of every row's bytes (``-0.0`` counted as ``+0.0``)."""
    words = np.ascontiguousarray(rows + rows.dtype.type(0))
    return np.frombuffer(b"".join(hashlib.blake2b(r, digest_size=16).digest() for r in words), dtype="V16")


@dataclass
class Duplicates:
    """Identical non-junk gallery rows, grouped so each group is scored once.

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
    def find(digests: np.ndarray, junk: np.ndarray) -> Duplicates | None:
        """Group rows with equal digests (junk rows stay alone); ``None`` when all are distinct."""
        m = len(digests)
        keep = np.flatnonzero(~junk)
        if len(keep) < 2:
            return None
        _, first, group = np.unique(digests[keep], return_index=True, return_inverse=True)
        if len(first) == len(keep):
            return None
        label = np.arange(m)
        label[keep] = keep[first][group.ravel()]
        canonical = np.unique(label)
        to_unique = np.searchsorted(canonical, label)
        counts = np.bincount(to_unique, minlength=len(canonical))
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return Duplicates(canonical, to_unique, counts, indptr, np.argsort(to_unique, kind="stable"))

    def expand_topk(self, v: np.ndarray, i: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Replace each unique-row candidate (keyed by its canonical index) by its copies."""
        n = len(v)
        real = i.ravel() != NO_INDEX  # fewer unique rows than k leave padding slots
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


class Gallery(ABC):
    """Unique gallery rows in chunks of ``chunk_rows``; subclasses say where the rows come from."""

    def __init__(self, engine: Engine, similarity: str, normalized: bool, num_gallery: int, dim: int,
                 junk: np.ndarray | None, chunk_rows: int) -> None:
        if num_gallery == 0:
            raise ValueError("the gallery has no rows")
        self.engine, self.similarity, self.chunk_rows = engine, similarity, int(chunk_rows)
        self.normalize = similarity == "cosine" and not normalized
        self.num_gallery, self.dim = int(num_gallery), int(dim)
        junk = np.zeros(self.num_gallery, dtype=bool) if junk is None else np.asarray(junk, dtype=bool)
        if junk.shape != (self.num_gallery,):
            raise ValueError(f"junk mask must have shape ({self.num_gallery},), got {junk.shape}")
        self.junk = junk
        self.num_ranked = int(self.num_gallery - junk.sum())
        self.duplicates: Duplicates | None = None
        self.weights: Any = None

    def _group(self, digests: np.ndarray) -> None:
        self.duplicates = Duplicates.find(digests, self.junk)
        unique_junk = self.junk
        if self.duplicates is not None:
            unique_junk = self.junk[self.duplicates.canonical]
            self.weights = self.engine.weights(self.duplicates.counts)
        self.rows = len(unique_junk)
        self.chunk_junk = [np.flatnonzero(unique_junk[a : a + self.chunk_rows]) for a in range(0, self.rows, self.chunk_rows)]
        self.width = min(self.chunk_rows, self.rows)  # widest chunk

    def _prepare(self, rows: Any, inplace: bool) -> Any:
        return self.engine.normalize(rows, inplace=inplace) if self.normalize else rows

    @property
    def num_chunks(self) -> int:
        return len(self.chunk_junk)

    def bounds(self, chunk: int) -> tuple[int, int]:
        a = chunk * self.chunk_rows
        return a, min(a + self.chunk_rows, self.rows)

    @abstractmethod
    def chunk(self, chunk: int) -> tuple[Any, Any]:
        """Unique rows of ``chunk`` (prepared) and, for ``neg_sq_l2``, their squared norms."""

    def _with_sq(self, rows: Any) -> tuple[Any, Any]:
        return rows, (self.engine.sq_norms(rows) if self.similarity == "neg_sq_l2" else None)


class MemoryGallery(Gallery):
    """A gallery array or tensor, prepared once and held on the engine's device."""

    def __init__(self, engine: Engine, gallery: Any, similarity: str, normalized: bool, junk: np.ndarray | None,
                 chunk_rows: int) -> None:
        g = engine.put(gallery)
        if g.ndim != 2:
            raise ValueError(f"gallery features must be 2-D [M, D], got shape {tuple(g.shape)}")
        super().__init__(engine, similarity, normalized, int(g.shape[0]), int(g.shape[1]), junk, chunk_rows)
        if not engine.all_finite(g):
            raise NonFiniteFeaturesError("gallery")
        g = self._prepare(g, inplace=False)
        self._group(row_digests(engine.host(g)))
        if self.duplicates is not None:
            g = engine.select_rows(g, self.duplicates.canonical)
        self._rows = g
        self._sq = engine.sq_norms(g) if similarity == "neg_sq_l2" else None

    def chunk(self, chunk: int) -> tuple[Any, Any]:
        a, b = self.bounds(chunk)
        return self._rows[a:b], None if self._sq is None else self._sq[a:b]


class FileGallery(Gallery):
    """A gallery streamed from an open feature file, ``chunk_rows`` rows at a time, on every pass."""

    def __init__(self, engine: Engine, file: FeatureFile, similarity: str, normalized: bool,
                 junk: np.ndarray | None, chunk_rows: int) -> None:
        super().__init__(engine, similarity, normalized, len(file), file.dim, junk, chunk_rows)
        self.file = file
        digests = [row_digests(engine.host(self._read(a, a + self.chunk_rows)))
                   for a in range(0, self.num_gallery, self.chunk_rows)]
        self._group(np.concatenate(digests))

    def _read(self, start: int, stop: int) -> Any:
        return self._prepare(self.engine.put(self.file.read_rows(start, stop)), inplace=True)

    def chunk(self, chunk: int) -> tuple[Any, Any]:
        a, b = self.bounds(chunk)
        if self.duplicates is None:
            return self._with_sq(self._read(a, b))
        wanted = self.duplicates.canonical[a:b]  # ascending original rows, read window by window
        pieces, start = [], int(wanted[0])
        while True:
            stop = min(start + self.chunk_rows, int(wanted[-1]) + 1)
            inside = wanted[(wanted >= start) & (wanted < stop)] - start
            block = self._read(start, stop)
            pieces.append(block if len(inside) == stop - start else self.engine.select_rows(block, inside))
            later = np.searchsorted(wanted, stop)
            if later == len(wanted):
                break
            start = int(wanted[later])
        return self._with_sq(self.engine.concat(pieces))
