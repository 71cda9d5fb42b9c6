"""A miniature VIGOR in its real on-disk layout::

    <City>/panorama/<panoid>,<lat>,<lon>,.jpg        full equirectangular panorama (H x 2H)
    <City>/satellite/satellite_<lat>_<lon>.png       aerial tile, file name = centre lat/lon
    splits/<City>/satellite_list.txt                 aerial names, row-major over the tile grid
    splits/<City>/same_area_balanced_train.txt       13-token label lines (see below)
    splits/<City>/same_area_balanced_test.txt
    splits/<City>/pano_label_balanced.txt            all panoramas of the city

Each city is its own world (own seed, own origin), so cross-area training and testing see
different places. Aerial tiles overlap by 50 %: tile ``(i, j)`` covers ``extent_px`` world pixels
starting at ``margin + (i, j) * extent_px / 2``, so every panorama lies in exactly 4 tiles. The
positive is the tile whose central quarter contains the panorama, the other three are the
semi-positives; each aerial is the positive of at most 2 panoramas ("balanced").

Label line: ``pano A0 d0_0 d0_1 A1 d1_0 d1_1 A2 d2_0 d2_1 A3 d3_0 d3_1`` where the panorama's pixel in
aerial ``Ak`` at the 640-px scale is ``(row, col) = (320 + dk_0, 320 - dk_1)``, whatever the
miniature tile size. The world scale is chosen so that one tile spans 640 x 0.114 m, VIGOR's
nominal resolution.

``size`` is the number of panoramas per city (``4 * size`` in all); ``train_fraction`` of each
city's panoramas go to the same-area training list. Real images are 2048x1024 panoramas and
640x640 aerials; the default miniature is 64x128 and 64x64.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from xgeo.core.io import write_text
from xgeo.core.synthetic._common import check_out, check_size, random_ids, write_images
from xgeo.core.synthetic.views import PanoramaRenderer, aerial_tiles, equirect_panoramas
from xgeo.core.synthetic.world import World

#: city folder -> geo origin (north-west corner of its world)
CITIES: dict[str, tuple[float, float]] = {
    "Chicago": (41.8847, -87.6352),
    "NewYork": (40.7580, -73.9855),
    "SanFrancisco": (37.7880, -122.4075),
    "Seattle": (47.6120, -122.3370),
}
VIGOR_SCALE_PX = 640
VIGOR_METRES_PER_PX = 0.114
PANOS_PER_AERIAL = 1.16  # 105,214 panoramas / 90,618 aerials in the real dataset
MARGIN_PX = 4


def tile_grid(size: int) -> int:
    """Tiles per side of a city's square grid for ``size`` panoramas."""
    return max(2, math.ceil(math.sqrt(size / PANOS_PER_AERIAL)))


def sat_name(lat: float, lon: float) -> str:
    return f"satellite_{lat:.10f}_{lon:.10f}.png"


def pano_name(pano_id: str, lat: float, lon: float) -> str:
    return f"{pano_id},{lat:.6f},{lon:.6f},.jpg"


def _write_city(out: Path, city: str, world: World, size: int, extent: int, train_fraction: float,
                aerial_size: int, pano_size: tuple[int, int], rng: np.random.Generator) -> None:
    n = tile_grid(size)
    half = extent // 2
    centres = MARGIN_PX + half + half * np.arange(n)  # tile k covers [centres[k] - half, centres[k] + half)
    lo_valid, hi_valid = centres[0], centres[-1]

    # tiles, row-major
    tr, tc = np.meshgrid(centres, centres, indexing="ij")
    tr, tc = tr.ravel(), tc.ravel()
    tlat, tlon = world.latlon(tr, tc)
    sats = [sat_name(a, b) for a, b in zip(tlat, tlon, strict=True)]

    # panoramas: at most 2 per positive tile, inside its central quarter (and inside the 4-tile area)
    positive = rng.choice(2 * n * n, size, replace=False) // 2
    pos = np.empty((size, 2))
    for axis, k in enumerate((positive // n, positive % n)):
        lo = np.maximum(centres[k] - half / 2, lo_valid) + 0.5
        hi = np.minimum(centres[k] + half / 2, hi_valid) - 0.5
        pos[:, axis] = rng.uniform(lo, hi)
    lat, lon = world.latlon(pos[:, 0], pos[:, 1])
    lat, lon = np.round(lat, 6), np.round(lon, 6)  # what the file name can carry ...
    prow, pcol = world.pixel(lat, lon)  # ... is the panorama's true position
    names = [pano_name(i, a, b) for i, a, b in zip(random_ids(rng, size), lat, lon, strict=True)]

    lines = []
    scale = VIGOR_SCALE_PX / extent
    for i in range(size):
        kr, kc = divmod(int(positive[i]), n)
        nr = kr + 1 if prow[i] >= centres[kr] else kr - 1
        nc = kc + 1 if pcol[i] >= centres[kc] else kc - 1
        tokens = [names[i]]
        for ar, ac in ((kr, kc), (nr, kc), (kr, nc), (nr, nc)):
            d0 = (prow[i] - centres[ar]) * scale
            d1 = -(pcol[i] - centres[ac]) * scale
            tokens += [sats[ar * n + ac], f"{d0:.4f}", f"{d1:.4f}"]
        lines.append(" ".join(tokens) + "\n")

    is_train = np.zeros(size, bool)
    is_train[rng.permutation(size)[:round(size * train_fraction)]] = True
    split_dir = out / "splits" / city
    write_text(split_dir / "satellite_list.txt", "".join(f"{s}\n" for s in sats))
    write_text(split_dir / "pano_label_balanced.txt", "".join(lines))
    write_text(split_dir / "same_area_balanced_train.txt", "".join(ln for ln, t in zip(lines, is_train, strict=True) if t))
    write_text(split_dir / "same_area_balanced_test.txt", "".join(ln for ln, t in zip(lines, is_train, strict=True) if not t))

    chunk = 128
    for s in range(0, n * n, chunk):
        sl = slice(s, s + chunk)
        write_images([out / city / "satellite" / x for x in sats[sl]],
                     aerial_tiles(world, tr[sl].tolist(), tc[sl].tolist(), extent, aerial_size))
    renderer = PanoramaRenderer(extent, pano_size[0] // 2, pano_size[1])
    for s in range(0, size, chunk):
        sl = slice(s, s + chunk)
        write_images([out / city / "panorama" / x for x in names[sl]],
                     equirect_panoramas(world, prow[sl].tolist(), pcol[sl].tolist(), renderer, rng))


def write_vigor(out: str | Path, size: int = 25, seed: int = 0, *, train_fraction: float = 0.5, aerial_size: int = 64,
                pano_size: tuple[int, int] = (64, 128), extent_px: int = 64, difficulty: str = "easy") -> Path:
    """Write a synthetic VIGOR (4 cities, ``size`` panoramas each) under ``out``; return ``out``.

    ``difficulty``: ``"easy"`` or ``"standard"`` (see :mod:`xgeo.core.synthetic.difficulty`).
    """
    check_size(size, out)
    out = check_out(out)
    if extent_px % 4 or pano_size[0] % 4:
        raise ValueError("extent_px and the panorama height must be multiples of 4")
    seeds = np.random.SeedSequence([seed, 0x716]).spawn(len(CITIES))
    n = tile_grid(size)
    side = int(math.ceil((2 * MARGIN_PX + (n + 1) * extent_px // 2) / 64.0)) * 64
    mpp = VIGOR_SCALE_PX * VIGOR_METRES_PER_PX / extent_px
    for (city, origin), ss in zip(CITIES.items(), seeds, strict=True):
        rng = np.random.default_rng(ss)
        world = World(int(rng.integers(2**31)), size_px=max(side, 128), metres_per_px=mpp, origin_latlon=origin,
                      difficulty=difficulty)
        _write_city(out, city, world, int(size), extent_px, train_fraction, aerial_size, pano_size, rng)
    return out
