"""``xgeo demo``: every installed method end to end on a synthetic world, in one table and one page.

Each method's demo runs inside :func:`~xgeo.core.progress.epoch_progress` (a bar per method over its
epochs with the latest R@1 on a terminal, one line per epoch otherwise). ``demo.md`` (the table) and
``report.html`` (a section per method: metrics next to chance, CMC and retrieval grid when the demo
handed back its feature files) are written into ``--workdir``; the report's path is the last line.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xgeo.core.checks import arg_type, check_output_dir, non_negative
from xgeo.core.errors import XgeoError
from xgeo.core.methods import DemoResult, installed_methods

COLUMNS = ("R@1", "R@5", "R@10", "R@1%", "hit")
DEFAULT_WORKDIR = Path("xgeo-demo")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", nargs="+", metavar="NAME", help="only these installed methods (default: all)")
    parser.add_argument("--baseline", action="store_true", help="also run core's two-branch baseline")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="synthetic data, runs, demo.md and report.html go here (default: ./xgeo-demo)")
    parser.add_argument("--seed", type=arg_type(int, non_negative), default=0)


def format_results(results: list[DemoResult]) -> str:
    """One row per method: each metric as ``value (chance)``."""
    header = ["method", "dataset", *COLUMNS, "time"]
    rows = []
    for r in results:
        cells = [f"{r.metrics[c]:.1f} ({r.chance[c]:.1f})" if c in r.metrics else "-" for c in COLUMNS]
        rows.append([r.method, r.dataset, *cells, f"{r.seconds:.0f}s"])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*row) for row in rows]
    out.append("metric (chance), in percent")
    return "\n".join(out)


def write_outputs(workdir: Path, results: list[DemoResult]) -> Path:
    """``demo.md`` and ``report.html`` in ``workdir``; the report's path."""
    from xgeo.core.features import read_features
    from xgeo.core.io import write_text
    from xgeo.core.report import ReportSection, report_section, write_page

    table = format_results(results)
    write_text(workdir / "demo.md", f"# xgeo demo\n\n```\n{table}\n```\n")
    sections = []
    for r in results:
        title = f"{r.method} - {r.dataset} ({r.seconds:.0f} s)"
        notes = [r.notes] if r.notes else []
        if r.query_features is not None and r.gallery_features is not None:
            part = report_section(read_features(r.query_features), read_features(r.gallery_features), r.protocol,
                                  workdir / "report" / r.method, r.metrics, title=title, chance=r.chance,
                                  percent_convention=r.percent_convention, prefix=f"{r.method}_")
            part.section.notes = [*notes, *part.section.notes]
            sections.append(part.section)
        else:
            sections.append(ReportSection(title, r.metrics, r.chance, (), notes))
    return write_page(workdir / "report.html", "xgeo demo", sections,
                      intro="Each method trained from random weights on a synthetic world; metrics next to chance, in percent.")


@contextmanager
def one_demo(name: str) -> Iterator[None]:
    """A method's demo under its progress display; torch's CPU thread count is put back afterwards, so a
    method that sets its own (CMPC's preset asks for one thread) does not slow down the methods after it."""
    import torch

    from xgeo.core.progress import epoch_progress

    threads = torch.get_num_threads()
    try:
        with epoch_progress(name):
            yield
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace) -> int:
    workdir = check_output_dir(args.workdir, "--workdir")
    methods = installed_methods()
    if args.methods:
        missing = sorted(set(args.methods) - set(methods))
        if missing:
            raise XgeoError(None, f"not installed: {', '.join(missing)}", f"pip install {' '.join('xgeo-' + m for m in missing)}")
        methods = {k: v for k, v in methods.items() if k in args.methods}
    runnable = {k: m for k, m in methods.items() if m.demo is not None}
    results = []
    if args.baseline or not runnable:
        from xgeo.core.demo import run_baseline

        print("running core's two-branch baseline on synthetic CVUSA", flush=True)
        with one_demo("baseline"):
            results.append(run_baseline(workdir / "baseline", seed=args.seed))
    for name, method in runnable.items():
        print(f"running {name} {method.version}", flush=True)
        with one_demo(name):
            results.append(method.demo(workdir / name, args.seed))
    print(format_results(results))
    print(write_outputs(workdir, results))
    return 0
