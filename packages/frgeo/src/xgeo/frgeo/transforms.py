"""Input preprocessing: resize each view to the network size and normalise with ImageNet statistics.

No augmentation (as in the paper). Transforms are callables on core sample dicts
(``{"query", "gallery", "index"}`` or one view of them), so readers apply them as they load.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

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

    def _prepare(self, image: torch.Tensor, size: Size) -> torch.Tensor:
        image = TF.resize(image, list(size), antialias=True)
        return TF.normalize(image, list(IMAGENET_MEAN), list(IMAGENET_STD))

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = dict(sample)
        if "query" in out:
            pano = self._prepare(out["query"], self.ground_size)
            out["query"] = limit_fov(pano, self.fov) if self.fov else pano
        if "gallery" in out:
            out["gallery"] = self._prepare(out["gallery"], self.aerial_size)
        return out

    def __repr__(self) -> str:
        return f"FRGeoTransform(ground={self.ground_size}, aerial={self.aerial_size}, fov={self.fov})"
