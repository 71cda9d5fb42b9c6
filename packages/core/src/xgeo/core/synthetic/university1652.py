"""A miniature University-1652 in its real on-disk layout (``specs/datasets-university1652.md`` §3, §6).

Every building is one place of one :class:`World`:

- drone: ``altitudes x ring`` oblique views centred on the building, ``image-NN.jpeg`` numbered
  ring-major from the highest ring down (the descending spiral), headings ``360 k / ring`` within a
  ring, so PLCD's six-sector sampler finds ``ring / 6`` frames per 60° sector;
- satellite: one north-up tile ``<bid>/<bid>.jpg``;
- street: ``street_views`` limited-field-of-view ground photos ``<n>.jpg`` (half a panorama around a
  point a few metres from the building, random heading, colour gain and noise).

``size`` training buildings, ``size`` test (query) buildings and ``distractors`` (default
``size // 2``) more buildings that only appear in the test galleries. Building ids are distinct
four-digit strings, train and test disjoint. ``test/query_drone`` and ``query_satellite`` hold the
same images as the gallery for the query buildings (as in the release); street queries and street
gallery images are different photos. PLCD's six index files are written into ``train/``.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import torch

from xgeo.core.datasets.university1652 import write_index_files
from xgeo.core.errors import XgeoError
from xgeo.core.synthetic._common import check_out, check_size, write_images
from xgeo.core.synthetic.views import DRONE_ALTITUDES_M, PanoramaRenderer, add_nuisance, aerial_tiles, drone_view
from xgeo.core.synthetic.world import World, sample_places, world_side


def _reach_px(altitude_m: float, metres_per_px: float, fov_deg: float = 60.0, tilt: float = 0.4) -> int:
    """How far (world px) :func:`drone_view` reads around its place at ``altitude_m``."""
    half = altitude_m * math.tan(math.radians(fov_deg) / 2) / metres_per_px
    return int(math.ceil(half * (1 + tilt / 2) * math.sqrt(2))) + 3


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)


def _street(world: World, row: float, col: float, renderer: PanoramaRenderer, count: int, rng: np.random.Generator,
            offset_px: float) -> torch.Tensor:
    """``count`` half-panorama street photos taken around ``(row, col)``."""
    angles = rng.uniform(0, 2 * math.pi, count)
    dist = rng.uniform(0.3, 1.0, count) * offset_px
    rows = (row + dist * np.cos(angles)).tolist()
    cols = (col + dist * np.sin(angles)).tolist()
    panos = renderer(world, rows, cols)
    width = panos.shape[-1] // 2
    shifts = rng.integers(0, panos.shape[-1], count)
    photos = torch.stack([torch.roll(p, int(-s), dims=-1)[..., :width] for p, s in zip(panos, shifts, strict=True)])
    return add_nuisance(photos, rng)


def write_university1652(out: str | Path, size: int = 20, seed: int = 0, *, ring: int = 18,
                         altitudes: tuple[float, ...] = tuple(sorted(DRONE_ALTITUDES_M, reverse=True)),
                         street_views: int = 3, distractors: int | None = None, aerial_size: int = 64,
                         drone_size: int | None = None, pano_size: tuple[int, int] = (32, 64), extent_px: int = 96,
                         metres_per_px: float = 0.5) -> Path:
    """Write a synthetic University-1652 under ``out``; return ``out``. ``ring``: drone frames per altitude
    ring (a multiple of 6); ``pano_size``: street photo (height, width)."""
    check_size(size, out)
    if ring < 6 or ring % 6:
        raise XgeoError(out, f"ring {ring}: the drone ring needs a multiple of 6 frames (six 60-degree sectors)",
                        "pass --ring 6, 12, 18, ...")
    out = check_out(out)
    n_train = n_query = int(size)
    n_distract = int(size) // 2 if distractors is None else int(distractors)
    n = n_train + n_query + n_distract
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1652]))
    margin = max(_reach_px(max(altitudes), metres_per_px), extent_px // 2 + 2) + 2
    side = world_side(n, 2 * margin, spacing=1.0)
    world = World(int(rng.integers(2**31)), size_px=side, metres_per_px=metres_per_px)
    places = sample_places(rng, side, n, margin=margin).astype(np.float64)
    ids = [f"{i:04d}" for i in rng.choice(10_000, n, replace=False)]
    train_ids, query_ids, distract_ids = sorted(ids[:n_train]), sorted(ids[n_train:n_train + n_query]), ids[n_train + n_query:]
    where = dict(zip(ids, places, strict=True))
    drone_size = drone_size or aerial_size
    renderer = PanoramaRenderer(extent_px, pano_size[0], 2 * pano_size[1])
    offset = 0.15 * extent_px

    def drone_ring(bid: str) -> list[torch.Tensor]:
        row, col = where[bid]
        return [drone_view(world, row, col, alt, 360.0 * k / ring, size=drone_size) for alt in altitudes for k in range(ring)]

    def write_building(split_dirs: dict[str, list[Path]], bid: str) -> None:
        row, col = where[bid]
        frames = drone_ring(bid)
        names = [f"image-{k + 1:02d}.jpeg" for k in range(len(frames))]
        drone_dirs, sat_dirs = split_dirs["drone"], split_dirs["satellite"]
        write_images([drone_dirs[0] / bid / name for name in names], torch.stack(frames))
        write_images([sat_dirs[0] / bid / f"{bid}.jpg"], aerial_tiles(world, [row], [col], extent_px, aerial_size))
        for extra in drone_dirs[1:]:
            for name in names:
                _copy(drone_dirs[0] / bid / name, extra / bid / name)
        for extra in sat_dirs[1:]:
            _copy(sat_dirs[0] / bid / f"{bid}.jpg", extra / bid / f"{bid}.jpg")
        for folder in split_dirs["street"]:
            photos = _street(world, row, col, renderer, street_views, rng, offset)
            write_images([folder / bid / f"{k + 1}.jpg" for k in range(street_views)], photos)

    train, test = out / "train", out / "test"
    for bid in train_ids:
        write_building({"drone": [train / "drone"], "satellite": [train / "satellite"], "street": [train / "street"]}, bid)
    for bid in query_ids:
        write_building({v: [test / f"gallery_{v}", test / f"query_{v}"] for v in ("drone", "satellite", "street")}, bid)
    for bid in distract_ids:
        write_building({v: [test / f"gallery_{v}"] for v in ("drone", "satellite", "street")}, bid)
    write_index_files(out, overwrite=True)
    return out
