"""Drawing: each function renders data from :mod:`xgeo.core.report.data` to a PNG (matplotlib, Agg).

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly (no pyplot, no
display, no global state), and written atomically. Every function returns the path it wrote.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from xgeo.core.io import atomic_write
from xgeo.core.report.data import FRAME_COLOURS, CmcCurve, DistanceCurve, RetrievalRow

MARK_STYLE = {"R@1": "o", "R@5": "s", "R@10": "^", "R@20": "v", "R@1%": "D"}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def plot_cmc(curves: Sequence[CmcCurve], path: str | os.PathLike, title: str = "CMC") -> Path:
    """Recall (percent) against K on a log axis, one line per curve, marked points annotated."""
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for curve in curves:
        (line,) = ax.plot(curve.ks, curve.values, label=curve.label or None, linewidth=1.6)
        at_k: dict[int, list[str]] = {}
        for name, (k, value) in curve.marks.items():
            ax.plot([k], [value], MARK_STYLE.get(name, "o"), color=line.get_color(), markersize=5)
            at_k.setdefault(k, []).append(name)
        for k, names in at_k.items():  # one label per marked K (R@1% may coincide with R@10)
            value = curve.marks[names[0]][1]
            ax.annotate(f"{' = '.join(names)}: {value:.1f}", (k, value), textcoords="offset points", xytext=(4, -10),
                        fontsize=7)
    top = max((int(c.ks[-1]) for c in curves if len(c.ks)), default=1)
    ax.set_xscale("log")
    ax.set_xlim(0.9, max(top, 2) * 1.1)
    ax.set_ylim(0, 102)
    ax.set_xlabel("K (log scale)")
    ax.set_ylabel("recall@K (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if any(c.label for c in curves):
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy_vs_distance(curves: Sequence[DistanceCurve], path: str | os.PathLike,
                              title: str = "top-1 localisation accuracy") -> Path:
    """Share of queries within d metres against d, one line per curve."""
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for curve in curves:
        ax.plot(curve.distances, curve.share, label=curve.label or None, linewidth=1.6)
    ax.set_ylim(0, 102)
    ax.set_xlabel("distance d (m)")
    ax.set_ylabel("queries with top-1 within d (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if any(c.label for c in curves):
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_error_histogram(errors_m: Sequence[float] | np.ndarray, path: str | os.PathLike, bins: int = 30,
                         title: str = "top-1 localisation error") -> Path:
    """Histogram of localisation errors in metres."""
    fig = _figure(6.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.hist(np.asarray(errors_m, dtype=np.float64), bins=bins, color="#1f77b4", edgecolor="white")
    ax.set_xlabel("error (m)")
    ax.set_ylabel("queries")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def _thumbnail(ax, show: str, text: bool) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if text or not Path(show).is_file():
        ax.text(0.03, 0.5, textwrap.fill(show, 28), fontsize=6, va="center", ha="left", transform=ax.transAxes, wrap=True)
        return
    from PIL import Image

    with Image.open(show) as im:
        ax.imshow(np.asarray(im.convert("RGB")), aspect="auto")


def _frame(ax, colour: str) -> None:
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3.0)


def plot_retrieval_grid(rows: Sequence[RetrievalRow], path: str | os.PathLike, *, query_text: bool = False,
                        gallery_text: bool = False, title: str = "", cell_size: tuple[float, float] = (1.6, 1.3)) -> Path:
    """One row per query: the query (image, or text when ``query_text``), then its top-K, each framed in
    green (correct), amber (semi-positive) or red (wrong), with its score."""
    top = max((len(r.cells) for r in rows), default=1)
    w, h = cell_size
    fig = _figure(w * (top + 1) + 0.4, h * max(len(rows), 1) + 0.6)
    for i, row in enumerate(rows):
        ax = fig.add_subplot(len(rows), top + 1, i * (top + 1) + 1)
        _thumbnail(ax, row.show, query_text)
        ax.set_title(f"query {row.id}"[:28], fontsize=7)
        for j, cell in enumerate(row.cells):
            ax = fig.add_subplot(len(rows), top + 1, i * (top + 1) + j + 2)
            _thumbnail(ax, cell.show, gallery_text)
            _frame(ax, cell.colour)
            ax.set_title(f"{j + 1}. {cell.score:.3f}", fontsize=7, color=cell.colour)
    if title:
        fig.suptitle(title, fontsize=9)
    legend = "   ".join(f"{name}: {colour}" for name, colour in FRAME_COLOURS.items())
    fig.text(0.01, 0.005, f"frames - {legend}", fontsize=6)
    fig.tight_layout(rect=(0, 0.02, 1, 0.97 if title else 1))
    return _save(fig, path)


def plot_location_map(gallery_locations: np.ndarray, top_indices: Sequence[int], path: str | os.PathLike, *,
                      truth: Sequence[float] | None = None, crs: str = "latlon", title: str = "") -> Path:
    """Gallery locations as grey dots; the query's top-k numbered by rank (1 = best); the true location
    as a star when known. ``latlon`` locations are drawn with longitude on x, latitude on y."""
    loc = np.asarray(gallery_locations, dtype=np.float64)
    xy = loc[:, ::-1] if crs == "latlon" else loc
    fig = _figure(6.0, 5.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(xy[:, 0], xy[:, 1], s=6, c="#b0b0b0", label="gallery")
    ranked = xy[np.asarray(top_indices, dtype=np.int64)]
    ax.scatter(ranked[:, 0], ranked[:, 1], s=60, c=np.arange(len(ranked)), cmap="viridis_r", edgecolors="black",
               label="top-k", zorder=3)
    for rank, (x, y) in enumerate(ranked, 1):
        ax.annotate(str(rank), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8, zorder=4)
    if truth is not None:
        t = np.asarray(truth, dtype=np.float64)
        t = t[::-1] if crs == "latlon" else t
        ax.scatter([t[0]], [t[1]], marker="*", s=180, c="#d62728", edgecolors="black", label="true location", zorder=5)
    ax.set_xlabel("longitude" if crs == "latlon" else "easting (m)")
    ax.set_ylabel("latitude" if crs == "latlon" else "northing (m)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=7)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    return _save(fig, path)
