"""Synthetic worlds: one procedural world, view renderers, and writers of miniature standard datasets.

The writers produce the real on-disk layouts (``cvusa``, ``cvact``, ``vigor``) so the real readers
in :mod:`xgeo.core.datasets` are what every test and the demo exercise. All writers are
deterministic given ``(size, seed)`` and their keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from xgeo.core.registry import Registry
from xgeo.core.synthetic.captions import write_rsicd, write_rsitmd
from xgeo.core.synthetic.cvact import write_cvact
from xgeo.core.synthetic.cvusa import write_cvusa
from xgeo.core.synthetic.sn6cmpc import write_sn6cmpc
from xgeo.core.synthetic.university1652 import write_university1652
from xgeo.core.synthetic.views import (
    DRONE_ALTITUDES_M,
    PanoramaRenderer,
    add_nuisance,
    aerial_tiles,
    drone_view,
    equirect_panoramas,
    ground_panoramas,
    sar_patch,
)
from xgeo.core.synthetic.vigor import write_vigor
from xgeo.core.synthetic.world import World

#: dataset name -> writer ``(out, size, seed, **kwargs) -> Path``
WRITERS: Registry[Callable[..., Path]] = Registry("synthetic dataset")
WRITERS.register("cvusa", write_cvusa)
WRITERS.register("cvact", write_cvact)
WRITERS.register("vigor", write_vigor)
WRITERS.register("sn6-cmpc", write_sn6cmpc)
WRITERS.register("university1652", write_university1652)
WRITERS.register("rsitmd", write_rsitmd)
WRITERS.register("rsicd", write_rsicd)

#: what ``size`` counts, per writer (shown by ``xgeo synth --help``)
SIZE_MEANING: dict[str, str] = {
    "cvusa": "test pairs (val-19zl.csv lines); training pairs = 3 x size",
    "cvact": "valSet pairs; trainSet = 3 x size, valSetAll (test) = 2 x size containing valSet",
    "vigor": "panoramas per city (4 cities); half of each city's panoramas are same-area training",
    "sn6-cmpc": "test optical references (written to OUT/samearea); training references = 3 x size, ~1.3 SAR queries each",
    "university1652": "training buildings; as many test query buildings plus size // 2 gallery distractors",
    "rsitmd": "test images (5 captions each); training images = 9 x size",
    "rsicd": "test images (5 captions each); train+val images = 9 x size (10% val)",
}


def write_dataset(name: str, out: str | Path, size: int, seed: int = 0, **kwargs) -> Path:
    """Write the synthetic dataset ``name`` under ``out`` and return its root."""
    return Path(WRITERS.get(name)(out, size=size, seed=seed, **kwargs))


__all__ = [
    "DRONE_ALTITUDES_M",
    "SIZE_MEANING",
    "WRITERS",
    "PanoramaRenderer",
    "World",
    "add_nuisance",
    "aerial_tiles",
    "drone_view",
    "equirect_panoramas",
    "ground_panoramas",
    "sar_patch",
    "write_cvact",
    "write_cvusa",
    "write_dataset",
    "write_sn6cmpc",
    "write_university1652",
    "write_rsicd",
    "write_rsitmd",
    "write_vigor",
]
