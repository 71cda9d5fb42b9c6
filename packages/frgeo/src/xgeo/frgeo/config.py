"""FRGeo's config: the ``model`` / ``data`` / ``loss`` / ``train`` / ``run`` sections and the
original ``train.py`` flags, mapped in one table (:data:`LEGACY`).

Precedence, lowest first: the section defaults (the original ``train.py`` defaults where it has
the option), the preset (``--config NAME`` or a path; without ``--config`` the paper preset of
``--dataset``/``--cross``), then the flags the user actually typed. See :mod:`xgeo.core.presets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xgeo.core.checks import in_range, non_negative, one_of, positive
from xgeo.core.presets import Config, ConfigSchema, Nested, ignored, preset_names, to
from xgeo.core.presets import resolve as resolve_config
from xgeo.core.train import TrainConfig

#: --op -> (core optimizer, wrapped in SAM)
OPS: dict[str, tuple[str, bool]] = {
    "sgd": ("sgd", False),
    "adam": ("adam", False),
    "adamw": ("adamw", False),
    "sam": ("adamw", True),
}


@dataclass
class ModelOptions:
    """What the model is built from (see :class:`xgeo.frgeo.model.ModelSpec`)."""

    backbone: str = "convnext_tiny"
    #: local ImageNet ConvNeXt weights for both branches (never downloaded)
    pretrained: str | None = None
    #: network input sizes (rows, columns); ``None``: the dataset's paper size
    ground_size: list[int] | None = None
    aerial_size: list[int] | None = None
    fov: int = field(default=0, metadata={"check": in_range(0, 360)})
    frm: str = field(default="branch", metadata={"check": one_of("branch", "by-shape")})
    #: must equal the descriptor length (4 x backbone channels); ``None``: no check
    dim: int | None = field(default=3072, metadata={"check": positive})


@dataclass
class DataOptions:
    """Which dataset, how it is evaluated and how training batches are mined."""

    data_root: str | None = None
    dataset: str = "cvact"
    cross: bool = False
    eval_batch_size: int = field(default=32, metadata={"check": positive})
    mining: bool = False
    mining_start: int = field(default=1, metadata={"check": non_negative})
    pool_size: int = field(default=40_000, metadata={"check": positive})
    top_k: int = field(default=100, metadata={"check": positive})


@dataclass
class LossOptions:
    """The weighted (B+1)-tuple loss."""

    alpha: float = field(default=10.0, metadata={"check": positive})
    #: compute the loss over round-robin sub-batches of this many pairs (2-GPU parity)
    local_batch: int | None = field(default=None, metadata={"check": positive})


@dataclass
class RunOptions:
    """How the command runs: evaluation mode and the original launcher's flags."""

    evaluate: bool = False
    #: ``--op``/``--asam`` as typed (``None``: not said); they set ``train.optimizer`` and ``train.sam``
    op: str | None = field(default=None, metadata={"check": one_of(*OPS)})
    asam: bool | None = None
    gpu: int | None = field(default=None, metadata={"check": non_negative})
    gpu_ids: str | None = None
    start_epoch: int = 0
    dist_url: str | None = None
    dist_backend: str = "nccl"
    multiprocessing_distributed: bool = False
    world_size: int = -1
    rank: int = -1


def _finalize(nested: Nested) -> None:
    """Turn ``--op``/``--asam`` into core's optimizer and SAM mode (``--gpu`` is the launcher's)."""
    run, train = nested["run"], nested["train"]
    if run["op"] in OPS:
        train["optimizer"], wrapped = OPS[run["op"]]
        train["sam"] = ("asam" if run["asam"] else "sam") if wrapped else None
        run["op"] = None
    elif run["asam"] is not None and train["sam"] is not None:
        train["sam"] = "asam" if run["asam"] else "sam"
    run["asam"] = None


#: the original flat keys (argparse destinations and the keys of old flat presets)
LEGACY: Mapping[str, Any] = {
    "data_root": "data.data_root",
    "dataset": "data.dataset",
    "cross": "data.cross",
    "eval_batch_size": "data.eval_batch_size",
    "mining": "data.mining",
    "mining_start": "data.mining_start",
    "pool_size": "data.pool_size",
    "top_k": "data.top_k",
    "backbone": "model.backbone",
    "pretrained": "model.pretrained",
    "ground_size": "model.ground_size",
    "aerial_size": "model.aerial_size",
    "fov": "model.fov",
    "frm": "model.frm",
    "dim": "model.dim",
    "alpha": "loss.alpha",
    "local_batch": "loss.local_batch",
    "lr": "train.lr",
    "batch_size": "train.batch_size",
    "epochs": "train.epochs",
    "wd": "train.weight_decay",
    "momentum": "train.momentum",
    "rho": "train.rho",
    "cos": to("train.schedule", lambda on: "cosine" if on else "constant"),
    "seed": "train.seed",
    "save_path": "train.out_dir",
    "resume": "train.resume",
    "workers": "train.num_workers",
    "print_freq": "train.log_every",
    "checkpoint_every": "train.checkpoint_every",
    "max_steps": "train.max_steps",
    "device": "train.device",
    "progress": "train.progress",
    "op": "run.op",
    "asam": "run.asam",
    "gpu": "run.gpu",
    "gpu_ids": "run.gpu_ids",
    "evaluate": "run.evaluate",
    "overwrite": "train.overwrite",
    "start_epoch": "run.start_epoch",
    "dist_url": "run.dist_url",
    "dist_backend": "run.dist_backend",
    "multiprocessing_distributed": "run.multiprocessing_distributed",
    "world_size": "run.world_size",
    "rank": "run.rank",
    "share": ignored,
}

SCHEMA = ConfigSchema(
    method="frgeo",
    sections={"model": ModelOptions, "data": DataOptions, "loss": LossOptions, "train": TrainConfig, "run": RunOptions},
    legacy=LEGACY,
    preset_package="xgeo.frgeo.presets",
    # the original train.py defaults
    defaults={"train": {"out_dir": "", "lr": 0.03, "epochs": 50, "optimizer": "adam", "seed": 2024, "num_workers": 4}},
    finalize=_finalize,
)


def default_preset(dataset: str, cross: bool) -> str | None:
    """The paper preset of a dataset, used when no ``--config`` is given."""
    name = f"{dataset}_cross" if cross and dataset == "vigor" else dataset
    return name if name in preset_names(SCHEMA) else None


def resolve(given: Mapping[str, Any]) -> Config:
    """The config for the flags the user typed (``given``: argparse destinations, ``config`` included)."""
    fallback = default_preset(given.get("dataset", DataOptions.dataset), bool(given.get("cross", False)))
    return resolve_config(SCHEMA, given, default_preset=fallback)
