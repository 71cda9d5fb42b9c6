"""PLCD's data: the six-sector drone sampler, the training sets of G2D and D2S, transforms, evaluation splits.

A training item is one anchor (a street image for G2D, a satellite tile for D2S) with six drone
positives of its building: positive ``k`` is a frame drawn uniformly from sector ``k`` (60 degrees of
azimuth) at any altitude ring. With ``ring`` frames per ring and ``rings`` rings, sector ``k`` holds
frames ``{k s + i + 1 + ring r}`` with ``s = ring / 6`` (University-1652: ring 18, s 3, three rings,
so ``{3k+1, 3k+2, 3k+3, +18, +36}``). Training images are resized (bicubic), edge-padded by 10,
randomly cropped back, randomly flipped and ImageNet-normalised; test images are resized and normalised.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2 as T
from torchvision.transforms.v2 import functional as TF

from xgeo.core.datasets import University1652
from xgeo.core.datasets.transforms import IMAGENET_MEAN, IMAGENET_STD
from xgeo.core.datasets.university1652 import frame_number, train_drone_index
from xgeo.core.errors import XgeoError
from xgeo.core.io import read_image

SECTORS = 6
#: model kind -> (anchor view, evaluation query view, evaluation gallery view)
KIND_VIEWS = {"g2d": ("street", "street", "drone"), "d2s": ("satellite", "drone", "satellite")}


def sector_frames(sector: int, ring: int = 18, rings: int = 3) -> list[int]:
    """The frame numbers (1-based) of a 60-degree sector over every altitude ring."""
    if ring % SECTORS:
        raise XgeoError(None, f"--ring {ring} is not a multiple of {SECTORS}", "use the frames per altitude ring (18)")
    size = ring // SECTORS
    return [sector * size + i + 1 + ring * r for r in range(rings) for i in range(size)]


class SectorSampler:
    """Six drone positives per building, one per sector (Python ``random``, as the original)."""

    def __init__(self, files: Sequence[Path], classes: np.ndarray, ring: int = 18, rings: int = 3) -> None:
        frames: dict[int, dict[int, Path]] = {}
        for path, cls in zip(files, classes, strict=True):
            frames.setdefault(int(cls), {})[frame_number(path.name)] = path
        self.by_sector: dict[int, list[list[Path]]] = {}
        for cls, table in frames.items():
            sectors = [[table[f] for f in sector_frames(k, ring, rings) if f in table] for k in range(SECTORS)]
            if any(not s for s in sectors):
                empty = next(k for k, s in enumerate(sectors) if not s)
                raise XgeoError(next(iter(table.values())).parent, f"no drone frame in sector {empty} "
                                f"(frames {sector_frames(empty, ring, rings)})",
                                "check --ring / --rings against the drone folders")
            self.by_sector[cls] = sectors

    def __call__(self, cls: int) -> list[Path]:
        """One frame per sector of building class ``cls``."""
        if cls not in self.by_sector:
            raise XgeoError(None, f"building class {cls} has no drone images", "check train/drone and its index files")
        return [random.choice(sector) for sector in self.by_sector[cls]]


class TrainTransform:
    """Resize (bicubic) -> edge pad 10 -> random crop -> random horizontal flip -> normalise."""

    def __init__(self, size: Sequence[int], pad: int = 10) -> None:
        self.size = [int(s) for s in size]
        self.crop = T.RandomCrop(self.size)
        self.pad = pad

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        x = TF.resize(image, self.size, interpolation=T.InterpolationMode.BICUBIC, antialias=True)
        x = self.crop(TF.pad(x, [self.pad] * 4, padding_mode="edge"))
        if random.random() < 0.5:
            x = TF.horizontal_flip(x)
        return TF.normalize(x, list(IMAGENET_MEAN), list(IMAGENET_STD))


class TestTransform:
    """Resize (bicubic) and normalise the ``"query"``/``"gallery"`` entries of a sample (or one image)."""

    def __init__(self, size: Sequence[int]) -> None:
        self.size = [int(s) for s in size]

    def image(self, image: torch.Tensor) -> torch.Tensor:
        x = TF.resize(image, self.size, interpolation=T.InterpolationMode.BICUBIC, antialias=True).clamp(0, 1)
        return TF.normalize(x, list(IMAGENET_MEAN), list(IMAGENET_STD))

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        return {k: self.image(v) if k in ("query", "gallery") else v for k, v in sample.items()}


class AnchorDroneSet(Dataset):
    """Training items ``{"anchor", "positives" [6, 3, H, W], "label"}``; labels are drone class indices."""

    def __init__(self, root: str | Path, kind: str, size: Sequence[int], ring: int = 18, rings: int = 3) -> None:
        anchor_view = KIND_VIEWS[kind][0]
        anchors = University1652(root, "train", query=anchor_view, gallery="drone")
        drone_files, drone_classes = train_drone_index(root)
        buildings = sorted({p.parent.name for p in drone_files})
        rank = {b: i for i, b in enumerate(buildings)}
        self.files = anchors.query_files
        missing = [p for p in self.files if p.parent.name not in rank]
        if missing:
            raise XgeoError(missing[0], "its building has no training drone images", "restore train/drone for it")
        self.labels = [rank[p.parent.name] for p in self.files]
        self.num_classes = len(buildings)
        self.sampler = SectorSampler(drone_files, drone_classes, ring, rings)
        self.transform = TrainTransform(size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        label = self.labels[index]
        positives = [self.transform(read_image(p)) for p in self.sampler(label)]
        return {"anchor": self.transform(read_image(self.files[index])), "positives": torch.stack(positives),
                "label": torch.tensor(label)}


@dataclass(frozen=True)
class EvalViews:
    """Which test folders a model kind is evaluated on."""

    query: str
    gallery: str
    gallery_folder: str | None = None


def eval_views(kind: str, drone_gallery: str = "gallery_drone") -> EvalViews:
    """G2D: street queries against the drone gallery; D2S: drone queries against the satellite gallery."""
    _, query, gallery = KIND_VIEWS[kind]
    return EvalViews(query, gallery, drone_gallery if gallery == "drone" else None)


def open_test_split(root: str | Path, views: EvalViews, size: Sequence[int]) -> University1652:
    """The test split of ``views`` through core's reader, with the test transform."""
    if not root:
        raise XgeoError(None, "no dataset given", "pass --data_dir pointing at your University-1652 folder")
    return University1652(root, "test", transforms=TestTransform(size), query=views.query, gallery=views.gallery,
                          gallery_folder=views.gallery_folder)
