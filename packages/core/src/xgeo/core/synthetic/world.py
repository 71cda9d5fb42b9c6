"""One procedural world: a geo-referenced RGB raster with land cover, water, roads and buildings.

Every synthetic view (aerial tile, ground panorama, drone view, SAR patch) is rendered from a
:class:`World`, so views of the same place agree and a model can learn the correspondence.

Pixel convention: continuous pixel coordinates ``(row, col)``; pixel ``(i, j)`` covers
``[i, i+1) x [j, j+1)``, row grows southwards and column eastwards (north-up). The world's corner
``(0, 0)`` sits at ``origin_latlon``; degrees follow a local equirectangular projection with the
earth radius used by VIGOR's code (6,371,004 m). ``metres`` are easting/northing from
``origin_utm`` (a UTM-like frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from xgeo.core.synthetic.difficulty import DIFFICULTIES, Nuisance, build_captures

EARTH_RADIUS_M = 6_371_004.0
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180.0

#: class codes of :attr:`World.classes`
BARE, VEGETATION, WATER, ROAD, BUILDING = 0, 1, 2, 3, 4
CLASS_NAMES = {BARE: "bare", VEGETATION: "vegetation", WATER: "water", ROAD: "road", BUILDING: "building"}
#: display colours of the classes (used for CVUSA's annotation images)
CLASS_COLOURS = np.array([[170, 140, 100], [40, 140, 50], [30, 70, 170], [90, 90, 90], [220, 40, 40]], dtype=np.uint8)


def smooth_field(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """A ``[size, size]`` float32 field: ``cells x cells`` standard normals, bicubic-upsampled."""
    cells = max(2, cells)
    coarse = torch.from_numpy(rng.standard_normal((1, 1, cells + 3, cells + 3)).astype(np.float32))
    # upsample with a one-cell border cropped away, so edges are as smooth as the interior
    step = size / cells
    full = F.interpolate(coarse, size=(int(round(step * (cells + 3))),) * 2, mode="bicubic", align_corners=False)
    off = int(round(step * 1.5))
    return full[0, 0, off:off + size, off:off + size].numpy().copy()


def _line_pixels(size: int, point: tuple[float, float], angle: float, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices of a straight band of ``width`` px through ``point`` at ``angle`` (radians)."""
    r0, c0 = point
    dr, dc = math.sin(angle), math.cos(angle)
    major = np.arange(size, dtype=np.float64)
    if abs(dc) >= abs(dr):  # mostly east-west: one run of rows per column
        centre = r0 + (major - c0) * dr / dc
        half = 0.5 * width / abs(dc)
    else:  # mostly north-south: one run of columns per row
        centre = c0 + (major - r0) * dc / dr
        half = 0.5 * width / abs(dr)
    k = np.arange(-math.ceil(half) - 1, math.ceil(half) + 2)
    minor = np.round(centre)[:, None] + k[None, :]
    keep = (np.abs(minor + 0.5 - centre[:, None]) <= half) & (minor >= 0) & (minor < size)
    major_idx = np.broadcast_to(major[:, None], minor.shape)[keep].astype(np.int64)
    minor_idx = minor[keep].astype(np.int64)
    return (minor_idx, major_idx) if abs(dc) >= abs(dr) else (major_idx, minor_idx)


@dataclass
class World:
    """A seeded procedural world; ``rgb`` is float32 ``[H, W, 3]`` in ``[0, 1]``, ``classes`` uint8 ``[H, W]``.

    ``n_roads`` and ``n_buildings`` default to the feasibility numbers (60 roads, 3,000 buildings on
    2048 px) scaled to ``size_px`` (roads by side length, buildings by area).

    ``difficulty`` (:data:`~xgeo.core.synthetic.difficulty.DIFFICULTIES`): ``"easy"`` is one raster seen
    by every view; ``"standard"`` adds building heights, an aerial capture with shadows
    (:attr:`rgb`) and a ground capture of another season with some buildings gone or new
    (``ground_rgb``, ``ground_classes``, ``ground_heights``), see :mod:`xgeo.core.synthetic.difficulty`.
    """

    seed: int
    size_px: int = 2048
    metres_per_px: float = 0.5
    origin_latlon: tuple[float, float] = (41.88, -87.63)
    origin_utm: tuple[float, float] = (690_000.0, 6_095_000.0)
    n_roads: int | None = None
    road_width_px: float = 6.0
    n_buildings: int | None = None
    building_px: tuple[int, int] = (6, 24)
    water_fraction: float = 0.06
    difficulty: str = "easy"
    rgb: np.ndarray = field(init=False, repr=False)
    classes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        nuisance = DIFFICULTIES.get(self.difficulty).nuisance
        rng = np.random.default_rng(self.seed)
        n = self.size_px
        scale = n / 2048.0
        n_roads = self.n_roads if self.n_roads is not None else max(3, round(60 * scale))
        n_buildings = self.n_buildings if self.n_buildings is not None else max(10, round(3000 * scale * scale))

        # land cover from three smooth fields: vegetation vs bare, tone, fine texture
        cover = smooth_field(rng, n, n // 256 + 2)
        tone = smooth_field(rng, n, n // 64 + 2)
        texture = smooth_field(rng, n, n // 12 + 2)
        veg = 1.0 / (1.0 + np.exp(-3.0 * (cover + 0.3 * tone)))
        green = np.array([0.22, 0.45, 0.18], np.float32)
        soil = np.array([0.62, 0.53, 0.40], np.float32)
        rgb = veg[..., None] * green + (1.0 - veg[..., None]) * soil
        rgb *= (1.0 + 0.12 * tone + 0.08 * texture)[..., None]
        classes = np.where(veg > 0.5, VEGETATION, BARE).astype(np.uint8)

        # water bodies: the top quantile of another smooth field
        wet = smooth_field(rng, n, n // 192 + 2)
        water = wet > np.quantile(wet, 1.0 - self.water_fraction) if self.water_fraction > 0 else np.zeros_like(classes, bool)
        rgb[water] = np.array([0.12, 0.22, 0.42], np.float32) * (1.0 + 0.05 * texture[water])[:, None]
        classes[water] = WATER

        # straight roads in random directions
        for _ in range(n_roads):
            point = (rng.uniform(0, n), rng.uniform(0, n))
            rows, cols = _line_pixels(n, point, rng.uniform(0, math.pi), self.road_width_px)
            rgb[rows, cols] = rng.uniform(0.36, 0.5) * np.array([1.0, 1.0, 1.04], np.float32)
            classes[rows, cols] = ROAD

        # rectangular buildings with random roof colours, kept off roads and water (up to 3 tries each)
        base = (rgb.copy(), classes.copy()) if nuisance is not None else None  # the ground without buildings
        buildings: list[tuple[int, int, int, int]] = []
        lo, hi = self.building_px
        tries = 3 * n_buildings
        heights = rng.integers(lo, hi + 1, tries)
        widths = rng.integers(lo, hi + 1, tries)
        tops = rng.integers(0, n - hi, tries)
        lefts = rng.integers(0, n - hi, tries)
        colours = rng.uniform(0.15, 0.95, (tries, 3)).astype(np.float32)
        placed = 0
        for h, w, t, left, colour in zip(heights, widths, tops, lefts, colours, strict=True):
            block = classes[t:t + h, left:left + w]
            if (block >= WATER).any():
                continue
            rgb[t:t + h, left:left + w] = colour
            block[...] = BUILDING
            buildings.append((int(t), int(left), int(h), int(w)))
            placed += 1
            if placed == n_buildings:
                break

        self.rgb = np.clip(rgb, 0.0, 1.0).astype(np.float32)
        self.classes = classes
        if nuisance is not None:
            self.base_classes = base[1]
            build_captures(self, np.clip(base[0], 0.0, 1.0).astype(np.float32), buildings, nuisance)

    @property
    def nuisance(self) -> Nuisance | None:
        """The nuisance of this world's difficulty (``None`` when easy)."""
        return DIFFICULTIES.get(self.difficulty).nuisance

    # ------------------------------------------------------------------ content
    @property
    def tensor(self) -> torch.Tensor:
        """The raster as a ``[3, H, W]`` float32 tensor (a view on :attr:`rgb`, no copy)."""
        return torch.from_numpy(self.rgb).permute(2, 0, 1)

    @property
    def masks(self) -> dict[str, np.ndarray]:
        """Boolean ``[H, W]`` masks: ``buildings``, ``roads``, ``water``, ``vegetation``, ``bare``."""
        return {
            "buildings": self.classes == BUILDING,
            "roads": self.classes == ROAD,
            "water": self.classes == WATER,
            "vegetation": self.classes == VEGETATION,
            "bare": self.classes == BARE,
        }

    # ------------------------------------------------------------------ geo-reference
    @property
    def degrees_per_px(self) -> tuple[float, float]:
        """(latitude, longitude) degrees spanned by one pixel."""
        dlat = self.metres_per_px / METRES_PER_DEGREE
        return dlat, dlat / math.cos(math.radians(self.origin_latlon[0]))

    def latlon(self, row, col) -> tuple[np.ndarray, np.ndarray]:
        """Latitude/longitude in degrees of continuous pixel coordinates."""
        dlat, dlon = self.degrees_per_px
        return (self.origin_latlon[0] - np.asarray(row, np.float64) * dlat,
                self.origin_latlon[1] + np.asarray(col, np.float64) * dlon)

    def pixel(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Continuous pixel coordinates ``(row, col)`` of latitude/longitude (inverse of :meth:`latlon`)."""
        dlat, dlon = self.degrees_per_px
        return ((self.origin_latlon[0] - np.asarray(lat, np.float64)) / dlat,
                (np.asarray(lon, np.float64) - self.origin_latlon[1]) / dlon)

    def metres(self, row, col) -> tuple[np.ndarray, np.ndarray]:
        """Easting/northing in metres of continuous pixel coordinates."""
        return (self.origin_utm[0] + np.asarray(col, np.float64) * self.metres_per_px,
                self.origin_utm[1] - np.asarray(row, np.float64) * self.metres_per_px)


def world_side(n_places: int, extent_px: int, spacing: float = 1.5) -> int:
    """A world side (multiple of 128 px) roomy enough for ``n_places`` views of ``extent_px``."""
    side = math.sqrt(max(n_places, 1)) * extent_px * spacing + 2 * extent_px
    return max(256, int(math.ceil(side / 128.0)) * 128)


def sample_places(rng: np.random.Generator, size_px: int, n: int, margin: int) -> np.ndarray:
    """``[n, 2]`` integer (row, col) centres, spread by jittered-grid sampling inside ``margin``."""
    usable = size_px - 2 * margin
    g = int(math.ceil(math.sqrt(n * 1.3)))
    cell = usable / g
    chosen = rng.choice(g * g, size=n, replace=False)
    jitter = rng.uniform(0.2, 0.8, (n, 2))
    rows = margin + (chosen // g + jitter[:, 0]) * cell
    cols = margin + (chosen % g + jitter[:, 1]) * cell
    return np.stack([rows, cols], axis=1).round().astype(np.int64)
