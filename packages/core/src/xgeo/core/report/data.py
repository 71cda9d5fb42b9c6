"""The data behind every plot of a report, computed without drawing anything.

Each plot is a pure function of ranks, top-k lists or errors, so tests check these values and the
drawing code (:mod:`xgeo.core.report.plots`) only renders them:

- :func:`cmc_curve`: recall against K (percent), with the R@1/5/10/1% points marked;
- :func:`verdict` / :func:`retrieval_rows`: the top-K gallery entries of sampled queries, each with
  its score and whether it is correct, a semi-positive or wrong (frame colour);
- :func:`accuracy_vs_distance`: the share of queries whose top-1 lies within d metres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from xgeo.core import metrics as M

#: frame colour of a retrieved entry, per verdict
FRAME_COLOURS: dict[str, str] = {"correct": "#2ca02c", "semi": "#ffbf00", "wrong": "#d62728"}


@dataclass
class CmcCurve:
    """One CMC curve: ``values[i]`` = percent of queries with their best positive in the top ``ks[i]``."""

    label: str
    ks: np.ndarray
    values: np.ndarray
    #: marked points: name (``"R@1"``, ``"R@1%"``) -> (K, recall in percent)
    marks: dict[str, tuple[int, float]] = field(default_factory=dict)

    def at(self, k: int) -> float:
        """Recall at ``k`` (percent)."""
        return float(self.values[int(k) - 1])


def cmc_curve(ranks: Sequence[int] | np.ndarray, num_gallery: int, label: str = "", *,
              percent_convention: str | None = "floor", max_k: int | None = None,
              ks: Sequence[int] = (1, 5, 10)) -> CmcCurve:
    """The CMC curve of ``ranks`` (0-based ranks of the best positive, ``-1`` = none) among
    ``num_gallery`` entries, from K = 1 up to ``max_k`` (default: the R@1% K, at least 10 and the
    largest of ``ks``, at most the gallery), with ``ks`` marked, and R@1% under
    ``percent_convention`` (``None``: the protocol reports no R@1%, so none is marked)."""
    m = max(int(num_gallery), 1)
    k_percent = max(1, M.percent_k(m, percent_convention)) if percent_convention is not None else None
    top = int(max_k) if max_k is not None else max(k_percent or 1, max(ks, default=1), 10)
    top = max(1, min(top, m))
    values = M.cmc(ranks, top)
    curve = CmcCurve(label, np.arange(1, top + 1), values)
    for k in ks:
        if k <= top:
            curve.marks[f"R@{k}"] = (int(k), float(values[k - 1]))
    if k_percent is not None and k_percent <= top:
        curve.marks["R@1%"] = (k_percent, float(values[k_percent - 1]))
    return curve


# ---------------------------------------------------------------------------------------- retrieval grid
@dataclass
class RetrievalCell:
    """One retrieved gallery entry: its index, id, what to show (image path or text), score and verdict."""

    index: int
    id: str
    show: str
    score: float
    verdict: str

    @property
    def colour(self) -> str:
        return FRAME_COLOURS[self.verdict]


@dataclass
class RetrievalRow:
    """One query and its top-K."""

    index: int
    id: str
    show: str
    cells: list[RetrievalCell]


def verdict(gallery_index: int, positives: Sequence[int] | np.ndarray, semi: Sequence[int] | np.ndarray = ()) -> str:
    """``"correct"`` when ``gallery_index`` is a positive, ``"semi"`` when a semi-positive, else ``"wrong"``."""
    if int(gallery_index) in {int(p) for p in positives}:
        return "correct"
    if int(gallery_index) in {int(s) for s in semi if int(s) >= 0}:
        return "semi"
    return "wrong"


def sample_queries(num_queries: int, count: int, seed: int = 0) -> np.ndarray:
    """``count`` distinct query indices (all when fewer), sorted, drawn with ``seed``."""
    count = min(int(count), int(num_queries))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(int(num_queries), count, replace=False)).astype(np.int64)


def retrieval_rows(query_indices: Sequence[int], topk_indices: np.ndarray, topk_scores: np.ndarray,
                   positives: Sequence[Sequence[int]], query_ids: Sequence[str], gallery_ids: Sequence[str],
                   query_show: Sequence[str], gallery_show: Sequence[str],
                   semi: Sequence[Sequence[int]] | None = None, top: int = 5) -> list[RetrievalRow]:
    """Rows of the retrieval grid: for each query index ``q``, its first ``top`` entries of
    ``topk_indices[q]`` / ``topk_scores[q]`` with verdicts against ``positives[q]`` (and ``semi[q]``).
    ``*_show`` give what each entry displays (an image path or a sentence)."""
    rows = []
    for q in query_indices:
        q = int(q)
        cells = [
            RetrievalCell(int(j), str(gallery_ids[j]), str(gallery_show[j]), float(s),
                          verdict(j, positives[q], () if semi is None else semi[q]))
            for j, s in zip(topk_indices[q][:top], topk_scores[q][:top])
        ]
        rows.append(RetrievalRow(q, str(query_ids[q]), str(query_show[q]), cells))
    return rows


# ---------------------------------------------------------------------------------------- localisation
@dataclass
class DistanceCurve:
    """Share of queries (percent) whose top-1 lies within ``distances[i]`` metres."""

    label: str
    distances: np.ndarray
    share: np.ndarray


def accuracy_vs_distance(errors_m: Sequence[float] | np.ndarray, max_distance: float | None = None, steps: int = 200,
                         label: str = "") -> DistanceCurve:
    """The accuracy-vs-distance curve of localisation errors (metres) for d = 0 ... ``max_distance``
    (default: the largest error) in ``steps`` equal steps; a query counts when its error is ``<= d``."""
    err = np.asarray(errors_m, dtype=np.float64).ravel()
    top = float(max_distance) if max_distance is not None else (float(err.max()) if len(err) else 1.0)
    top = top if top > 0 else 1.0
    d = np.linspace(0.0, top, int(steps) + 1)
    share = 100.0 * np.searchsorted(np.sort(err), d, side="right") / len(err) if len(err) else np.zeros_like(d)
    return DistanceCurve(label, d, share)


def top1_errors(topk_indices: np.ndarray, query_locations: np.ndarray, gallery_locations: np.ndarray,
                crs: str) -> np.ndarray:
    """Metres between each query's location and its top-1 gallery entry's location."""
    return M.localization_errors(gallery_locations[np.asarray(topk_indices)[:, 0]], query_locations, crs)
