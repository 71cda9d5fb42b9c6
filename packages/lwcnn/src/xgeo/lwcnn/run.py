"""Training and evaluation runs of the lightweight CNN, from a resolved :class:`~xgeo.core.presets.Config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xgeo.core.errors import XgeoError
from xgeo.core.io import write_json
from xgeo.core.presets import Config
from xgeo.core.runs import prepare_run_dir, resolve_checkpoint, say, write_split_features
from xgeo.core.train import Trainer, seed_everything
from xgeo.core.train import distributed as dist_utils
from xgeo.lwcnn.data import PROFILES, LwcnnTransform, folder_layout, open_split, pair_locations
from xgeo.lwcnn.loss import HardRatioSchedule, SoftMarginTripletLoss
from xgeo.lwcnn.model import LightCNN, ModelSpec, build_model
from xgeo.lwcnn.task import LwcnnStep, evaluator
from xgeo.lwcnn.weights import load_model, load_pretrained_backbone

METHOD_NAME = "lwcnn"


def model_spec(config: Config) -> ModelSpec:
    """The model and preprocessing described by the options (sizes default to the paper's)."""
    options, profile = config.model, PROFILES.get(config.data.dataset)
    return ModelSpec(
        dataset=config.data.dataset,
        attention=options.attention,
        heads=int(options.sa_num),
        ground_size=[int(v) for v in (options.ground_size or profile.ground_size)],
        aerial_size=[int(v) for v in (options.aerial_size or profile.aerial_size)],
        layout=folder_layout(config.data),
    )


def new_model(config: Config, announce: bool = True) -> LightCNN:
    """A fresh model: from ``--checkpoint`` weights, ``--pretrained`` ImageNet backbones, or random."""
    options = config.model
    if config.run.checkpoint:
        checkpoint = resolve_checkpoint(config.run.checkpoint, "lwcnn-train")
        model, _ = load_model(checkpoint, default_spec=model_spec(config))
        say(f"weights from {checkpoint}; training starts at epoch 0 (to continue an lwcnn-train run, use --resume)")
        return model
    model = build_model(model_spec(config))
    if options.pretrained:
        load_pretrained_backbone(model, options.pretrained)
        say(f"both ResNet-34 backbones initialised from {options.pretrained}")
    elif announce:
        say(
            "no --pretrained checkpoint: both ResNet-34 branches start from random weights "
            "(the paper starts from ImageNet; pass --pretrained PATH to a local torchvision resnet34 file)"
        )
    return model


def run_identity(config: Config, spec: ModelSpec) -> dict[str, Any]:
    """What a resumed checkpoint must share with this run."""
    return {"method": METHOD_NAME, "dataset": config.data.dataset, "model": spec.to_dict()}


def schedule(config: Config) -> HardRatioSchedule:
    """The hard-negative ratio by epoch (paper: 1.0, then 0.1 / 0.05 / 0.01 from epochs 21 / 41 / 61)."""
    loss = config.loss
    ratios = (loss.hard_topk_ratio, loss.hard_decay1_topk_ratio, loss.hard_decay2_topk_ratio, loss.hard_decay3_topk_ratio)
    return HardRatioSchedule(ratios, (0, *[int(e) for e in loss.decay_epochs]))


def train(config: Config) -> dict[str, Any]:
    """Train with core's Trainer; evaluation, checkpoints and metrics.json land in ``--results_dir``."""
    cfg = config.train
    if not cfg.out_dir:
        raise XgeoError(None, "no output folder given", "pass -o/--results_dir DIR (checkpoints and metrics.json go there)")
    prepare_run_dir(cfg.out_dir, cfg.resume, cfg.overwrite, flag="--results_dir")
    profile = PROFILES.get(config.data.dataset)
    seed_everything(cfg.seed)
    model = new_model(config, announce=not cfg.resume)
    transforms = LwcnnTransform.for_model(model.spec)
    train_split = open_split(config.data, "train", transforms)
    evaluation = open_split(config.data, profile.eval_split, transforms)
    locations = pair_locations(train_split) if profile.masks_near_negatives else None
    step = LwcnnStep(
        SoftMarginTripletLoss(config.loss.lambda_sm, faithful=config.loss.mask_mode == "faithful"),
        schedule(config),
        locations,
        config.loss.negative_radius_m,
    )
    say(profile.selection)
    trainer = Trainer(
        model,
        train_split,
        step,
        cfg,
        evaluate=evaluator(evaluation, profile, config.data.eval_batch_size, cfg.num_workers),
        identity=run_identity(config, model.spec),
    )
    step.bind(trainer)
    return trainer.fit()


def evaluate(config: Config, checkpoint: str | Path, out_dir: str | Path, split_name: str | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint on a split; write query/gallery features and ``eval_metrics.json`` into ``out_dir``."""
    checkpoint = resolve_checkpoint(checkpoint, "lwcnn-train")
    profile = PROFILES.get(config.data.dataset)
    model, _ = load_model(checkpoint, default_spec=model_spec(config))
    if model.spec.dataset != config.data.dataset:
        say(f"note: {checkpoint} was trained on {model.spec.dataset}; evaluating it on {config.data.dataset} (cross-dataset)")
    split_name = split_name or profile.eval_split
    split = open_split(config.data, split_name, LwcnnTransform.for_model(model.spec))
    info, device = dist_utils.setup(config.train.device)
    model.to(device)
    hook = evaluator(split, profile, config.data.eval_batch_size, config.train.num_workers)
    query, gallery = hook.features(model, device)
    metrics = hook.metrics(query, gallery)
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "dataset": config.data.dataset,
        "split": split_name,
        "queries": split.task.num_queries,
        "gallery": split.task.num_gallery,
        **metrics,
    }
    if info.is_main:
        qpath, gpath = write_split_features(out_dir, query, gallery, split.task, METHOD_NAME)
        write_json(Path(out_dir) / "eval_metrics.json", result)
        result["query_features"], result["gallery_features"] = str(qpath), str(gpath)
    return result
