"""CMPC's runs: embedding phase, training-feature dump, refinement phase, and the test, from a resolved config.

Run folder ``<result_path>/<exp_name>/``: ``embedding/`` (phase-1 Trainer run), ``<emb_feat>/``
(``query.h5`` = training SAR, ``gallery.h5`` = training optical, core feature store with metres),
``refine/`` (phase-2 Trainer run; its checkpoint holds the whole model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from xgeo.cmpc.config import Config
from xgeo.cmpc.data import PROFILE, CMPCTransform, UniqueIdSampler, open_split
from xgeo.cmpc.model import CMPC, ModelSpec, build_model
from xgeo.cmpc.task import EmbeddingStep, FeatureDataset, RefineStep, embedding_groups, evaluator
from xgeo.core.errors import XgeoError
from xgeo.core.features import read_features
from xgeo.core.io import load_state_dict_into, load_torch
from xgeo.core.runs import GALLERY_FILE, QUERY_FILE, prepare_run_dir, resolve_checkpoint, say, write_split_features
from xgeo.core.train import Trainer, seed_everything
from xgeo.core.train import distributed as dist_utils
from xgeo.core.train.checkpoint import BEST_NAME

METHOD_NAME = "cmpc"
VIEWS = ("sar", "optical")


def apply_threads(config: Config) -> None:
    """Set torch's CPU threads when the config names a number."""
    if config.run.threads:
        torch.set_num_threads(int(config.run.threads))


def run_dir(config: Config) -> Path:
    """``<result_path>/<exp_name>``."""
    return Path(config.run.result_path) / config.run.exp_name


def model_spec(config: Config) -> ModelSpec:
    m = config.model
    return ModelSpec(arch=m.arch, low_dim=m.low_dim, image_size=m.image_size, node_topk=m.node_topk, edge_topk=m.edge_topk,
                     edge_mode=m.edge_mode, edge_sigma=m.edge_sigma, edge_weight=m.edge_weight,
                     reference_compat=m.reference_compat, node_func=m.node_func)


def new_model(config: Config) -> CMPC:
    """A fresh model; ImageNet weights from ``--pretrained`` when given (never downloaded)."""
    from xgeo.cmpc.backbone import load_pretrained

    model = build_model(model_spec(config))
    check_channels(config, model)
    c = config.coarse
    model.critic = type(model.critic)(config.model.low_dim, lr=c.lr_d, steps=c.d_steps, clip=c.clip, weight=c.lambda_cls)
    if config.model.pretrained:
        load_pretrained(model.embedding.backbone, config.model.pretrained)
        say(f"shared {config.model.arch} initialised from {config.model.pretrained}")
    else:
        say(f"no --pretrained checkpoint: the shared {config.model.arch} starts from random weights "
            "(the paper starts from ImageNet; pass --pretrained PATH to a local ResNet checkpoint)")
    return model


def check_channels(config: Config, model: CMPC) -> None:
    """``net_channels`` is the refiner's width, which must equal the descriptor length."""
    wanted = config.model.net_channels
    if wanted is not None and int(wanted) != model.dim:
        raise XgeoError(None, f"net_channels {wanted} differs from the {model.dim}-d descriptor of {config.model.arch}",
                        f"set net_channels to {model.dim} (or leave it out)")


def load_model(checkpoint: str | Path) -> CMPC:
    """A CMPC model rebuilt from a checkpoint written by ``cmpc-train`` (weights only, spec inside)."""
    path = resolve_checkpoint(checkpoint, "cmpc-train")
    ckpt = load_torch(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not isinstance(state.get("_extra_state"), dict):
        raise XgeoError(path, "not a CMPC checkpoint (no model spec inside)", "pass a checkpoint written by cmpc-train")
    model = build_model(ModelSpec.from_dict(state["_extra_state"]))
    load_state_dict_into(model, state, path)
    return model


def identity(config: Config, phase: str, spec: ModelSpec) -> dict[str, Any]:
    return {"method": METHOD_NAME, "phase": phase, "model": spec.to_dict()}


# ------------------------------------------------------------------------------------------ phase 1
def train_embedding(config: Config, out_dir: Path) -> tuple[CMPC, dict[str, Any]]:
    """Phase 1 on core's Trainer: triplet + Wasserstein critic; coarse test metrics after every epoch."""
    cfg = config.train
    seed_everything(cfg.seed)
    model = new_model(config)
    train = open_split(config.data, "train", CMPCTransform(config.model.image_size, config.data.hflip, config.data.shift))
    test = open_split(config.data, PROFILE.eval_split, CMPCTransform(config.model.image_size))
    say(PROFILE.selection)
    sampler = UniqueIdSampler(train.query_labels[train.pairs[:, 0]], cfg.batch_size, cfg.seed)
    step = EmbeddingStep(torch.as_tensor(train.query_labels), torch.as_tensor(train.pairs), config.coarse)
    phase = _phase_config(cfg, out_dir)
    trainer = Trainer(model, train, step, phase, sampler=sampler, evaluate=evaluator(test, config.data.test_batch),
                      identity=identity(config, "embedding", model.spec),
                      param_groups=embedding_groups(cfg.lr, config.coarse.lr_mlp))
    metrics = trainer.fit()
    keep_best(model, out_dir)
    return model, {**metrics, "best": trainer.best}


def keep_best(model: CMPC, out_dir: Path) -> None:
    """Load the phase's best checkpoint (highest coarse R@1 on the evaluated split) into ``model``, so the
    feature dump, the refinement and its checkpoint carry the selected embedding, not the last epoch's."""
    best = Path(out_dir) / BEST_NAME
    if best.is_file():
        ckpt = load_torch(best)
        load_state_dict_into(model, ckpt.get("state_dict", ckpt), best)
        epoch = ckpt.get("epoch", "?") if isinstance(ckpt, dict) else "?"
        say(f"embedding: keeping the best checkpoint ({best.name}, epoch {epoch}) for the refinement and the test")


def _phase_config(cfg: Any, out_dir: Path, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(cfg, out_dir=str(out_dir), **changes)


def dump_features(config: Config, model: CMPC, out_dir: Path) -> tuple[Path, Path]:
    """The training split's SAR (query.h5) and optical (gallery.h5) descriptors, metres, in the feature store."""
    split = open_split(config.data, "train", CMPCTransform(model.spec.image_size))
    _, device = dist_utils.setup(config.train.device)
    query, gallery = evaluator(split, config.data.test_batch).features(model.to(device), device)
    if not dist_utils.process_info().is_main:
        return out_dir / QUERY_FILE, out_dir / GALLERY_FILE
    return write_split_features(out_dir, query, gallery, split.task, METHOD_NAME, VIEWS, split=split)


# ------------------------------------------------------------------------------------------ phase 2
def train_refinement(config: Config, model: CMPC, features_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Phase 2 on core's Trainer: only the refiner learns, from stored training features."""
    query, gallery = (read_features(Path(features_dir) / name) for name in (QUERY_FILE, GALLERY_FILE))
    if query.dim != model.dim or gallery.dim != model.dim:
        raise XgeoError(features_dir, f"stored features are {query.dim}-d, the model's descriptor is {model.dim}-d",
                        "pass the features written with this embedding checkpoint")
    if gallery.locations is None or query.locations is None:
        raise XgeoError(features_dir, "stored features have no /locations", "dump them with cmpc-train-emb --output-feat")
    lookup = {int(label): j for j, label in enumerate(gallery.labels)}
    missing = [int(label) for label in query.labels if int(label) not in lookup]
    if missing:
        raise XgeoError(features_dir, f"query id {missing[0]} has no gallery entry", "dump both files from one split")
    positive = torch.as_tensor([lookup[int(label)] for label in query.labels])
    data = FeatureDataset(torch.from_numpy(query.features), positive)
    step = RefineStep(torch.from_numpy(gallery.features), torch.from_numpy(gallery.locations).float(), config.refine,
                      model.spec.reference_compat)
    model.embedding.requires_grad_(False)
    cfg = config.train
    phase = _phase_config(cfg, out_dir, epochs=config.refine.epochs or cfg.epochs, lr=config.refine.lr or cfg.lr,
                          best_metric="train_node0_top1", resume=None)
    if len(data) < phase.batch_size:
        phase = _phase_config(phase, out_dir, batch_size=len(data))
    trainer = Trainer(model, data, step, phase, identity=identity(config, "refine", model.spec))
    return trainer.fit()


def prepare_outputs(config: Config, phases: tuple[str, ...]) -> Path:
    """Refuse (before any work) to overwrite a finished phase without ``--overwrite``."""
    root = run_dir(config)
    for phase in phases:
        prepare_run_dir(root / phase, config.train.resume if phase == "embedding" else None, config.train.overwrite)
    return root


def train_both(config: Config) -> dict[str, Any]:
    """``cmpc-train``: embedding, training-feature dump, refinement."""
    root = prepare_outputs(config, ("embedding", "refine"))
    apply_threads(config)
    model, coarse = train_embedding(config, root / "embedding")
    say(f"embedding done: {coarse_summary(coarse)}; dumping training features")
    features = root / config.run.emb_feat
    dump_features(config, model, features)
    refined = train_refinement(config, model, features, root / "refine")
    return {"embedding": coarse, "refine": refined, "run": str(root)}


def coarse_summary(metrics: dict[str, Any]) -> str:
    """``"R@1 x (last epoch), best y (epoch n, kept)"`` for the embedding phase."""
    text = f"coarse test R@1 {metrics.get('R@1', float('nan')):.2f} at the last epoch"
    best = metrics.get("best")
    if best:
        text += f", best {best['value']:.2f} at epoch {int(best['epoch']) + 1} (kept)"
    return text


def check_features(path: Path) -> Path:
    for name in (QUERY_FILE, GALLERY_FILE):
        if not (path / name).is_file():
            raise XgeoError(path / name, "feature file not found", "pass the folder written by cmpc-train-emb --output-feat")
    return path


def np_float(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)
