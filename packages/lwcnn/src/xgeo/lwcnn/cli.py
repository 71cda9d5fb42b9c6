"""The console scripts ``lwcnn-train`` and ``lwcnn-test``.

``lwcnn-train`` accepts every flag of the original ``script/etc/parser.py`` (so the commands of
``train_*.sh`` / ``test_*.sh`` can be pasted; ``--gpu 0`` is an alias of ``--gpu_ids``). New
flags: ``--config``, ``--pretrained``, ``--resume``, ``--attention`` and a few run controls.
Flags override the preset; only flags actually typed count. ``--test`` evaluates ``--checkpoint``
like ``test_*.sh``. ``lwcnn-test`` evaluates a checkpoint (ours or the authors' release) and
writes features for ``xgeo evaluate`` / ``xgeo localize``.
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
from xgeo.core.train.launch import DistFlags, gpu_ids, plan_launch
from xgeo.lwcnn.config import DATASETS, SCHEMA, resolve
from xgeo.lwcnn.data import PROFILES

BOOL = argparse.BooleanOptionalAction
REVERSE_KEYS = ("a2g_R@1", "a2g_R@5", "a2g_R@10", "a2g_R@1%")


def _add_model_flags(group: argparse._ArgumentGroup) -> None:
    """The original input-size and head flags (they size the SA layers)."""
    for name in ("sat_size_h", "sat_size_w", "grd_size_h", "grd_size_w"):
        group.add_argument(f"--{name}", type=lambda v: int(float(v)), metavar="PX", help="network input size (multiple of 8)")
    group.add_argument("--sa_num", type=lambda v: int(float(v)), metavar="K", help="attention heads (8)")


def _add_gpu_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--gpu_ids", "--gpu", dest="gpu_ids", type=arg_type(gpu_ids), metavar="IDS",
        help="GPU ids, e.g. 0 or 0,1 (one process per GPU through torchrun); -1: the CPU. --gpu is the same flag",
    )


def configure_train(p: ArgumentParser) -> None:
    """All flags of ``lwcnn-train``; defaults are suppressed so the namespace holds only what was typed."""
    new = p.add_argument_group("xgeo")
    new.add_argument("--config", metavar="PRESET", help=f"preset ({', '.join(preset_names(SCHEMA))}) or YAML file")
    new.add_argument("--pretrained", metavar="PATH", help="local torchvision ResNet-34 weights for both backbones")
    new.add_argument("--resume", metavar="PATH", help="lwcnn-train checkpoint or run folder to continue (Adam state included)")
    new.add_argument("--overwrite", action="store_true", help="replace a finished run in --results_dir (else refused)")
    new.add_argument("--data-root", dest="data_root", metavar="DIR", help="dataset folder (instead of --data_root_cvusa/cvact)")
    new.add_argument("--dataset", choices=DATASETS, help="instead of --CVUSA/--CVACT")
    new.add_argument("--layout", choices=["auto", "original", "flat"], help="folders: original or flat (grd/, sat/); auto")
    new.add_argument("--attention", choices=["fc", "none"], help="fc: the SA module (default); none: channel-max map only")
    new.add_argument("--mask-mode", dest="mask_mode", choices=["exclude", "faithful"], help="CVACT 25 m mask arithmetic")
    new.add_argument("--negative-radius", dest="negative_radius", type=float, metavar="M", help="CVACT mask radius (25)")
    new.add_argument("--max-steps", dest="max_steps", type=int, metavar="N", help="stop after N optimizer steps")
    new.add_argument("--log-every", dest="log_every", type=int, metavar="N")
    new.add_argument("-j", "--workers", type=int, metavar="N", help="data loading workers (0)")
    new.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    new.add_argument("--progress", action=BOOL, help="progress bar")

    orig = p.add_argument_group("original parser.py flags")
    orig.add_argument("-o", "--results_dir", metavar="DIR", help="run folder: checkpoints, metrics.json (./RESULTS)")
    orig.add_argument("--name", help="accepted; unused (as in the original)")
    orig.add_argument("--seed", type=int)
    _add_gpu_flags(orig)
    orig.add_argument("--isTrain", action="store_true", help="accepted; no effect")
    orig.add_argument("--start_epoch", type=int, help="accepted; the epoch comes from --resume")
    orig.add_argument("--debug", action="store_true", help="accepted; use --max-steps for short runs")
    orig.add_argument("--test", action="store_true", help="evaluate --checkpoint and write features instead of training")
    orig.add_argument("--CVUSA", action="store_true")
    orig.add_argument("--CVACT", action="store_true", help="wins over --CVUSA")
    orig.add_argument("--data_root_cvusa", metavar="DIR")
    orig.add_argument("--data_root_cvact", metavar="DIR")
    orig.add_argument("--train_csv", help="only train-19zl.csv")
    orig.add_argument("--val_csv", help="only val-19zl.csv")
    orig.add_argument("--mat_list", help="only ACT_data.mat")
    orig.add_argument("--save_step", type=int, help="accepted; checkpoint.pth.tar is written every epoch")
    orig.add_argument("--checkpoint", metavar="PATH", help="weights to test (--test) or to start from; authors' releases too")
    _add_model_flags(orig)
    orig.add_argument("--n_epochs", type=int)
    orig.add_argument("--batch_size", type=int)
    orig.add_argument("--batch_size_val", type=int)
    orig.add_argument("--lr", type=float)
    orig.add_argument("--b1", type=float)
    orig.add_argument("--b2", type=float)
    orig.add_argument("--lambda_sm", type=float)
    orig.add_argument("--hard_topk_ratio", type=float)
    orig.add_argument("--hard_decay1_topk_ratio", type=float)
    orig.add_argument("--hard_decay2_topk_ratio", type=float)
    orig.add_argument("--hard_decay3_topk_ratio", type=float)


def place(config: Config, argv: list[str], single_process: bool) -> int | None:
    """Re-launch under torchrun (its exit code) or pin this process's device (``None``: run here)."""
    launch = plan_launch(DistFlags.from_args(config.run), argv, __name__, single_process=single_process)
    code = launch.execute()
    if code is None and launch.device is not None:
        if not device(launch.device):
            raise XgeoError(None, f"--gpu_ids {config.run.gpu_ids}: {launch.device} is not available here",
                            "use --gpu_ids -1 or --device cpu, or a GPU this machine has")
        config.train.device = launch.device
    return code


def _report(config: Config, result: dict) -> None:
    say(f"{config.data.dataset} {result['split']} ({result['queries']} queries, {result['gallery']} references)")
    say(f"  ground->aerial: {format_metrics(result)}")
    say(f"  aerial->ground: {format_metrics({k[4:]: result[k] for k in REVERSE_KEYS if k in result})}")
    if "query_features" in result:
        say(f"features: {result['query_features']} {result['gallery_features']}")


def run_train(args: argparse.Namespace) -> int:
    """Evaluate (``--test``) or train."""
    from xgeo.lwcnn.run import evaluate, train

    config = resolve(typed_options(args))
    code = place(config, args._argv, single_process=config.run.test)
    if code is not None:
        return code
    if config.run.start_epoch:
        say(f"--start_epoch {config.run.start_epoch} ignored: the first epoch is 0, or the checkpoint's epoch with --resume")
    if config.run.test:
        if not config.run.checkpoint:
            raise XgeoError(None, "--test needs the weights to evaluate", "pass --checkpoint PATH")
        out = check_output_dir(config.train.out_dir, "--results_dir")
        _report(config, evaluate(config, config.run.checkpoint, out))
        return 0
    metrics = train(config)
    say(f"done: {format_metrics(metrics)}  ->  {Path(config.train.out_dir) / 'metrics.json'}")
    return 0


def configure_test(p: ArgumentParser) -> None:
    """The options of ``lwcnn-test``."""
    count = arg_type(int, positive)
    p.add_argument("--checkpoint", required=True, metavar="PATH",
                   help="lwcnn-train checkpoint or run folder (model_best, else checkpoint), or cvusa.pth/cvact.pth")
    p.add_argument("--data-root", dest="data_root", metavar="DIR")
    p.add_argument("--data_root_cvusa", metavar="DIR")
    p.add_argument("--data_root_cvact", metavar="DIR")
    p.add_argument("--dataset", choices=DATASETS)
    p.add_argument("--CVUSA", action="store_true")
    p.add_argument("--CVACT", action="store_true", help="wins over --CVUSA")
    p.add_argument("--layout", choices=["auto", "original", "flat"], default="auto", help="folders (flat: grd/, sat/)")
    p.add_argument("--split", help="split to evaluate (default: the one evaluated during training)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: features-<split> next to the checkpoint)")
    p.add_argument("--batch_size_val", "--batch-size", dest="batch_size_val", type=count, default=32)
    p.add_argument("-j", "--workers", type=arg_type(int, non_negative), default=0)
    p.add_argument("--device", default="auto")
    _add_gpu_flags(p)
    p.add_argument("--attention", choices=["fc", "none"], help="only for the authors' releases (fc)")
    _add_model_flags(p)


def run_test(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint; print both directions and the feature files."""
    from xgeo.lwcnn.run import evaluate

    given = {k: v for k, v in typed_options(args).items() if v is not None and v is not False}
    checkpoint, split, out = given.pop("checkpoint"), given.pop("split", None), given.pop("out", None)
    config = resolve_config(SCHEMA, given | {"test": True})  # defaults and flags; no preset
    place(config, [], single_process=True)
    profile = PROFILES.get(config.data.dataset)
    split = split or profile.eval_split
    checkpoint = resolve_checkpoint(checkpoint, "lwcnn-train")
    out_dir = check_output_dir(out or checkpoint.parent / f"features-{split}", "--out")
    result = evaluate(config, checkpoint, out_dir, split)
    _report(config, result)
    say(f"xgeo evaluate --query {out_dir / 'query.h5'} --gallery {out_dir / 'gallery.h5'} --protocol crossview "
        f"--percent-convention {profile.percent_convention}")
    return 0


TRAIN = Command(
    "lwcnn-train",
    f"Train (or with --test evaluate) the lightweight CNN on CVUSA or CVACT. Presets: {', '.join(preset_names(SCHEMA))}; "
    "without --config the paper preset of --CVUSA/--CVACT is used.",
    configure_train,
    run_train,
    argument_default=argparse.SUPPRESS,
)
TEST = Command(
    "lwcnn-test",
    "Evaluate a lightweight-CNN checkpoint (both directions); write query.h5, gallery.h5 and eval_metrics.json.",
    configure_test,
    run_test,
)
COMMANDS = {"train": TRAIN, "test": TEST}


def train_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``lwcnn-train``."""
    return TRAIN.main(argv)


def test_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``lwcnn-test``."""
    return TEST.main(argv)


if __name__ == "__main__":  # python -m xgeo.lwcnn.cli [train|test] ... (train by default: what torchrun launches)
    argv = sys.argv[1:]
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    raise SystemExit(COMMANDS[name].main(argv))
