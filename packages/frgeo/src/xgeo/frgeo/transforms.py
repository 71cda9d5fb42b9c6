"""Input preprocessing: resize each view to the network size and normalise with ImageNet statistics.

No augmentation (as in the paper). Transforms are callables on core sample dicts
(``{"query", "gallery", "index"}`` or one view of them), so readers apply them as they load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from xgeo.core.datasets.transforms import ResizeViews

Size = tuple[int, int]


def fov_width(width: int, fov: int) -> int:
    """Ground input width for a limited field of view of ``fov`` degrees (0: full panorama)."""
    return width if not fov else int(fov / 360.0 * width)


def limit_fov(pano: torch.Tensor, fov: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate a panorama by a random whole-degree azimuth and keep the first ``fov``/360 of its width."""
    width = pano.shape[-1]
    angle = int(torch.randint(0, 360, (1,), generator=generator))
    shifted = torch.roll(pano, shifts=round(angle / 360.0 * width), dims=-1)
    return shifted[..., : fov_width(width, fov)]


class FRGeoTransform:
    """Resize ``"query"`` (panorama) and ``"gallery"`` (aerial) entries, then normalise.

    With ``fov`` > 0 the normalised panorama is also rotated by a random azimuth and cut to its
    first ``fov``/360 of width, at training and at test time, as in the original ``--fov`` option.
    """

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

    def __repr__(self) -> str:
        return f"FRGeoTransform(ground={self.ground_size}, aerial={self.aerial_size}, fov={self.fov})"
