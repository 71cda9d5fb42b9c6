"""SN6-CMPC for CMPC: the dataset profile, the transforms and the unique-id batch sampler.

Preprocessing (``utils/transform.py`` of the release): both modalities are resized to the network
size and normalised with ImageNet statistics; in training each is flipped horizontally at random,
independently (the release draws its random transforms per modality, so a pair is often mirrored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from xgeo.cmpc.config import DataOptions
from xgeo.core.datasets import SN6CMPC, DatasetProfile
from xgeo.core.datasets.transforms import ResizeViews
from xgeo.core.errors import XgeoError
from xgeo.core.train.distributed import get_rank, get_world_size

#: SN6-CMPC: evaluated on its test split with the ``sn6`` protocol (-|q-g|^2, CMC, MRR, metres)
PROFILE = DatasetProfile(
    name="sn6-cmpc", eval_split="test", protocol="sn6",
    selection="SN6-CMPC has no validation split: like the release, the test split is evaluated after every epoch.",
)


def open_split(data: DataOptions, split: str, transforms: Callable | None) -> SN6CMPC:
    """The core SN6-CMPC reader on ``data.data_root`` (the ``<setting>`` folder)."""
    if not data.data_root:
        raise XgeoError(None, "no dataset given",
                        "pass --data-root pointing at an SN6-CMPC setting folder (e.g. SN6-CMPC/samearea)")
    return PROFILE.open(data.data_root, split, transforms)  # type: ignore[return-value]


class CMPCTransform:
    """Resize ``"query"`` (SAR) and ``"gallery"`` (optical) to ``size``, normalise; optional random flips
    and random shifts of up to ``shift`` pixels (reflect-padded crop, like the release's RandomCrop),
    drawn independently per view."""

    def __init__(self, size: int, hflip: bool = False, shift: int = 0) -> None:
        self.size, self.hflip, self.shift = int(size), bool(hflip), int(shift)
        self.resize = ResizeViews({"query": (self.size, self.size), "gallery": (self.size, self.size)})

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = self.resize(sample)
        for key in ("query", "gallery"):
            if key not in out:
                continue
            if self.hflip and torch.rand(()) < 0.5:
                out[key] = TF.horizontal_flip(out[key])
            if self.shift:
                out[key] = random_shift(out[key], self.shift)
        return out


def random_shift(image: torch.Tensor, shift: int) -> torch.Tensor:
    """``image`` ``[C, H, W]`` moved by a random whole number of pixels in ``[-shift, shift]`` per axis
    (the border reflected in), same size."""
    h, w = image.shape[-2:]
    padded = torch.nn.functional.pad(image[None], (shift, shift, shift, shift), mode="reflect")[0]
    top, left = (int(v) for v in torch.randint(0, 2 * shift + 1, (2,)))
    return padded[..., top:top + h, left:left + w]


class UniqueIdSampler(torch.utils.data.Sampler[int]):
    """Batches of SAR queries with distinct optical ids (the release's ``SARSampler``, one image per id).

    Each epoch has ``N // B + 1`` batches, each drawn independently from all queries (so batches
    are drawn with replacement across the epoch). Every rank gets its share of each global batch.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, seed: int = 0) -> None:
        self.labels = np.asarray(labels)
        self.batch_size, self.seed, self.epoch = int(batch_size), int(seed), 0
        distinct = len(np.unique(self.labels))
        if distinct < self.batch_size:
            raise XgeoError(None, f"batch size {batch_size} exceeds the {distinct} distinct optical ids of the training split",
                            "lower --batch_size")
        self.rank, self.world = get_rank(), get_world_size()
        self.batches = len(self.labels) // self.batch_size + 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def global_batches(self) -> list[list[int]]:
        """This epoch's batches of query indices, the same on every rank."""
        rng = np.random.default_rng([self.seed, self.epoch])
        out = []
        for _ in range(self.batches):
            seen: set[int] = set()
            batch: list[int] = []
            for i in rng.permutation(len(self.labels)):
                if int(self.labels[i]) not in seen:
                    seen.add(int(self.labels[i]))
                    batch.append(int(i))
                    if len(batch) == self.batch_size:
                        break
            out.append(batch)
        return out

    def __iter__(self) -> Iterator[int]:
        for batch in self.global_batches():
            yield from batch[self.rank::self.world]

    def __len__(self) -> int:
        return self.batches * len(range(self.rank, self.batch_size, self.world))
