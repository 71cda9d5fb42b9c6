"""What every method's commands do around a run: run folders, checkpoints, features, console lines.

- :func:`prepare_run_dir`: refuse to train into a folder that holds a run, unless resuming it or
  told ``--overwrite``; checked when the command starts.
- :func:`resolve_checkpoint`: a checkpoint file, or the best (else latest) one in a run folder.
- :func:`write_split_features`: query and gallery descriptors in the feature-store schema.
- :func:`say` and :data:`logger`: console lines from rank 0 only.
- :func:`format_metrics`: ``R@1 12.34  R@5 ...``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from xgeo.core.errors import XgeoError
from xgeo.core.train.checkpoint import BEST_NAME, CHECKPOINT_NAME
from xgeo.core.train.distributed import process_info
from xgeo.core.train.records import RUN_FILES, prepare_run_dir

__all__ = [
    "GALLERY_FILE", "QUERY_FILE", "RUN_FILES", "format_metrics", "is_main_process", "logger", "prepare_run_dir",
    "resolve_checkpoint", "say", "write_split_features",
]

logger = logging.getLogger("xgeo")

QUERY_FILE = "query.h5"
GALLERY_FILE = "gallery.h5"
#: metric keys in the order they are printed
METRIC_ORDER = ("R@1", "R@5", "R@10", "R@1%", "hit", "mAP")


def is_main_process() -> bool:
    """Rank 0 of a ``torchrun`` job, or the only process."""
    return process_info().is_main


def say(message: str) -> None:
    """One informational line on stdout, from rank 0 only."""
    if is_main_process():
        print(message, flush=True)


def resolve_checkpoint(path: str | os.PathLike, command: str = "the method's train command") -> Path:
    """A checkpoint file, or the best (else latest) checkpoint inside a run folder."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST_NAME, CHECKPOINT_NAME):
            if (path / name).is_file():
                return path / name
        raise XgeoError(
            path, f"no {BEST_NAME} or {CHECKPOINT_NAME} in this folder", f"pass a checkpoint file or a run folder of {command}"
        )
    if not path.is_file():
        raise XgeoError(path, "checkpoint not found", "check the path")
    return path


def write_split_features(
    out_dir: str | os.PathLike,
    query: Any,
    gallery: Any,
    task: Any,
    method: str,
    views: tuple[str, str] = ("ground", "aerial"),
    normalized: bool = True,
    *,
    split: Any = None,
) -> tuple[Path, Path]:
    """Write ``query.h5`` and ``gallery.h5`` (feature-store schema, ids/labels/locations of ``task``).

    With ``split`` (a reader with ``query_files``, ``gallery_files`` and ``root``), each file also gets
    ``/paths``: the image of every row, relative to the ``image_root`` attribute (the split's root).
    """
    from xgeo.core.features import FeatureSet, relative_paths, write_features

    out_dir = Path(out_dir)
    paths = out_dir / QUERY_FILE, out_dir / GALLERY_FILE
    for path, feats, side, view in ((paths[0], query, "query", views[0]), (paths[1], gallery, "gallery", views[1])):
        array = feats.detach().cpu().numpy() if hasattr(feats, "detach") else np.asarray(feats)
        fs = FeatureSet.from_task(
            np.ascontiguousarray(array, dtype=np.float32), task, side=side, view=view, method=method, normalized=normalized
        )
        if split is not None:
            rel, root = relative_paths(getattr(split, f"{side}_files"), split.root)
            fs = dataclasses.replace(fs, paths=rel, image_root=root)
        write_features(path, fs)
    return paths


def format_metrics(metrics: Mapping[str, Any], keys: Iterable[str] | None = None) -> str:
    """``R@1 12.34  R@5 ...`` for the metric keys present (``keys`` or the usual order)."""
    chosen = [k for k in (keys or METRIC_ORDER) if k in metrics]
    return "  ".join(f"{k} {float(metrics[k]):.2f}" for k in chosen)
