"""HVSA's datasets: one profile per dataset, the image transforms, the seeded image-level val split
and the vocabulary a run uses.

Every number comes from core's one metric path with protocol ``text-image`` (images are the
queries, captions the gallery; i2t/t2i R@1/5/10, rsum, mR). Neither dataset has a validation split
HVSA uses: each seeded run carves ``val_ratio`` of the *training images* (all five captions of an
image stay together) and selects its checkpoint on them by rsum; the test split stays unseen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from xgeo.core.datasets import CaptionSplit, DatasetProfile
from xgeo.core.datasets.transforms import IMAGENET_MEAN, IMAGENET_STD
from xgeo.core.datasets.vocab import Vocabulary
from xgeo.core.errors import XgeoError
from xgeo.core.registry import Registry
from xgeo.core.runs import say

PROTOCOL = "text-image"
#: the original resizes to 278 before a 256 crop: the same ratio at any size
RESIZE_RATIO = 278 / 256


def reader_options(data: Any) -> dict[str, Any]:
    """Keyword arguments of the caption readers from the data options."""
    if data is None:
        return {}
    return {"form": data.form, "image_dir": data.image_dir}


@dataclass(frozen=True, kw_only=True)
class HVSAProfile(DatasetProfile):
    """How HVSA reads one caption dataset."""

    protocol: str = PROTOCOL
    vocab_file: str = ""


PROFILES: Registry[HVSAProfile] = Registry("dataset", "--dataset")
for _name in ("rsitmd", "rsicd"):
    PROFILES.register(_name, HVSAProfile(
        name=_name, eval_split="test", reader_options=reader_options, vocab_file=f"vocab/{_name}_splits_vocab.json",
        selection=f"{_name.upper()}: each run selects its best-rsum epoch on a seeded image-level val split of the "
                  "training images; the test split is evaluated once per run with that checkpoint.",
    ))


def open_split(data: Any, split: str, transforms: Any = None) -> CaptionSplit:
    """The core reader of ``data.dataset`` on ``data.data_root``."""
    if not data.data_root:
        raise XgeoError(None, "no dataset given", f"pass --data-root pointing at your {data.dataset.upper()} folder")
    return PROFILES.get(data.dataset).open(data.data_root, split, transforms, data)


def split_images(n: int, ratio: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded image-level split: the first ``int(ratio·n)`` of a permutation train, the rest val."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(ratio * n)
    if cut < 1 or cut >= n:
        raise XgeoError(None, f"val_ratio leaves {cut} of {n} training images for training",
                        "use a ratio that keeps at least one image on each side (e.g. 0.9)")
    return np.sort(order[:cut]), np.sort(order[cut:])


def run_vocabulary(data: Any, train: CaptionSplit) -> Vocabulary:
    """``data.vocab`` (an AMFMN JSON), else the dataset's ``vocab/<name>_splits_vocab.json``, else built
    from the training captions (AMFMN's rule: stopwords out, words seen ``min_count`` times)."""
    if data.vocab:
        return Vocabulary.read(data.vocab)
    shipped = Path(data.data_root) / PROFILES.get(data.dataset).vocab_file
    if shipped.is_file():
        say(f"vocabulary: {shipped}")
        return Vocabulary.read(shipped)
    vocab = Vocabulary.build(train.captions, data.min_count)
    say(f"vocabulary: {len(vocab)} words built from {len(train.captions)} training captions (count >= {data.min_count})")
    return vocab


class HVSATransform:
    """Images (``"query"``) to the network input; captions pass through untouched.

    Training: resize to ``278/256·size``, rotate by an angle uniform in [0°, ``max_rotation``] (the
    original's 90°; no expansion, black corners), random ``size`` crop, ImageNet normalisation.
    Evaluation: resize to ``size``.
    """

    def __init__(self, size: int, train: bool = False, max_rotation: float = 90.0) -> None:
        self.size, self.train, self.max_rotation = int(size), train, float(max_rotation)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = dict(sample)
        if "query" in out:
            out["query"] = self.image(out["query"])
        return out

    def image(self, image: torch.Tensor) -> torch.Tensor:
        if self.train:
            big = int(math.floor(self.size * RESIZE_RATIO))
            image = TF.resize(image, [big, big], antialias=True)
            if self.max_rotation:
                image = TF.rotate(image, float(torch.empty(1).uniform_(0.0, self.max_rotation)))
            top, left = (int(torch.randint(0, big - self.size + 1, (1,))) for _ in range(2))
            image = TF.crop(image, top, left, self.size, self.size)
        else:
            image = TF.resize(image, [self.size, self.size], antialias=True)
        return TF.normalize(image, list(IMAGENET_MEAN), list(IMAGENET_STD))

    def __repr__(self) -> str:
        return f"HVSATransform(size={self.size}, train={self.train})"
