"""A report from two feature files: metrics (the one metric path), CMC, retrieval grids, localisation plots, HTML.

:func:`write_report` is what ``xgeo report`` and every method's ``--report DIR`` call;
:func:`report_section` computes the plots of one query/gallery pair into a folder and returns its
:class:`~xgeo.core.report.html.ReportSection`, so a page can hold several (``xgeo demo``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xgeo.core.errors import XgeoError
from xgeo.core.evaluate import evaluate_files, get_protocol
from xgeo.core.features import FeatureSet, read_features
from xgeo.core.report import data as D
from xgeo.core.report import plots
from xgeo.core.report.html import ReportSection, write_page
from xgeo.core.retrieval import rank_positives
from xgeo.core.task import RetrievalTask

REPORT_FILE = "report.html"
METRICS_FILE = "metrics.json"
TEXT_PROTOCOLS = ("text-image",)


@dataclass
class Report:
    """What a report wrote: its folder, metrics, files by name and why any plot was skipped."""

    out_dir: Path
    metrics: dict[str, float]
    files: dict[str, Path] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    section: ReportSection | None = None

    @property
    def html(self) -> Path:
        return self.files.get("report.html", self.out_dir / REPORT_FILE)


def _task(protocol_name: str, q: FeatureSet, g: FeatureSet) -> RetrievalTask:
    proto = get_protocol(protocol_name)
    both = q.locations is not None and g.locations is not None and q.crs == g.crs
    return RetrievalTask(q.ids, g.ids, q.labels, g.labels,
                         query_semi_labels=q.semi_labels if proto.needs_semi else None,
                         query_locations=q.locations if both else None, gallery_locations=g.locations if both else None,
                         crs=q.crs if both else None)


def _shown(fs: FeatureSet, text: bool) -> tuple[list[str] | None, str | None]:
    """What each row shows (image files, or sentences for a text side), or the reason there is nothing to show."""
    if fs.paths is None:
        return None, "has no /paths"
    if text:
        return [str(p) for p in fs.paths], None
    files = fs.image_files() or []
    missing = next((f for f in files if not f.is_file()), None)
    if missing is not None:
        return None, f"image {missing} does not exist"
    return [str(f) for f in files], None


def cmc_marks(proto: Any) -> tuple[str | None, tuple[int, ...]]:
    """What a protocol's CMC plot marks: its R@1% convention (``None`` when it reports no R@1%, e.g.
    ``sn6``) and its R@K values (R@1/5/10 when it reports none)."""
    convention = next((m.convention for m in proto.metrics if hasattr(m, "convention")), None)
    ks = next((tuple(m.ks) for m in proto.metrics if hasattr(m, "ks")), (1, 5, 10))
    return convention, ks


def report_section(query: FeatureSet, gallery: FeatureSet, protocol: str, out_dir: str | os.PathLike,
                   metrics: dict[str, float], *, title: str = "", queries: int = 8, top: int = 5, seed: int = 0,
                   percent_convention: str | None = None, chance: dict[str, float] | None = None,
                   prefix: str = "") -> Report:
    """Draw every plot the data allows into ``out_dir`` (file names start with ``prefix``) and return
    the :class:`Report` with its :class:`ReportSection` (``metrics`` are shown as given)."""
    out_dir = Path(out_dir)
    proto = get_protocol(protocol, percent_convention)
    convention, marked = cmc_marks(proto)
    task = _task(protocol, query, gallery)
    text = protocol in TEXT_PROTOCOLS
    report = Report(out_dir, dict(metrics))
    figures: list[tuple[str, Path]] = []
    sides = {False: (query, gallery, task), True: (gallery, query, task.transposed() if text else task)}
    directions = proto.directions if text else proto.directions[:1]
    curves, grids = [], []
    for direction in directions:
        q, g, t = sides[direction.transpose]
        ranking = rank_positives(q.features, g.features, t, similarity=proto.similarity,
                                 normalized=q.normalized and g.normalized, k=max(1, top))
        label = direction.prefix.rstrip("_") or (title or "")
        curves.append(D.cmc_curve(ranking.first_rank, ranking.num_gallery, label,
                                  percent_convention=convention, ks=marked))
        grids.append((direction, q, g, t, ranking))
    report.files["cmc.png"] = plots.plot_cmc(curves, out_dir / f"{prefix}cmc.png", title=f"CMC {title}".strip())
    shown = "/".join(str(k) for k in marked) + ("/1%" if convention is not None else "")
    figures.append((f"CMC: recall@K, R@{shown} marked", report.files["cmc.png"]))

    for n, (direction, q, g, t, ranking) in enumerate(grids):
        q_text, g_text = text and direction.transpose, text and not direction.transpose
        q_show, why_q = _shown(q, q_text)
        g_show, why_g = _shown(g, g_text)
        name = "retrieval.png" if n == 0 else f"retrieval_{direction.prefix.rstrip('_')}.png"
        if q_show is None or g_show is None:
            side, why = ("query", why_q) if q_show is None else ("gallery", why_g)
            report.skipped.append(f"{name} skipped: the {side} feature file {why}")
            continue
        picked = D.sample_queries(t.num_queries, queries, seed)
        semi = t.semi_positive_gallery_indices()
        rows = D.retrieval_rows(picked, ranking.topk_indices, ranking.topk_scores, [t.positives(i) for i in range(t.num_queries)],
                                t.query_ids, t.gallery_ids, q_show, g_show, semi, top)
        caption = {"i2t_": "image -> top sentences", "t2i_": "sentence -> top images"}.get(direction.prefix, "query -> top-K")
        report.files[name] = plots.plot_retrieval_grid(rows, out_dir / f"{prefix}{name}", query_text=q_text,
                                                       gallery_text=g_text, title=caption)
        figures.append((f"{caption}: green correct, amber semi-positive, red wrong", report.files[name]))

    if task.query_locations is not None and not text:
        ranking = grids[0][4]
        errors = D.top1_errors(ranking.topk_indices, task.query_locations, task.gallery_locations, task.crs)
        curve = D.accuracy_vs_distance(errors, label=title)
        report.files["accuracy_vs_distance.png"] = plots.plot_accuracy_vs_distance(
            [curve], out_dir / f"{prefix}accuracy_vs_distance.png")
        report.files["error_histogram.png"] = plots.plot_error_histogram(errors, out_dir / f"{prefix}error_histogram.png")
        figures += [("share of queries whose top-1 lies within d metres", report.files["accuracy_vs_distance.png"]),
                    ("top-1 localisation error (m)", report.files["error_histogram.png"])]
    report.section = ReportSection(title or protocol, report.metrics, chance, figures, report.skipped)
    return report


def write_report(query_h5: str | os.PathLike, gallery_h5: str | os.PathLike, protocol: str, out_dir: str | os.PathLike,
                 *, queries: int = 8, top: int = 5, seed: int = 0, percent_convention: str | None = None,
                 thresholds: list[float] | None = None, title: str = "", flag: str = "--report") -> Report:
    """Evaluate two feature files and write ``metrics.json`` (the keys of ``xgeo evaluate --json``),
    the plots and a self-contained ``report.html`` into ``out_dir`` (every file atomically). ``flag``
    names the option that gave ``out_dir`` in error lines."""
    from xgeo.core.checks import check_output_dir
    from xgeo.core.io import write_json

    out_dir = check_output_dir(out_dir, flag)
    if queries < 1 or top < 1:
        raise XgeoError(None, f"--queries {queries} / --top {top}", "pass 1 or more")
    metrics = evaluate_files(query_h5, gallery_h5, protocol, thresholds, percent_convention=percent_convention)
    q, g = read_features(query_h5), read_features(gallery_h5)
    title = title or f"{q.method or 'features'}: {Path(query_h5).name} vs {Path(gallery_h5).name} ({protocol})"
    report = report_section(q, g, protocol, out_dir, metrics, title=title, queries=queries, top=top, seed=seed,
                            percent_convention=percent_convention)
    write_json(out_dir / METRICS_FILE, {"protocol": protocol, "query": str(query_h5), "gallery": str(gallery_h5),
                                        "metrics": metrics})
    report.files["metrics.json"] = out_dir / METRICS_FILE
    report.files["report.html"] = write_page(out_dir / REPORT_FILE, f"xgeo report - {title}", [report.section])
    return report

