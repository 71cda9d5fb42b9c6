"""Sample-dict transforms shared by methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResizeViews:
    """Resize each view entry of a sample (e.g. ``"query"``, ``"gallery"``) to its own size
    (bilinear, antialiased), then normalise with ``mean``/``std``; other entries pass through."""

    def __init__(self, sizes: Mapping[str, Sequence[int]], mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> None:
        self.sizes = {key: [int(s) for s in size] for key, size in sizes.items()}
        self.mean, self.std = list(mean), list(std)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        out = dict(sample)
        for key, size in self.sizes.items():
            if key in out:
                out[key] = TF.normalize(TF.resize(out[key], size, antialias=True), self.mean, self.std)
        return out
