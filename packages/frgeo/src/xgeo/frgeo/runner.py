"""Training and evaluation runs, from resolved :class:`~xgeo.frgeo.config.Options`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from xgeo.core.errors import XgeoError
from xgeo.core.features import FeatureSet, write_features
from xgeo.core.io import write_json
from xgeo.core.train import BEST_NAME, CHECKPOINT_NAME, Trainer, seed_everything
from xgeo.core.train import distributed as dist_utils
from xgeo.frgeo.config import Options
from xgeo.frgeo.data import build_sampler, open_split
from xgeo.frgeo.engine import BankFeeder, FRGeoStep, SplitEvaluator, compute_metrics, embed_split
from xgeo.frgeo.loss import WeightedTupleLoss
from xgeo.frgeo.model import FRGeo, ModelSpec
from xgeo.frgeo.optim import device_name, train_config
from xgeo.frgeo.profiles import DatasetProfile, get_profile
from xgeo.frgeo.transforms import FRGeoTransform, fov_width
from xgeo.frgeo.weights import load_model, load_pretrained_backbone

METHOD_NAME = "frgeo"
QUERY_FILE = "query.h5"
GALLERY_FILE = "gallery.h5"


def say(message: str) -> None:
    """One informational line on stdout, from the main process only."""
    if dist_utils.process_info().is_main:
        print(message, flush=True)


def model_spec(opts: Options, profile: DatasetProfile) -> ModelSpec:
    """The model and preprocessing described by the options (sizes default to the paper's)."""
    return ModelSpec(
        backbone=opts.backbone,
        dataset=opts.dataset,
        ground_size=list(opts.ground_size or profile.ground_size),
        aerial_size=list(opts.aerial_size or profile.aerial_size),
        fov=int(opts.fov),
        frm=opts.frm,
    )


def check_dim(opts: Options, model: FRGeo) -> None:
    """``--dim`` is not a projection size: it must equal the descriptor length (4 × channels)."""
    if opts.dim is not None and int(opts.dim) != model.dim:
        raise XgeoError(
            None,
            f"--dim {opts.dim} does not match the {model.dim}-d descriptor of {model.spec.backbone} (4 × channels)",
            f"pass --dim {model.dim} or leave it out",
        )


#: the ConvNeXt feature map is the input divided by this (rounded down)
STRIDE = 32


def check_input_sizes(spec: ModelSpec) -> None:
    """The FRM needs a ground map at least 4 cells wide and an aerial map of at least 2×2 cells."""
    ground_w = fov_width(spec.ground_size[1], spec.fov)
    if spec.ground_size[0] < STRIDE or ground_w < 4 * STRIDE:
        raise XgeoError(
            None,
            f"panorama input {spec.ground_size[0]}×{ground_w} (after --fov {spec.fov}) is too small for four strips",
            f"use --ground-size with height >= {STRIDE} and a width (times fov/360) >= {4 * STRIDE}",
        )
    if min(spec.aerial_size) < 2 * STRIDE:
        raise XgeoError(
            None,
            f"aerial input {spec.aerial_size[0]}×{spec.aerial_size[1]} is too small for four quadrants",
            f"use --aerial-size of at least {2 * STRIDE} {2 * STRIDE}",
        )


def transform_for(spec: ModelSpec) -> FRGeoTransform:
    """The preprocessing a model was trained with."""
    return FRGeoTransform(spec.ground_size, spec.aerial_size, spec.fov)


def build_model(opts: Options, profile: DatasetProfile, announce: bool = True) -> FRGeo:
    """A fresh model; ImageNet weights from ``--pretrained`` when given (never downloaded)."""
    spec = model_spec(opts, profile)
    check_input_sizes(spec)
    model = FRGeo(spec)
    check_dim(opts, model)
    if opts.pretrained:
        load_pretrained_backbone(model, opts.pretrained)
        say(f"both branches initialised from {opts.pretrained}")
    elif announce:
        say(
            f"no --pretrained checkpoint: both {opts.backbone} branches start from random weights "
            "(the paper starts from ImageNet-1k; pass --pretrained PATH to a local ConvNeXt checkpoint)"
        )
    return model


def run_training(opts: Options) -> dict[str, Any]:
    """Train with core's Trainer; evaluation, checkpoints and metrics.json land in ``--save_path``."""
    if not opts.save_path:
        raise XgeoError(None, "no output folder given", "pass --save_path DIR (checkpoints and metrics.json go there)")
    profile = get_profile(opts.dataset)
    seed_everything(int(opts.seed))
    model = build_model(opts, profile, announce=not opts.resume)
    transforms = transform_for(model.spec)
    train = open_split(opts, "train", transforms)
    evaluation = open_split(opts, profile.eval_split, transforms)
    sampler = build_sampler(train, opts, model.dim)
    say(profile.selection)
    trainer = Trainer(
        model,
        train,
        FRGeoStep(WeightedTupleLoss(opts.alpha, opts.local_batch)),
        train_config(opts, opts.save_path),
        sampler=sampler,
        evaluate=SplitEvaluator(evaluation, profile, int(opts.eval_batch_size), int(opts.workers)),
        on_step_end=BankFeeder(sampler) if opts.mining else None,
    )
    sampler.device = trainer.device  # mining similarity search on the training device
    return trainer.fit()


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the best (else latest) checkpoint inside a run folder."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST_NAME, CHECKPOINT_NAME):
            if (path / name).is_file():
                return path / name
        raise XgeoError(
            path, f"no {BEST_NAME} or {CHECKPOINT_NAME} in this folder", "pass a checkpoint file or a --save_path of frgeo-train"
        )
    return path


def write_split_features(out_dir: Path, query: torch.Tensor, gallery: torch.Tensor, split: Any) -> tuple[Path, Path]:
    """Query and gallery descriptors in the core feature-store schema."""
    paths = out_dir / QUERY_FILE, out_dir / GALLERY_FILE
    for path, feats, side, view in ((paths[0], query, "query", "ground"), (paths[1], gallery, "gallery", "aerial")):
        fs = FeatureSet.from_task(
            np.ascontiguousarray(feats.numpy(), dtype=np.float32),
            split.task,
            side=side,
            view=view,
            method=METHOD_NAME,
            normalized=True,
        )
        write_features(path, fs)
    return paths


def evaluate_checkpoint(
    opts: Options, checkpoint: str | Path, out_dir: str | Path, split_name: str | None = None
) -> dict[str, Any]:
    """Evaluate a checkpoint on a split; write query/gallery features and metrics into ``out_dir``."""
    checkpoint = resolve_checkpoint(checkpoint)
    profile = get_profile(opts.dataset)
    model, _ = load_model(checkpoint, default_spec=model_spec(opts, profile))
    check_dim(opts, model)
    split_name = split_name or profile.eval_split
    split = open_split(opts, split_name, transform_for(model.spec))
    info, device = dist_utils.setup(device_name(opts))
    model.to(device)
    query, gallery = embed_split(model, split, int(opts.eval_batch_size), device, int(opts.workers))
    metrics = compute_metrics(query, gallery, split.task, profile)
    out_dir = Path(out_dir)
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "dataset": opts.dataset,
        "split": split_name,
        "cross": bool(opts.cross),
        "queries": split.task.num_queries,
        "gallery": split.task.num_gallery,
        **metrics,
    }
    if info.is_main:
        qpath, gpath = write_split_features(out_dir, query, gallery, split)
        write_json(out_dir / "eval_metrics.json", result)
        result["query_features"], result["gallery_features"] = str(qpath), str(gpath)
    return result


def format_metrics(metrics: dict[str, Any]) -> str:
    """``R@1 12.34  R@5 ...`` for the metric keys present."""
    keys = [k for k in ("R@1", "R@5", "R@10", "R@1%", "hit") if k in metrics]
    return "  ".join(f"{k} {float(metrics[k]):.2f}" for k in keys)
