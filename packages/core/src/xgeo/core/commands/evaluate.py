"""``xgeo evaluate``: retrieval metrics from a query and a gallery feature file."""

from __future__ import annotations

import argparse

from xgeo.core.checks import arg_type, check_output_file, device, positive
from xgeo.core.evaluate import PROTOCOLS, evaluate_files, format_table
from xgeo.core.metrics import PERCENT_CONVENTIONS
from xgeo.core.retrieval import DEFAULT_GALLERY_CHUNK, DEFAULT_QUERY_CHUNK, ENGINES, SearchOptions


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``xgeo evaluate``."""
    parser.add_argument("--query", required=True, metavar="Q.h5", help="query feature file (xgeo.features/1)")
    parser.add_argument("--gallery", required=True, metavar="G.h5", help="gallery feature file (xgeo.features/1)")
    parser.add_argument("--protocol", required=True, choices=sorted(PROTOCOLS),
                        help="; ".join(f"{p.name}: {p.description}" for _, p in PROTOCOLS.items()).replace("%", "%%"))
    parser.add_argument("--percent-convention", choices=sorted(PERCENT_CONVENTIONS), default=None,
                        help="override the protocol's R@1 percent convention (e.g. floor for FRGeo on VIGOR)")
    parser.add_argument("--json", metavar="OUT", help="also write the metrics to this JSON file")
    parser.add_argument("--thresholds", type=arg_type(float, positive), nargs="+", metavar="M",
                        help="metre thresholds for metre-level accuracy (sn6 default: 50 100 150 200)")
    parser.add_argument("--device", type=arg_type(str, device), default=None, help="cpu (default) or cuda[:i]")
    parser.add_argument("--engine", choices=["auto", *ENGINES.names()], default="auto",
                        help="block engine: auto (numpy on the CPU, torch on CUDA), numpy or torch")
    parser.add_argument("--query-chunk", type=arg_type(int, positive), default=DEFAULT_QUERY_CHUNK, help="queries per block")
    parser.add_argument("--gallery-chunk", type=arg_type(int, positive), default=DEFAULT_GALLERY_CHUNK,
                        help="gallery entries per block")


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table and optionally write JSON."""
    if args.json:
        check_output_file(args.json, "--json")  # before any feature is read
    options = SearchOptions(query_chunk=args.query_chunk, gallery_chunk=args.gallery_chunk, device=args.device,
                            engine=args.engine)
    metrics = evaluate_files(args.query, args.gallery, args.protocol, args.thresholds,
                             percent_convention=args.percent_convention, options=options)
    print(format_table(metrics))
    if args.json:
        from xgeo.core.io import write_json  # deferred: xgeo.core.io imports torch

        write_json(args.json, {"protocol": args.protocol, "query": str(args.query), "gallery": str(args.gallery),
                               "metrics": metrics})
    return 0
