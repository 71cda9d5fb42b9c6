"""The console scripts, in the release's form: ``cmpc-train exp_name CONFIG``, ``cmpc-train-emb``,
``cmpc-train-refine`` and ``cmpc-test param_path CONFIG``.

``CONFIG`` is a shipped preset name (``same_advwd_gnn_e2e``, ``demo``), a YAML preset or an original
experiment JSON; typed flags override it. New flags: ``--data-root`` (the release resolved
``data_path`` under the home directory), ``--pretrained PATH``, ``--device``, ``--overwrite`` and run controls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xgeo.cmpc.config import SCHEMA, resolve
from xgeo.core.checks import arg_type, check_output_dir, positive
from xgeo.core.console import ArgumentParser, Command, typed_options
from xgeo.core.presets import preset_names
from xgeo.core.runs import say

BOOL = argparse.BooleanOptionalAction
PRESETS = ", ".join(preset_names(SCHEMA))


def _common(p: ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help=f"preset ({PRESETS}), YAML preset or original experiment JSON")
    g = p.add_argument_group("xgeo")
    g.add_argument("--data-root", dest="data_root", metavar="DIR", help="SN6-CMPC setting folder (e.g. SN6-CMPC/samearea)")
    g.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    g.add_argument("--test-batch", dest="test_batch", type=arg_type(int, positive), metavar="N")
    g.add_argument("--threads", type=arg_type(int, positive), metavar="N", help="torch CPU threads")


def _training(p: ArgumentParser) -> None:
    p.add_argument("exp_name", help="experiment name: the run goes to <result_path>/<exp_name>")
    _common(p)
    g = p.add_argument_group("training")
    g.add_argument("--pretrained", metavar="PATH", help="local ImageNet ResNet checkpoint (.pth/.safetensors)")
    g.add_argument("--result-path", dest="result_path", metavar="DIR", help="output root (config key result_path)")
    g.add_argument("--epochs", type=int, metavar="N", help="epochs of the embedding phase")
    g.add_argument("--refine-epochs", dest="refine_epochs", type=int, metavar="N", help="epochs of the refinement phase")
    g.add_argument("--batch-size", dest="batch_size", type=int, metavar="N")
    g.add_argument("--lr", type=float)
    g.add_argument("--seed", type=int)
    g.add_argument("--max-steps", dest="max_steps", type=int, metavar="N", help="stop each phase after N optimizer steps")
    g.add_argument("--progress", action=BOOL, help="progress bars")
    g.add_argument("--edge-mode", dest="edge_mode", choices=["position", "feature"], help="graph edges (default position)")
    g.add_argument("--reference-compat", dest="reference_compat", action="store_true",
                   help="the release's unit-normalised positions and sigma 0.0005 for edges")
    g.add_argument("--overwrite", action="store_true", help="replace a finished run (else refused)")


def configure_train(p: ArgumentParser) -> None:
    _training(p)
    p.add_argument("--resume", metavar="PATH", help="continue the embedding phase from a checkpoint or run folder")


def run_train(args: argparse.Namespace) -> int:
    from xgeo.cmpc.run import coarse_summary, train_both

    config = resolve(typed_options(args))
    result = train_both(config)
    say(f"done: {coarse_summary(result['embedding'])}; run in {result['run']} (cmpc-test {result['run']} {args.config})")
    return 0


def configure_emb(p: ArgumentParser) -> None:
    configure_train(p)
    p.add_argument("--output-feat", "--output_feat", dest="output_feat", action="store_true",
                   help="also write the training features (core feature store) for cmpc-train-refine")


def run_emb(args: argparse.Namespace) -> int:
    from xgeo.cmpc.run import apply_threads, coarse_summary, dump_features, prepare_outputs, train_embedding

    given = typed_options(args)
    output_feat = given.pop("output_feat", False)
    config = resolve(given)
    root = prepare_outputs(config, ("embedding",))
    apply_threads(config)
    model, metrics = train_embedding(config, root / "embedding")
    say(f"embedding done: {coarse_summary(metrics)} -> {root / 'embedding'}")
    if output_feat:
        paths = dump_features(config, model, root / config.run.emb_feat)
        say(f"training features: {paths[0]} {paths[1]}")
    return 0


def configure_refine(p: ArgumentParser) -> None:
    _training(p)
    p.add_argument("--param-path", "--param_path", dest="param_path", metavar="CKPT",
                   help="embedding checkpoint (default: <run>/embedding)")
    p.add_argument("--emb-feat-path", "--emb_feat_path", dest="emb_feat_path", metavar="DIR",
                   help="stored training features (default: <run>/<emb_feat>)")


def run_refine(args: argparse.Namespace) -> int:
    from xgeo.cmpc.run import apply_threads, check_features, load_model, prepare_outputs, run_dir, train_refinement

    config = resolve(typed_options(args))
    apply_threads(config)
    root = run_dir(config)
    checkpoint = Path(config.run.param_path or root / "embedding")
    features = check_features(Path(config.run.emb_feat_path or root / config.run.emb_feat))
    model = load_model(checkpoint)
    prepare_outputs(config, ("refine",))
    metrics = train_refinement(config, model, features, root / "refine")
    top1 = metrics.get("train_node0_top1", float("nan"))
    say(f"refinement done: node-0 top-1 on training graphs {top1:.3f} -> {root / 'refine'}")
    return 0


def configure_test(p: ArgumentParser) -> None:
    p.add_argument("param_path", help="checkpoint file, or a cmpc-train run folder (refine/, else embedding/)")
    _common(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: <run or checkpoint folder>/test)")
    p.add_argument("--thresholds", type=arg_type(float, positive), nargs="+", metavar="M", help="metre thresholds")
    p.add_argument("--threshold-preset", dest="threshold_preset", choices=["metres", "reference-grid"],
                   help="metres: 50/100/150/200; reference-grid: the release's 42.1/94.7/147.4/200 m (printed there as 50..200)")
    p.add_argument("--refine-eval", dest="refine_eval", action=BOOL, help="also evaluate after refinement (default on)")


def run_test(args: argparse.Namespace) -> int:
    from xgeo.cmpc.data import CMPCTransform, open_split
    from xgeo.cmpc.evaluation import THRESHOLDS, summary_lines, test_model
    from xgeo.cmpc.run import apply_threads, load_model

    given = typed_options(args)
    param_path, out = Path(given.pop("param_path")), given.pop("out", None)
    config = resolve(given)
    apply_threads(config)
    checkpoint = _test_checkpoint(param_path)
    out_dir = check_output_dir(out or (param_path if param_path.is_dir() else param_path.parent) / "test", "--out")
    if config.run.threshold_preset:
        thresholds = THRESHOLDS.get(config.run.threshold_preset)
    else:
        thresholds = tuple(config.run.thresholds)
    model = load_model(checkpoint)
    split = open_split(config.data, "test", CMPCTransform(model.spec.image_size))
    results = test_model(model, split, out_dir, thresholds, refine=config.run.refine_eval,
                         batch_size=config.data.test_batch, device=config.train.device)
    names = {}
    if config.run.threshold_preset == "reference-grid":
        names = {t: f"{t:.1f} m (release '{label}')" for t, label in zip(thresholds, ("50 m", "100 m", "150 m", "200 m"))}
    say(f"{checkpoint}: {results['queries']} SAR queries, {results['gallery']} optical references "
        f"(chance top-1 {results['chance']['R@1']:.2f})")
    for line in summary_lines(results, names):
        say(line)
    say(f"features: {results['query_features']} {results['gallery_features']} "
        f"(xgeo evaluate --query {results['query_features']} --gallery {results['gallery_features']} --protocol sn6)")
    say("plots: " + " ".join(results["plots"].values()))
    return 0


def _test_checkpoint(path: Path) -> Path:
    from xgeo.core.runs import resolve_checkpoint

    if path.is_dir():
        for phase in ("refine", "embedding"):
            if (path / phase / "checkpoint.pth.tar").is_file():
                return path / phase / "checkpoint.pth.tar"
    return resolve_checkpoint(path, "cmpc-train")


TRAIN = Command("cmpc-train", f"Train CMPC, both phases (embedding, then refinement). Presets: {PRESETS}.",
                configure_train, run_train, argument_default=argparse.SUPPRESS)
TRAIN_EMB = Command("cmpc-train-emb", "Train the CMPC embedding only (phase 1); --output-feat also dumps training features.",
                    configure_emb, run_emb, argument_default=argparse.SUPPRESS)
TRAIN_REFINE = Command("cmpc-train-refine", "Train the CMPC refinement only (phase 2) from a saved embedding and features.",
                       configure_refine, run_refine, argument_default=argparse.SUPPRESS)
TEST = Command("cmpc-test", "Test a CMPC checkpoint: CMC, MRR, metre accuracy before and after refinement, features, plots.",
               configure_test, run_test, argument_default=argparse.SUPPRESS)
COMMANDS = {"train": TRAIN, "train-emb": TRAIN_EMB, "train-refine": TRAIN_REFINE, "test": TEST}


def train_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``cmpc-train``."""
    return TRAIN.main(argv)


def train_emb_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``cmpc-train-emb``."""
    return TRAIN_EMB.main(argv)


def train_refine_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``cmpc-train-refine``."""
    return TRAIN_REFINE.main(argv)


def test_main(argv: list[str] | None = None) -> int:
    """Console entry point of ``cmpc-test``."""
    return TEST.main(argv)


if __name__ == "__main__":  # python -m xgeo.cmpc.cli [train|train-emb|train-refine|test] ...
    argv = sys.argv[1:]
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "train"
    raise SystemExit(COMMANDS[name].main(argv))
