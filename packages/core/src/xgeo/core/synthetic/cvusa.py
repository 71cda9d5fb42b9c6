"""A miniature CVUSA in its real on-disk layout (``original``) or the Light_CVGL ``flat`` layout.

``original``::

    bingmap/19/<7-digit id>.jpg            aerial tile (north-up)
    streetview/panos/<id>.jpg              ground panorama (north at the centre column)
    streetview/annotations/<id>.png        class colours seen by each panorama pixel
    splits/train-19zl.csv, val-19zl.csv    "bingmap/19/<id>.jpg,streetview/panos/<id>.jpg,streetview/annotations/<id>.png"

``flat``: ``sat/<id>.jpg``, ``grd/<id>.png`` and the same ``splits/`` files.

``size`` is the number of test pairs (lines of ``val-19zl.csv``); ``train-19zl.csv`` gets
``train_factor * size`` lines. Real images are 750x750 aerial and 224x1232 panorama; the default
miniature keeps their aspect ratios at 64x64 and 32x176.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xgeo.core.io import write_image, write_text
from xgeo.core.synthetic._common import check_out, check_size, write_images
from xgeo.core.synthetic.views import PanoramaRenderer, aerial_tiles, ground_panoramas
from xgeo.core.synthetic.world import CLASS_COLOURS, World, sample_places, world_side

LAYOUTS = ("original", "flat")
#: per-layout file locations, relative to the root
PATHS = {
    "original": {
        "aerial": "bingmap/19/{id}.jpg", "ground": "streetview/panos/{id}.jpg", "annotation": "streetview/annotations/{id}.png",
    },
    "flat": {"aerial": "sat/{id}.jpg", "ground": "grd/{id}.png"},
}


def write_cvusa(out: str | Path, size: int = 100, seed: int = 0, *, layout: str = "original", train_factor: int = 3,
                aerial_size: int = 64, pano_size: tuple[int, int] = (32, 176), extent_px: int = 64,
                metres_per_px: float = 0.5, world_px: int | None = None, difficulty: str = "easy") -> Path:
    """Write a synthetic CVUSA under ``out``; return ``out``.

    Each pair is one place of one :class:`World`: the aerial is the ``extent_px`` crop around it
    (resized to ``aerial_size``), the panorama is the polar transform of the same disc with a
    per-image colour gain and Gaussian noise; ``difficulty="standard"`` adds facades, a time gap and
    clutter (:mod:`xgeo.core.synthetic.difficulty`).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown CVUSA layout {layout!r}; choose from {LAYOUTS}")
    check_size(size, out)
    out = check_out(out)
    n_test, n_train = int(size), int(train_factor * size)
    n = n_train + n_test
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xC05A]))
    side = world_px or world_side(n, extent_px)
    world = World(int(rng.integers(2**31)), size_px=side, metres_per_px=metres_per_px, difficulty=difficulty)
    places = sample_places(rng, side, n, margin=extent_px // 2 + 2)
    ids = [f"{i:07d}" for i in np.sort(rng.choice(10**7 - 1, n, replace=False) + 1)]
    ids = [ids[i] for i in rng.permutation(n)]

    renderer = PanoramaRenderer(extent_px, *pano_size)
    rows, cols = places[:, 0].tolist(), places[:, 1].tolist()
    paths = {k: [out / v.format(id=i) for i in ids] for k, v in PATHS[layout].items()}
    chunk = 128
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        write_images(paths["aerial"][sl], aerial_tiles(world, rows[sl], cols[sl], extent_px, aerial_size))
        write_images(paths["ground"][sl], ground_panoramas(world, rows[sl], cols[sl], renderer, rng))
        if "annotation" in paths:
            for path, cls in zip(paths["annotation"][sl], renderer.classes(world, rows[sl], cols[sl]), strict=True):
                write_image(path, CLASS_COLOURS[cls])

    lines = [",".join(p.format(id=i) for p in PATHS["original"].values()) for i in ids]
    write_text(out / "splits" / "train-19zl.csv", "".join(f"{ln}\n" for ln in lines[:n_train]))
    write_text(out / "splits" / "val-19zl.csv", "".join(f"{ln}\n" for ln in lines[n_train:]))
    return out
