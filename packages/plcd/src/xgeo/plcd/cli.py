"""PLCD's console scripts.

``plcd-train-g2d`` / ``plcd-train-d2s`` take the flags of the original ``train_PL_G2D.py`` /
``train_D2S.py`` (paste the README commands); ``plcd-test-g2d`` / ``plcd-test-d2s`` extract test
features into the run folder; ``plcd-evaluate`` scores a query/gallery pair (``evaluate_h5.py``);
``plcd-diffuse`` re-ranks ground -> satellite by cross-diffusion (``evaluate_dfs.py``); ``plcd-index``
writes the index files and the limited-view drone galleries.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xgeo.core.checks import arg_type, check_output_dir, check_output_file, non_negative, positive
from xgeo.core.console import ArgumentParser, Command, typed_options
from xgeo.core.errors import XgeoError
from xgeo.core.evaluate import evaluate_files, format_table
from xgeo.core.io import write_json
from xgeo.core.presets import Config, preset_names
from xgeo.core.runs import format_metrics, say
from xgeo.plcd.config import SCHEMA, resolve

BOOL = argparse.BooleanOptionalAction
COUNT = arg_type(int, positive)


def place(config: Config) -> None:
    """``--gpu``/``--gpu_ids`` pick one CUDA device when there is one; on a CPU-only machine they are ignored."""
    import torch

    ids = config.run.gpu or config.run.gpu_ids
    if ids is None:
        return
    first = str(ids).split(",")[0].strip()
    if first in ("", "-1") or not torch.cuda.is_available():
        say(f"--gpu {ids} ignored: no CUDA device here, training on the CPU")
        return
    if int(first) >= torch.cuda.device_count():
        raise XgeoError(None, f"--gpu {ids}: this machine has {torch.cuda.device_count()} CUDA device(s)", "pick an existing id")
    config.train.device = f"cuda:{first}"


def configure_train(p: ArgumentParser) -> None:
    """Every flag of the original training scripts plus xgeo's; defaults suppressed (only typed flags count)."""
    orig = p.add_argument_group("original train_PL_G2D.py / train_D2S.py flags")
    orig.add_argument("--train_all", action="store_true", help="accepted; no effect (as in the original)")
    orig.add_argument("--batchsize", type=int, metavar="B", help="anchors per batch (each with 6 drone positives; 8)")
    orig.add_argument("--pool", choices=["max", "avg"], help="global pooling (max)")
    orig.add_argument("--data_dir", metavar="DIR", help="University-1652 root (train/, test/)")
    orig.add_argument("--gen", type=int, choices=[0, 1, 2], help="generation: >= 1 distils from --old_name")
    orig.add_argument("--seed", type=int)
    orig.add_argument("--name", help="run folder name under --model_dir (model/<name>)")
    orig.add_argument("--old_name", help="the previous generation's run (name under --model_dir, folder or checkpoint)")
    orig.add_argument("--gpu", help="CUDA device id (ignored without CUDA)")
    orig.add_argument("--lambda1", type=float, help="weight of the soft-margin triplet loss")
    orig.add_argument("--lambda2", type=float, help="weight of the ID losses")
    orig.add_argument("--lambda3", type=float, help="weight of the distillation loss (gen >= 1)")
    orig.add_argument("--tau", type=float, help="distillation temperature (0.1)")
    orig.add_argument("--hiera", type=int, help="region features distilled: 0, or the first h of the 2x2/3x3/4x4 windows")
    orig.add_argument("--easy_pos", action="store_true", help="mine the easiest drone positive (else the hardest)")
    orig.add_argument("--lr", type=float, help="head learning rate; the backbones get 0.1x (0.01)")
    orig.add_argument("--h", type=int, help="input height (384)")
    orig.add_argument("--w", type=int, help="input width (384)")
    orig.add_argument("--droprate", type=float, help="dropout of the shared head (0.5)")
    orig.add_argument("--moving_avg", type=float, help="accepted; no effect")
    orig.add_argument("--stride", type=int, help="accepted; layer4 keeps stride 2")
    new = p.add_argument_group("xgeo")
    new.add_argument("--config", metavar="PRESET", help=f"preset ({', '.join(preset_names(SCHEMA))}) or YAML; flags override it")
    new.add_argument("--pretrained", metavar="PATH", help="local ImageNet ResNet weights for both backbones")
    new.add_argument("--backbone", help="resnet50 (default), resnet18/34/101, or timm/<name>")
    new.add_argument("--epochs", type=int)
    new.add_argument("--backbone_lr_scale", type=float, help="backbone lr as a fraction of --lr (0.1)")
    new.add_argument("--model_dir", metavar="DIR", help="folder holding the run folders (model)")
    new.add_argument("--save_path", metavar="DIR", help="run folder (instead of <model_dir>/<name>)")
    new.add_argument("--resume", metavar="PATH", help="continue a run (checkpoint or run folder)")
    new.add_argument("--overwrite", action="store_true", help="replace a finished run in the run folder")
    new.add_argument("--ring", type=int, help="drone frames per altitude ring (18)")
    new.add_argument("--rings", type=int, help="altitude rings (3)")
    new.add_argument("--gallery_drone", metavar="FOLDER", help="test drone gallery evaluated each epoch (gallery_drone)")
    new.add_argument("--pairing", choices=["fixed", "faithful"],
                     help="triplet pairing: intended (fixed) or the original's tiled bug")
    new.add_argument("--eval_batch_size", type=int)
    new.add_argument("--max_steps", type=int, help="stop after N optimizer steps")
    new.add_argument("--workers", type=int, help="data loading workers (2)")
    new.add_argument("--device", help="auto, cpu, cuda, cuda:N")
    new.add_argument("--progress", action=BOOL, help="progress bar")


def _train(kind: str):
    def run(args: argparse.Namespace) -> int:
        from xgeo.plcd.run import train

        config = resolve(typed_options(args), kind)
        place(config)
        metrics = train(config, kind)
        say(f"done: {format_metrics(metrics) or 'no evaluation'}  ->  {config.train.out_dir}")
        return 0

    return run


def configure_test(p: ArgumentParser) -> None:
    """Flags of the test commands (as the original ``test_*.py``)."""
    p.add_argument("--name", required=True, help="run folder name under --model_dir (or a run folder / checkpoint)")
    p.add_argument("--test_dir", "--data_dir", dest="test_dir", required=True, metavar="DIR", help="University-1652 root")
    p.add_argument("--model_dir", default="model", metavar="DIR")
    p.add_argument("--gallery_drone", default="gallery_drone", metavar="FOLDER",
                   help="drone gallery folder under test/ (e.g. gallery_drone_low from plcd-index --limited-view)")
    p.add_argument("--out", metavar="DIR", help="where the feature files go (default: the run folder)")
    p.add_argument("--batchsize", type=COUNT, default=16)
    p.add_argument("--workers", type=arg_type(int, non_negative), default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--gpu_ids", help="accepted; use --device")


def _run_folder(name: str, model_dir: str) -> Path:
    path = Path(name)
    return path if path.exists() else Path(model_dir) / name


def _test(kind: str):
    def run(args: argparse.Namespace) -> int:
        from xgeo.plcd.run import test

        source = _run_folder(args.name, args.model_dir)
        out = check_output_dir(args.out or (source if source.is_dir() else source.parent), "--out")
        result = test(source, kind, args.test_dir, out, args.gallery_drone, args.batchsize, args.workers, args.device)
        say(f"{kind.upper()} test ({result['queries']} queries, {result['gallery']} gallery): {format_metrics(result)}")
        say(f"features: {', '.join(str(v) for k, v in result.items() if k.endswith('_features'))}")
        return 0

    return run


def configure_evaluate(p: ArgumentParser) -> None:
    p.add_argument("--name", help="run folder (under --model_dir) holding query.h5 and gallery.h5")
    p.add_argument("--model_dir", default="model", metavar="DIR")
    p.add_argument("--query", metavar="Q.h5")
    p.add_argument("--gallery", metavar="G.h5")
    p.add_argument("--json", metavar="OUT", help="also write the metrics as JSON")


def run_evaluate(args: argparse.Namespace) -> int:
    """R@1/5/10, R@1% (round convention) and trapezoid mAP of stored features, through core's metrics."""
    if args.name is None and (args.query is None or args.gallery is None):
        raise XgeoError(None, "nothing to evaluate", "pass --name RUN or both --query and --gallery")
    folder = _run_folder(args.name, args.model_dir) if args.name else None
    query = Path(args.query) if args.query else folder / "query.h5"
    gallery = Path(args.gallery) if args.gallery else folder / "gallery.h5"
    out = check_output_file(args.json, "--json") if args.json else None
    metrics = evaluate_files(query, gallery, "university1652")
    print(format_table(metrics))
    if out is not None:
        write_json(out, {"query": str(query), "gallery": str(gallery), **metrics})
    return 0


def configure_diffuse(p: ArgumentParser) -> None:
    p.add_argument("--name_g2d", help="G2D test folder (query.h5 = ground, gallery.h5 = drone)")
    p.add_argument("--name_d2s", help="D2S test folder (drone_gallery.h5 = drone, gallery.h5 = satellite)")
    p.add_argument("--model_dir", default="model", metavar="DIR")
    p.add_argument("--ground", metavar="H5", help="ground queries, G2D space")
    p.add_argument("--drone-g2d", dest="drone_g2d", metavar="H5", help="drone gallery, G2D space")
    p.add_argument("--drone-d2s", dest="drone_d2s", metavar="H5", help="the same drone images, D2S space")
    p.add_argument("--satellite", metavar="H5", help="satellite gallery, D2S space")
    p.add_argument("--kq", type=COUNT, default=20, help="drone seeds per ground query (20)")
    p.add_argument("--kd", type=COUNT, default=70, help="mutual-kNN graph degree (70, the README; the script's default is 30)")
    p.add_argument("--n_trunc", type=COUNT, default=500, help="truncation size of each offline solve (500)")
    p.add_argument("--hiera", type=arg_type(int, non_negative), default=0,
                   help="the G2D drone file holds 1 + h rows per image (global, regions); seeds use their maximum")
    p.add_argument("--cache", metavar="DIR", help="offline cache folder (default: <name_d2s>/diffusion_cache; none with files)")
    p.add_argument("--json", metavar="OUT", help="write the metrics as JSON")
    p.add_argument("--ranks", metavar="OUT.h5", help="write the top-k satellite indices per query")
    p.add_argument("--top-k", dest="top_k", type=COUNT, default=10)


def _diffusion_files(args: argparse.Namespace) -> tuple[list[Path], Path | None]:
    explicit = [args.ground, args.drone_g2d, args.drone_d2s, args.satellite]
    if all(explicit):
        return [Path(p) for p in explicit], Path(args.cache) if args.cache else None
    if not (args.name_g2d and args.name_d2s):
        raise XgeoError(None, "no features given",
                        "pass --name_g2d and --name_d2s, or --ground --drone-g2d --drone-d2s --satellite")
    g2d, d2s = _run_folder(args.name_g2d, args.model_dir), _run_folder(args.name_d2s, args.model_dir)
    files = [Path(a) if a else b for a, b in zip(explicit, (g2d / "query.h5", g2d / "gallery.h5", d2s / "drone_gallery.h5",
                                                              d2s / "gallery.h5"), strict=True)]
    return files, Path(args.cache) if args.cache else d2s / "diffusion_cache"


def run_diffuse(args: argparse.Namespace) -> int:
    """Cross-diffusion ground -> satellite; metrics, optional JSON and top-k ranks."""
    from xgeo.plcd.crossdiffusion import CrossDiffusionInputs, cross_diffuse, metrics_from_scores, ranking_from_scores
    from xgeo.plcd.diffusion import DiffusionParams

    params = DiffusionParams(kq=args.kq, kd=args.kd, n_trunc=args.n_trunc)
    params.check()
    json_out = check_output_file(args.json, "--json") if args.json else None
    ranks_out = check_output_file(args.ranks, "--ranks") if args.ranks else None
    files, cache = _diffusion_files(args)
    inputs = CrossDiffusionInputs.read(*files, regions=args.hiera)
    scores, hit = cross_diffuse(inputs, params, cache)
    task = inputs.task()
    metrics = metrics_from_scores(scores, task)
    say(f"cross-diffusion: {task.num_queries} ground queries, {len(inputs.drone_d2s)} drone + {task.num_gallery} satellite "
        f"nodes (kq {params.kq}, kd {params.kd}, n_trunc {params.n_trunc}; offline {'from cache' if hit else 'computed'})")
    print(format_table(metrics))
    if json_out is not None:
        write_json(json_out, {"files": [str(f) for f in files], "params": vars(args) | {"kq": params.kq}, **metrics})
    if ranks_out is not None:
        _write_ranks(ranks_out, ranking_from_scores(scores, task, args.top_k).topk_indices, task)
    return 0


def _write_ranks(path: Path, indices: Any, task: Any) -> None:
    import h5py

    from xgeo.core.io import atomic_write

    with atomic_write(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f["topk_indices"] = indices
        f["query_ids"] = task.query_ids.astype("S")
        f["gallery_ids"] = task.gallery_ids.astype("S")
    say(f"top-{indices.shape[1]} satellite indices -> {path}")


def configure_index(p: ArgumentParser) -> None:
    p.add_argument("data_root", metavar="DATA_ROOT", help="University-1652 root (holding train/ and test/)")
    p.add_argument("--limited-view", dest="limited_view", action="store_true",
                   help="also write test/gallery_drone_low|middle|high (prepare_limited_view.py, low/high bug fixed)")
    p.add_argument("--ring", type=COUNT, default=18, help="drone frames per altitude ring (18)")
    p.add_argument("--overwrite", action="store_true", help="rewrite existing index files and limited-view folders")


def run_index(args: argparse.Namespace) -> int:
    from xgeo.core.datasets.university1652 import write_index_files, write_limited_view

    written = write_index_files(args.data_root, overwrite=args.overwrite)
    say(f"index files written: {', '.join(p.name for p in written) or 'none (all present; --overwrite rewrites them)'}")
    if args.limited_view:
        counts = write_limited_view(args.data_root, ring=args.ring, overwrite=args.overwrite)
        say("limited-view drone galleries: " + ", ".join(f"gallery_drone_{k} {v} images" for k, v in counts.items()))
    return 0


TRAIN_DESCRIPTION = "Train PLCD's {0} model (flags of the original {1}). Presets: {2}; without --config: {3}."
COMMANDS = {
    "plcd-train-g2d": Command("plcd-train-g2d", TRAIN_DESCRIPTION.format(
        "ground-drone", "train_PL_G2D.py", ", ".join(preset_names(SCHEMA)), "g2d_step1"), configure_train, _train("g2d"),
        argument_default=argparse.SUPPRESS),
    "plcd-train-d2s": Command("plcd-train-d2s", TRAIN_DESCRIPTION.format(
        "drone-satellite", "train_D2S.py", ", ".join(preset_names(SCHEMA)), "d2s"), configure_train, _train("d2s"),
        argument_default=argparse.SUPPRESS),
    "plcd-test-g2d": Command("plcd-test-g2d", "Extract G2D test features (street queries, drone gallery) and score them.",
                             configure_test, _test("g2d")),
    "plcd-test-d2s": Command("plcd-test-d2s", "Extract D2S test features (drone queries, satellites, the drone gallery).",
                             configure_test, _test("d2s")),
    "plcd-evaluate": Command("plcd-evaluate", "R@1/5/10, R@1% and mAP of a test run (evaluate_h5.py).", configure_evaluate,
                             run_evaluate),
    "plcd-diffuse": Command("plcd-diffuse", "Ground-to-satellite retrieval by cross-diffusion (evaluate_dfs.py).",
                            configure_diffuse, run_diffuse),
    "plcd-index": Command("plcd-index", "Write University-1652's index files (and limited-view drone galleries).",
                          configure_index, run_index),
}


def main(prog: str, argv: list[str] | None = None) -> int:
    return COMMANDS[prog].main(argv)


def train_g2d_main(argv: list[str] | None = None) -> int:
    return main("plcd-train-g2d", argv)


def train_d2s_main(argv: list[str] | None = None) -> int:
    return main("plcd-train-d2s", argv)


def test_g2d_main(argv: list[str] | None = None) -> int:
    return main("plcd-test-g2d", argv)


def test_d2s_main(argv: list[str] | None = None) -> int:
    return main("plcd-test-d2s", argv)


def evaluate_main(argv: list[str] | None = None) -> int:
    return main("plcd-evaluate", argv)


def diffuse_main(argv: list[str] | None = None) -> int:
    return main("plcd-diffuse", argv)


def index_main(argv: list[str] | None = None) -> int:
    return main("plcd-index", argv)
