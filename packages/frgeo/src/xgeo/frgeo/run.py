"""Training and evaluation runs of FRGeo, from a resolved :class:`~xgeo.core.presets.Config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xgeo.core.errors import XgeoError
from xgeo.core.io import write_json
from xgeo.core.presets import Config
from xgeo.core.report import write_report
from xgeo.core.runs import prepare_run_dir, resolve_checkpoint, say, write_split_features
from xgeo.core.train import Trainer, seed_everything
from xgeo.core.train import distributed as dist_utils
from xgeo.frgeo.config import ModelOptions
from xgeo.frgeo.data import PROFILES, FRGeoProfile, FRGeoTransform, build_sampler, open_split
from xgeo.frgeo.loss import WeightedTupleLoss
from xgeo.frgeo.model import FRGeo, ModelSpec, build_model
from xgeo.frgeo.task import BankFeeder, FRGeoStep, evaluator
from xgeo.frgeo.weights import load_model, load_pretrained_backbone

METHOD_NAME = "frgeo"


def model_spec(model: ModelOptions, dataset: str) -> ModelSpec:
    """The model and preprocessing described by the options (sizes default to the paper's)."""
    profile = PROFILES.get(dataset)
    return ModelSpec(
        backbone=model.backbone,
        dataset=dataset,
        ground_size=list(model.ground_size or profile.ground_size),
        aerial_size=list(model.aerial_size or profile.aerial_size),
        fov=int(model.fov),
        frm=model.frm,
    )


def check_dim(options: ModelOptions, model: FRGeo) -> None:
    """``--dim`` is not a projection size: it must equal the descriptor length (4 × channels)."""
    if options.dim is not None and int(options.dim) != model.dim:
        raise XgeoError(
            None,
            f"--dim {options.dim} does not match the {model.dim}-d descriptor of {model.spec.backbone} (4 × channels)",
            f"pass --dim {model.dim} or leave it out",
        )


def new_model(config: Config, announce: bool = True) -> FRGeo:
    """A fresh model; ImageNet weights from ``--pretrained`` when given (never downloaded)."""
    options = config.model
    model = build_model(model_spec(options, config.data.dataset))
    check_dim(options, model)
    if options.pretrained:
        load_pretrained_backbone(model, options.pretrained)
        say(f"both branches initialised from {options.pretrained}")
    elif announce:
        say(
            f"no --pretrained checkpoint: both {options.backbone} branches start from random weights "
            "(the paper starts from ImageNet-1k; pass --pretrained PATH to a local ConvNeXt checkpoint)"
        )
    return model


def run_identity(config: Config, spec: ModelSpec) -> dict[str, Any]:
    """What a resumed checkpoint must share with this run."""
    return {"method": METHOD_NAME, "dataset": config.data.dataset, "cross": bool(config.data.cross), "model": spec.to_dict()}


def report_best(config: Config, report_dir: str | Path) -> str:
    """Core's report of the run's best (else latest) checkpoint on the evaluation split, in ``report_dir``
    (with its query.h5 and gallery.h5); the path of report.html."""
    return evaluate(config, config.train.out_dir, report_dir, report_dir=report_dir).get("report", "")


def train(config: Config) -> dict[str, Any]:
    """Train with core's Trainer; evaluation, checkpoints and metrics.json land in ``--save_path``."""
    cfg = config.train
    if not cfg.out_dir:
        raise XgeoError(None, "no output folder given", "pass --save_path DIR (checkpoints and metrics.json go there)")
    prepare_run_dir(cfg.out_dir, cfg.resume, cfg.overwrite)
    profile = PROFILES.get(config.data.dataset)
    seed_everything(cfg.seed)
    model = new_model(config, announce=not cfg.resume)
    transforms = FRGeoTransform.for_model(model.spec)
    train_split = open_split(config.data, "train", transforms)
    evaluation = open_split(config.data, profile.eval_split, transforms)
    sampler = build_sampler(train_split, config.data, cfg.batch_size, model.dim, cfg.seed)
    say(profile.selection)
    trainer = Trainer(
        model,
        train_split,
        FRGeoStep(WeightedTupleLoss(config.loss.alpha, config.loss.local_batch)),
        cfg,
        sampler=sampler,
        evaluate=evaluator(evaluation, profile, config.data.eval_batch_size, cfg.num_workers),
        on_step_end=BankFeeder(sampler) if config.data.mining else None,
        identity=run_identity(config, model.spec),
    )
    sampler.device = trainer.device  # mining similarity search on the training device
    return trainer.fit()


def evaluate(config: Config, checkpoint: str | Path, out_dir: str | Path, split_name: str | None = None,
             report_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint on a split; write query/gallery features and ``eval_metrics.json`` into ``out_dir``
    and, with ``report_dir``, core's report (``report.html``, plots, ``metrics.json``) there."""
    checkpoint = resolve_checkpoint(checkpoint, "frgeo-train")
    profile: FRGeoProfile = PROFILES.get(config.data.dataset)
    model, _ = load_model(checkpoint, default_spec=model_spec(config.model, config.data.dataset))
    check_dim(config.model, model)
    if model.spec.dataset != config.data.dataset:
        say(f"note: {checkpoint} was trained on {model.spec.dataset}; evaluating it on {config.data.dataset} (cross-dataset)")
    split_name = split_name or profile.eval_split
    split = open_split(config.data, split_name, FRGeoTransform.for_model(model.spec))
    info, device = dist_utils.setup(config.train.device)
    model.to(device)
    hook = evaluator(split, profile, config.data.eval_batch_size, config.train.num_workers)
    query, gallery = hook.features(model, device)
    metrics = hook.metrics(query, gallery)
    result: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "dataset": config.data.dataset,
        "split": split_name,
        "cross": bool(config.data.cross),
        "queries": split.task.num_queries,
        "gallery": split.task.num_gallery,
        **metrics,
    }
    if info.is_main:
        qpath, gpath = write_split_features(out_dir, query, gallery, split.task, METHOD_NAME, split=split)
        write_json(Path(out_dir) / "eval_metrics.json", result)
        result["query_features"], result["gallery_features"] = str(qpath), str(gpath)
        if report_dir is not None:
            report = write_report(qpath, gpath, profile.protocol, report_dir, percent_convention=profile.percent_convention,
                                  title=f"FRGeo {config.data.dataset} {split_name} ({Path(checkpoint).name})")
            result["report"] = str(report.html)
    return result
