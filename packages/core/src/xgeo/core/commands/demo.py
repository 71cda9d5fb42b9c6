"""``xgeo demo``: every installed method end to end on a synthetic world, in one table."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from xgeo.core.checks import arg_type, check_output_dir, non_negative
from xgeo.core.errors import XgeoError
from xgeo.core.methods import DemoResult, installed_methods

COLUMNS = ("R@1", "R@5", "R@10", "R@1%", "hit")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--methods", nargs="+", metavar="NAME", help="only these installed methods (default: all)")
    parser.add_argument("--baseline", action="store_true", help="also run core's two-branch baseline")
    parser.add_argument("--workdir", type=Path, help="keep the synthetic data and runs here (default: a temporary folder)")
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


def run(args: argparse.Namespace) -> int:
    if args.workdir is not None:
        check_output_dir(args.workdir, "--workdir")
    methods = installed_methods()
    if args.methods:
        missing = sorted(set(args.methods) - set(methods))
        if missing:
            raise XgeoError(None, f"not installed: {', '.join(missing)}", f"pip install {' '.join('xgeo-' + m for m in missing)}")
        methods = {k: v for k, v in methods.items() if k in args.methods}
    runnable = {k: m for k, m in methods.items() if m.demo is not None}
    with tempfile.TemporaryDirectory(prefix="xgeo-demo-") as tmp:
        workdir = args.workdir or Path(tmp)
        results = []
        if args.baseline or not runnable:
            from xgeo.core.demo import run_baseline

            print("running core's two-branch baseline on synthetic CVUSA", flush=True)
            results.append(run_baseline(workdir / "baseline", seed=args.seed))
        for name, method in runnable.items():
            print(f"running {name} {method.version}", flush=True)
            results.append(method.demo(workdir / name, args.seed))
    print(format_results(results))
    return 0
