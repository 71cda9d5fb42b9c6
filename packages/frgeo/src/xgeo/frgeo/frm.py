"""Feature Recombination Module (FRM): four spatial parts, pooled and normalised, concatenated.

The module has no parameters of its own. Given the last-stage feature map ``F`` of a backbone
(``[B, C, h, w]``) it cuts four parts, averages each over its rows and columns, passes each
pooled vector through the backbone's own final norm layer (shared by the four parts) and
concatenates them into a ``4·C`` descriptor.

- ``"ground"`` (panoramas): four vertical strips, left to right. The first three are
  ``w // 4`` columns wide; the last one takes the remainder.
- ``"aerial"`` (north-up tiles): four quadrants split at ``h // 2`` and ``w // 2``, in the
  order bottom-left, top-left, top-right, bottom-right. With the panorama convention of
  CVUSA (south at both edges, west–north–east towards the right), strip ``k`` and quadrant
  ``k`` look at the same compass quarter (SW, NW, NE, SE).

The variant is chosen by the branch (``mode``), not by whether the map is square; the original
code decides by squareness, kept here as mode ``"by-shape"`` for parity checks only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

#: a part = (row slice, column slice) of an ``h × w`` map
Part = tuple[slice, slice]


def ground_strips(h: int, w: int) -> list[Part]:
    """Four vertical strips, left to right; the last takes any remainder columns."""
    step = w // 4
    if step < 1:
        raise ValueError(f"a ground feature map needs at least 4 columns, got {w}")
    bounds = [0, step, 2 * step, 3 * step, w]
    return [(slice(0, h), slice(bounds[k], bounds[k + 1])) for k in range(4)]


def aerial_quadrants(h: int, w: int) -> list[Part]:
    """Quadrants in the order bottom-left, top-left, top-right, bottom-right."""
    if h < 2 or w < 2:
        raise ValueError(f"an aerial feature map needs at least 2×2 cells, got {h}×{w}")
    top, bottom = slice(0, h // 2), slice(h // 2, h)
    left, right = slice(0, w // 2), slice(w // 2, w)
    return [(bottom, left), (top, left), (top, right), (bottom, right)]


def by_shape(h: int, w: int) -> list[Part]:
    """The original code's rule: a square map is aerial, anything else ground (parity only)."""
    return aerial_quadrants(h, w) if h == w else ground_strips(h, w)


#: FRM mode -> how a map of size (h, w) is cut into its four parts
PARTS: dict[str, Callable[[int, int], list[Part]]] = {
    "ground": ground_strips,
    "aerial": aerial_quadrants,
    "by-shape": by_shape,
}


def recombine(fmap: torch.Tensor, norm: nn.Module, mode: str) -> torch.Tensor:
    """``[B, C, h, w]`` feature map -> ``[B, 4·C]`` FRM descriptor.

    ``norm`` is the backbone's final channel norm; it is applied to each pooled part as a
    ``[B, C, 1, 1]`` map, so both channels-first (``LayerNorm2d``) and channels-last norms with a
    2-D input convention work.
    """
    if mode not in PARTS:
        raise ValueError(f"unknown FRM mode {mode!r}; known: {', '.join(PARTS)}")
    _, _, h, w = fmap.shape
    pooled = [fmap[:, :, rows, cols].mean(dim=(2, 3), keepdim=True) for rows, cols in PARTS[mode](h, w)]
    return torch.cat([norm(p).flatten(1) for p in pooled], dim=1)
