"""Renderers: every view of a place is a deterministic function of the world around it, plus nuisance.

- aerial tile: a north-up crop of the world (:func:`aerial_tiles`);
- ground panorama: the polar transform of the area around the place (:class:`PanoramaRenderer`):
  north at the centre column, azimuth increasing left to right S -> W -> N -> E, the far ring at
  the top row and the camera's foot at the bottom row; :func:`equirect_panoramas` embeds it in
  the middle half of a full equirectangular image with sky above and near ground below;
- drone view: an oblique, heading-rotated crop at a given altitude (:func:`drone_view`);
- SAR patch: optical intensity with multiplicative gamma speckle, in log scale, slightly offset
  (:func:`sar_patch`).

Images are float32 tensors in ``[0, 1]``, ``[N, 3, H, W]`` for batches. Places are continuous
pixel coordinates ``(row, col)`` of the :class:`~xgeo.core.synthetic.world.World`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from xgeo.core.synthetic.difficulty import blur, layover, render_panoramas
from xgeo.core.synthetic.world import BUILDING, ROAD, WATER, World

#: nominal drone altitudes in metres (three rings, as in University-1652-style captures)
DRONE_ALTITUDES_M = (30.0, 45.0, 60.0)


def _crops(world: World, rows: Sequence[float], cols: Sequence[float], extent: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[N, 3, extent+2, extent+2]`` integer crops around each place and the fractional shift of each place.

    A crop's continuous centre is ``(floor(row), floor(col))`` (the place sits ``frac`` pixels further).
    """
    img = world.tensor
    half = extent // 2 + 1
    size = 2 * half
    out, shift = [], []
    for r, c in zip(rows, cols, strict=True):
        r0, c0 = math.floor(r), math.floor(c)
        top, left = r0 - half, c0 - half
        if top < 0 or left < 0 or top + size > world.size_px or left + size > world.size_px:
            raise ValueError(f"place ({r:.1f}, {c:.1f}) with extent {extent} px leaves the {world.size_px}-px world")
        out.append(img[:, top:top + size, left:left + size])
        shift.append((c - c0, r - r0))
    return torch.stack(out), torch.tensor(shift, dtype=torch.float32)


def aerial_tiles(world: World, rows: Sequence[float], cols: Sequence[float], extent: int, out_size: int) -> torch.Tensor:
    """North-up tiles ``[N, 3, out_size, out_size]`` covering ``extent`` world px around each place."""
    crops, shift = _crops(world, rows, cols, extent)
    n, _, size, _ = crops.shape
    if torch.all(shift == 0) and size - 2 == extent:
        tiles = crops[:, :, 1:-1, 1:-1]
    else:  # sub-pixel placement: bilinear resampling of the window
        lin = (torch.arange(extent, dtype=torch.float32) + 0.5 - extent / 2) / (size / 2)
        gy, gx = torch.meshgrid(lin, lin, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1)[None] + (shift / (size / 2))[:, None, None, :]
        tiles = F.grid_sample(crops, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if out_size != extent:
        tiles = F.interpolate(tiles, size=(out_size, out_size), mode="bilinear", align_corners=False, antialias=True)
    return tiles.clamp(0, 1)


class PanoramaRenderer:
    """Polar transform of the disc of radius ``extent/2`` around a place into an ``height x width`` panorama.

    Column ``j`` looks at azimuth ``-180 + 360 (j + 0.5) / width`` degrees clockwise from north
    (so south at both edges, west at a quarter, north at the centre column, east at three quarters);
    row ``i`` samples radius ``extent/2 * (1 - (i + 0.5) / height)`` (horizon on top). The sampling
    grid is computed once; each place only adds its sub-pixel shift.
    """

    def __init__(self, extent: int, height: int, width: int) -> None:
        self.extent, self.height, self.width = extent, height, width
        self.crop = 2 * (extent // 2 + 1)
        azimuth = -math.pi + 2 * math.pi * (torch.arange(width, dtype=torch.float64) + 0.5) / width
        radius = (extent / 2) * (1 - (torch.arange(height, dtype=torch.float64) + 0.5) / height)
        east = radius[:, None] * torch.sin(azimuth)[None, :]
        north = radius[:, None] * torch.cos(azimuth)[None, :]
        # normalised grid_sample coordinates (align_corners=False) of the crop, centre = 0
        self.grid = (torch.stack([east, -north], dim=-1) / (self.crop / 2)).float()[None]

    def __call__(self, world: World, rows: Sequence[float], cols: Sequence[float], chunk: int = 64) -> torch.Tensor:
        """Panoramas ``[N, 3, height, width]`` (no gain or noise; a ``standard`` world adds facades, its
        ground capture and clutter)."""
        if world.nuisance is not None:
            return render_panoramas(self, world, rows, cols, world.nuisance)[0]
        out = []
        for s in range(0, len(rows), chunk):
            crops, shift = _crops(world, rows[s:s + chunk], cols[s:s + chunk], self.extent)
            grid = self.grid + (shift / (self.crop / 2))[:, None, None, :]
            out.append(F.grid_sample(crops, grid, mode="bilinear", padding_mode="border", align_corners=False))
        return torch.cat(out).clamp(0, 1) if out else torch.zeros(0, 3, self.height, self.width)

    def from_tiles(self, tiles: torch.Tensor) -> torch.Tensor:
        """Polar transform of north-up tiles ``[N, 3, S, S]`` that each span exactly ``extent`` world px.

        This is the same mapping as :meth:`__call__` applied to an aerial image instead of the world
        (the SAFA-style polar transform), at any tile resolution ``S``.
        """
        grid = self.grid * (self.crop / self.extent)
        return F.grid_sample(tiles, grid.expand(len(tiles), -1, -1, -1), mode="bilinear", padding_mode="border",
                             align_corners=False)

    def classes(self, world: World, rows: Sequence[float], cols: Sequence[float]) -> np.ndarray:
        """Class codes ``[N, height, width]`` seen by each panorama pixel (nearest neighbour; facades count
        as buildings in a ``standard`` world)."""
        if world.nuisance is not None:
            return render_panoramas(self, world, rows, cols, world.nuisance)[1]
        cls = torch.from_numpy(world.classes.astype(np.float32))[None]
        half = self.extent // 2 + 1
        out = []
        for r, c in zip(rows, cols, strict=True):
            r0, c0 = math.floor(r), math.floor(c)
            crop = cls[:, r0 - half:r0 + half, c0 - half:c0 + half][None]
            grid = self.grid + torch.tensor([c - c0, r - r0], dtype=torch.float32) / (self.crop / 2)
            out.append(F.grid_sample(crop, grid, mode="nearest", padding_mode="border", align_corners=False)[0, 0])
        return torch.stack(out).round().to(torch.uint8).numpy()


def add_nuisance(images: torch.Tensor, rng: np.random.Generator, gain: tuple[float, float] = (0.7, 1.3),
                 noise: float = 0.05, per_channel: bool = False) -> torch.Tensor:
    """A per-image gain drawn from ``gain`` and additive Gaussian noise of std ``noise``, clipped to ``[0, 1]``.

    The gain is one factor per image by default; ``per_channel=True`` draws one per colour channel
    (a colour cast), which makes the synthetic task markedly harder to learn from scratch.
    """
    n, c = images.shape[:2]
    g = torch.from_numpy(rng.uniform(gain[0], gain[1], (n, c if per_channel else 1, 1, 1)).astype(np.float32))
    eps = torch.from_numpy(rng.standard_normal(tuple(images.shape)).astype(np.float32)) * noise
    return (images * g + eps).clamp(0, 1)


def ground_panoramas(world: World, rows, cols, renderer: PanoramaRenderer, rng: np.random.Generator,
                     gain: tuple[float, float] = (0.7, 1.3), noise: float = 0.05) -> torch.Tensor:
    """Polar panoramas with nuisance (CVUSA-style: the image is the ground band only)."""
    return add_nuisance(renderer(world, rows, cols), rng, gain, noise)


def equirect_panoramas(world: World, rows, cols, renderer: PanoramaRenderer, rng: np.random.Generator,
                       gain: tuple[float, float] = (0.7, 1.3), noise: float = 0.05) -> torch.Tensor:
    """Full equirectangular panoramas ``[N, 3, 2*height, width]``: sky quarter, polar band, near-ground quarter.

    The polar band (``renderer``'s output) fills rows ``H/4 .. 3H/4``, so the middle-half crop of
    CVACT-style readers returns exactly the ground view.
    """
    band = renderer(world, rows, cols)
    n, _, h, w = band.shape
    q = h // 2
    t = torch.linspace(0, 1, q)[None, None, :, None]
    zenith = torch.tensor([0.35, 0.55, 0.9]).view(1, 3, 1, 1)
    horizon = torch.tensor([0.82, 0.87, 0.93]).view(1, 3, 1, 1)
    sky = (zenith + (horizon - zenith) * t).expand(n, 3, q, w)
    foot = band[:, :, -max(1, h // 8):, :].mean(dim=(2, 3), keepdim=True)  # colour right below the camera
    near = (foot * (0.85 - 0.25 * t)).expand(n, 3, h - q, w)
    return add_nuisance(torch.cat([sky, band, near], dim=2), rng, gain, noise)


def drone_view(world: World, row: float, col: float, altitude_m: float, heading_deg: float, size: int = 64,
               fov_deg: float = 60.0, tilt: float = 0.4) -> torch.Tensor:
    """An oblique view ``[3, size, size]`` looking along ``heading_deg`` (clockwise from north).

    The footprint at nadir is ``2 * altitude * tan(fov/2)`` metres; ``tilt`` widens the far (top)
    edge and narrows the near edge, as a camera pitched forward sees the ground.
    """
    half_px = altitude_m * math.tan(math.radians(fov_deg) / 2) / world.metres_per_px
    reach = int(math.ceil(half_px * (1 + tilt / 2) * math.sqrt(2))) + 2
    crops, shift = _crops(world, [row], [col], 2 * reach)
    crop_half = crops.shape[-1] / 2
    lin = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(lin, lin, indexing="ij")
    width = 1 + tilt * (-v) / 2
    right, forward = u * half_px * width, -v * half_px
    psi = math.radians(heading_deg)
    east = right * math.cos(psi) + forward * math.sin(psi)
    north = -right * math.sin(psi) + forward * math.cos(psi)
    grid = (torch.stack([east, -north], dim=-1) / crop_half).float()[None] + (shift / crop_half)[:, None, None, :]
    # pre-shrink so that bilinear sampling does not alias when the footprint is much larger than the output
    side = crops.shape[-1]
    small = max(size, int(side * size / (2 * half_px)))
    src = crops
    if small < side:
        src = F.interpolate(crops, size=(small, small), mode="bilinear", align_corners=False, antialias=True)
    view = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)[0].clamp(0, 1)
    if world.nuisance is not None:  # the higher the drone, the blurrier (haze, motion, resolution)
        view = blur(view, world.nuisance.drone_blur_px_per_m * altitude_m)
    return view


def sar_patch(world: World, row: float, col: float, extent: int, size: int, rng: np.random.Generator,
              looks: int = 4, max_offset_px: int = 2) -> torch.Tensor:
    """A SAR-like patch ``[1, size, size]`` in ``[0, 1]`` (log intensity, -25..+5 dB mapped linearly).

    Backscatter = optical luminance, brightened on buildings (double bounce), darkened on roads and water
    (specular); multiplicative gamma speckle with ``looks`` looks; the patch is shifted by up to
    ``max_offset_px`` world px in each direction (mis-registration).
    """
    dr, dc = rng.integers(-max_offset_px, max_offset_px + 1, 2) if max_offset_px else (0, 0)
    r, c = row + int(dr), col + int(dc)
    half = extent // 2
    r0, c0 = int(math.floor(r)) - half, int(math.floor(c)) - half
    rgb = world.rgb[r0:r0 + extent, c0:c0 + extent]
    cls = world.classes[r0:r0 + extent, c0:c0 + extent]
    sigma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    sigma = sigma * np.select([cls == BUILDING, cls == WATER, cls == ROAD], [3.0, 0.05, 0.3], 1.0)
    if world.nuisance is not None:  # tall buildings lean towards the sensor
        sigma = layover(sigma, world.heights[r0:r0 + extent, c0:c0 + extent] / world.metres_per_px, world.nuisance.layover)
    sigma_t = torch.from_numpy(np.ascontiguousarray(sigma, dtype=np.float32))[None, None]
    if size != extent:
        sigma_t = F.interpolate(sigma_t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    speckle = torch.from_numpy(rng.gamma(looks, 1.0 / looks, (1, 1, size, size)).astype(np.float32))
    db = 10 * torch.log10(sigma_t * speckle + 1e-4)
    return ((db + 25.0) / 30.0).clamp(0, 1)[0]
