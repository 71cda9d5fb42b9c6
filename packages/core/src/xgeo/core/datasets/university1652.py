"""University-1652 reader (``specs/datasets-university1652.md``): drone, satellite and street views of
buildings, related by building id.

Layout::

    train/{drone,satellite,street}/<bid>/...          + PLCD's six index files (see below)
    test/query_{drone,satellite,street}/<bid>/...
    test/gallery_{drone,satellite,street}/<bid>/...   gallery buildings = query buildings + distractors
    test/gallery_drone_{low,middle,high}/<bid>/...    optional altitude subsets (``write_limited_view``)

Files are listed in torchvision ``ImageFolder`` order (building folders sorted, files sorted) and
labelled ``int(<building folder>)``. A split pairs one **query view** with one **gallery view**
(``query="drone", gallery="satellite"`` is drone-view target localisation); on ``train`` both come
from ``train/<view>``, on ``test`` from ``test/query_<view>`` and ``test/<gallery folder>``
(``gallery_<view>``, or a limited-view folder such as ``gallery_drone_low``). The task is label
equality; ``pairs`` holds every (query, gallery) pair of the same building.

PLCD's index files (``train/drone_id.txt`` ...) are pure functions of the ``train/`` tree:
:func:`index_lines` derives them, :func:`write_index_files` writes the missing ones, and
:func:`train_drone_index` reads ``drone_path.txt``/``drone_id.txt`` when present (else derives them).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from xgeo.core.datasets import register_dataset
from xgeo.core.datasets._files import check_root, check_split, read_lines
from xgeo.core.datasets.base import CrossViewSplit, Transform
from xgeo.core.errors import XgeoError
from xgeo.core.io import write_text
from xgeo.core.task import RetrievalTask

VIEWS = ("drone", "satellite", "street")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
LAYOUT_TEXT = "University-1652/{train/{drone,satellite,street}/<bid>/*, test/{query,gallery}_{drone,satellite,street}/<bid>/*}"
INDEX_FIX = "delete the file and run `plcd-index DATA_ROOT` to regenerate it from train/"
#: index file -> (view folder, what each line holds)
INDEX_FILES = {
    "drone_id.txt": ("drone", "class"),
    "drone_path.txt": ("drone", "path"),
    "drone_view_id.txt": ("drone", "frame"),
    "satellite_id.txt": ("satellite", "class"),
    "satellite_path.txt": ("satellite", "path"),
    "street_path.txt": ("street", "path"),
}
#: limited-view subset -> ring (0 = frames 1..R, the highest; 2 = frames 2R+1.., the lowest)
LIMITED_VIEWS = {"high": 0, "middle": 1, "low": 2}
_FRAME = re.compile(r"image-(\d+)\.")


def frame_number(name: str) -> int:
    """The drone frame number of ``image-NN.jpeg`` (``ValueError`` otherwise)."""
    match = _FRAME.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a drone frame image-NN.<ext>")
    return int(match.group(1))


def image_folder(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """Files, labels and sorted building ids of an ImageFolder-style ``folder/<bid>/<file>`` tree."""
    files: list[Path] = []
    labels: list[int] = []
    buildings = sorted(p.name for p in folder.iterdir() if p.is_dir())
    for bid in buildings:
        try:
            label = int(bid)
        except ValueError:
            raise XgeoError(folder / bid, "building folders must be named by their numeric id (e.g. 0839)",
                            "remove or rename the folder") from None
        names = sorted(p.name for p in (folder / bid).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += [folder / bid / n for n in names]
        labels += [label] * len(names)
    return files, labels, buildings


def _view_folder(root: Path, split: str, view: str, side: str, gallery_folder: str | None) -> Path:
    if view not in VIEWS:
        raise XgeoError(None, f"University-1652 has no view {view!r}", f"use one of: {', '.join(VIEWS)}")
    if split == "train":
        return root / "train" / view
    if side == "gallery" and gallery_folder:
        return root / "test" / gallery_folder
    return root / "test" / f"{side}_{view}"


@register_dataset
class University1652(CrossViewSplit):
    """One split of University-1652 as (query view) -> (gallery view) retrieval.

    Attributes beyond the protocol: ``query_labels`` / ``gallery_labels`` (building ids) and
    ``classes`` (the sorted training building ids of the query view's folder: class index = rank).
    """

    name = "university1652"

    def __init__(self, root: str | Path, split: str = "test", transforms: Transform | None = None, query: str = "drone",
                 gallery: str = "satellite", gallery_folder: str | None = None) -> None:
        check_split(split, ("train", "test"), "University-1652")
        root = check_root(root, "University1652", LAYOUT_TEXT, required=[split])
        super().__init__(root, split, transforms)
        lists = {}
        for side, view in (("query", query), ("gallery", gallery)):
            folder = _view_folder(root, split, view, side, gallery_folder)
            if not folder.is_dir():
                raise XgeoError(folder, f"University-1652 {split} folder for {side} view {view!r} not found",
                                "check --data_dir (it must hold train/ and test/), or run `plcd-index --limited-view`")
            files, labels, buildings = image_folder(folder)
            if not files:
                raise XgeoError(folder, "holds no images", "restore the dataset folder")
            lists[side] = (files, labels, buildings)
        self.query_view, self.gallery_view = query, gallery
        self.query_files, q_labels, self.classes = lists["query"]
        self.gallery_files, g_labels, _ = lists["gallery"]
        self.query_labels = np.asarray(q_labels, dtype=np.int64)
        self.gallery_labels = np.asarray(g_labels, dtype=np.int64)
        ids = [[str(p.relative_to(root).as_posix()) for p in files] for files in (self.query_files, self.gallery_files)]
        self.task = RetrievalTask.from_labels(ids[0], ids[1], self.query_labels, self.gallery_labels,
                                              name=f"university1652-{split}-{query}-{gallery}")
        rel = self.task.relation().tocoo()
        self.pairs = np.stack([rel.row, rel.col], axis=1).astype(np.int64)


# ------------------------------------------------------------------------------------------ index files
def index_lines(root: str | Path) -> dict[str, list[str]]:
    """The six PLCD index files of ``root/train`` derived from its folder tree (name -> lines)."""
    train = check_root(root, "University1652", LAYOUT_TEXT, required=["train"]) / "train"
    out: dict[str, list[str]] = {}
    for view in ("drone", "satellite", "street"):
        folder = train / view
        if not folder.is_dir():
            raise XgeoError(folder, "not found", "restore train/drone, train/satellite and train/street")
        files, _, buildings = image_folder(folder)
        rank = {b: i for i, b in enumerate(buildings)}
        paths = [f"/{view}/{p.parent.name}/{p.name}" for p in files]
        out[f"{view}_path.txt"] = paths
        if view != "street":
            out[f"{view}_id.txt"] = [str(rank[p.parent.name]) for p in files]
        if view == "drone":
            try:
                out["drone_view_id.txt"] = [f"{frame_number(p.name):02d}" for p in files]
            except ValueError as err:
                raise XgeoError(folder, str(err), "drone frames must be named image-NN.jpeg") from None
    return {name: out[name] for name in INDEX_FILES}


def write_index_files(root: str | Path, overwrite: bool = False) -> list[Path]:
    """Write the index files of ``root/train`` that are missing (all with ``overwrite``); the paths written."""
    written = []
    for name, lines in index_lines(root).items():
        path = Path(root) / "train" / name
        if overwrite or not path.is_file():
            write_text(path, "".join(f"{line}\n" for line in lines))
            written.append(path)
    return written


def train_drone_index(root: str | Path) -> tuple[list[Path], np.ndarray]:
    """Training drone images and their class indices, from ``drone_path.txt``/``drone_id.txt`` when both
    exist (checked line by line), else derived from the folder tree."""
    root = Path(root)
    paths_file, ids_file = root / "train" / "drone_path.txt", root / "train" / "drone_id.txt"
    if not (paths_file.is_file() and ids_file.is_file()):
        lines = index_lines(root)
        paths, ids = lines["drone_path.txt"], lines["drone_id.txt"]
    else:
        paths = [t for _, t in read_lines(paths_file, "drone path index", INDEX_FIX)]
        id_lines = read_lines(ids_file, "drone id index", INDEX_FIX)
        if len(id_lines) != len(paths):
            raise XgeoError(ids_file, f"{len(id_lines)} lines but drone_path.txt has {len(paths)}", INDEX_FIX)
        ids = []
        for number, text in id_lines:
            if not text.isdigit():
                raise XgeoError(ids_file, f"line {number}: {text!r} is not a class index", INDEX_FIX)
            ids.append(text)
    files = [root / "train" / p.lstrip("/") for p in paths]
    return files, np.asarray([int(i) for i in ids], dtype=np.int64)


# ------------------------------------------------------------------------------------ limited-view galleries
def write_limited_view(root: str | Path, ring: int = 18, overwrite: bool = False) -> dict[str, int]:
    """Split ``test/gallery_drone`` into ``gallery_drone_high`` (frames 1..ring), ``_middle`` (ring+1..2 ring)
    and ``_low`` (the rest, e.g. 37..54 and image-55): the intent of PLCD's ``prepare_limited_view.py``,
    whose as-coded version also copied frames 1..18 into ``_low`` and left ``_high`` empty. Returns the
    number of images per subset. Existing subset folders are refused unless ``overwrite``."""
    root = Path(root)
    source = root / "test" / "gallery_drone"
    if not source.is_dir():
        raise XgeoError(source, "not found", "pass the University-1652 root (the folder holding test/)")
    targets = {name: root / "test" / f"gallery_drone_{name}" for name in LIMITED_VIEWS}
    for target in targets.values():
        if target.exists() and not overwrite:
            raise XgeoError(target, "already exists", "pass --overwrite to rebuild the limited-view galleries")
    counts = dict.fromkeys(LIMITED_VIEWS, 0)
    files, _, _ = image_folder(source)
    for target in targets.values():
        if target.exists():
            shutil.rmtree(target)
    for path in files:
        try:
            ring_index = min((frame_number(path.name) - 1) // ring, 2)
        except ValueError as err:
            raise XgeoError(path, str(err), "drone frames must be named image-NN.jpeg") from None
        name = next(n for n, r in LIMITED_VIEWS.items() if r == ring_index)
        dest = targets[name] / path.parent.name / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        shutil.copyfile(path, tmp)
        tmp.replace(dest)
        counts[name] += 1
    return counts
