"""A miniature CVACT (``ANU_data_small``-style) in its real on-disk layout::

    ACT_data.mat                                   panoIds, utm, trainSet.trainInd, valSet.valInd, valSetAll.valInd
    streetview/<panoId>_grdView.jpg                full equirectangular panorama (H x 2H)
    satview_polish/<panoId>_satView_polish.jpg     aerial tile (north-up)

Index arrays are 1-based ``n x 1`` columns inside MATLAB structs, so
``loadmat(...)['trainSet']['trainInd'][0][0]`` works as in the original loaders. The ground view
(polar transform) fills the middle half of the panorama's rows (``H/4 .. 3H/4``, what the readers
crop); sky fills the top quarter and the ground below the camera the bottom quarter.

``size`` is the number of ``valSet`` pairs (CVACT_val). ``trainSet`` gets ``train_factor * size``
places and ``valSetAll`` (CVACT_test) ``test_factor * size`` places, of which ``valSet`` is a
subset. Real images are 832x1664 panoramas and 1200x1200 aerials; the default miniature is 64x128
and 64x64.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xgeo.core.synthetic._common import check_out, check_size, random_ids, save_mat, write_images
from xgeo.core.synthetic.views import PanoramaRenderer, aerial_tiles, equirect_panoramas
from xgeo.core.synthetic.world import World, sample_places, world_side

GROUND = "streetview/{id}_grdView.jpg"
AERIAL = "satview_polish/{id}_satView_polish.jpg"


def _index_column(indices: np.ndarray) -> np.ndarray:
    """0-based indices -> sorted 1-based ``n x 1`` int32 column, as MATLAB stores them."""
    return (np.sort(indices) + 1).astype(np.int32).reshape(-1, 1)


def write_cvact(out: str | Path, size: int = 100, seed: int = 0, *, train_factor: int = 3, test_factor: int = 2,
                aerial_size: int = 64, pano_size: tuple[int, int] = (64, 128), extent_px: int = 64,
                metres_per_px: float = 0.5, world_px: int | None = None, difficulty: str = "easy") -> Path:
    """Write a synthetic CVACT under ``out``; return ``out``. ``difficulty``: ``"easy"`` or ``"standard"``."""
    check_size(size, out)
    out = check_out(out)
    if pano_size[0] % 4:
        raise ValueError(f"the panorama height must be a multiple of 4, got {pano_size[0]}")
    n_val, n_train, n_test = int(size), int(train_factor * size), max(int(test_factor * size), int(size))
    n = n_train + n_test
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xAC7]))
    side = world_px or world_side(n, extent_px)
    world = World(int(rng.integers(2**31)), size_px=side, metres_per_px=metres_per_px,
                  origin_latlon=(-35.28, 149.13), origin_utm=(690_000.0, 6_095_000.0), difficulty=difficulty)
    places = sample_places(rng, side, n, margin=extent_px // 2 + 2)
    ids = random_ids(rng, n)

    order = rng.permutation(n)  # global positions of train and test places, interleaved as in the real file
    train_pos, test_pos = order[:n_train], order[n_train:]
    val_pos = rng.choice(test_pos, n_val, replace=False)
    east, north = world.metres(places[:, 0], places[:, 1])
    save_mat(out / "ACT_data.mat", {
        "panoIds": np.array(ids),
        "utm": np.stack([east, north], axis=1),
        "trainSet": {"trainInd": _index_column(train_pos)},
        "valSet": {"valInd": _index_column(val_pos)},
        "valSetAll": {"valInd": _index_column(test_pos)},
    })

    renderer = PanoramaRenderer(extent_px, pano_size[0] // 2, pano_size[1])
    rows, cols = places[:, 0].tolist(), places[:, 1].tolist()
    chunk = 128
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        tiles = aerial_tiles(world, rows[sl], cols[sl], extent_px, aerial_size)
        write_images([out / AERIAL.format(id=i) for i in ids[sl]], tiles)
        write_images([out / GROUND.format(id=i) for i in ids[sl]], equirect_panoramas(world, rows[sl], cols[sl], renderer, rng))
    return out
