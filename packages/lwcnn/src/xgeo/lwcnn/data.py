"""The lightweight CNN's datasets: one profile per dataset and the input transform.

Metrics come from core's one metric path (``crossview`` protocol) with this paper's R@1%
convention, ``r < 0.01·N`` (``float``: K = ceil(N/100)). Preprocessing: each view is resized to
the network size (the released loaders do not resize, so their files had to be pre-resized) and
scaled to [−1, 1] (mean 0.5, std 0.5); no augmentation. CVACT panoramas are cropped to their
middle rows by core's reader first, which gives the 1:4 aspect of the 128×512 input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xgeo.core.datasets import CrossViewSplit, DatasetProfile
from xgeo.core.datasets.transforms import ResizeViews
from xgeo.core.errors import XgeoError
from xgeo.core.registry import Registry
from xgeo.lwcnn.model import ModelSpec

#: LightCNN's R@1%: a query counts when r < 0.01·N (mutual_topk_acc with topk = 0.01·N)
PERCENT_CONVENTION = "float"
#: inputs scaled to [-1, 1]
MEAN = STD = (0.5, 0.5, 0.5)

Size = tuple[int, int]


def folder_layout(options: Any) -> str:
    """``options.layout``, with ``auto`` = ``flat`` (the authors' ``grd/`` + ``sat/``) when those folders exist."""
    if options.layout != "auto":
        return options.layout
    root = Path(options.data_root or ".")
    return "flat" if (root / "grd").is_dir() and (root / "sat").is_dir() else "original"


def cvusa_options(options: Any) -> dict[str, Any]:
    """Reader options of CVUSA: the folder layout."""
    return {} if options is None else {"layout": folder_layout(options)}


def cvact_options(options: Any) -> dict[str, Any]:
    """Reader options of CVACT: the folder layout; ``flat`` panoramas are used as stored (no middle-row crop)."""
    if options is None:
        return {}
    layout = folder_layout(options)
    return {"layout": layout, "crop_middle": layout == "original"}


@dataclass(frozen=True, kw_only=True)
class LwcnnProfile(DatasetProfile):
    """How the lightweight CNN reads, sizes and evaluates one dataset."""

    ground_size: Size = (128, 512)
    aerial_size: Size = (256, 256)
    #: whether the reader's UTM locations mask near negatives in the loss
    masks_near_negatives: bool = False
    percent_convention: str | None = PERCENT_CONVENTION


PROFILES: Registry[LwcnnProfile] = Registry("dataset", "--dataset")
PROFILES.register(
    "cvusa",
    LwcnnProfile(
        name="cvusa",
        eval_split="test",
        reader_options=cvusa_options,
        selection="CVUSA: like the original, the best epoch is chosen on the split it reports (val-19zl).",
    ),
)
PROFILES.register(
    "cvact",
    LwcnnProfile(
        name="cvact",
        eval_split="val",
        reader_options=cvact_options,
        masks_near_negatives=True,
        selection="CVACT: like the original, the best epoch is chosen on the split it reports (CVACT_val, valSet).",
    ),
)


def open_split(data: Any, split: str, transforms: Any) -> CrossViewSplit:
    """The core reader of ``data.dataset`` on ``data.data_root``."""
    if not data.data_root:
        flag = f"--data_root_{data.dataset}"
        raise XgeoError(None, "no dataset folder given", f"pass {flag} (or --data-root) pointing at your {data.dataset.upper()}")
    return PROFILES.get(data.dataset).open(data.data_root, split, transforms, data)


def pair_locations(split: CrossViewSplit) -> torch.Tensor | None:
    """Planar (UTM) position of every training pair's place, ``[P, 2]``; ``None`` when the reader has none."""
    locations = getattr(split, "locations", None)
    if locations is None:
        return None
    return torch.as_tensor(np.asarray(locations)[split.pairs[:, 1]], dtype=torch.float64)


class LwcnnTransform(ResizeViews):
    """Resize ``"query"`` (panorama) and ``"gallery"`` (aerial) entries and scale them to [−1, 1]."""

    def __init__(self, ground_size: Sequence[int], aerial_size: Sequence[int]) -> None:
        super().__init__({"query": ground_size, "gallery": aerial_size}, mean=MEAN, std=STD)

    @classmethod
    def for_model(cls, spec: ModelSpec) -> LwcnnTransform:
        """The preprocessing a model was trained with."""
        return cls(spec.ground_size, spec.aerial_size)
