"""PLCD's config: ``model`` / ``data`` / ``loss`` / ``train`` / ``run`` sections and the original scripts' flags
(``train_PL_G2D.py``, ``train_D2S.py``) in one table (:data:`LEGACY`).

Precedence, lowest first: section defaults (the original scripts' defaults), the preset (``--config``; without
it ``g2d_step1`` for ``plcd-train-g2d`` and ``d2s`` for ``plcd-train-d2s``), then the flags typed.
The run folder is ``<model_dir>/<name>`` (the original's ``model/<name>``) unless ``--save_path`` names one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xgeo.core.checks import in_range, non_negative, one_of, positive
from xgeo.core.presets import Config, ConfigSchema, Nested, ignored
from xgeo.core.presets import resolve as resolve_config
from xgeo.core.train import TrainConfig
from xgeo.plcd.loss import PAIRINGS


@dataclass
class ModelOptions:
    """What the network is built from (see :class:`xgeo.plcd.model.ModelSpec`)."""

    backbone: str = "resnet50"
    #: local ImageNet ResNet weights for both backbones (never downloaded)
    pretrained: str | None = None
    h: int = field(default=384, metadata={"check": positive})
    w: int = field(default=384, metadata={"check": positive})
    pool: str = field(default="max", metadata={"check": one_of("max", "avg")})
    droprate: float = field(default=0.5, metadata={"check": in_range(0.0, 1.0)})
    dim: int = field(default=512, metadata={"check": positive})
    #: backbone learning rate as a fraction of the head's (the paper: 0.1)
    backbone_lr_scale: float = field(default=0.1, metadata={"check": positive})


@dataclass
class DataOptions:
    """Where the data is and how drone positives and the evaluation gallery are chosen."""

    data_root: str | None = None
    #: drone frames per altitude ring and number of rings (University-1652: 18 x 3)
    ring: int = field(default=18, metadata={"check": positive})
    rings: int = field(default=3, metadata={"check": positive})
    #: test drone gallery folder (``gallery_drone`` or a limited-view ``gallery_drone_low|middle|high``)
    gallery_drone: str = "gallery_drone"
    eval_batch_size: int = field(default=16, metadata={"check": positive})
    #: evaluate on the test split after every epoch (and keep the best checkpoint)
    evaluate: bool = True


@dataclass
class LossOptions:
    """L = lambda1 L_tri + lambda2 L_id (+ lambda3 L_kd for generations >= 1)."""

    lambda1: float = field(default=1.0, metadata={"check": non_negative})
    lambda2: float = field(default=1.0, metadata={"check": non_negative})
    lambda3: float = field(default=1.0, metadata={"check": non_negative})
    tau: float = field(default=0.1, metadata={"check": positive})
    hiera: int = field(default=0, metadata={"check": in_range(0, 29)})
    easy_pos: bool = False
    n_neg: int = field(default=10, metadata={"check": positive})
    pairing: str = field(default="fixed", metadata={"check": one_of(*PAIRINGS)})
    gen: int = field(default=0, metadata={"check": in_range(0, 2)})
    #: the teacher: a run folder name under ``model_dir``, a run folder or a checkpoint (gen >= 1)
    old_name: str | None = None


@dataclass
class RunOptions:
    """How the command runs."""

    name: str | None = None
    model_dir: str = "model"
    gpu: str | None = None
    gpu_ids: str | None = None


def _finalize(nested: Nested) -> None:
    """The run folder from ``--name`` when ``--save_path`` is not given."""
    run, train = nested["run"], nested["train"]
    if not train["out_dir"] and run["name"]:
        train["out_dir"] = str(Path(run["model_dir"]) / run["name"])


def _gpu(value: Any, nested: Nested) -> None:
    nested["run"]["gpu"] = None if value is None else str(value)


#: the original flat flags (argparse destinations and flat preset keys)
LEGACY: Mapping[str, Any] = {
    "data_dir": "data.data_root",
    "ring": "data.ring",
    "rings": "data.rings",
    "gallery_drone": "data.gallery_drone",
    "eval_batch_size": "data.eval_batch_size",
    "backbone": "model.backbone",
    "pretrained": "model.pretrained",
    "h": "model.h",
    "w": "model.w",
    "pool": "model.pool",
    "droprate": "model.droprate",
    "backbone_lr_scale": "model.backbone_lr_scale",
    "lambda1": "loss.lambda1",
    "lambda2": "loss.lambda2",
    "lambda3": "loss.lambda3",
    "tau": "loss.tau",
    "hiera": "loss.hiera",
    "easy_pos": "loss.easy_pos",
    "pairing": "loss.pairing",
    "gen": "loss.gen",
    "old_name": "loss.old_name",
    "batchsize": "train.batch_size",
    "lr": "train.lr",
    "epochs": "train.epochs",
    "seed": "train.seed",
    "save_path": "train.out_dir",
    "resume": "train.resume",
    "overwrite": "train.overwrite",
    "max_steps": "train.max_steps",
    "device": "train.device",
    "progress": "train.progress",
    "workers": "train.num_workers",
    "name": "run.name",
    "model_dir": "run.model_dir",
    "gpu": _gpu,
    "gpu_ids": "run.gpu_ids",
    "train_all": ignored,
    "moving_avg": ignored,
    "stride": ignored,
}

SCHEMA = ConfigSchema(
    method="plcd",
    sections={"model": ModelOptions, "data": DataOptions, "loss": LossOptions, "train": TrainConfig, "run": RunOptions},
    legacy=LEGACY,
    preset_package="xgeo.plcd.presets",
    # the original scripts: SGD + Nesterov, head lr 0.01 (backbones 0.1x), x0.1 every 40 epochs, 120 epochs
    defaults={"train": {"out_dir": "", "lr": 0.01, "epochs": 120, "optimizer": "sgd_nesterov", "momentum": 0.9,
                        "weight_decay": 5e-4, "schedule": "step", "milestones": (40, 80), "gamma": 0.1,
                        "batch_size": 8, "seed": 0, "num_workers": 2, "best_metric": "R@1"}},
    finalize=_finalize,
)

#: the preset each training command starts from when no --config is given
DEFAULT_PRESETS = {"g2d": "g2d_step1", "d2s": "d2s"}


def resolve(given: Mapping[str, Any], kind: str) -> Config:
    """The config for the flags typed (argparse destinations, ``config`` included) of a ``kind`` command."""
    return resolve_config(SCHEMA, given, default_preset=DEFAULT_PRESETS[kind])
