"""World difficulty: ``easy`` (views are exact re-samplings of one raster) and ``standard`` (real nuisance).

``standard`` gives a :class:`~xgeo.core.synthetic.world.World` two captures and building heights:

- **aerial capture** (``world.rgb``, what tiles, drone views and SAR see): roofs only, plus the
  shadows the buildings cast under the aerial capture's sun;
- **ground capture** (``world.ground_rgb`` / ``ground_classes`` / ``ground_heights``, what
  panoramas see): another season (vegetation, water and bare ground change colour), no shadows,
  and a few buildings vanished or newly built between the two captures;
- in panoramas buildings rise as facades that hide what lies behind them (a facade of height
  ``h`` hides the ground up to ``lean * h`` further out), plus foreground clutter (trees, cars,
  people) absent from the tile, and a per-panorama season strength;
- drone views are blurred more the higher they fly; SAR returns of tall buildings are displaced
  towards the sensor (layover).

All of it comes from random generators of its own (seeded by the world seed, or by the world seed
and the place), so ``easy`` draws and outputs stay exactly what they were, and ``standard`` is
deterministic given the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from xgeo.core.registry import Registry

BARE, VEGETATION, WATER, ROAD, BUILDING = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Nuisance:
    """How far the views of a ``standard`` world depart from one another."""

    height_m: tuple[float, float] = (3.0, 24.0)        # building heights (uniform)
    lean: float = 0.6                                   # facade reach in the panorama, world px per px of height
    shadow: float = 0.45                                # shadow darkening in the aerial capture
    sun_deg: float = 135.0                              # aerial capture's sun azimuth (shadows point away from it)
    sun_elevation_deg: float = 60.0
    vanish: float = 0.12                                # share of buildings gone from the ground capture
    appear: float = 0.12                                # new buildings (share of existing) only in the ground capture
    season: tuple[tuple[float, float, float], ...] = (  # ground-capture colour gain per class: bare, veg, water, road
        (1.12, 1.05, 0.95), (1.45, 1.05, 0.45), (0.75, 1.15, 0.85), (1.0, 1.0, 1.0))
    clutter: tuple[int, int] = (3, 8)                   # foreground objects per panorama
    drone_blur_px_per_m: float = 0.03                   # blur sigma (output px) per metre of altitude
    layover: float = 0.7                                # SAR layover, world px per px of height


@dataclass(frozen=True)
class Difficulty:
    """A named difficulty and its nuisance (``None``: every view re-samples one raster)."""

    name: str
    nuisance: Nuisance | None
    description: str = ""


#: difficulty name -> :class:`Difficulty`
DIFFICULTIES: Registry[Difficulty] = Registry("difficulty", "--difficulty")
DIFFICULTIES.register("easy", Difficulty("easy", None, "views are exact re-samplings of one raster, plus gain and noise"))
DIFFICULTIES.register("standard", Difficulty("standard", Nuisance(),
                                              "heights and facades, a time gap, clutter, drone blur, SAR layover"))


def _shift(mask: np.ndarray, dr: int, dc: int) -> np.ndarray:
    """``mask`` moved by (dr, dc) pixels, zero-filled."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    out[max(dr, 0):h + min(dr, 0), max(dc, 0):w + min(dc, 0)] = mask[max(-dr, 0):h - max(dr, 0), max(-dc, 0):w - max(dc, 0)]
    return out


def height_px(world) -> np.ndarray:
    """Building heights of the aerial capture in world pixels."""
    return world.heights / world.metres_per_px


def build_captures(world, base_rgb: np.ndarray, buildings: list[tuple[int, int, int, int]], nuisance: Nuisance) -> None:
    """Give ``world`` its heights, shadows (aerial) and its ground capture (season, vanished/new buildings)."""
    rng = np.random.default_rng(np.random.SeedSequence([world.seed, 0x57A2D]))
    n = world.size_px
    heights = np.zeros((n, n), np.float32)
    wall = np.zeros((n, n, 3), np.float32)
    tall = rng.uniform(*nuisance.height_m, len(buildings)).astype(np.float32)
    for (t, left, h, w), z in zip(buildings, tall, strict=True):
        heights[t:t + h, left:left + w] = z
        wall[t:t + h, left:left + w] = 0.55 * world.rgb[t, left] + 0.12
    classes, rgb = world.classes, world.rgb

    # ground capture: some buildings gone (ground shows through), some new ones, another season
    g_rgb, g_cls, g_h, g_wall = base_rgb.copy(), classes.copy(), heights.copy(), wall.copy()
    gone = rng.random(len(buildings)) < nuisance.vanish
    for (t, left, h, w), is_gone in zip(buildings, gone, strict=True):
        if is_gone:
            g_cls[t:t + h, left:left + w] = world.base_classes[t:t + h, left:left + w]
            g_h[t:t + h, left:left + w] = 0
            g_wall[t:t + h, left:left + w] = 0
        else:
            g_rgb[t:t + h, left:left + w] = rgb[t:t + h, left:left + w]
    lo, hi = world.building_px
    new = []
    for _ in range(int(round(nuisance.appear * len(buildings))) * 3):
        h, w = rng.integers(lo, hi + 1, 2)
        t, left = rng.integers(0, n - hi, 2)
        if (g_cls[t:t + h, left:left + w] >= WATER).any() or (classes[t:t + h, left:left + w] == BUILDING).any():
            continue
        colour = rng.uniform(0.15, 0.95, 3).astype(np.float32)
        g_rgb[t:t + h, left:left + w] = colour
        g_cls[t:t + h, left:left + w] = BUILDING
        g_h[t:t + h, left:left + w] = rng.uniform(*nuisance.height_m)
        g_wall[t:t + h, left:left + w] = 0.55 * colour + 0.12
        new.append((int(t), int(left), int(h), int(w)))
        if len(new) >= round(nuisance.appear * len(buildings)):
            break
    gain = np.asarray(nuisance.season, np.float32)
    season = np.where((g_cls < BUILDING)[..., None], gain[np.minimum(g_cls, ROAD)], 1.0)
    world.ground_rgb = np.clip(g_rgb * season, 0, 1).astype(np.float32)
    world.ground_classes, world.ground_heights, world.ground_walls = g_cls, g_h, g_wall
    world.vanished = [b for b, is_gone in zip(buildings, gone, strict=True) if is_gone]
    world.appeared = new

    # aerial capture: shadows cast away from the sun, length = height / tan(elevation)
    world.heights = heights
    az = math.radians(nuisance.sun_deg)
    step_r, step_c = math.cos(az), -math.sin(az)  # away from the sun (row grows southwards)
    reach = heights / world.metres_per_px / math.tan(math.radians(nuisance.sun_elevation_deg))
    shadow = np.zeros((n, n), bool)
    for s in range(1, int(math.ceil(reach.max(initial=0))) + 1):
        shadow |= _shift(reach >= s, int(round(s * step_r)), int(round(s * step_c)))
    shadow &= classes != BUILDING
    world.rgb = np.where(shadow[..., None], rgb * (1 - nuisance.shadow), rgb).astype(np.float32)
    world.shadow = shadow


# ---------------------------------------------------------------------------------------- panoramas
def _ground_stack(world) -> torch.Tensor:
    """``[8, H, W]``: ground-capture RGB, wall RGB, height (px), class (cached on the world)."""
    stack = getattr(world, "_ground_stack", None)
    if stack is None:
        layers = [world.ground_rgb, world.ground_walls, (world.ground_heights / world.metres_per_px)[..., None],
                  world.ground_classes[..., None].astype(np.float32)]
        stack = torch.from_numpy(np.concatenate(layers, axis=2)).permute(2, 0, 1).contiguous()
        world._ground_stack = stack
    return stack


def render_panoramas(renderer, world, rows, cols, nuisance: Nuisance, chunk: int = 64) -> tuple[torch.Tensor, np.ndarray]:
    """Standard panoramas ``[N, 3, H, W]`` and the classes each pixel sees ``[N, H, W]`` (facades = building)."""
    stack = _ground_stack(world)
    half = renderer.extent // 2 + 1
    height = renderer.height
    radius = (renderer.extent / 2) * (1 - (torch.arange(height, dtype=torch.float32) + 0.5) / height)
    images, classes = [], []
    for s in range(0, len(rows), chunk):
        part_r, part_c = rows[s:s + chunk], cols[s:s + chunk]
        crops, shifts = [], []
        for r, c in zip(part_r, part_c, strict=True):
            r0, c0 = math.floor(r), math.floor(c)
            crops.append(stack[:, r0 - half:r0 + half, c0 - half:c0 + half])
            shifts.append((c - c0, r - r0))
        crop = torch.stack(crops)
        grid = renderer.grid + (torch.tensor(shifts, dtype=torch.float32) / (renderer.crop / 2))[:, None, None, :]
        colour = F.grid_sample(crop[:, :6], grid, mode="bilinear", padding_mode="border", align_corners=False)
        near = F.grid_sample(crop[:, 6:], grid, mode="nearest", padding_mode="border", align_corners=False)
        h, cls = near[:, 0], near[:, 1]
        # facades: walk each column outwards (bottom row = nearest); a building at radius d with height h
        # hides everything up to d + lean * h; the farthest-reaching facade so far is what is seen
        reach = torch.where(h > 0, radius[:, None] + nuisance.lean * h, torch.full_like(h, -1.0))
        best, where = torch.cummax(reach.flip(1), dim=1)
        best, where = best.flip(1), (height - 1 - where).flip(1)
        hidden = best >= radius[:, None]
        wall = torch.gather(colour[:, 3:6], 2, where[:, None].expand(-1, 3, -1, -1))
        floors = 0.85 + 0.15 * torch.cos(radius[:, None] * 2.2)  # storeys
        rgb = torch.where(hidden[:, None], wall * floors, colour[:, :3]).numpy()
        seen = np.where(hidden.numpy(), BUILDING, np.rint(cls.numpy())).astype(np.uint8)
        for i, (r, c) in enumerate(zip(part_r, part_c, strict=True)):
            # per-panorama season strength and foreground clutter, from the place's own generator
            rng = np.random.default_rng([world.seed, 0xC1077, int(round(r * 16)), int(round(c * 16))])
            _season_jitter(rgb[i], seen[i], rng)
            _clutter(rgb[i], rng, nuisance.clutter)
        images.append(torch.from_numpy(rgb))
        classes.append(seen)
    if not images:
        return torch.zeros(0, 3, renderer.height, renderer.width), np.zeros((0, renderer.height, renderer.width), np.uint8)
    return torch.cat(images).clamp(0, 1), np.concatenate(classes)


def _season_jitter(rgb: np.ndarray, cls: np.ndarray, rng: np.random.Generator) -> None:
    """In place: vegetation and water colours vary from one panorama to the next (how far the season turned)."""
    for code in (VEGETATION, WATER):
        gain = rng.uniform(0.75, 1.25, 3).astype(np.float32)
        mask = cls == code
        rgb[:, mask] *= gain[:, None]


def _clutter(rgb: np.ndarray, rng: np.random.Generator, count: tuple[int, int]) -> None:
    """In place: trees (tall, green), cars (low, saturated) and people (thin) standing near the camera."""
    _, h, w = rgb.shape
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        kind = rng.choice(3)
        left = int(rng.integers(0, w))
        if kind == 0:  # tree: trunk to crown, up to most of the band
            width, top = int(rng.integers(w // 40 + 2, w // 12 + 3)), int(rng.integers(0, h // 2))
            colour = np.array([0.1, 0.3, 0.08]) * rng.uniform(0.6, 1.4)
        elif kind == 1:  # car: low and wide
            width, top = int(rng.integers(w // 30 + 2, w // 10 + 3)), int(rng.integers(h * 3 // 4, h - 1))
            colour = rng.uniform(0.05, 0.95, 3)
        else:  # person: thin
            width, top = int(rng.integers(1, w // 60 + 2)), int(rng.integers(h // 2, h - 2))
            colour = rng.uniform(0.1, 0.7, 3)
        cols = np.arange(left, left + width) % w
        rgb[:, top:, cols] = colour.astype(np.float32)[:, None, None]


# ---------------------------------------------------------------------------------------- drone, SAR
def blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``[C, H, W]`` (reflect padding); ``sigma <= 0`` returns the image."""
    if sigma <= 0:
        return image
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    c = image.shape[0]
    img = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    img = F.conv2d(img, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    img = F.conv2d(img, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return img[0]


def layover(sigma: np.ndarray, heights_px: np.ndarray, factor: float) -> np.ndarray:
    """Move the returns of tall pixels ``factor * height`` columns towards the sensor (east): the
    building's return lands on what lies in front of it, and its footprint darkens."""
    out = sigma.copy()
    rows, cols = np.nonzero(heights_px > 0)
    if len(rows) == 0:
        return out
    shift = np.round(factor * heights_px[rows, cols]).astype(np.int64)
    target = np.minimum(cols + shift, sigma.shape[1] - 1)
    out[rows, cols] *= 0.3
    np.add.at(out, (rows, target), sigma[rows, cols])
    return out
