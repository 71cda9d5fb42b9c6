"""``xgeo report``: metrics, CMC curve, retrieval grid, localisation plots and report.html from two feature files."""

from __future__ import annotations

import argparse

from xgeo.core.checks import arg_type, non_negative, positive
from xgeo.core.evaluate import PROTOCOLS
from xgeo.core.metrics import PERCENT_CONVENTIONS


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``xgeo report``."""
    parser.add_argument("--query", required=True, metavar="Q.h5", help="query feature file (xgeo.features/1)")
    parser.add_argument("--gallery", required=True, metavar="G.h5", help="gallery feature file (xgeo.features/1)")
    parser.add_argument("--protocol", required=True, choices=sorted(PROTOCOLS), help="evaluation protocol")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for report.html, metrics.json and the plots")
    parser.add_argument("--queries", type=arg_type(int, positive), default=8, help="queries shown in the retrieval grid")
    parser.add_argument("--top", type=arg_type(int, positive), default=5, help="gallery entries shown per query")
    parser.add_argument("--seed", type=arg_type(int, non_negative), default=0, help="which queries are sampled")
    parser.add_argument("--percent-convention", choices=sorted(PERCENT_CONVENTIONS), default=None,
                        help="override the protocol's R@1 percent convention")


def run(args: argparse.Namespace) -> int:
    """Write the report; print what was skipped and where the page is (last line)."""
    from xgeo.core.report import write_report

    report = write_report(args.query, args.gallery, args.protocol, args.out, queries=args.queries, top=args.top,
                          seed=args.seed, percent_convention=args.percent_convention, flag="--out")
    for line in report.skipped:
        print(line)
    print(report.html)
    return 0
