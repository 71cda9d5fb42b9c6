"""A miniature SN6-CMPC in its real on-disk layout (``specs/cmpc.md`` §2)::

    <setting>/<split>/annotations/opt/<id>.json    {"id", "file_path", "pos": {"x", "y"}, "raw": {...}}
    <setting>/<split>/annotations/sar/<n>.json     {"id", "file_path", "pos", "near_id", "raw": {...}}
    <setting>/<split>/imgs/opt/<id>.png            optical patch (north-up crop of the world)
    <setting>/<split>/imgs/sar/<n>.png             3-channel SAR patch of the same place

One :class:`World` is cut into a regular grid of optical patches of ``patch_metres`` (positions
in metres: easting/northing of the patch centre). The top rows of the grid are the test region
(``size`` references), the rest the training region (``train_factor * size``); optical ids run
0.. over training and continue over test, as in the release. Every reference gets one SAR query and
a fraction ``extra_fraction`` a second one (several queries share an optical id). Half of the
first queries sit on the grid; the others are shifted by up to ``max_offset`` of a patch in each
direction (so a correct match still has a metre-level error). A SAR patch is the optical
intensity with multiplicative gamma speckle in log scale (:func:`sar_patch`), one independent
speckle draw per channel (a false-colour composite), plus a mis-registration of up to 2 world px.
``near_id`` lists the 4 references nearest to the query, its own first.

``difficulty`` (:mod:`xgeo.core.synthetic.difficulty`): ``"easy"`` (the default) renders both
modalities from one raster; ``"standard"`` gives the world building heights and two captures: the
optical patches show the aerial capture (with sun shadows), the SAR patches are taken at another
date (the ground capture: another season, some buildings gone, some new, no shadows) and the
returns of tall buildings lean towards the sensor (layover). Geometry, ids and positions do not
depend on the difficulty.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from xgeo.core.io import write_json
from xgeo.core.synthetic._common import check_out, check_size, write_images
from xgeo.core.synthetic.difficulty import DIFFICULTIES
from xgeo.core.synthetic.views import add_nuisance, aerial_tiles, sar_patch
from xgeo.core.synthetic.world import World

MISREGISTRATION_PX = 2
NEAR_IDS = 4


def sar_capture(world: World) -> World | SimpleNamespace:
    """What the SAR sensor sees: the world itself when easy; when standard, the capture of another date
    (the ground capture's cover, heights and season) with the world's layover."""
    if world.nuisance is None:
        return world
    return SimpleNamespace(rgb=world.ground_rgb, classes=world.ground_classes, heights=world.ground_heights,
                           metres_per_px=world.metres_per_px, nuisance=world.nuisance)


def _sar_image(world: World, row: float, col: float, extent: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``[3, size, size]``: two speckle draws of the same (mis-registered) place and their mean."""
    dr, dc = rng.integers(-MISREGISTRATION_PX, MISREGISTRATION_PX + 1, 2)
    r, c = row + int(dr), col + int(dc)
    a = sar_patch(world, r, c, extent, size, rng, max_offset_px=0)
    b = sar_patch(world, r, c, extent, size, rng, max_offset_px=0)
    return torch.cat([a, b, 0.5 * (a + b)])


def _write_split(root: Path, world: World, cells: np.ndarray, ids: np.ndarray, extent: int, image_size: int,
                 extra_fraction: float, max_offset: float, rng: np.random.Generator) -> None:
    """Optical patches of ``cells`` (``[N, 2]`` pixel centres) and their SAR queries under ``root``."""
    for sub in ("annotations/opt", "annotations/sar", "imgs/opt", "imgs/sar"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    east, north = world.metres(cells[:, 0], cells[:, 1])
    optical = add_nuisance(aerial_tiles(world, cells[:, 0].tolist(), cells[:, 1].tolist(), extent, image_size), rng,
                           gain=(0.9, 1.1), noise=0.02)
    write_images([root / "imgs" / "opt" / f"{i}.png" for i in ids], optical)
    for k, i in enumerate(ids):
        write_json(root / "annotations" / "opt" / f"{i}.json", {
            "id": int(i), "file_path": f"{i}.png", "pos": {"x": float(east[k]), "y": float(north[k])},
            "raw": {"grid_rc": [float(cells[k, 0]), float(cells[k, 1])]},
        })

    n = len(ids)
    owner = np.concatenate([np.arange(n), rng.permutation(n)[: round(extra_fraction * n)]])
    aligned = np.zeros(len(owner), bool)
    aligned[:n] = rng.random(n) < 0.5
    offset = rng.uniform(-max_offset, max_offset, (len(owner), 2)) * extent
    offset[aligned] = 0.0
    places = cells[owner] + offset
    numbers = rng.permutation(len(owner))  # SAR file numbers carry no hint of the grid order
    q_east, q_north = world.metres(places[:, 0], places[:, 1])
    sar_world = sar_capture(world)
    images = torch.stack([_sar_image(sar_world, r, c, extent, image_size, rng) for r, c in places])
    write_images([root / "imgs" / "sar" / f"{m}.png" for m in numbers], images)
    for q, m in enumerate(numbers):
        dist = np.hypot(east - q_east[q], north - q_north[q])
        near = [int(owner[q])] + [int(j) for j in np.argsort(dist, kind="stable") if j != owner[q]][: NEAR_IDS - 1]
        write_json(root / "annotations" / "sar" / f"{m}.json", {
            "id": int(ids[owner[q]]), "file_path": f"{m}.png",
            "pos": {"x": float(q_east[q]), "y": float(q_north[q])},
            "near_id": [int(ids[j]) for j in near],
            "raw": {"aligned": bool(aligned[q]), "offset_px": [float(v) for v in offset[q]]},
        })


def write_sn6cmpc(out: str | Path, size: int = 100, seed: int = 0, *, setting: str = "samearea", train_factor: int = 3,
                  aerial_size: int = 64, extent_px: int = 64, patch_metres: float = 100.0, extra_fraction: float = 0.3,
                  max_offset: float = 0.2, difficulty: str = "easy") -> Path:
    """Write a synthetic SN6-CMPC setting under ``out/<setting>``; return that folder (the reader's root).

    ``size`` is the number of test optical references; ``aerial_size`` the side of every image;
    ``difficulty`` ``easy`` or ``standard`` (SAR layover and a time gap between the two captures).
    """
    DIFFICULTIES.get(difficulty)  # an unknown name fails before anything is written
    check_size(size, out)
    if not 0 <= max_offset < 0.5:
        raise ValueError("max_offset must be in [0, 0.5): a query must overlap its own patch most")
    root = check_out(Path(out) / setting)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A6]))
    n_test, n_train = int(size), int(train_factor * size)
    n = n_test + n_train
    cols = math.ceil(math.sqrt(n))
    margin = extent_px + MISREGISTRATION_PX + 2
    side = int(math.ceil((2 * margin + cols * extent_px) / 128.0)) * 128
    world = World(int(rng.integers(2**31)), size_px=side, metres_per_px=patch_metres / extent_px,
                  difficulty=difficulty)
    grid = np.arange(n)
    cells = margin + (np.stack([grid // cols, grid % cols], axis=1) + 0.5) * extent_px
    cells = np.floor(cells).astype(np.float64)
    ids = np.arange(n)
    # top rows: the test region; the rest: training (ids 0.. train, then test, as in the release)
    test_cells, train_cells = cells[:n_test], cells[n_test:]
    _write_split(root / "train", world, train_cells, ids[:n_train], extent_px, aerial_size, extra_fraction, max_offset, rng)
    _write_split(root / "test", world, test_cells, ids[n_train:], extent_px, aerial_size, extra_fraction, max_offset, rng)
    return root
