"""FRGeo's datasets: one profile per dataset, the input transform and the training sampler.

Every number comes from core's one metric path with the profile's ``protocol`` (``crossview`` on
CVUSA/CVACT, ``vigor`` on VIGOR, which adds the hit rate). FRGeo counts R@1% with
``K = floor(M/100)`` everywhere, so the ``floor`` convention replaces VIGOR's own ``floor+1``.

Preprocessing: each view is resized to the network size and normalised with ImageNet statistics,
no augmentation (as in the paper). With ``fov`` > 0 the normalised panorama is also rotated by a
random azimuth and cut to its first ``fov``/360 of width, at training and at test time, as the
original ``--fov`` option does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from xgeo.core.datasets import CrossViewSplit, DatasetProfile
from xgeo.core.datasets.transforms import ResizeViews
from xgeo.core.errors import XgeoError
from xgeo.core.registry import Registry
from xgeo.frgeo.config import DataOptions
from xgeo.frgeo.mining import MiningSampler, PairMiningSampler, VigorMiningSampler
from xgeo.frgeo.model import ModelSpec, fov_width

#: FRGeo's R@1%: K = floor(M/100), on every dataset
PERCENT_CONVENTION = "floor"

Size = tuple[int, int]
SamplerFactory = Callable[[CrossViewSplit, DataOptions, int, int, int], MiningSampler]


def _sampler_kwargs(data: DataOptions, batch_size: int, dim: int, seed: int) -> dict[str, Any]:
    return {
        "batch_size": batch_size,
        "dim": dim,
        "mining": data.mining,
        "mining_start": data.mining_start,
        "seed": seed,
        "pool_size": data.pool_size,
        "top_k": data.top_k,
    }


def pair_sampler(split: CrossViewSplit, data: DataOptions, batch_size: int, dim: int, seed: int) -> MiningSampler:
    """CVUSA/CVACT: one item per training pair."""
    kwargs = _sampler_kwargs(data, batch_size, dim, seed)
    return PairMiningSampler(split.pairs, split.task.num_queries, split.task.num_gallery, **kwargs)


def vigor_sampler(split: CrossViewSplit, data: DataOptions, batch_size: int, dim: int, seed: int) -> MiningSampler:
    """VIGOR: items are the positive aerial images, negatives must not overlap the batch."""
    return VigorMiningSampler(split.pairs, split.labels, split.task.num_gallery, **_sampler_kwargs(data, batch_size, dim, seed))


@dataclass(frozen=True, kw_only=True)
class FRGeoProfile(DatasetProfile):
    """How FRGeo reads, sizes, samples and evaluates one dataset."""

    ground_size: Size
    aerial_size: Size
    sampler: SamplerFactory = pair_sampler
    percent_convention: str | None = PERCENT_CONVENTION


PROFILES: Registry[FRGeoProfile] = Registry("dataset", "--dataset")
PROFILES.register(
    "cvusa",
    FRGeoProfile(
        name="cvusa",
        ground_size=(128, 512),
        aerial_size=(256, 256),
        eval_split="test",
        selection="CVUSA has no validation split: like the paper, the best epoch is chosen on the test split (val-19zl).",
    ),
)
PROFILES.register(
    "cvact",
    FRGeoProfile(
        name="cvact",
        ground_size=(128, 512),
        aerial_size=(256, 256),
        eval_split="val",
        selection="CVACT: evaluated and selected on CVACT_val, the split the paper reports; CVACT_test stays unseen "
        "(frgeo-eval --split test).",
    ),
)
PROFILES.register(
    "vigor",
    FRGeoProfile(
        name="vigor",
        ground_size=(320, 640),
        aerial_size=(320, 320),
        eval_split="test",
        protocol="vigor",
        reader_options=lambda data: {"cross": bool(data.cross)} if data is not None else {},
        sampler=vigor_sampler,
        selection="VIGOR has no validation split: like the paper, the best epoch is chosen on the test split.",
    ),
)


def open_split(data: DataOptions, split: str, transforms: Callable | None) -> CrossViewSplit:
    """The core reader of ``data.dataset`` on ``data.data_root``."""
    if not data.data_root:
        raise XgeoError(None, "no dataset given", f"pass --data-root pointing at your {data.dataset.upper()} folder")
    return PROFILES.get(data.dataset).open(data.data_root, split, transforms, data)


def build_sampler(split: CrossViewSplit, data: DataOptions, batch_size: int, dim: int, seed: int) -> MiningSampler:
    """The training sampler of ``data.dataset`` (a plain shuffle of the same structure without mining)."""
    if batch_size < 2 or (data.mining and batch_size % 2):
        raise XgeoError(
            None,
            f"--batch-size {batch_size}: mined batches are anchors plus as many negatives (and the loss needs 2 pairs)",
            "use an even batch size of at least 2, or --no-mining",
        )
    return PROFILES.get(data.dataset).sampler(split, data, batch_size, dim, seed)


# ------------------------------------------------------------------------------------------ transforms
def limit_fov(pano: torch.Tensor, fov: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate a panorama by a random whole-degree azimuth and keep the first ``fov``/360 of its width."""
    width = pano.shape[-1]
    angle = int(torch.randint(0, 360, (1,), generator=generator))
    shifted = torch.roll(pano, shifts=round(angle / 360.0 * width), dims=-1)
    return shifted[..., : fov_width(width, fov)]


class FRGeoTransform:
    """Resize ``"query"`` (panorama) and ``"gallery"`` (aerial) entries, normalise, limit the FoV."""

    def __init__(self, ground_size: Sequence[int], aerial_size: Sequence[int], fov: int = 0) -> None:
        self.ground_size: Size = (int(ground_size[0]), int(ground_size[1]))
        self.aerial_size: Size = (int(aerial_size[0]), int(aerial_size[1]))
        self.fov = int(fov)
        self.resize = ResizeViews({"query": self.ground_size, "gallery": self.aerial_size})

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = self.resize(sample)
        if self.fov and "query" in out:
            out["query"] = limit_fov(out["query"], self.fov)
        return out

    @classmethod
    def for_model(cls, spec: ModelSpec) -> FRGeoTransform:
        """The preprocessing a model was trained with."""
        return cls(spec.ground_size, spec.aerial_size, spec.fov)

    def __repr__(self) -> str:
        return f"FRGeoTransform(ground={self.ground_size}, aerial={self.aerial_size}, fov={self.fov})"
