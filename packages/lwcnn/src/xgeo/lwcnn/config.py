"""The lightweight CNN's config: ``model`` / ``data`` / ``loss`` / ``train`` / ``run`` sections and
the original ``script/etc/parser.py`` flags, mapped in one table (:data:`LEGACY`).

Precedence, lowest first: the section defaults (the original parser's defaults), the preset
(``--config NAME`` or a path; without ``--config`` the paper preset of ``--CVUSA``/``--CVACT``),
then the flags the user actually typed. See :mod:`xgeo.core.presets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xgeo.core.checks import Check, non_negative, one_of, positive
from xgeo.core.presets import Config, ConfigSchema, Nested, ignored, preset_names
from xgeo.core.presets import resolve as resolve_config
from xgeo.core.train import TrainConfig

DATASETS = ("cvusa", "cvact")
RATIO = Check("be a ratio in (0, 1]", lambda v: 0.0 < float(v) <= 1.0)
EPOCHS = Check("be three increasing epochs >= 1", lambda v: len(v) == 3 and 0 < v[0] < v[1] < v[2])
#: the parser's input sizes (rows, columns)
PAPER_GROUND = [128, 512]
PAPER_AERIAL = [256, 256]


@dataclass
class ModelOptions:
    """What the model is built from (see :class:`xgeo.lwcnn.model.ModelSpec`)."""

    #: ``fc``: the released SA module; ``none``: our reading of the paper's "without FC" ablation
    attention: str = field(default="fc", metadata={"check": one_of("fc", "none")})
    sa_num: int = field(default=8, metadata={"check": positive})
    #: network input sizes (rows, columns); ``None``: the paper's (ground 128×512, aerial 256×256)
    ground_size: list[int] | None = None
    aerial_size: list[int] | None = None
    #: local ImageNet ResNet-34 weights (torchvision names) for both backbones (never downloaded)
    pretrained: str | None = None


@dataclass
class DataOptions:
    """Which dataset and where it is."""

    dataset: str = field(default="cvusa", metadata={"check": one_of(*DATASETS)})
    #: the dataset folder; ``None``: ``data_root_cvusa`` or ``data_root_cvact`` (the original flags)
    data_root: str | None = None
    data_root_cvusa: str | None = None
    data_root_cvact: str | None = None
    #: folders: ``original`` (the releases), ``flat`` (``grd/`` + ``sat/`` as in the authors' README) or ``auto``
    layout: str = field(default="auto", metadata={"check": one_of("auto", "original", "flat")})
    eval_batch_size: int = field(default=32, metadata={"check": positive})


@dataclass
class LossOptions:
    """The weighted soft-margin triplet loss and its hard-negative schedule."""

    lambda_sm: float = field(default=10.0, metadata={"check": positive})
    hard_topk_ratio: float = field(default=1.0, metadata={"check": RATIO})
    hard_decay1_topk_ratio: float = field(default=0.1, metadata={"check": RATIO})
    hard_decay2_topk_ratio: float = field(default=0.05, metadata={"check": RATIO})
    hard_decay3_topk_ratio: float = field(default=0.01, metadata={"check": RATIO})
    #: first (0-based) epoch of each decayed ratio
    decay_epochs: list[int] = field(default_factory=lambda: [21, 41, 61], metadata={"check": EPOCHS})
    #: CVACT: negatives closer than this (UTM metres) are excluded
    negative_radius_m: float = field(default=25.0, metadata={"check": non_negative})
    #: ``exclude``: masked pairs leave the sum and the count; ``faithful``: the released code's arithmetic
    mask_mode: str = field(default="exclude", metadata={"check": one_of("exclude", "faithful")})


@dataclass
class RunOptions:
    """How the command runs, and original flags kept for compatibility."""

    test: bool = False
    #: weights to test (``--test``) or to start training from; the authors' releases are accepted
    checkpoint: str | None = None
    #: also keep ``checkpoint_ep<E>.pth.tar`` every this many epochs
    save_step: int = field(default=10, metadata={"check": positive})
    #: ``--gpu_ids`` / ``--gpu`` (the same flag): GPU ids, ``-1`` the CPU
    gpu_ids: str | None = None
    start_epoch: int = field(default=0, metadata={"check": non_negative})
    debug: bool = False
    # the readers use the standard split files; other names are refused, not silently ignored
    train_csv: str = field(default="train-19zl.csv", metadata={"check": one_of("train-19zl.csv")})
    val_csv: str = field(default="val-19zl.csv", metadata={"check": one_of("val-19zl.csv")})
    mat_list: str = field(default="ACT_data.mat", metadata={"check": one_of("ACT_data.mat")})


def _choose(dataset: str) -> Any:
    def apply(value: Any, nested: Nested) -> None:
        if value:
            nested["data"]["dataset"] = dataset

    return apply


def _size_part(target: str, index: int, default: list[int]) -> Any:
    def apply(value: Any, nested: Nested) -> None:
        size = list(nested["model"][target] or default)
        size[index] = int(value)
        nested["model"][target] = size

    return apply


def _beta(index: int) -> Any:
    def apply(value: Any, nested: Nested) -> None:
        betas = list(nested["train"]["betas"])
        betas[index] = float(value)
        nested["train"]["betas"] = tuple(betas)

    return apply


def _finalize(nested: Nested) -> None:
    """The dataset's own root flag fills ``data_root`` when no ``--data-root`` is given."""
    data = nested["data"]
    if not data["data_root"]:
        data["data_root"] = data["data_root_cvact"] if data["dataset"] == "cvact" else data["data_root_cvusa"]


#: the original flat keys (argparse destinations and the keys of flat presets); CVACT after CVUSA: it wins
LEGACY: Mapping[str, Any] = {
    "results_dir": "train.out_dir",
    "name": ignored,
    "seed": "train.seed",
    "gpu_ids": "run.gpu_ids",
    "isTrain": ignored,
    "start_epoch": "run.start_epoch",
    "debug": "run.debug",
    "test": "run.test",
    "dataset": "data.dataset",
    "CVUSA": _choose("cvusa"),
    "CVACT": _choose("cvact"),
    "data_root": "data.data_root",
    "data_root_cvusa": "data.data_root_cvusa",
    "data_root_cvact": "data.data_root_cvact",
    "layout": "data.layout",
    "train_csv": "run.train_csv",
    "val_csv": "run.val_csv",
    "mat_list": "run.mat_list",
    "save_step": "run.save_step",
    "checkpoint": "run.checkpoint",
    "ground_size": "model.ground_size",
    "aerial_size": "model.aerial_size",
    "sat_size_h": _size_part("aerial_size", 0, PAPER_AERIAL),
    "sat_size_w": _size_part("aerial_size", 1, PAPER_AERIAL),
    "grd_size_h": _size_part("ground_size", 0, PAPER_GROUND),
    "grd_size_w": _size_part("ground_size", 1, PAPER_GROUND),
    "sa_num": "model.sa_num",
    "attention": "model.attention",
    "pretrained": "model.pretrained",
    "n_epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "batch_size_val": "data.eval_batch_size",
    "lr": "train.lr",
    "b1": _beta(0),
    "b2": _beta(1),
    "lambda_sm": "loss.lambda_sm",
    "hard_topk_ratio": "loss.hard_topk_ratio",
    "hard_decay1_topk_ratio": "loss.hard_decay1_topk_ratio",
    "hard_decay2_topk_ratio": "loss.hard_decay2_topk_ratio",
    "hard_decay3_topk_ratio": "loss.hard_decay3_topk_ratio",
    "negative_radius": "loss.negative_radius_m",
    "mask_mode": "loss.mask_mode",
    "resume": "train.resume",
    "overwrite": "train.overwrite",
    "workers": "train.num_workers",
    "log_every": "train.log_every",
    "max_steps": "train.max_steps",
    "device": "train.device",
    "progress": "train.progress",
}

SCHEMA = ConfigSchema(
    method="lwcnn",
    sections={"model": ModelOptions, "data": DataOptions, "loss": LossOptions, "train": TrainConfig, "run": RunOptions},
    legacy=LEGACY,
    preset_package="xgeo.lwcnn.presets",
    # the original parser's defaults (the shell scripts then ask for 300 epochs: see the presets)
    defaults={
        "train": {
            "out_dir": "./RESULTS", "optimizer": "adam", "lr": 1e-4, "betas": (0.5, 0.999), "batch_size": 32, "epochs": 200,
            "seed": 10, "num_workers": 0,
        }
    },
    finalize=_finalize,
)


def default_preset(given: Mapping[str, Any]) -> str | None:
    """The paper preset of the dataset the flags choose (``--CVACT`` wins, as in the original)."""
    dataset = "cvact" if given.get("CVACT") else "cvusa" if given.get("CVUSA") else given.get("dataset", "cvusa")
    return dataset if dataset in preset_names(SCHEMA) else None


def resolve(given: Mapping[str, Any]) -> Config:
    """The config for the flags the user typed (``given``: argparse destinations, ``config`` included)."""
    return resolve_config(SCHEMA, given, default_preset=default_preset(given))
