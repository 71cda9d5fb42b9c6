"""``frgeo-train``: the original ``train.py`` command line on core's Trainer.

Every flag of the original script is accepted, so its README commands can be pasted (add
``--data-root``). New flags: ``--data-root``, ``--config``, ``--pretrained``, ``--backbone`` and a
few run controls. Flags override the preset; only flags actually typed count.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xgeo.core.errors import cli_entry
from xgeo.core.train.launch import DistFlags, add_dist_flags, plan_launch
from xgeo.frgeo.config import Options, preset_names, resolve
from xgeo.frgeo.optim import OPS
from xgeo.frgeo.profiles import PROFILES

BOOL = argparse.BooleanOptionalAction


def _dim(value: str) -> int | None:
    return None if value.lower() in ("auto", "none") else int(value)


def build_parser() -> argparse.ArgumentParser:
    """All flags; defaults are suppressed so the namespace holds only what the user typed."""
    p = argparse.ArgumentParser(
        prog="frgeo-train",
        argument_default=argparse.SUPPRESS,
        description="Train (or with -e evaluate) FRGeo on CVUSA, CVACT or VIGOR. "
        f"Presets: {', '.join(preset_names())}; without --config the paper preset of --dataset is used.",
    )
    new = p.add_argument_group("xgeo")
    new.add_argument("--data-root", dest="data_root", metavar="DIR", help="dataset folder in its original layout")
    new.add_argument("--config", metavar="PRESET", help="preset name or YAML file; flags override it")
    new.add_argument(
        "--pretrained", metavar="PATH", help="local ImageNet ConvNeXt checkpoint (.safetensors/.pth) for both branches"
    )
    new.add_argument("--backbone", metavar="NAME", help="timm ConvNeXt (default convnext_tiny)")
    new.add_argument("--ground-size", dest="ground_size", type=int, nargs=2, metavar=("H", "W"), help="panorama input size")
    new.add_argument("--aerial-size", dest="aerial_size", type=int, nargs=2, metavar=("H", "W"), help="aerial input size")
    new.add_argument(
        "--local-batch", dest="local_batch", type=int, metavar="N", help="loss over round-robin sub-batches of N (2-GPU parity)"
    )
    new.add_argument("--alpha", type=float, help="WBL weight (10)")
    new.add_argument("--eval-batch-size", dest="eval_batch_size", type=int, metavar="N")
    new.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, metavar="STEPS", help="also checkpoint mid-epoch")
    new.add_argument("--max-steps", dest="max_steps", type=int, metavar="N", help="stop after N optimizer steps")
    new.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    new.add_argument("--progress", action=BOOL, help="progress bar")
    new.add_argument("--frm", choices=["branch", "by-shape"], help="FRM variant per branch (default) or by map shape (original)")
    new.add_argument("--mining-start", dest="mining_start", type=int, metavar="EPOCH")
    new.add_argument("--pool-size", dest="pool_size", type=int, metavar="N")
    new.add_argument("--top-k", dest="top_k", type=int, metavar="K")

    orig = p.add_argument_group("original train.py flags")
    orig.add_argument("-j", "--workers", type=int, metavar="N", help="data loading workers")
    orig.add_argument("--epochs", type=int, metavar="N")
    orig.add_argument("--start-epoch", dest="start_epoch", type=int, metavar="N", help="accepted; the epoch comes from --resume")
    orig.add_argument("-b", "--batch-size", dest="batch_size", type=int, metavar="N", help="total batch over all processes")
    orig.add_argument("--lr", "--learning-rate", dest="lr", type=float, metavar="LR")
    orig.add_argument("--momentum", type=float, metavar="M")
    orig.add_argument("--wd", "--weight-decay", dest="wd", type=float, metavar="W")
    orig.add_argument("-p", "--print-freq", dest="print_freq", type=int, metavar="N")
    orig.add_argument("--resume", metavar="PATH", help="checkpoint (or run folder) to continue, mining state included")
    orig.add_argument("--save_path", "--save-path", dest="save_path", metavar="DIR")
    add_dist_flags(orig)  # --world-size --rank --dist-url --dist-backend --gpu --gpu_ids --multiprocessing-distributed
    orig.add_argument("--seed", type=int)
    orig.add_argument("-e", "--evaluate", action="store_true", help="evaluate <save_path>/checkpoint.pth.tar and write features")
    orig.add_argument("--dim", type=_dim, help="descriptor size; must equal 4 × backbone channels (3072 for ConvNeXt-T)")
    orig.add_argument("--cos", action=BOOL, help="cosine learning-rate schedule")
    orig.add_argument("--cross", action=BOOL, help="VIGOR cross-area protocol")
    orig.add_argument("--dataset", choices=sorted(PROFILES))
    orig.add_argument("--op", choices=sorted(OPS), help="optimizer; sam = (A)SAM over AdamW")
    orig.add_argument("--share", action="store_true", help="accepted; no effect (as in the original)")
    orig.add_argument("--mining", action=BOOL, help="hard-negative mining")
    orig.add_argument("--asam", action=BOOL, help="adaptive SAM")
    orig.add_argument("--rho", type=float)
    orig.add_argument("--fov", type=int, metavar="DEG", help="limited field of view (0 = full panorama)")
    return p


def parse(argv: Sequence[str] | None = None) -> Options:
    """Resolved options for a command line."""
    given: dict[str, Any] = vars(build_parser().parse_args(argv))
    return resolve(given)


def run(opts: Options, argv: Sequence[str]) -> int:
    """Evaluate (``-e``) or train; returns the exit code."""
    from xgeo.frgeo.runner import evaluate_checkpoint, format_metrics, run_training, say

    launch = plan_launch(DistFlags.from_args(opts), argv, "xgeo.frgeo.cli_train", single_process=opts.evaluate)
    code = launch.execute()
    if code is not None:
        return code
    if launch.device is not None:
        opts = opts.replace(device=launch.device)
    if opts.start_epoch:
        say(f"--start-epoch {opts.start_epoch} ignored: the first epoch is 0, or the checkpoint's epoch with --resume")
    if opts.evaluate:
        save = Path(opts.save_path or ".")
        checkpoint = Path(opts.resume) if opts.resume else save / "checkpoint.pth.tar"
        result = evaluate_checkpoint(opts, checkpoint, save)
        sizes = f"{result['queries']} queries, {result['gallery']} references"
        say(f"{opts.dataset} {result['split']} ({sizes}): {format_metrics(result)}")
        return 0
    metrics = run_training(opts)
    say(f"done: {format_metrics(metrics)}  ->  {Path(opts.save_path) / 'metrics.json'}")
    return 0


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point of ``frgeo-train``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run(parse(argv), argv)


if __name__ == "__main__":
    raise SystemExit(main())
