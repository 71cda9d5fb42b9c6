"""The ground truth of a retrieval problem, independent of pixels.

A :class:`RetrievalTask` relates N queries to M gallery entries by **label equality**: gallery
entry ``j`` is correct for query ``i`` when ``gallery_labels[j] == query_labels[i]``. Gallery
entries labelled ``-1`` are junk (left out of every ranking). That one rule covers every dataset
family we read:

- one-to-one (CVUSA, CVACT): the gallery is labelled ``0..M-1`` and query ``i`` carries the label
  of its reference (:meth:`RetrievalTask.one_to_one`);
- label equality with junk (University-1652): building ids, ``-1`` junk (:meth:`from_labels`);
- a positive plus semi-positives (VIGOR): the positive by label, the semi-positives in
  ``query_semi_labels`` (``-1`` pads), used by the hit rate (:meth:`with_semi_positives`);
- five captions per image (RSITMD, RSICD): image ``i`` is labelled ``i`` and caption ``c`` is
  labelled ``c // 5`` (:meth:`captions`).

Optional locations (``[N, 2]`` lat/lon in degrees or x/y in metres, named by ``crs``) serve
metre-level accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

JUNK = -1
CRS_VALUES = ("latlon", "metres")


def _ids(values: Sequence[str] | np.ndarray) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


def _labels(values: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


@dataclass
class RetrievalTask:
    """Queries, gallery and which gallery entries are correct for each query."""

    query_ids: np.ndarray
    gallery_ids: np.ndarray
    query_labels: np.ndarray
    gallery_labels: np.ndarray
    query_semi_labels: np.ndarray | None = None
    query_locations: np.ndarray | None = None
    gallery_locations: np.ndarray | None = None
    crs: str | None = None
    name: str = field(default="")

    def __post_init__(self) -> None:
        self.query_ids = _ids(self.query_ids)
        self.gallery_ids = _ids(self.gallery_ids)
        self.query_labels = _labels(self.query_labels, "query_labels")
        self.gallery_labels = _labels(self.gallery_labels, "gallery_labels")
        if len(self.query_ids) != len(self.query_labels):
            raise ValueError("query_ids and query_labels differ in length")
        if len(self.gallery_ids) != len(self.gallery_labels):
            raise ValueError("gallery_ids and gallery_labels differ in length")
        if self.query_semi_labels is not None:
            self.query_semi_labels = np.asarray(self.query_semi_labels, dtype=np.int64).reshape(self.num_queries, -1)
        for attr, n in (("query_locations", self.num_queries), ("gallery_locations", self.num_gallery)):
            loc = getattr(self, attr)
            if loc is not None:
                loc = np.asarray(loc, dtype=np.float64)
                if loc.shape != (n, 2):
                    raise ValueError(f"{attr} must have shape ({n}, 2), got {loc.shape}")
                setattr(self, attr, loc)
        if self.crs is not None and self.crs not in CRS_VALUES:
            raise ValueError(f"crs must be one of {CRS_VALUES}, got {self.crs!r}")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def one_to_one(cls, query_ids: Sequence[str], gallery_ids: Sequence[str], **kwargs) -> RetrievalTask:
        """Query ``i`` matches gallery entry ``i`` only (CVUSA, CVACT)."""
        if len(query_ids) != len(gallery_ids):
            raise ValueError("one-to-one tasks need as many queries as gallery entries")
        labels = np.arange(len(query_ids), dtype=np.int64)
        return cls(query_ids, gallery_ids, labels, labels.copy(), **kwargs)

    @classmethod
    def from_labels(cls, query_ids, gallery_ids, query_labels, gallery_labels, **kwargs) -> RetrievalTask:
        """Label equality; gallery label ``-1`` is junk (University-1652)."""
        return cls(query_ids, gallery_ids, query_labels, gallery_labels, **kwargs)

    @classmethod
    def with_semi_positives(cls, query_ids, gallery_ids, positive_index, semi_index, **kwargs) -> RetrievalTask:
        """One positive gallery index per query plus semi-positive indices (VIGOR; ``-1`` pads)."""
        gallery_labels = np.arange(len(gallery_ids), dtype=np.int64)
        return cls(query_ids, gallery_ids, np.asarray(positive_index), gallery_labels, query_semi_labels=semi_index, **kwargs)

    @classmethod
    def captions(cls, image_ids: Sequence[str], caption_ids: Sequence[str], per_image: int = 5, **kwargs) -> RetrievalTask:
        """Images as queries, captions as gallery; caption ``c`` belongs to image ``c // per_image``."""
        if len(caption_ids) != per_image * len(image_ids):
            raise ValueError(f"expected {per_image} captions per image")
        img_labels = np.arange(len(image_ids), dtype=np.int64)
        cap_labels = np.arange(len(caption_ids), dtype=np.int64) // per_image
        return cls(image_ids, caption_ids, img_labels, cap_labels, **kwargs)

    # ------------------------------------------------------------------ views
    @property
    def num_queries(self) -> int:
        return len(self.query_ids)

    @property
    def num_gallery(self) -> int:
        return len(self.gallery_ids)

    @property
    def junk_mask(self) -> np.ndarray:
        """Boolean ``[M]``: gallery entries left out of every ranking."""
        return self.gallery_labels == JUNK

    def transposed(self) -> RetrievalTask:
        """The same relation with queries and gallery swapped (e.g. text→image from image→text)."""
        if self.query_semi_labels is not None:
            raise ValueError("a task with semi-positives cannot be transposed")
        return RetrievalTask(
            self.gallery_ids, self.query_ids, self.gallery_labels, self.query_labels,
            query_locations=self.gallery_locations, gallery_locations=self.query_locations,
            crs=self.crs, name=self.name,
        )

    def relation(self) -> sp.csr_matrix:
        """Sparse boolean ``[N, M]`` matrix of correct (query, gallery) pairs."""
        order = np.argsort(self.gallery_labels, kind="stable")
        sorted_labels = self.gallery_labels[order]
        lo = np.searchsorted(sorted_labels, self.query_labels, side="left")
        hi = np.searchsorted(sorted_labels, self.query_labels, side="right")
        hi = np.where(self.query_labels == JUNK, lo, hi)
        counts = hi - lo
        indptr = np.concatenate([[0], np.cumsum(counts)])
        indices = np.concatenate([order[a:b] for a, b in zip(lo, hi)]) if counts.sum() else np.zeros(0, np.int64)
        data = np.ones(len(indices), dtype=bool)
        return sp.csr_matrix((data, indices, indptr), shape=(self.num_queries, self.num_gallery))

    def positives(self, query: int) -> np.ndarray:
        """Gallery indices correct for ``query``."""
        label = self.query_labels[query]
        if label == JUNK:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.gallery_labels == label)

    def semi_positive_gallery_indices(self) -> np.ndarray | None:
        """``[N, S]`` gallery indices of each query's semi-positives (``-1`` pads), or ``None``."""
        if self.query_semi_labels is None:
            return None
        lookup = {int(lab): j for j, lab in enumerate(self.gallery_labels) if lab != JUNK}
        out = np.full(self.query_semi_labels.shape, -1, dtype=np.int64)
        for (i, s), lab in np.ndenumerate(self.query_semi_labels):
            if lab != JUNK and int(lab) in lookup:
                out[i, s] = lookup[int(lab)]
        return out
