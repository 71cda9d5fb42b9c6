"""Checkpoint files: atomic writes, ``weights_only`` reads, resume-path resolution, atomic copies."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from xgeo.core.errors import XgeoError
from xgeo.core.io import PathLike, atomic_write, load_torch, save_torch

CHECKPOINT_NAME = "checkpoint.pth.tar"
BEST_NAME = "model_best.pth.tar"
REQUIRED_KEYS = (
    "epoch",
    "global_step",
    "batch_in_epoch",
    "state_dict",
    "optimizer",
    "scheduler",
    "sampler",
    "rng",
    "best",
    "history",
    "config",
)


def resolve_resume(path: PathLike) -> Path:
    """A checkpoint file, or ``<dir>/checkpoint.pth.tar`` when ``path`` is a run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
        if not path.is_file():
            raise XgeoError(
                path, "no checkpoint in this run directory", "pass a checkpoint file or the out_dir of an earlier run"
            )
    return path


def save_checkpoint(state: dict[str, Any], path: PathLike) -> None:
    """Write a full training state atomically (a crash leaves the previous file intact)."""
    save_torch(state, path)


def load_checkpoint(path: PathLike) -> dict[str, Any]:
    """Read a training checkpoint with ``weights_only=True``; a foreign file is a one-line error."""
    path = resolve_resume(path)
    state = load_torch(path)
    if not isinstance(state, dict):
        raise XgeoError(path, "not an xgeo training checkpoint", "pass a checkpoint.pth.tar written by the xgeo trainer")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise XgeoError(
            path,
            f"not a resumable xgeo training checkpoint (missing {', '.join(missing)})",
            "pass a checkpoint.pth.tar written by the xgeo trainer",
        )
    return state


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(_leaves(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def check_identity(path: PathLike, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to resume a checkpoint written for another method, dataset or model (keys both sides have)."""
    old, new = _leaves(saved), _leaves(current)
    for key, value in new.items():
        if key in old and old[key] != value:
            raise XgeoError(
                path,
                f"checkpoint was written with {key} {old[key]!r}, this run has {value!r}",
                "resume with the settings of that run, or start a new run without --resume",
            )


def copy_atomic(src: PathLike, dst: PathLike) -> None:
    """Copy ``src`` onto ``dst`` so that ``dst`` is always either the old or the complete new file."""
    with atomic_write(dst) as tmp:
        shutil.copyfile(src, tmp)


_PLAIN = (int, float, str, bool, type(None))


def check_plain(obj: Any, where: str) -> None:
    """Raise ``TypeError`` unless ``obj`` is tensors / lists / tuples / dicts / numbers / strings / None only.

    Anything else (numpy arrays or scalars, custom classes) would make the checkpoint unloadable with
    ``weights_only=True``; this catches it when the checkpoint is written rather than when it is resumed.
    """
    stack = [(obj, where)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, torch.Tensor) or type(value) in _PLAIN:
            continue
        if type(value) in (list, tuple):
            if all(type(v) in _PLAIN for v in value):
                continue
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(value))
        elif type(value) is dict:
            stack.extend((v, f"{at}[{k!r}]") for k, v in value.items())
        else:
            raise TypeError(
                f"{at} is a {type(value).__module__}.{type(value).__name__}; checkpoints hold only tensors, "
                "lists, tuples, dicts, numbers, strings and None (convert numpy arrays with torch.from_numpy)"
            )
