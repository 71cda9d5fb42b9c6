"""CVUSA reader: ground panoramas (queries) against north-up aerial images, one-to-one.

Layouts (``specs/datasets-crossview.md`` §1):

- ``original``: ``splits/train-19zl.csv`` and ``splits/val-19zl.csv`` list
  ``aerial,panorama,annotation`` paths relative to the root (no header); they are joined to the
  root as written.
- ``flat`` (Light_CVGL): only the basename of column 0 is used: aerial ``sat/<name>``, ground
  ``grd/<stem>.png``.

Split ``test`` is ``val-19zl.csv`` (the set every paper reports on). Row ``i`` is pair ``i``.
Panoramas are north-aligned with north at the centre column.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np

from xgeo.core.datasets import register_dataset
from xgeo.core.datasets._files import check_root, check_split, read_lines
from xgeo.core.datasets.base import CrossViewSplit, Transform
from xgeo.core.errors import XgeoError
from xgeo.core.task import RetrievalTask

SPLIT_FILES = {"train": "splits/train-19zl.csv", "test": "splits/val-19zl.csv"}
LAYOUT_TEXT = {
    "original": "CVUSA/{bingmap/19/*.jpg, streetview/panos/*.jpg, splits/train-19zl.csv, splits/val-19zl.csv}",
    "flat": "CVUSA/{sat/*.jpg, grd/*.png, splits/train-19zl.csv, splits/val-19zl.csv}",
}


def _original(root: Path, columns: list[str]) -> tuple[Path, Path]:
    return root / columns[1], root / columns[0]


def _flat(root: Path, columns: list[str]) -> tuple[Path, Path]:
    name = PurePosixPath(columns[0].replace("\\", "/")).name
    return root / "grd" / (PurePosixPath(name).stem + ".png"), root / "sat" / name


#: layout -> (root, CSV columns) -> (ground path, aerial path)
LAYOUTS: dict[str, Callable[[Path, list[str]], tuple[Path, Path]]] = {"original": _original, "flat": _flat}


@register_dataset
class CVUSA(CrossViewSplit):
    """One CVUSA split: query ``i`` = panorama of CSV row ``i``, gallery ``i`` = its aerial image."""

    name = "cvusa"

    def __init__(self, root: str | Path, split: str = "train", transforms: Transform | None = None,
                 layout: str = "original") -> None:
        check_split(split, SPLIT_FILES, "CVUSA")
        if layout not in LAYOUTS:
            raise XgeoError(None, f"unknown CVUSA layout {layout!r}", f"use one of: {', '.join(LAYOUTS)}")
        root = check_root(root, "CVUSA", LAYOUT_TEXT[layout])
        super().__init__(root, split, transforms)
        self.layout = layout
        csv = root / SPLIT_FILES[split]
        lines = read_lines(csv, "CVUSA split file",
                           f"restore {SPLIT_FILES[split]} of the CVUSA release (or regenerate with `xgeo synth cvusa`)")
        self.ids: list[str] = []
        self.query_files, self.gallery_files = [], []
        for number, line in lines:
            columns = [c.strip() for c in line.split(",")]
            if len(columns) != 3 or not all(columns):
                raise XgeoError(csv, f"line {number}: expected 3 comma-separated paths (aerial,panorama,annotation), "
                                     f"got {len(columns)} column(s)", "fix or restore the split file")
            ground, aerial = LAYOUTS[layout](root, columns)
            self.ids.append(PurePosixPath(columns[0].replace("\\", "/")).stem)
            self.query_files.append(ground)
            self.gallery_files.append(aerial)
        if not self.ids:
            raise XgeoError(csv, "split file lists no pairs", "restore the split file")
        n = len(self.ids)
        self.pairs = np.stack([np.arange(n), np.arange(n)], axis=1).astype(np.int64)
        self.task = RetrievalTask.one_to_one(self.ids, self.ids, name=f"cvusa-{split}")
