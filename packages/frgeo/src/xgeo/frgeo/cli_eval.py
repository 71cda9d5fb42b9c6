"""``frgeo-eval``: evaluate a checkpoint and write query/gallery features for ``xgeo evaluate``.

Accepts checkpoints written by ``frgeo-train`` (they describe their own model) and releases of
the original FRGeo code (ConvNeXt-T; pass ``--dataset`` and, for VIGOR, ``--cross``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from xgeo.core.errors import cli_entry
from xgeo.frgeo.config import Options
from xgeo.frgeo.profiles import PERCENT_CONVENTION, PROFILES, get_profile

BOOL = argparse.BooleanOptionalAction


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="frgeo-eval", description="Evaluate an FRGeo checkpoint; write query.h5, gallery.h5 and eval_metrics.json."
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="checkpoint file, or a --save_path folder (model_best.pth.tar, else checkpoint.pth.tar)",
    )
    p.add_argument("--data-root", dest="data_root", required=True, metavar="DIR")
    p.add_argument("--dataset", choices=sorted(PROFILES), required=True)
    p.add_argument("--cross", action=BOOL, default=False, help="VIGOR cross-area protocol")
    p.add_argument("--split", help="split to evaluate (default: the one evaluated during training)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: features-<split> next to the checkpoint)")
    p.add_argument("-b", "--batch-size", dest="batch_size", type=int, default=32)
    p.add_argument("-j", "--workers", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--gpu", type=int)
    p.add_argument("--backbone", default="convnext_tiny", help="only for original releases, which do not record it")
    p.add_argument("--dim", type=int, help="optional check of the descriptor size")
    return p


def run(args: argparse.Namespace) -> int:
    from xgeo.frgeo.runner import evaluate_checkpoint, format_metrics, resolve_checkpoint, say

    opts = Options(
        data_root=args.data_root,
        dataset=args.dataset,
        cross=args.cross,
        backbone=args.backbone,
        dim=args.dim,
        eval_batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
        gpu=args.gpu,
    )
    split = args.split or get_profile(args.dataset).eval_split
    checkpoint = resolve_checkpoint(args.checkpoint)
    out = Path(args.out) if args.out else checkpoint.parent / f"features-{split}"
    result = evaluate_checkpoint(opts, checkpoint, out, split)
    say(f"{args.dataset} {split} ({result['queries']} queries, {result['gallery']} references): {format_metrics(result)}")
    if "query_features" in result:
        protocol = get_profile(args.dataset).protocol
        say(
            f"features: {result['query_features']} {result['gallery_features']} "
            f"(xgeo evaluate --query {result['query_features']} --gallery {result['gallery_features']} "
            f"--protocol {protocol} --percent-convention {PERCENT_CONVENTION})"
        )
    return 0


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``frgeo-eval``."""
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
