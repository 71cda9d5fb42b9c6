"""The console scripts ``hvsa-train``, ``hvsa-eval`` and ``hvsa-search``.

``hvsa-train --config configs/HVSA_rsitmd.yaml`` and ``hvsa-eval --config ...`` take the original
commands (a config in the original layout, or a shipped preset by name: ``rsitmd``, ``rsicd``,
``demo``), plus ``--data-root`` in place of the config's hard-coded data paths. Flags override the
config; only flags actually typed count. ``hvsa-search "free text" --checkpoint C --gallery G.h5``
ranks the images of a feature file for a sentence.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from xgeo.core.checks import arg_type, check_output_dir, in_range, positive
from xgeo.core.console import ArgumentParser, Command, typed_options
from xgeo.core.errors import XgeoError
from xgeo.core.presets import preset_names
from xgeo.core.runs import say
from xgeo.hvsa.config import SCHEMA, resolve

BOOL = argparse.BooleanOptionalAction


def _common(p: ArgumentParser) -> None:
    p.add_argument("--config", metavar="PRESET", help=f"preset ({', '.join(preset_names(SCHEMA))}) or YAML file, "
                   "ours or the original configs/HVSA_*.yaml")
    p.add_argument("--data-root", dest="data_root", metavar="DIR",
                   help="dataset folder (train_caps.txt, test_caps.txt, ... or dataset_*.json; images/)")
    p.add_argument("--dataset", choices=["rsitmd", "rsicd"])
    p.add_argument("--save-path", "--save_path", dest="save_path", metavar="DIR", help="experiment folder (run0, run1, ...)")
    p.add_argument("--form", choices=["auto", "precomp", "json"], help="which dataset files to read (default auto)")
    p.add_argument("--image-dir", dest="image_dir", metavar="DIR", help="image folder (default images/ under the root)")
    p.add_argument("--vocab", metavar="JSON", help="AMFMN vocabulary (default: the root's vocab/, else built from train)")
    p.add_argument("--runs", type=arg_type(int, positive), help="number of seeded runs")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED", help="one seed per run")
    p.add_argument("--eval-batch-size", dest="eval_batch_size", type=int, metavar="N")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    p.add_argument("-j", "--workers", type=int, metavar="N", help="data loading workers")


def configure_train(p: ArgumentParser) -> None:
    """All flags of ``hvsa-train``; defaults are suppressed so the namespace holds only what was typed."""
    _common(p)
    p.add_argument("--pretrained", metavar="PATH", help="local ImageNet ResNet-18 weights (.pth/.safetensors)")
    p.add_argument("--pretrained-text", dest="pretrained_text", metavar="DIR",
                   help="local skip-thoughts folder (dictionary.txt, utable.npy, uni_skip.npz)")
    p.add_argument("--val-ratio", dest="val_ratio", type=float, metavar="R", help="train share of the image-level split (0.9)")
    p.add_argument("--curriculum", choices=["none", "linear"], help="none: the released per-pair weight (default); "
                   "linear: beta moves from loss.beta_start to loss.beta_end over loss.pace_epochs")
    p.add_argument("--weighting", choices=["learned", "equal"],
                   help="learned: the released softmax-MLP mix of the two losses (default); equal: 1/2, 1/2")
    p.add_argument("--epochs", type=int, metavar="N")
    p.add_argument("--lr", type=float)
    p.add_argument("-b", "--batch-size", dest="batch_size", type=int, metavar="N", help="captions per batch")
    p.add_argument("--image-size", dest="image_size", type=int, metavar="PX")
    p.add_argument("--max-rotation", dest="max_rotation", type=float, metavar="DEG",
                   help="training rotation range [0, DEG] (90, the original's; 0 when captions name places)")
    p.add_argument("--alpha", type=float, help="hinge margin (0.2)")
    p.add_argument("--beta", type=float, help="difficulty weight e^(-beta c) (0.5)")
    p.add_argument("--gamma", type=float, help="uniformity gamma (2)")
    p.add_argument("--max-steps", dest="max_steps", type=int, metavar="N", help="stop each run after N optimizer steps")
    p.add_argument("--progress", action=BOOL, help="progress bar")
    p.add_argument("--overwrite", action="store_true", help="replace a finished experiment in --save-path")


def run_train(args: argparse.Namespace) -> int:
    """Train the seeded runs and print the averaged test metrics."""
    from xgeo.hvsa.run import SUMMARY_FILE, format_text_metrics, train

    config = resolve(typed_options(args))
    check_output_dir(config.train.out_dir or ".", "--save-path")
    mean = train(config)
    say(f"mean over {config.run.runs} run(s) on test: {format_text_metrics(mean)}  ->  "
        f"{Path(config.train.out_dir) / SUMMARY_FILE}")
    return 0


def configure_eval(p: ArgumentParser) -> None:
    """The options of ``hvsa-eval``."""
    _common(p)
    p.add_argument("--checkpoint", metavar="PATH", help="evaluate this checkpoint (file or run folder) instead of every run")
    p.add_argument("--split", choices=["train", "val", "test"], help="split for --checkpoint (default test)")
    p.add_argument("--out", metavar="DIR", help="features folder for --checkpoint (default features-<split> next to it)")
    p.add_argument("--examples", type=arg_type(int, in_range(0, 100)), help="example retrievals to print (3)")


def _print_result(result: dict, label: str) -> None:
    from xgeo.hvsa.run import format_text_metrics

    say(f"{label}: {format_text_metrics(result)}")
    for line in result.get("examples", []):
        say(f"  {line}")
    if "image_features" in result:
        say(f"  features: {result['image_features']} (images) {result['caption_features']} (captions); "
            f"xgeo evaluate --query {result['image_features']} --gallery {result['caption_features']} --protocol text-image")


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate every run's best checkpoint (or one ``--checkpoint``) on the test split."""
    from xgeo.core.runs import resolve_checkpoint
    from xgeo.hvsa.data import open_split
    from xgeo.hvsa.run import evaluate_checkpoint, evaluate_runs, format_text_metrics

    given = typed_options(args)
    checkpoint, split, out = given.pop("checkpoint", None), given.pop("split", None) or "test", given.pop("out", None)
    config = resolve(given)
    if checkpoint is None:
        if not config.train.out_dir:
            raise XgeoError(None, "no experiment folder", "pass --save-path DIR of hvsa-train, or --checkpoint PATH")
        result = evaluate_runs(config)
        for k, run in enumerate(result["runs"]):
            _print_result(run, f"run {k + 1} ({run['checkpoint']})")
        say(f"mean over {len(result['runs'])} run(s): {format_text_metrics(result['mean'])}")
        return 0
    path = resolve_checkpoint(checkpoint, "hvsa-train")
    out_dir = check_output_dir(out or path.parent / f"features-{split}", "--out")
    result = evaluate_checkpoint(path, open_split(config.data, split), config, out_dir)
    _print_result(result, f"{config.data.dataset} {split} ({result['images']} images, {result['captions']} captions)")
    return 0


def configure_search(p: ArgumentParser) -> None:
    """The options of ``hvsa-search``."""
    p.add_argument("text", nargs="+", help="one or more sentences (quote each)")
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="hvsa-train checkpoint or run folder")
    p.add_argument("--gallery", required=True, metavar="H5", help="image features of hvsa-eval (query.h5)")
    p.add_argument("--top-k", dest="top_k", type=arg_type(int, positive), default=5)


def run_search(args: argparse.Namespace) -> int:
    """Print the top-k images for each sentence."""
    from xgeo.hvsa.run import search

    if any(not t.strip() for t in args.text):
        raise XgeoError(None, "an empty sentence", "type some words describing the image")
    for sentence, hits in zip(args.text, search(args.text, args.checkpoint, args.gallery, args.top_k), strict=True):
        print(f'"{sentence}"')
        for rank, (image, score) in enumerate(hits, 1):
            print(f"  {rank:>2}. {image}  cosine {score:.4f}")
    return 0


TRAIN = Command(
    "hvsa-train",
    f"Train HVSA on RSITMD or RSICD: seeded runs, best-rsum checkpoints, averaged test metrics. "
    f"Presets: {', '.join(preset_names(SCHEMA))}.",
    configure_train, run_train, argument_default=argparse.SUPPRESS,
)
EVAL = Command(
    "hvsa-eval",
    "Evaluate HVSA runs (or one checkpoint): i2t/t2i R@1/5/10, rsum, mR; write image and caption features.",
    configure_eval, run_eval, argument_default=argparse.SUPPRESS,
)
SEARCH = Command("hvsa-search", "Rank the images of a feature file for free text.", configure_search, run_search)


def train_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``hvsa-train``."""
    return TRAIN.main(argv)


def eval_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``hvsa-eval``."""
    return EVAL.main(argv)


def search_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``hvsa-search``."""
    return SEARCH.main(argv)
