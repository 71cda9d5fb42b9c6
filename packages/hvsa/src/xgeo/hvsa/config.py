"""HVSA's config: ``model`` / ``data`` / ``loss`` / ``train`` / ``run`` sections, the flags, and the
original YAML layout (``configs/HVSA_rsitmd.yaml``: ``optim:``, ``loss: adaptive_alignment:``,
``model: seq2vec:``, ``dataset:``, ``random_seed:``, …), which :func:`translate_original` maps onto them.

Precedence, lowest first: the section defaults (the RSITMD paper values), the preset (``--config``
name or path, in our layout or the original's), then the flags typed. Data paths written in a
config (the original's author-local ``dataset.data_path`` / ``image_path`` / ``vocab_path``) give
way to ``--data-root``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xgeo.core.checks import in_range, one_of, positive
from xgeo.core.errors import XgeoError
from xgeo.core.presets import Config, ConfigSchema, Nested, ignored, to
from xgeo.core.presets import resolve as resolve_config
from xgeo.core.runs import say
from xgeo.core.train import TrainConfig
from xgeo.hvsa.loss import CURRICULA, WEIGHTINGS


@dataclass
class ModelOptions:
    """What the model is built from (see :class:`xgeo.hvsa.model.ModelSpec`)."""

    backbone: str = "resnet18"
    image_size: int = field(default=256, metadata={"check": positive})
    word_dim: int = field(default=620, metadata={"check": positive})
    hidden_dim: int = field(default=2400, metadata={"check": positive})
    embed_dim: int = field(default=512, metadata={"check": positive})
    dropout: float = field(default=0.25, metadata={"check": in_range(0.0, 0.99)})
    fixed_emb: bool = False
    kea_units: int = field(default=64, metadata={"check": positive})
    kea_tied: bool = True
    #: local ImageNet ResNet-18 weights (never downloaded)
    pretrained: str | None = None
    #: local skip-thoughts folder (dictionary.txt, utable.npy, uni_skip.npz)
    pretrained_text: str | None = None
    #: the original config's ``model.seq2vec.dir_st`` (used when it exists)
    dir_st: str | None = None


@dataclass
class DataOptions:
    """Which dataset and how it is read and split."""

    data_root: str | None = None
    dataset: str = field(default="rsitmd", metadata={"check": one_of("rsitmd", "rsicd")})
    form: str = field(default="auto", metadata={"check": one_of("auto", "precomp", "json")})
    image_dir: str | None = None
    vocab: str | None = None
    min_count: int = field(default=5, metadata={"check": positive})
    val_ratio: float = field(default=0.9, metadata={"check": in_range(0.0, 1.0)})
    eval_batch_size: int = field(default=256, metadata={"check": positive})
    #: keep decoded training images in memory (small datasets: the demo); each image serves 5 captions
    cache_images: bool = False
    #: training rotation, uniform in [0, max_rotation] degrees (the original's 90); captions that name
    #: places ("in the north") want 0, since a rotated image contradicts them
    max_rotation: float = field(default=90.0, metadata={"check": in_range(0.0, 360.0)})


@dataclass
class LossOptions:
    """Margin α, difficulty weight β, uniformity γ and the optional epoch curriculum."""

    alpha: float = field(default=0.2, metadata={"check": in_range(0.0, 2.0)})
    beta: float = field(default=0.5, metadata={"check": in_range(0.0, 100.0)})
    gamma: float = field(default=2.0, metadata={"check": positive})
    curriculum: str = field(default="none", metadata={"check": one_of(*CURRICULA)})
    weighting: str = field(default="learned", metadata={"check": one_of(*WEIGHTINGS)})
    beta_start: float = field(default=2.0, metadata={"check": in_range(0.0, 100.0)})
    beta_end: float = field(default=0.0, metadata={"check": in_range(0.0, 100.0)})
    pace_epochs: int = field(default=20, metadata={"check": positive})


@dataclass
class RunOptions:
    """The seeded-runs protocol and the original logging keys."""

    experiment_name: str = "HVSA_RSITMD"
    seeds: list[int] = field(default_factory=lambda: [2022, 2023, 2024])
    runs: int = field(default=3, metadata={"check": positive})
    lr_update_epoch: int = field(default=20, metadata={"check": positive})
    eval_step: int = field(default=1, metadata={"check": positive})
    ckpt_save_path: str | None = None
    #: example retrievals printed by hvsa-eval
    examples: int = field(default=3, metadata={"check": in_range(0, 100)})


def _check_equal(key: str, allowed: tuple[str, ...]):
    def apply(value: Any, nested: Nested) -> None:
        if str(value) not in allowed:
            raise XgeoError(None, f"{key}: {value!r} is not supported", f"use {' or '.join(allowed)}")
    return apply


def _grad_clip(value: Any) -> float | None:
    return float(value) if value else None


#: flat keys: argparse destinations and the leaves of the original YAML (see ORIGINAL)
LEGACY: Mapping[str, Any] = {
    "data_root": "data.data_root", "data_path": "data.data_root", "dataset": "data.dataset", "form": "data.form",
    "image_dir": "data.image_dir", "image_path": "data.image_dir", "vocab": "data.vocab", "vocab_path": "data.vocab",
    "min_count": "data.min_count", "val_ratio": "data.val_ratio", "eval_batch_size": "data.eval_batch_size",
    "batch_size_val": "data.eval_batch_size", "cache_images": "data.cache_images", "max_rotation": "data.max_rotation",
    "backbone": "model.backbone", "image_size": "model.image_size", "embed_dim": "model.embed_dim", "dropout": "model.dropout",
    "fixed_emb": "model.fixed_emb", "pretrained": "model.pretrained", "pretrained_text": "model.pretrained_text",
    "dir_st": "model.dir_st", "kea_tied": "model.kea_tied",
    "model_name": _check_equal("model.name", ("HVSA",)), "seq2vec_arch": _check_equal("model.seq2vec.arch", ("skipthoughts",)),
    "seq2vec_type": _check_equal("model.seq2vec.type", ("BayesianUniSkip",)),
    "alpha": "loss.alpha", "beta": "loss.beta", "gamma": "loss.gamma", "curriculum": "loss.curriculum",
    "weighting": "loss.weighting",
    "lr": "train.lr", "epochs": "train.epochs", "batch_size": "train.batch_size", "lr_decay_param": "train.gamma",
    "grad_clip": to("train.grad_clip", _grad_clip), "workers": "train.num_workers", "print_freq": "train.log_every",
    "save_path": "train.out_dir", "overwrite": "train.overwrite", "device": "train.device", "progress": "train.progress",
    "max_steps": "train.max_steps", "warmup_epochs": "train.warmup_epochs",
    "experiment_name": "run.experiment_name", "seeds": "run.seeds", "runs": "run.runs", "lr_update_epoch": "run.lr_update_epoch",
    "eval_step": "run.eval_step", "ckpt_save_path": "run.ckpt_save_path", "examples": "run.examples",
    "finetune": ignored, "resume": ignored, "logger_name": ignored, "current_num": ignored, "GPU": ignored,
}

#: the original YAML's leaves (spec §8) -> flat keys of LEGACY
ORIGINAL: Mapping[tuple[str, ...], str] = {
    ("experiment_name",): "experiment_name", ("GPU",): "GPU",
    ("optim", "epochs"): "epochs", ("optim", "lr"): "lr", ("optim", "lr_decay_param"): "lr_decay_param",
    ("optim", "lr_update_epoch"): "lr_update_epoch", ("optim", "grad_clip"): "grad_clip", ("optim", "alpha"): "alpha",
    ("optim", "resume"): "resume",
    ("loss", "adaptive_alignment", "beta"): "beta", ("loss", "feature_uniformity", "gamma"): "gamma",
    ("model", "name"): "model_name", ("model", "embed", "embed_dim"): "embed_dim", ("model", "finetune"): "finetune",
    ("model", "seq2vec", "arch"): "seq2vec_arch", ("model", "seq2vec", "dir_st"): "dir_st",
    ("model", "seq2vec", "type"): "seq2vec_type", ("model", "seq2vec", "dropout"): "dropout",
    ("model", "seq2vec", "fixed_emb"): "fixed_emb",
    ("logs", "eval_step"): "eval_step", ("logs", "print_freq"): "print_freq", ("logs", "ckpt_save_path"): "ckpt_save_path",
    ("logs", "logger_name"): "logger_name",
    ("random_seed", "seed"): "seeds", ("random_seed", "nums"): "runs", ("random_seed", "current_num"): "current_num",
    ("dataset", "datatype"): "dataset", ("dataset", "data_path"): "data_path", ("dataset", "image_path"): "image_path",
    ("dataset", "vocab_path"): "vocab_path", ("dataset", "batch_size"): "batch_size",
    ("dataset", "batch_size_val"): "batch_size_val", ("dataset", "workers"): "workers",
}
ORIGINAL_ONLY = ("optim", "random_seed", "logs", "GPU")


def is_original(values: Mapping[str, Any]) -> bool:
    """Whether a loaded YAML is in the original HVSA layout."""
    model, loss = values.get("model"), values.get("loss")
    return (any(k in values for k in ORIGINAL_ONLY) or isinstance(values.get("dataset"), Mapping)
            or (isinstance(model, Mapping) and ("seq2vec" in model or "embed" in model))
            or (isinstance(loss, Mapping) and "adaptive_alignment" in loss))


def _leaves(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out: list[tuple[tuple[str, ...], Any]] = []
    for key, value in values.items():
        path = (*prefix, str(key))
        out.extend(_leaves(value, path) if isinstance(value, Mapping) and path not in ORIGINAL else [(path, value)])
    return out


def translate_original(values: dict[str, Any], path: Path) -> dict[str, Any]:
    """An original HVSA YAML as flat LEGACY keys (unknown keys are a one-line error naming the file)."""
    if not is_original(values):
        return values
    flat: dict[str, Any] = {}
    for leaf, value in _leaves(values):
        if leaf not in ORIGINAL:
            raise XgeoError(path, f"unknown key {'.'.join(leaf)}", "use the keys of the original configs/HVSA_*.yaml")
        flat[ORIGINAL[leaf]] = value
    return flat


def _finalize(nested: Nested) -> None:
    """Decay every ``lr_update_epoch`` epochs (at e mod k = k − 1), warm-up at most the run, checkpoints under
    ckpt_save_path/experiment_name."""
    run, train = nested["run"], nested["train"]
    every = int(run["lr_update_epoch"] or 0)
    if every > 0:
        train["milestones"] = tuple(float(e) for e in range(every - 1, int(train["epochs"]), every))
    # a run shorter than the warm-up ramps over its whole length (core refuses warm-up > epochs)
    train["warmup_epochs"] = min(float(train["warmup_epochs"]), float(train["epochs"]))
    if not train["out_dir"] and run["ckpt_save_path"]:
        train["out_dir"] = str(Path(run["ckpt_save_path"]) / str(run["experiment_name"]))


SCHEMA = ConfigSchema(
    method="hvsa",
    sections={"model": ModelOptions, "data": DataOptions, "loss": LossOptions, "train": TrainConfig, "run": RunOptions},
    legacy=LEGACY,
    preset_package="xgeo.hvsa.presets",
    defaults={"train": {"out_dir": "", "epochs": 50, "batch_size": 256, "lr": 5e-4, "optimizer": "adamw",
                        "weight_decay": 0.01, "warmup_epochs": 10.0, "schedule": "step", "gamma": 0.1,
                        "best_metric": "rsum", "num_workers": 2, "log_every": 10}},
    finalize=_finalize,
    translate=translate_original,
)


def resolve(given: Mapping[str, Any]) -> Config:
    """The config for the flags typed; config data paths that do not exist give way to ``--data-root``."""
    config = resolve_config(SCHEMA, given)
    data = config.data
    if "data_root" in given:
        for attr, key in (("image_dir", "image_path"), ("vocab", "vocab_path")):
            value = getattr(data, attr)
            if value and attr not in given and key not in given and Path(value).is_absolute() and not Path(value).exists():
                say(f"{attr} {value} from the config does not exist: using the layout under --data-root instead")
                setattr(data, attr, None)
    elif data.data_root and not Path(data.data_root).is_dir():
        raise XgeoError(config.preset, f"dataset folder {data.data_root} does not exist",
                        "pass --data-root DIR (the folder with train_caps.txt / test_caps.txt) or fix dataset.data_path")
    return config
