"""The self-contained HTML page: metrics tables, plots and grids, every image inlined as a data URI.

The page needs no server, no network and no file beside it. Each metric cell carries its exact value
in ``data-metric`` / ``data-value`` attributes (the text shows two decimals), so a reader (or a test)
can check the page against ``metrics.json``.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from xgeo.core.io import write_text

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .5em 0 1em; } td, th { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; } .note { color: #555; font-size: .9em; }
"""


@dataclass
class ReportSection:
    """One section of a report page: a title, a metrics table (optionally with chance), figures, notes."""

    title: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    chance: Mapping[str, float] | None = None
    #: (caption, PNG file) pairs, inlined in this order
    figures: Sequence[tuple[str, str | os.PathLike]] = ()
    notes: Sequence[str] = ()


def data_uri(path: str | os.PathLike, mime: str = "image/png") -> str:
    """``data:<mime>;base64,...`` of a file's bytes."""
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _metrics_table(metrics: Mapping[str, float], chance: Mapping[str, float] | None) -> str:
    if not metrics:
        return ""
    head = "<tr><th>metric</th><th>value</th>" + ("<th>chance</th>" if chance else "") + "</tr>"
    rows = []
    for key, value in metrics.items():
        name = html.escape(str(key))
        cell = f'<td class="num" data-metric="{name}" data-value="{float(value)!r}">{float(value):.2f}</td>'
        extra = ""
        if chance:
            extra = f'<td class="num">{float(chance[key]):.2f}</td>' if key in chance else "<td></td>"
        rows.append(f"<tr><td>{name}</td>{cell}{extra}</tr>")
    return "<table>" + head + "".join(rows) + "</table>"


def render_section(section: ReportSection) -> str:
    """The HTML of one section."""
    parts = [f"<section><h2>{html.escape(section.title)}</h2>", _metrics_table(section.metrics, section.chance)]
    for note in section.notes:
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    for caption, path in section.figures:
        parts.append(f'<figure><img alt="{html.escape(caption)}" src="{data_uri(path)}">'
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def render_page(title: str, sections: Sequence[ReportSection], intro: str = "") -> str:
    """A complete, self-contained HTML page."""
    body = "\n".join(render_section(s) for s in sections)
    lead = f'<p class="note">{html.escape(intro)}</p>' if intro else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body><h1>{html.escape(title)}</h1>{lead}\n{body}\n</body></html>\n")


def write_page(path: str | os.PathLike, title: str, sections: Sequence[ReportSection], intro: str = "") -> Path:
    """Write :func:`render_page` to ``path`` atomically; return the path."""
    write_text(path, render_page(title, sections, intro))
    return Path(path)
