"""CVACT reader (``specs/datasets-crossview.md`` §2): ``ACT_data.mat`` + panoramas + aerial images.

Split ``train`` = ``trainSet.trainInd``, ``val`` = ``valSet.valInd`` (CVACT_val), ``test`` =
``valSetAll.valInd`` (CVACT_test); indices are 1-based into ``panoIds``/``utm``. As in
TransGeo/FRGeo, pairs whose ground or aerial file is missing are skipped (the count is logged and
kept in :attr:`CVACT.num_missing`) and the query and gallery lists stay aligned. Queries are cropped
to the middle half of their rows (``H/4 .. 3H/4``) unless ``crop_middle=False``. Locations are
UTM metres. ``layout="flat"`` reads the Light_CVGL folders ``grd/`` and ``sat/`` instead of
``streetview/`` and ``satview_polish/``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from xgeo.core.datasets import register_dataset
from xgeo.core.datasets._files import check_root, check_split
from xgeo.core.datasets.base import CrossViewSplit, Transform
from xgeo.core.errors import XgeoError
from xgeo.core.io import read_image
from xgeo.core.task import RetrievalTask

log = logging.getLogger(__name__)

MAT_FILE = "ACT_data.mat"
#: split -> (struct, field) in ACT_data.mat
SPLIT_FIELDS = {"train": ("trainSet", "trainInd"), "val": ("valSet", "valInd"), "test": ("valSetAll", "valInd")}
GROUND = "streetview/{}_grdView.jpg"
AERIAL = "satview_polish/{}_satView_polish.jpg"
LAYOUT_TEXT = "ANU_data_small/{ACT_data.mat, streetview/<id>_grdView.jpg, satview_polish/<id>_satView_polish.jpg}"
#: layout -> (ground, aerial) file patterns; ``flat`` is the Light_CVGL README's ``grd/`` + ``sat/``
LAYOUTS = {
    "original": (GROUND, AERIAL),
    "flat": ("grd/{}_grdView.jpg", "sat/{}_satView_polish.jpg"),
}
FIX = "restore ACT_data.mat from the CVACT release (or regenerate with `xgeo synth cvact`)"


def _load_mat(path: Path) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(path)
    except Exception as err:  # noqa: BLE001 - any parse failure means a broken file
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise XgeoError(path, f"unreadable .mat file ({first[:120]})", FIX) from None


def _pano_ids(mat: dict, path: Path) -> list[str]:
    if "panoIds" not in mat:
        raise XgeoError(path, "field panoIds is missing", FIX)
    raw = np.asarray(mat["panoIds"])
    if raw.dtype.kind == "U":  # char matrix -> one string per row
        return [str(s).strip() for s in raw.reshape(-1)]
    return [str(np.asarray(s).reshape(-1)[0]).strip() for s in raw.reshape(-1)]  # cell array of strings


def _indices(mat: dict, struct: str, field: str, n: int, path: Path) -> np.ndarray:
    """0-based global indices of one split, checked."""
    try:
        raw = np.asarray(mat[struct][field][0][0], dtype=np.float64).reshape(-1)
    except (KeyError, ValueError, IndexError, TypeError):
        raise XgeoError(path, f"field {struct}.{field} is missing or not numeric", FIX) from None
    if raw.size and (np.any(raw != np.round(raw)) or raw.min() < 1 or raw.max() > n):
        raise XgeoError(path, f"{struct}.{field} holds indices outside 1..{n} (the file is 1-based)", FIX)
    return raw.astype(np.int64) - 1


def crop_middle_rows(panorama: torch.Tensor) -> torch.Tensor:
    """Rows ``H/4 .. 3H/4`` of a ``[C, H, W]`` CVACT panorama: the ground band every method uses."""
    h = panorama.shape[1]
    return panorama[:, h // 4 : h // 4 * 3]


@register_dataset
class CVACT(CrossViewSplit):
    """One CVACT split: query ``k`` = panorama of the ``k``-th kept pair, gallery ``k`` = its aerial image."""

    name = "cvact"

    def __init__(self, root: str | Path, split: str = "train", transforms: Transform | None = None,
                 crop_middle: bool = True, layout: str = "original") -> None:
        check_split(split, SPLIT_FIELDS, "CVACT")
        if layout not in LAYOUTS:
            raise XgeoError(None, f"unknown CVACT layout {layout!r}", f"use one of: {', '.join(LAYOUTS)}")
        root = check_root(root, "CVACT", LAYOUT_TEXT, required=[MAT_FILE])
        super().__init__(root, split, transforms)
        self.crop_middle = crop_middle
        self.layout = layout
        ground_pattern, aerial_pattern = LAYOUTS[layout]
        path = root / MAT_FILE
        mat = _load_mat(path)
        all_ids = _pano_ids(mat, path)
        utm = np.asarray(mat.get("utm", np.zeros((0, 2))), dtype=np.float64)
        if utm.shape != (len(all_ids), 2):
            raise XgeoError(path, f"utm has shape {utm.shape}, expected ({len(all_ids)}, 2)", FIX)
        index = _indices(mat, *SPLIT_FIELDS[split], len(all_ids), path)

        self.ids: list[str] = []
        self.global_index: list[int] = []
        self.query_files, self.gallery_files = [], []
        self.num_missing = 0
        for g in index:
            pid = all_ids[g]
            ground, aerial = root / ground_pattern.format(pid), root / aerial_pattern.format(pid)
            if not (ground.is_file() and aerial.is_file()):
                self.num_missing += 1
                continue
            self.ids.append(pid)
            self.global_index.append(int(g))
            self.query_files.append(ground)
            self.gallery_files.append(aerial)
        if self.num_missing:
            log.warning("CVACT %s: skipped %d of %d pairs whose image files are missing under %s",
                        split, self.num_missing, len(index), root)
        if not self.ids:
            raise XgeoError(root, f"CVACT split {split!r} has no pair with both image files present",
                            f"check the {ground_pattern.split('/')[0]}/ and {aerial_pattern.split('/')[0]}/ folders")
        n = len(self.ids)
        self.locations = utm[np.asarray(self.global_index)]
        self.pairs = np.stack([np.arange(n), np.arange(n)], axis=1).astype(np.int64)
        self.task = RetrievalTask.one_to_one(self.ids, self.ids, query_locations=self.locations,
                                             gallery_locations=self.locations, crs="metres", name=f"cvact-{split}")

    @staticmethod
    def prepare_query(image: torch.Tensor) -> torch.Tensor:
        """A raw CVACT panorama as the methods see it: rows ``H/4 .. 3H/4``."""
        return crop_middle_rows(image)

    def load_query(self, index: int) -> torch.Tensor:
        """The panorama, cropped to rows ``H/4 .. 3H/4`` when ``crop_middle``."""
        img = read_image(self.query_files[index])
        return crop_middle_rows(img) if self.crop_middle else img
