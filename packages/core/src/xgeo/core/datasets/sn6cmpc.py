"""SN6-CMPC reader (``specs/cmpc.md`` §2): SAR patch queries against a grid of optical references.

Layout of one setting (e.g. ``SN6-CMPC/samearea``, the folder passed as the root)::

    <split>/annotations/opt/<id>.json     one optical reference; the file stem is its id
    <split>/annotations/sar/<n>.json      one SAR query; ``id`` names its optical reference
    <split>/imgs/opt/<n>.png
    <split>/imgs/sar/<n>.png

Every JSON holds ``id`` (int), ``file_path`` (image name relative to ``imgs/<modality>/``) and
``pos`` (``{"x": .., "y": ..}``, the patch centre in metres of a projected CRS); ``near_id`` (ids
of nearby references) is optional and other keys are ignored. Several SAR queries may share one
optical id. Both sides are ordered by the integer in the JSON file name (as the original loaders
do). Queries = SAR, gallery = optical; the task relates them by id, with locations in metres.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from xgeo.core.datasets import register_dataset
from xgeo.core.datasets._files import check_root, check_split
from xgeo.core.datasets.base import CrossViewSplit, Transform
from xgeo.core.errors import XgeoError
from xgeo.core.task import RetrievalTask

SPLITS = ("train", "test")
MODALITIES = ("opt", "sar")
LAYOUT_TEXT = "<setting>/{train,test}/{annotations,imgs}/{opt,sar}/ (annotations/*.json, imgs/*.png)"
FIX = "fix or restore the annotation file (fields id, file_path, pos{x,y}); or regenerate with `xgeo synth sn6-cmpc`"
_NUMBER = re.compile(r"\d+")


def _sort_key(path: Path) -> tuple[int, int, str]:
    """Order by the (first) integer in the file stem, then by name."""
    found = _NUMBER.search(path.stem)
    return (0, int(found.group()), path.name) if found else (1, 0, path.name)


def _number(value: Any, path: Path, name: str, integer: bool = False) -> float | int:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and integer and isinstance(value, float):
        ok = value.is_integer()
    if not ok or (not integer and not math.isfinite(value)):
        kind = "an integer" if integer else "a finite number"
        raise XgeoError(path, f"field {name!r} must be {kind}, got {value!r}", FIX)
    return int(value) if integer else float(value)


def read_annotation(path: Path) -> dict[str, Any]:
    """One annotation JSON as ``{id, file_path, x, y, near_id}``; anything malformed is one line naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise XgeoError(path, f"malformed annotation JSON (line {err.lineno}, column {err.colno}: {err.msg})", FIX) from None
    except (OSError, UnicodeDecodeError) as err:
        raise XgeoError(path, f"unreadable annotation ({type(err).__name__})", FIX) from None
    if not isinstance(data, dict):
        raise XgeoError(path, f"annotation must be a JSON object, got {type(data).__name__}", FIX)
    for key in ("id", "file_path", "pos"):
        if key not in data:
            raise XgeoError(path, f"annotation has no {key!r} field", FIX)
    pos = data["pos"]
    if not isinstance(pos, dict) or "x" not in pos or "y" not in pos:
        raise XgeoError(path, f"field 'pos' must be an object with 'x' and 'y', got {pos!r}", FIX)
    if not isinstance(data["file_path"], str) or not data["file_path"]:
        raise XgeoError(path, f"field 'file_path' must be a file name, got {data['file_path']!r}", FIX)
    near = data.get("near_id")
    if near is not None and (not isinstance(near, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in near)):
        raise XgeoError(path, f"field 'near_id' must be a list of integer ids, got {near!r}", FIX)
    return {
        "id": _number(data["id"], path, "id", integer=True),
        "file_path": data["file_path"],
        "x": _number(pos["x"], path, "pos.x"),
        "y": _number(pos["y"], path, "pos.y"),
        "near_id": near,
    }


def read_modality(split_dir: Path, modality: str) -> tuple[list[Path], list[dict[str, Any]]]:
    """Annotation files of one modality (sorted) and their parsed content."""
    folder = split_dir / "annotations" / modality
    if not folder.is_dir():
        raise XgeoError(folder, "annotation folder not found", f"restore {LAYOUT_TEXT}")
    files = sorted(folder.glob("*.json"), key=_sort_key)
    if not files:
        raise XgeoError(folder, "no *.json annotations", f"restore {LAYOUT_TEXT}")
    return files, [read_annotation(f) for f in files]


@register_dataset
class SN6CMPC(CrossViewSplit):
    """One SN6-CMPC split: queries = SAR patches, gallery = optical patches, matched by ``id``.

    Attributes beyond the protocol: ``query_labels`` / ``gallery_labels`` (the ids),
    ``query_locations`` / ``gallery_locations`` ``[., 2]`` metres (x, y), ``near_ids`` (per query,
    ``None`` when absent), ``sar_names`` (annotation stems), and ``pairs`` = (SAR, its optical).
    """

    name = "sn6-cmpc"

    def __init__(self, root: str | Path, split: str = "train", transforms: Transform | None = None) -> None:
        check_split(split, SPLITS, "SN6-CMPC")
        root = check_root(root, "SN6-CMPC", LAYOUT_TEXT, required=[f"{split}/annotations"])
        super().__init__(root, split, transforms)
        split_dir = root / split

        opt_files, opt = read_modality(split_dir, "opt")
        index: dict[int, int] = {}
        for path, ann in zip(opt_files, opt, strict=True):
            if ann["id"] in index:
                raise XgeoError(path, f"optical id {ann['id']} appears twice (also in {opt_files[index[ann['id']]].name})", FIX)
            index[ann["id"]] = len(index)
        sar_files, sar = read_modality(split_dir, "sar")
        for path, ann in zip(sar_files, sar, strict=True):
            if ann["id"] not in index:
                raise XgeoError(path, f"SAR id {ann['id']} names no optical annotation in {split}/annotations/opt", FIX)

        self.gallery_files = [split_dir / "imgs" / "opt" / a["file_path"] for a in opt]
        self.query_files = [split_dir / "imgs" / "sar" / a["file_path"] for a in sar]
        self.gallery_labels = np.asarray([a["id"] for a in opt], dtype=np.int64)
        self.query_labels = np.asarray([a["id"] for a in sar], dtype=np.int64)
        self.gallery_locations = np.asarray([(a["x"], a["y"]) for a in opt], dtype=np.float64).reshape(-1, 2)
        self.query_locations = np.asarray([(a["x"], a["y"]) for a in sar], dtype=np.float64).reshape(-1, 2)
        self.near_ids = [a["near_id"] for a in sar]
        self.sar_names = [p.stem for p in sar_files]
        self.pairs = np.stack(
            [np.arange(len(sar)), np.asarray([index[a["id"]] for a in sar], dtype=np.int64)], axis=1
        ).astype(np.int64)
        self.task = RetrievalTask.from_labels(
            self.sar_names, [str(i) for i in self.gallery_labels], self.query_labels, self.gallery_labels,
            query_locations=self.query_locations, gallery_locations=self.gallery_locations, crs="metres",
            name=f"sn6-cmpc-{root.name}-{split}",
        )
