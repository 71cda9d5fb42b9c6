"""VIGOR reader (``specs/datasets-crossview.md`` §3): panoramas against overlapping aerial tiles.

Protocols and index conventions follow TransGeo/FRGeo and VIGOR's own loader:

============  ==========================================  ======================================
protocol      train                                       test
============  ==========================================  ======================================
same-area     ``same_area_balanced_train.txt`` of          ``same_area_balanced_test.txt`` of
              NewYork, Seattle, SanFrancisco, Chicago       the same four cities
cross-area    ``pano_label_balanced.txt`` of NewYork,       ``pano_label_balanced.txt`` of
              Seattle                                       SanFrancisco, Chicago
============  ==========================================  ======================================

Aerial index = position in the concatenation (in that city order) of the cities'
``satellite_list.txt``; panorama index = position in the concatenation of the label files. Each
panorama has a label vector ``(positive, semi1, semi2, semi3)`` of aerial indices and a ``[4, 2]``
offset array: its pixel in aerial ``k`` at the 640-px scale is ``(320 + delta[k, 0], 320 - delta[k, 1])``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xgeo.core.datasets import register_dataset
from xgeo.core.datasets._files import check_root, check_split, read_lines
from xgeo.core.datasets.base import CrossViewSplit, Transform
from xgeo.core.errors import XgeoError
from xgeo.core.task import RetrievalTask

SAME_AREA_CITIES = ("NewYork", "Seattle", "SanFrancisco", "Chicago")
#: (cross, split) -> cities, in index order
CITIES = {
    (False, "train"): SAME_AREA_CITIES,
    (False, "test"): SAME_AREA_CITIES,
    (True, "train"): ("NewYork", "Seattle"),
    (True, "test"): ("SanFrancisco", "Chicago"),
}
#: (cross, split) -> label file in splits/<City>/
LABEL_FILES = {
    (False, "train"): "same_area_balanced_train.txt",
    (False, "test"): "same_area_balanced_test.txt",
    (True, "train"): "pano_label_balanced.txt",
    (True, "test"): "pano_label_balanced.txt",
}
SATELLITE_LIST = "satellite_list.txt"
LAYOUT_TEXT = "VIGOR/{<City>/panorama/*.jpg, <City>/satellite/*.png, splits/<City>/satellite_list.txt, ...}"
FIX = "restore the splits/ folder of the VIGOR release (or regenerate with `xgeo synth vigor`)"


def satellite_latlon(name: str) -> tuple[float, float]:
    """Centre ``(lat, lon)`` from ``satellite_<lat>_<lon>.png``."""
    fields = name[:-4].split("_") if name.endswith(".png") else []
    if len(fields) != 3:
        raise ValueError(f"{name!r} is not satellite_<lat>_<lon>.png")
    return float(fields[1]), float(fields[2])


def panorama_latlon(name: str) -> tuple[float, float]:
    """``(lat, lon)`` from ``<panoid>,<lat>,<lon>,.jpg``."""
    fields = name.split(",")
    if len(fields) < 4:
        raise ValueError(f"{name!r} is not <panoid>,<lat>,<lon>,.jpg")
    return float(fields[1]), float(fields[2])


def _folder(root: Path, city: str, pattern: str) -> Path:
    """``root/<City>/<pattern>``, or ``root/<pattern with {city}>`` for forks that nest the other way."""
    return root / pattern.format(city=city) if "{city}" in pattern else root / city / pattern


@register_dataset
class VIGOR(CrossViewSplit):
    """One VIGOR split: queries = panoramas, gallery = aerial tiles of the split's cities.

    Attributes beyond the protocol: ``cities``, ``labels`` ``[N, 4]`` (positive + 3 semi-positive
    aerial indices), ``delta`` ``[N, 4, 2]``, ``query_locations`` / ``gallery_locations`` ``[., 2]``
    lat/lon, ``cover`` (aerial index -> int64 array of the panoramas whose positive it is, for
    per-aerial mining), and ``pairs`` = (panorama, positive aerial) for every panorama.
    ``ground_dir``/``aerial_dir`` name the image folders inside each city, or, when they contain
    ``{city}``, a pattern under the root (e.g. ``ground/{city}`` for Sample4Geo-style copies).
    """

    name = "vigor"

    def __init__(self, root: str | Path, split: str = "train", transforms: Transform | None = None, cross: bool = False,
                 ground_dir: str = "panorama", aerial_dir: str = "satellite") -> None:
        check_split(split, ("train", "test"), "VIGOR")
        root = check_root(root, "VIGOR", LAYOUT_TEXT, required=["splits"])
        super().__init__(root, split, transforms)
        self.cross = bool(cross)
        self.cities = CITIES[(self.cross, split)]

        sat_names: list[str] = []
        sat_loc: list[tuple[float, float]] = []
        self.gallery_files = []
        index: dict[tuple[str, str], int] = {}
        for city in self.cities:
            path = root / "splits" / city / SATELLITE_LIST
            for number, name in read_lines(path, "VIGOR satellite list", FIX):
                try:
                    sat_loc.append(satellite_latlon(name))
                except ValueError as err:
                    raise XgeoError(path, f"line {number}: {err}", FIX) from None
                index[(city, name)] = len(sat_names)
                sat_names.append(name)
                self.gallery_files.append(_folder(root, city, aerial_dir) / name)

        pano_names: list[str] = []
        pano_loc: list[tuple[float, float]] = []
        labels: list[list[int]] = []
        delta: list[list[float]] = []
        self.query_files = []
        for city in self.cities:
            path = root / "splits" / city / LABEL_FILES[(self.cross, split)]
            for number, line in read_lines(path, "VIGOR label file", FIX):
                tokens = line.split()
                if len(tokens) != 13:
                    raise XgeoError(path, f"line {number}: expected 13 space-separated tokens "
                                          f"(panorama, then 4 x aerial + 2 offsets), got {len(tokens)}", FIX)
                try:
                    pano_loc.append(panorama_latlon(tokens[0]))
                    delta.append([float(t) for k in range(4) for t in tokens[2 + 3 * k:4 + 3 * k]])
                except ValueError as err:
                    raise XgeoError(path, f"line {number}: {err}", FIX) from None
                row = []
                for k in range(4):
                    key = (city, tokens[1 + 3 * k])
                    if key not in index:
                        raise XgeoError(path, f"line {number}: aerial {key[1]} is not in {city}'s {SATELLITE_LIST}", FIX)
                    row.append(index[key])
                labels.append(row)
                pano_names.append(tokens[0])
                self.query_files.append(_folder(root, city, ground_dir) / tokens[0])
        if not pano_names:
            raise XgeoError(root / "splits", f"no panoramas listed for VIGOR {split} ({'cross' if cross else 'same'}-area)", FIX)

        self.sat_names, self.pano_names = sat_names, pano_names
        self.labels = np.asarray(labels, dtype=np.int64).reshape(-1, 4)
        self.delta = np.asarray(delta, dtype=np.float64).reshape(-1, 4, 2)
        self.query_locations = np.asarray(pano_loc, dtype=np.float64).reshape(-1, 2)
        self.gallery_locations = np.asarray(sat_loc, dtype=np.float64).reshape(-1, 2)
        n = len(pano_names)
        self.pairs = np.stack([np.arange(n), self.labels[:, 0]], axis=1).astype(np.int64)
        order = np.argsort(self.labels[:, 0], kind="stable")
        bounds = np.flatnonzero(np.diff(self.labels[order, 0])) + 1
        self.cover: dict[int, np.ndarray] = {int(self.labels[g[0], 0]): g for g in np.split(order, bounds)}
        protocol = "cross" if self.cross else "same"
        self.task = RetrievalTask.with_semi_positives(
            pano_names, sat_names, self.labels[:, 0], self.labels[:, 1:],
            query_locations=self.query_locations, gallery_locations=self.gallery_locations, crs="latlon",
            name=f"vigor-{protocol}-{split}",
        )
