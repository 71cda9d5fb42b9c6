"""The console scripts ``frgeo-train`` and ``frgeo-eval``.

``frgeo-train`` accepts every flag of the original ``train.py``, so its README commands can be
pasted (add ``--data-root``). New flags: ``--data-root``, ``--config``, ``--pretrained``,
``--backbone``, ``--overwrite`` and a few run controls. Flags override the preset; only flags
actually typed count. ``frgeo-eval`` evaluates a checkpoint and writes features for
``xgeo evaluate``; it also reads releases of the original code (ConvNeXt-T).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xgeo.core.checks import arg_type, check_output_dir, device, non_negative, positive
from xgeo.core.console import ArgumentParser, Command, typed_options
from xgeo.core.errors import XgeoError
from xgeo.core.presets import Config, preset_names
from xgeo.core.presets import resolve as resolve_config
from xgeo.core.runs import format_metrics, resolve_checkpoint, say
from xgeo.core.train.launch import DistFlags, add_dist_flags, plan_launch
from xgeo.frgeo.config import OPS, SCHEMA, resolve
from xgeo.frgeo.data import PROFILES

BOOL = argparse.BooleanOptionalAction


def _dim(value: str) -> int | None:
    return None if value.lower() in ("auto", "none") else int(value)


def configure_train(p: ArgumentParser) -> None:
    """All flags of ``frgeo-train``; defaults are suppressed so the namespace holds only what was typed."""
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
    new.add_argument("--overwrite", action="store_true", help="replace a finished run in --save_path (else refused)")
    new.add_argument("--report", dest="_report", metavar="DIR",
                     help="at the end, write xgeo's report (report.html, plots) of the best checkpoint into DIR")

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
    orig.add_argument("--seed", type=int)
    add_dist_flags(orig)  # --world-size --rank --dist-url --dist-backend --gpu --gpu_ids --multiprocessing-distributed
    orig.add_argument("-e", "--evaluate", action="store_true", help="evaluate <save_path>/checkpoint.pth.tar and write features")
    orig.add_argument("--dim", type=_dim, help="descriptor size; must equal 4 × backbone channels (3072 for ConvNeXt-T)")
    orig.add_argument("--cos", action=BOOL, help="cosine learning-rate schedule")
    orig.add_argument("--cross", action=BOOL, help="VIGOR cross-area protocol")
    orig.add_argument("--dataset", choices=PROFILES.names())
    orig.add_argument("--op", choices=sorted(OPS), help="optimizer; sam = (A)SAM over AdamW")
    orig.add_argument("--share", action="store_true", help="accepted; no effect (as in the original)")
    orig.add_argument("--mining", action=BOOL, help="hard-negative mining")
    orig.add_argument("--asam", action=BOOL, help="adaptive SAM")
    orig.add_argument("--rho", type=float)
    orig.add_argument("--fov", type=int, metavar="DEG", help="limited field of view (0 = full panorama)")


def place(config: Config, argv: list[str]) -> int | None:
    """Re-launch under torchrun (its exit code) or pin this process's device (``None``: run here)."""
    launch = plan_launch(DistFlags.from_args(config.run), argv, __name__, single_process=config.run.evaluate)
    code = launch.execute()
    if code is None and launch.device is not None:
        if not device(launch.device):
            flag = f"--gpu {config.run.gpu}" if config.run.gpu is not None else f"--gpu_ids {config.run.gpu_ids}"
            raise XgeoError(None, f"{flag}: {launch.device} is not available here", "use --device cpu, or a GPU this machine has")
        config.train.device = launch.device
    return code


def run_train(args: argparse.Namespace) -> int:
    """Evaluate (``-e``) or train."""
    from xgeo.frgeo.run import evaluate, train

    config = resolve(typed_options(args))
    report_dir = getattr(args, "_report", None)
    if report_dir is not None:
        report_dir = check_output_dir(report_dir, "--report")
    code = place(config, args._argv)
    if code is not None:
        return code
    if config.run.start_epoch:
        say(f"--start-epoch {config.run.start_epoch} ignored: the first epoch is 0, or the checkpoint's epoch with --resume")
    if config.run.evaluate:
        save = check_output_dir(config.train.out_dir or ".", "--save_path")
        checkpoint = resolve_checkpoint(config.train.resume or save / "checkpoint.pth.tar", "frgeo-train")
        result = evaluate(config, checkpoint, save, report_dir=report_dir)
        say(f"{config.data.dataset} {result['split']} ({result['queries']} queries, {result['gallery']} references): "
            f"{format_metrics(result)}")
        if result.get("report"):
            say(f"report: {result['report']}")
        return 0
    metrics = train(config)
    say(f"done: {format_metrics(metrics)}  ->  {Path(config.train.out_dir) / 'metrics.json'}")
    if report_dir is not None:
        from xgeo.frgeo.run import report_best

        html = report_best(config, report_dir)
        if html:
            say(f"report of the best checkpoint: {html}")
    return 0


def configure_eval(p: ArgumentParser) -> None:
    """The options of ``frgeo-eval``."""
    count = arg_type(int, positive)
    p.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="checkpoint file, or a --save_path folder (model_best.pth.tar, else checkpoint.pth.tar)",
    )
    p.add_argument("--data-root", dest="data_root", required=True, metavar="DIR")
    p.add_argument("--dataset", choices=PROFILES.names(), required=True)
    p.add_argument("--cross", action=BOOL, default=False, help="VIGOR cross-area protocol")
    p.add_argument("--split", help="split to evaluate (default: the one evaluated during training)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: features-<split> next to the checkpoint)")
    p.add_argument("--report", metavar="DIR", help="also write xgeo's report (report.html, CMC, retrieval grid) into DIR")
    p.add_argument("-b", "--batch-size", dest="eval_batch_size", type=count, default=32)
    p.add_argument("-j", "--workers", type=arg_type(int, non_negative), default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--gpu", type=int)
    p.add_argument("--backbone", default="convnext_tiny", help="only for original releases, which do not record it")
    p.add_argument("--dim", type=count, help="optional check of the descriptor size")


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint; print its metrics and the matching ``xgeo evaluate`` command."""
    from xgeo.frgeo.run import evaluate

    given = typed_options(args)
    checkpoint, split, out, report = given.pop("checkpoint"), given.pop("split"), given.pop("out"), given.pop("report")
    report_dir = check_output_dir(report, "--report") if report is not None else None
    config = resolve_config(SCHEMA, given | {"evaluate": True})  # defaults and flags; no preset
    place(config, [])
    profile = PROFILES.get(config.data.dataset)
    split = split or profile.eval_split
    checkpoint = resolve_checkpoint(checkpoint, "frgeo-train")
    out_dir = check_output_dir(out or checkpoint.parent / f"features-{split}", "--out")
    result = evaluate(config, checkpoint, out_dir, split, report_dir=report_dir)
    say(f"{config.data.dataset} {split} ({result['queries']} queries, {result['gallery']} references): {format_metrics(result)}")
    if "query_features" in result:
        say(
            f"features: {result['query_features']} {result['gallery_features']} "
            f"(xgeo evaluate --query {result['query_features']} --gallery {result['gallery_features']} "
            f"--protocol {profile.protocol} --percent-convention {profile.percent_convention})"
        )
    if result.get("report"):
        say(f"report: {result['report']}")
    return 0


TRAIN = Command(
    "frgeo-train",
    f"Train (or with -e evaluate) FRGeo on CVUSA, CVACT or VIGOR. Presets: {', '.join(preset_names(SCHEMA))}; "
    "without --config the paper preset of --dataset is used.",
    configure_train,
    run_train,
    argument_default=argparse.SUPPRESS,
)
EVAL = Command(
    "frgeo-eval",
    "Evaluate an FRGeo checkpoint; write query.h5, gallery.h5 and eval_metrics.json.",
    configure_eval,
    run_eval,
)
COMMANDS = {"train": TRAIN, "eval": EVAL}


def train_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``frgeo-train``."""
    return TRAIN.main(argv)


def eval_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``frgeo-eval``."""
    return EVAL.main(argv)


if __name__ == "__main__":  # python -m xgeo.frgeo.cli [train|eval] ... (train by default: what torchrun launches)
    argv = sys.argv[1:]
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    raise SystemExit(COMMANDS[name].main(argv))
