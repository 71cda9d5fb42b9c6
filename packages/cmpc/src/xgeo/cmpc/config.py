"""CMPC's config: sections ``model`` / ``data`` / ``coarse`` / ``refine`` / ``train`` / ``run`` and the keys
of the original experiment JSON (``experiments/*.json``, ``specs/cmpc.md`` §8) in one table (:data:`LEGACY`).

``cmpc-train exp_name CONFIG`` takes a shipped preset name (``same_advwd_gnn_e2e``, ``demo``), a YAML
preset, or an original experiment JSON (flat keys); flags typed on the command line override it.
Keys the original declares but never used (``optim``, ``model``, ``drop``, ``trial``, ...) are accepted and
ignored; keys that switch off a behaviour we do not implement are refused with one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from xgeo.core.checks import in_range, non_negative, one_of, positive
from xgeo.core.errors import XgeoError
from xgeo.core.presets import Config, ConfigSchema, Nested, ignored, to
from xgeo.core.presets import resolve as resolve_config
from xgeo.core.train import TrainConfig

DEFAULT_PRESET = "same_advwd_gnn_e2e"


@dataclass
class ModelOptions:
    """What the model is built from (see :class:`xgeo.cmpc.model.ModelSpec`)."""

    arch: str = "resnet50"
    pretrained: str | None = None
    low_dim: int = field(default=512, metadata={"check": positive})
    image_size: int = field(default=200, metadata={"check": positive})
    #: must equal the backbone's descriptor length (2048 for ResNet-50); ``None``: no check
    net_channels: int | None = field(default=None, metadata={"check": positive})
    node_topk: int = field(default=10, metadata={"check": positive})
    edge_topk: int = field(default=5, metadata={"check": positive})
    edge_mode: str = field(default="position", metadata={"check": one_of("position", "feature")})
    edge_sigma: float = field(default=100.0, metadata={"check": positive})
    edge_weight: bool = False
    node_func: str = field(default="cat", metadata={"check": one_of("cat", "product", "sum")})
    reference_compat: bool = False


@dataclass
class DataOptions:
    """The dataset folder (``<setting>``, e.g. ``SN6-CMPC/samearea``) and evaluation batches."""

    data_root: str | None = None
    test_batch: int = field(default=32, metadata={"check": positive})
    hflip: bool = True
    #: training only: random shift of each view by up to this many pixels (0 = off, as in the release at 200 px)
    shift: int = field(default=0, metadata={"check": non_negative})


@dataclass
class CoarseOptions:
    """The embedding phase's losses and the projector's learning rate."""

    lr_mlp: float = field(default=0.025, metadata={"check": positive})
    margin: float = field(default=0.5, metadata={"check": non_negative})
    critic: bool = True
    lambda_cls: float = field(default=0.01, metadata={"check": non_negative})
    lr_d: float = field(default=1e-3, metadata={"check": positive})
    d_steps: int = field(default=5, metadata={"check": positive})
    clip: float = field(default=0.1, metadata={"check": positive})


@dataclass
class RefineOptions:
    """The refinement phase (``None``: the value of the embedding phase's ``train`` section)."""

    epochs: int | None = field(default=None, metadata={"check": positive})
    lr: float | None = field(default=None, metadata={"check": positive})
    margin: float = field(default=0.3, metadata={"check": non_negative})
    loss_weight: float = field(default=1.0, metadata={"check": non_negative})


@dataclass
class RunOptions:
    """Where runs go and what the test reports."""

    exp_name: str = "cmpc"
    result_path: str = "results"
    emb_feat: str = "embed_feats"
    param_path: str | None = None
    emb_feat_path: str | None = None
    refine_eval: bool = True
    thresholds: list[float] = field(default_factory=lambda: [50.0, 100.0, 150.0, 200.0])
    threshold_preset: str | None = field(default=None, metadata={"check": one_of("metres", "reference-grid")})
    #: ``specify_num``: modality-specific leading stages; only 0 (fully shared, the paper) is implemented
    specify_num: int = field(default=0, metadata={"check": in_range(0, 0)})
    #: torch CPU threads (``None``: torch's default); 1 is much faster on a machine shared with other jobs
    threads: int | None = field(default=None, metadata={"check": positive})


def _data_classes(value: Any, nested: Nested) -> None:
    """``train_dataset`` / ``refine_dataset`` / ``test_dataset``: the SN6 classes are the only ones we read."""
    known = {"SN6LocMultiAlignData", "GNN_PostTrainDataset", "SN6LocTestData"}
    if value not in known:
        raise XgeoError(None, f"dataset class {value!r} is not implemented", f"use one of {', '.join(sorted(known))}")


def _embed_loss(value: Any, nested: Nested) -> None:
    names = list(value) if isinstance(value, list | tuple) else [value]
    if "Triplet_Loss" not in names:
        raise XgeoError(None, f"embed_loss {names} has no Triplet_Loss",
                        "CMPC's embedding loss is Triplet_Loss (+ Wasserstein_Loss)")
    nested["coarse"]["critic"] = "Wasserstein_Loss" in names


def _must_be(expected: Any, key: str):
    def apply(value: Any, nested: Nested) -> None:
        if value != expected:
            raise XgeoError(None, f"{key}={value!r} is not implemented", f"use {key}: {expected!r} (the e2e configuration)")

    return apply


#: the original experiment JSON keys (and the argparse destinations of our flags)
LEGACY: Mapping[str, Any] = {
    # data and outputs
    "data_path": "data.data_root", "data_root": "data.data_root", "test_batch": "data.test_batch", "hflip": "data.hflip",
    "shift": "data.shift",
    "result_path": "run.result_path", "exp_name": "run.exp_name", "emb_feat": "run.emb_feat",
    "param_path": "run.param_path", "emb_feat_path": "run.emb_feat_path", "refine_eval": "run.refine_eval",
    "thresholds": "run.thresholds", "threshold_preset": "run.threshold_preset", "specify_num": "run.specify_num",
    "threads": "run.threads",
    # model and graph
    "arch": "model.arch", "pretrained": "model.pretrained", "low_dim": "model.low_dim", "image_size": "model.image_size",
    "net_channels": "model.net_channels", "node_topk": "model.node_topk", "edge_topk": "model.edge_topk",
    "graphedge_sigma": "model.edge_sigma", "edge_weight": "model.edge_weight", "node_func": "model.node_func",
    "KNN_inner": to("model.edge_mode", lambda on: "feature" if on else "position"), "edge_mode": "model.edge_mode",
    "reference_compat": "model.reference_compat",
    # coarse losses
    "lr_mlp": "coarse.lr_mlp", "lambda_cls": "coarse.lambda_cls", "lr_d": "coarse.lr_d", "D_epoch": "coarse.d_steps",
    "embed_loss": _embed_loss,
    # refinement
    "gnn_loss_weight": "refine.loss_weight", "refine_epochs": "refine.epochs", "refine_lr": "refine.lr",
    # training
    "lr": "train.lr", "epochs": "train.epochs", "batch_size": "train.batch_size", "warm_epoch": "train.warmup_epochs",
    "workers": "train.num_workers", "seed": "train.seed", "resume": "train.resume", "device": "train.device",
    "max_steps": "train.max_steps", "progress": "train.progress", "overwrite": "train.overwrite",
    # declared by the original and fixed there; checked or ignored here
    "train_dataset": _data_classes, "refine_dataset": _data_classes, "test_dataset": _data_classes,
    "model": _must_be("embed_GNN", "model"), "graph_model": _must_be("ATEM", "graph_model"),
    "tri_in": _must_be("out_vec", "tri_in"), "D_input": _must_be("out_vec", "D_input"),
    "graph_in": _must_be("out_feat", "graph_in"), "self_mode": _must_be(False, "self_mode"),
    "encode_pos": _must_be(False, "encode_pos"), "end2end": _must_be(False, "end2end"),
    "shortcut": _must_be(False, "shortcut"), "gnn_softmax": _must_be(False, "gnn_softmax"),
    "per_img": _must_be(1, "per_img"),
    **{key: ignored for key in (
        "optim", "refine_loss", "loss", "save_epoch", "feat_dim", "img_w", "img_h", "drop", "trial", "mode", "thd",
        "pos_eval", "gnn_drop", "gnn_detach", "pos_mlp", "transform_train_base", "transform_test",
        "transform_train_sar", "transform_train_aux", "IOU_weight", "adv_train")},
}

SCHEMA = ConfigSchema(
    method="cmpc",
    sections={"model": ModelOptions, "data": DataOptions, "coarse": CoarseOptions, "refine": RefineOptions,
              "train": TrainConfig, "run": RunOptions},
    legacy=LEGACY,
    preset_package="xgeo.cmpc.presets",
    # the paper: SGD with Nesterov momentum, lr 0.0025, wd 5e-4, x0.1 every 20 epochs, batch 24, 30 epochs, seed 1
    defaults={"train": {"out_dir": "", "lr": 0.0025, "epochs": 30, "batch_size": 24, "optimizer": "sgd_nesterov",
                        "momentum": 0.9, "weight_decay": 5e-4, "schedule": "step", "milestones": (20.0,), "gamma": 0.1,
                        "seed": 1, "best_metric": "R@1"}},
)


def resolve(given: Mapping[str, Any]) -> Config:
    """The config for a preset/JSON (``given["config"]``, else the paper preset) and the typed flags."""
    return resolve_config(SCHEMA, given, default_preset=DEFAULT_PRESET)
