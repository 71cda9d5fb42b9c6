"""The one metric path: evaluation protocols over features in memory or in feature files.

A :class:`Protocol` says how to score (similarity), which ranking directions to run and which
metrics to report; :data:`PROTOCOLS` holds the five in use:

- ``crossview`` (CVUSA, CVACT; FRGeo, LightCNN): cosine, R@1/5/10, R@1% with K = floor(M/100);
- ``vigor``: cosine, R@1/5/10, R@1% with K = floor(0.01 M) + 1, hit rate (semi-positives removed);
- ``university1652`` (and PLCD): cosine, R@1/5/10, R@1% = CMC[round(0.01 M)], trapezoid mAP,
  junk (gallery label -1) removed;
- ``text-image`` (RSITMD, RSICD; HVSA): query = images, gallery = captions, related by label;
  image->text and text->image R@1/5/10, rsum and mR = rsum / 6;
- ``sn6`` (CMPC): negative squared L2 on the stored features (no normalisation), R@1/5/10/20
  (CMC), MRR, and metre-level accuracy of the top-1 gallery entry's location against the
  query's own location at thresholds (default 50, 100, 150, 200 m) plus the mean error.

Methods call :func:`evaluate_arrays` during training; ``xgeo evaluate`` calls
:func:`evaluate_files`, which streams the query file in chunks and never holds an N x M matrix.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from xgeo.core import metrics as M
from xgeo.core.errors import XgeoError
from xgeo.core.features import FeatureFile
from xgeo.core.registry import Registry
from xgeo.core.retrieval import NonFiniteFeaturesError, Ranking, Searcher, SearchOptions
from xgeo.core.task import RetrievalTask


@dataclass(frozen=True)
class Context:
    """What a metric sees: one direction's ranking, its task and the metre thresholds."""

    ranking: Ranking
    task: RetrievalTask
    thresholds: tuple[float, ...]


# ------------------------------------------------------------------------------------------ metrics
class Metric(ABC):
    """A protocol metric: ``metric(ctx) -> {name: value}``, and what the ranking must provide."""

    topk: ClassVar[int] = 0
    needs_semi: ClassVar[bool] = False
    needs_locations: ClassVar[bool] = False

    @abstractmethod
    def __call__(self, ctx: Context) -> dict[str, float]:
        """The metric's values for one ranking direction."""


@dataclass(frozen=True)
class Recall(Metric):
    """R@K of the best positive for each K."""

    ks: tuple[int, ...] = (1, 5, 10)

    def __call__(self, ctx: Context) -> dict[str, float]:
        return {f"R@{k}": M.recall_at_k(ctx.ranking.first_rank, k) for k in self.ks}


@dataclass(frozen=True)
class RecallPercent(Metric):
    """R@1% under a named convention (see :data:`xgeo.core.metrics.PERCENT_CONVENTIONS`)."""

    convention: str = "floor"

    def __call__(self, ctx: Context) -> dict[str, float]:
        return {"R@1%": M.recall_at_percent(ctx.ranking.first_rank, ctx.ranking.num_gallery, self.convention)}


@dataclass(frozen=True)
class HitRate(Metric):
    """VIGOR hit rate."""

    needs_semi: ClassVar[bool] = True

    def __call__(self, ctx: Context) -> dict[str, float]:
        return {"hit": M.hit_rate(ctx.ranking.rank_without_semi)}


@dataclass(frozen=True)
class MeanAP(Metric):
    """University-1652 mAP (trapezoid rule)."""

    def __call__(self, ctx: Context) -> dict[str, float]:
        return {"mAP": M.mean_average_precision(ctx.ranking.positive_indptr, ctx.ranking.positive_positions)}


@dataclass(frozen=True)
class MRR(Metric):
    """Mean reciprocal rank."""

    def __call__(self, ctx: Context) -> dict[str, float]:
        return {"MRR": M.mean_reciprocal_rank(ctx.ranking.first_rank)}


@dataclass(frozen=True)
class MetreAccuracy(Metric):
    """Accuracy at metre thresholds and mean error of the top-1 entry's location."""

    topk: ClassVar[int] = 1
    needs_locations: ClassVar[bool] = True

    def __call__(self, ctx: Context) -> dict[str, float]:
        task = ctx.task
        predicted = task.gallery_locations[ctx.ranking.topk_indices[:, 0]]
        return M.metre_accuracy(predicted, task.query_locations, task.crs, ctx.thresholds)


# ---------------------------------------------------------------------------------------- protocols
@dataclass(frozen=True)
class Direction:
    """One ranking direction: ``transpose`` swaps queries and gallery; keys get ``prefix``."""

    prefix: str = ""
    transpose: bool = False


def _text_image_summary(values: Mapping[str, float]) -> dict[str, float]:
    return M.rsum_and_mean_recall(values[f"{d}_R@{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10))


@dataclass(frozen=True)
class Protocol:
    """How a benchmark is scored."""

    name: str
    description: str
    similarity: str
    metrics: tuple[Metric, ...]
    directions: tuple[Direction, ...] = (Direction(),)
    summary: Callable[[Mapping[str, float]], dict[str, float]] | None = None
    thresholds: tuple[float, ...] = field(default=())

    @property
    def k(self) -> int:
        """Top-k the metrics need (0: ranks only)."""
        return max((m.topk for m in self.metrics), default=0)

    @property
    def needs_semi(self) -> bool:
        return any(m.needs_semi for m in self.metrics)

    @property
    def needs_locations(self) -> bool:
        return any(m.needs_locations for m in self.metrics)


#: protocol name -> Protocol
PROTOCOLS: Registry[Protocol] = Registry("protocol", "--protocol")
for _proto in (
    Protocol(
        "crossview", "CVUSA/CVACT ground-to-aerial: R@1/5/10, R@1% (K = floor(M/100))", "cosine",
        (Recall((1, 5, 10)), RecallPercent(convention="floor")),
    ),
    Protocol(
        "vigor", "VIGOR: R@1/5/10, R@1% (K = floor(0.01 M) + 1), hit rate", "cosine",
        (Recall((1, 5, 10)), RecallPercent(convention="floor+1"), HitRate()),
    ),
    Protocol(
        "university1652", "University-1652 / PLCD: R@1/5/10, R@1% = CMC[round(0.01 M)], trapezoid mAP", "cosine",
        (Recall((1, 5, 10)), RecallPercent(convention="round"), MeanAP()),
    ),
    Protocol(
        "text-image", "RSITMD/RSICD: image->text and text->image R@1/5/10, rsum, mR", "cosine",
        (Recall((1, 5, 10)),), directions=(Direction("i2t_"), Direction("t2i_", transpose=True)),
        summary=_text_image_summary,
    ),
    Protocol(
        "sn6", "SN6 SAR-to-optical (CMPC): -||q-g||^2, R@1/5/10/20, MRR, metre accuracy", "neg_sq_l2",
        (Recall((1, 5, 10, 20)), MRR(), MetreAccuracy()), thresholds=(50.0, 100.0, 150.0, 200.0),
    ),
):
    PROTOCOLS.register(_proto.name, _proto)


def get_protocol(name: str, percent_convention: str | None = None) -> Protocol:
    """The protocol called ``name``, its R@1% convention optionally replaced (e.g. FRGeo's
    ``"floor"`` on VIGOR, alongside the hit rate). Unknown names are one-line
    :class:`~xgeo.core.registry.UnknownNameError` lines."""
    proto = PROTOCOLS.get(name)
    if percent_convention is None:
        return proto
    M.PERCENT_CONVENTIONS.get(percent_convention)
    metrics = tuple(RecallPercent(percent_convention) if isinstance(m, RecallPercent) else m for m in proto.metrics)
    return dataclasses.replace(proto, metrics=metrics)


# ---------------------------------------------------------------------------------------- evaluate
def _thresholds(protocol: Protocol, thresholds: Sequence[float] | None) -> tuple[float, ...]:
    return protocol.thresholds if thresholds is None else tuple(float(t) for t in thresholds)


def _score(protocol: Protocol, direction: Direction, ranking: Ranking, task: RetrievalTask,
           thresholds: tuple[float, ...], out: dict[str, float]) -> None:
    ctx = Context(ranking, task, thresholds)
    for metric in protocol.metrics:
        for key, value in metric(ctx).items():
            out[direction.prefix + key] = float(value)


def _oriented(task: RetrievalTask, direction: Direction) -> RetrievalTask:
    return task.transposed() if direction.transpose else task


def evaluate_arrays(
    query_features: Any,
    gallery_features: Any,
    task: RetrievalTask,
    protocol: str,
    thresholds: Sequence[float] | None = None,
    *,
    percent_convention: str | None = None,
    normalized: bool = False,
    options: SearchOptions | None = None,
) -> dict[str, float]:
    """Metrics of ``protocol`` for query/gallery features (arrays or tensors, CPU or CUDA) of
    ``task``. ``normalized``: the features are already L2-normalised (cosine protocols);
    ``percent_convention`` overrides the protocol's R@1% convention; ``options``: how to search."""
    proto = get_protocol(protocol, percent_convention)
    if proto.needs_semi and task.query_semi_labels is None:
        raise XgeoError(None, f"the {proto.name} protocol needs semi-positives",
                        "build the task with RetrievalTask.with_semi_positives")
    if proto.needs_locations and (task.query_locations is None or task.gallery_locations is None):
        raise XgeoError(None, f"the {proto.name} protocol needs query and gallery locations",
                        "build the task with query_locations, gallery_locations and crs")
    for side, feats in (("query", query_features), ("gallery", gallery_features)):
        if len(feats) == 0:
            raise XgeoError(None, f"the {side} features have no rows", f"embed at least one {side} entry")
    sides = {False: (query_features, gallery_features), True: (gallery_features, query_features)}
    out: dict[str, float] = {}
    for direction in proto.directions:
        t = _oriented(task, direction)
        q, g = sides[direction.transpose]
        try:
            searcher = Searcher(g, proto.similarity, normalized=normalized, junk=t.junk_mask, options=options)
            semi = t.semi_positive_gallery_indices() if proto.needs_semi else None
            ranking = searcher.rank(q, t.relation(), semi, k=proto.k, normalized=normalized)
        except NonFiniteFeaturesError as err:
            side = {False: err.side, True: "gallery" if err.side == "query" else "query"}[direction.transpose]
            raise XgeoError(None, f"{side} features contain NaN or inf",
                            "the model diverged; check the loss and inputs") from None
        _score(proto, direction, ranking, t, _thresholds(proto, thresholds), out)
    if proto.summary is not None:
        out.update(proto.summary(out))
    return out


def _task_from_files(proto: Protocol, qf: FeatureFile, gf: FeatureFile) -> RetrievalTask:
    """The ground truth stored in a query and a gallery feature file (label equality)."""
    if qf.dim != gf.dim:
        raise XgeoError(gf.path, f"feature dimension {gf.dim} differs from the query file's {qf.dim}",
                        "pass query and gallery features of the same model")
    semi = qf.semi_labels if proto.needs_semi else None
    if proto.needs_semi and semi is None:
        raise XgeoError(qf.path, f"no /semi_labels, which the {proto.name} protocol needs for the hit rate",
                        "write the query features with semi_labels (FeatureSet.from_task on a task with semi-positives)")
    q_loc = g_loc = crs = None
    if proto.needs_locations:
        for f in (qf, gf):
            if f.locations is None:
                raise XgeoError(f.path, f"no /locations, which the {proto.name} protocol needs for metre accuracy",
                                "write the features with locations and crs")
        if qf.crs != gf.crs:
            raise XgeoError(gf.path, f"/locations crs {gf.crs!r} differs from the query file's {qf.crs!r}",
                            "store both sides in the same coordinate reference")
        q_loc, g_loc, crs = qf.locations, gf.locations, qf.crs
    return RetrievalTask(qf.ids, gf.ids, qf.labels, gf.labels, query_semi_labels=semi,
                         query_locations=q_loc, gallery_locations=g_loc, crs=crs)


def evaluate_files(
    query_h5: str | os.PathLike,
    gallery_h5: str | os.PathLike,
    protocol: str,
    thresholds: Sequence[float] | None = None,
    *,
    percent_convention: str | None = None,
    options: SearchOptions | None = None,
) -> dict[str, float]:
    """Metrics of ``protocol`` from two feature files. Both sides are streamed: the queries in
    batches of ``Searcher.query_block_rows``, the gallery chunk by chunk on every pass, so memory
    stays bounded whatever the sizes (``options.cache_bytes`` plus a few blocks)."""
    proto = get_protocol(protocol, percent_convention)
    out: dict[str, float] = {}
    with FeatureFile(query_h5) as qf, FeatureFile(gallery_h5) as gf:
        for f, side in ((qf, "query"), (gf, "gallery")):
            if len(f) == 0:
                raise XgeoError(f.path, "the feature file has no rows", f"embed at least one {side} entry")
        task = _task_from_files(proto, qf, gf)
        files = {False: (qf, gf), True: (gf, qf)}
        for direction in proto.directions:
            t = _oriented(task, direction)
            q_file, g_file = files[direction.transpose]
            searcher = Searcher(g_file, proto.similarity, normalized=g_file.normalized, junk=t.junk_mask, options=options)
            positives = t.relation()
            semi = t.semi_positive_gallery_indices() if proto.needs_semi else None
            parts = [
                searcher.rank(block, positives[a : a + len(block)], None if semi is None else semi[a : a + len(block)],
                              k=proto.k, normalized=q_file.normalized, inplace=True)
                for a, block in q_file.chunks(searcher.query_block_rows)
            ]
            _score(proto, direction, Ranking.concatenate(parts), t, _thresholds(proto, thresholds), out)
    if proto.summary is not None:
        out.update(proto.summary(out))
    return out


def format_table(metrics: Mapping[str, float]) -> str:
    """A two-column console table of metrics, two decimals."""
    if not metrics:
        return "(no metrics)"
    width = max(len("metric"), *(len(k) for k in metrics))
    values = {k: f"{v:.2f}" for k, v in metrics.items()}
    vwidth = max(len("value"), *(len(v) for v in values.values()))
    lines = [f"{'metric':<{width}}  {'value':>{vwidth}}", f"{'-' * width}  {'-' * vwidth}"]
    lines += [f"{k:<{width}}  {v:>{vwidth}}" for k, v in values.items()]
    return "\n".join(lines)
