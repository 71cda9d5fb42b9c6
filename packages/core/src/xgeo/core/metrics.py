"""Retrieval and localisation metrics, one implementation each; they take ranks, never pixels.

Conventions (shared by every method in xgeo):

- **Rank of a positive** = the number of (non-junk) gallery entries whose score is *strictly
  greater* than the positive's score. Entries tied with the positive do not push it down
  (the optimistic convention of every reference implementation: CVUSA/CVACT/VIGOR code, FRGeo,
  TransGeo, Sample4Geo). ``rank == 0`` means retrieved first.
- **Junk** gallery entries (label ``-1``) are removed from the ranking before anything is counted.
- **Several positives** (University-1652, five captions per image): the query's rank is that of
  its best positive; for AP every positive has a 0-based *position* in the junk-free ranking,
  ``#{negatives strictly above it} + #{positives placed before it}`` (ties resolved in favour of
  positives, so tied positives take consecutive positions).
- **A query without any positive** has rank ``-1``: it is a miss for every recall, hit rate, AP
  (0) and reciprocal rank (0), and it still counts in every denominator.
- Rates (recalls, hit rate, mAP, MRR, accuracies) are returned in percent.

``ranks`` below are integer arrays ``[N]`` of such ranks (``-1`` = no positive);
:class:`xgeo.core.retrieval.Ranking` provides them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from xgeo.core.registry import Registry

#: Mean Earth radius used for great-circle distances (VIGOR's value), metres.
EARTH_RADIUS_M = 6_371_004.0


def _ranks(ranks: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(ranks, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"ranks must be one-dimensional, got shape {arr.shape}")
    return arr


def _percent(hits: np.ndarray, total: int) -> float:
    return 100.0 * float(np.sum(hits)) / total if total else 0.0


# ------------------------------------------------------------------------------------------ recall
def recall_at_k(ranks: Sequence[int] | np.ndarray, k: int) -> float:
    """R@K: percentage of queries whose best positive has rank ``< k``."""
    r = _ranks(ranks)
    return _percent((r >= 0) & (r < k), len(r))


#: R@1% conventions: gallery size M -> K such that R@1% = R@K.
PERCENT_CONVENTIONS: Registry[Callable[[int], int]] = Registry("R@1% convention", "--percent-convention")
# K = floor(M / 100): TransGeo, FRGeo, Sample4Geo
PERCENT_CONVENTIONS.register("floor", lambda m: m // 100)
# K = floor(0.01 M) + 1: SAFA / OriCNN Python validate, VIGOR validate_top
PERCENT_CONVENTIONS.register("floor+1", lambda m: m // 100 + 1)
# CMC at 0-based index round(0.01 M) (Python round), i.e. K = round(0.01 M) + 1:
# University-1652 evaluate_gpu.py, PLCD evaluate_h5.py
PERCENT_CONVENTIONS.register("round", lambda m: round(m * 0.01) + 1)
# rank < 0.01 M, i.e. K = ceil(M / 100): LightCNN mutual_topk_acc
PERCENT_CONVENTIONS.register("float", lambda m: -(-m // 100))


def percent_k(num_gallery: int, convention: str = "floor") -> int:
    """The K of R@1% for a gallery of ``num_gallery`` entries under ``convention`` (an unknown
    name is a one-line :class:`~xgeo.core.registry.UnknownNameError`)."""
    return int(PERCENT_CONVENTIONS.get(convention)(int(num_gallery)))


def recall_at_percent(ranks: Sequence[int] | np.ndarray, num_gallery: int, convention: str = "floor") -> float:
    """R@1% under an explicit convention (see :data:`PERCENT_CONVENTIONS`)."""
    return recall_at_k(ranks, percent_k(num_gallery, convention))


def hit_rate(ranks_without_semi: Sequence[int] | np.ndarray) -> float:
    """VIGOR hit rate: percentage of queries whose positive is first once their semi-positives
    are removed (``#{non-semi entries strictly above the positive} == 0``)."""
    return recall_at_k(ranks_without_semi, 1)


def chance_levels(num_gallery: int, ks: Iterable[int] = (1, 5, 10), percent_convention: str = "floor",
                  num_semi: int | None = None) -> dict[str, float]:
    """Expected R@K, R@1% (and, with ``num_semi``, hit rate) of a uniformly random ranking with one
    positive among ``num_gallery`` entries, in percent: what a demo reports its metrics against."""
    m = max(int(num_gallery), 1)
    out = {f"R@{k}": 100.0 * min(k, m) / m for k in ks}
    out["R@1%"] = 100.0 * min(percent_k(m, percent_convention), m) / m
    if num_semi is not None:
        out["hit"] = 100.0 / max(m - num_semi, 1)
    return out


def cmc(ranks: Sequence[int] | np.ndarray, length: int) -> np.ndarray:
    """CMC curve ``[length]``: ``cmc[k]`` = percentage of queries with rank ``<= k``."""
    r = _ranks(ranks)
    if len(r) == 0:
        return np.zeros(length)
    found = r[(r >= 0) & (r < length)]
    return 100.0 * np.cumsum(np.bincount(found, minlength=length)[:length]) / len(r)


def mean_reciprocal_rank(ranks: Sequence[int] | np.ndarray) -> float:
    """MRR in percent: mean over queries of ``1 / (rank + 1)`` (0 without a positive)."""
    r = _ranks(ranks)
    if len(r) == 0:
        return 0.0
    recip = np.where(r >= 0, 1.0 / (np.maximum(r, 0) + 1.0), 0.0)
    return 100.0 * float(recip.mean())


# ---------------------------------------------------------------------------------- average precision
def _ap_terms(positions: np.ndarray, index_in_query: np.ndarray) -> np.ndarray:
    """Trapezoid-rule AP increments (before dividing by the number of positives)."""
    i = index_in_query.astype(np.float64) + 1.0  # 1-based count of positives found so far
    r = positions.astype(np.float64)
    precision = i / (r + 1.0)
    previous = np.where(r > 0, (i - 1.0) / np.where(r > 0, r, 1.0), 1.0)
    return 0.5 * (previous + precision)


def average_precision(positions: Sequence[int] | np.ndarray) -> float:
    """AP of one query (fraction in [0, 1]) from its positives' sorted 0-based positions,
    by University-1652's trapezoid rule: ``mean_i (P(i-1 at r_i) + P(i at r_i)) / 2`` with
    ``P(i-1) = (i-1)/r_i`` (1 when ``r_i = 0``). One positive at rank r > 0 scores 1/(2(r+1))."""
    pos = np.sort(np.asarray(positions, dtype=np.int64))
    if len(pos) == 0:
        return 0.0
    return float(_ap_terms(pos, np.arange(len(pos))).mean())


def mean_average_precision(indptr: Sequence[int] | np.ndarray, positions: Sequence[int] | np.ndarray) -> float:
    """mAP in percent over queries given as CSR (``indptr [N+1]``, ascending ``positions``);
    queries without positives score 0 and stay in the denominator."""
    indptr = np.asarray(indptr, dtype=np.int64)
    positions = np.asarray(positions, dtype=np.int64)
    n = len(indptr) - 1
    if n <= 0:
        return 0.0
    counts = np.diff(indptr)
    rows = np.repeat(np.arange(n), counts)
    terms = _ap_terms(positions, np.arange(len(positions)) - indptr[rows])
    per_query = np.bincount(rows, weights=terms, minlength=n) / np.maximum(counts, 1)
    return 100.0 * float(per_query.mean())


# ------------------------------------------------------------------------------------- text-image
def rsum_and_mean_recall(recalls: Iterable[float]) -> dict[str, float]:
    """``rsum`` (sum of the recalls) and ``mR`` (their mean; rsum / 6 for i2t+t2i R@1/5/10)."""
    values = [float(v) for v in recalls]
    total = float(sum(values))
    return {"rsum": total, "mR": total / len(values) if values else 0.0}


def text_image_recall(
    i2t_ranks: Sequence[int] | np.ndarray, t2i_ranks: Sequence[int] | np.ndarray, ks: Sequence[int] = (1, 5, 10)
) -> dict[str, float]:
    """Image->text and text->image R@K, ``rsum`` and ``mR`` (keys ``i2t_R@K``, ``t2i_R@K``)."""
    out = {f"i2t_R@{k}": recall_at_k(i2t_ranks, k) for k in ks}
    out.update({f"t2i_R@{k}": recall_at_k(t2i_ranks, k) for k in ks})
    out.update(rsum_and_mean_recall(out.values()))
    return out


# ------------------------------------------------------------------------------------ localisation
def great_circle_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between ``[N, 2]`` (lat, lon) points in degrees
    (haversine, R = 6,371,004 m)."""
    lat1, lon1 = np.radians(np.asarray(a, dtype=np.float64)).T
    lat2, lon2 = np.radians(np.asarray(b, dtype=np.float64)).T
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def euclidean_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance between ``[N, 2]`` points in metres."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.hypot(d[:, 0], d[:, 1])


#: coordinate reference -> distance in metres
DISTANCES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "latlon": great_circle_m,
    "metres": euclidean_m,
}


def localization_errors(predicted: np.ndarray, truth: np.ndarray, crs: str) -> np.ndarray:
    """Per-query error in metres between predicted and true ``[N, 2]`` locations."""
    try:
        distance = DISTANCES[crs]
    except KeyError:
        raise ValueError(f"unknown crs {crs!r}; choose from {sorted(DISTANCES)}") from None
    return distance(predicted, truth)


def threshold_key(threshold: float) -> str:
    """Metric name of the accuracy at ``threshold`` metres, e.g. ``acc@50m``."""
    return f"acc@{float(threshold):g}m"


def accuracy_at_thresholds(errors: Sequence[float] | np.ndarray, thresholds: Iterable[float]) -> dict[str, float]:
    """Percentage of queries with ``error <= t`` (inclusive) for each threshold ``t``."""
    err = np.asarray(errors, dtype=np.float64)
    return {threshold_key(t): _percent(err <= float(t), len(err)) for t in thresholds}


def mean_error(errors: Sequence[float] | np.ndarray) -> float:
    """Mean localisation error in metres (NaN for no query)."""
    err = np.asarray(errors, dtype=np.float64)
    return float(err.mean()) if len(err) else math.nan


def metre_accuracy(
    predicted: np.ndarray, truth: np.ndarray, crs: str, thresholds: Iterable[float]
) -> dict[str, float]:
    """``acc@<T>m`` for each threshold and ``mean_error_m``."""
    errors = localization_errors(predicted, truth, crs)
    out = accuracy_at_thresholds(errors, thresholds)
    out["mean_error_m"] = mean_error(errors)
    return out

