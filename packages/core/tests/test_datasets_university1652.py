"""University-1652 reader and synthetic writer: layout, labels, index files, limited-view galleries, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from xgeo.core.datasets import University1652, get_dataset
from xgeo.core.datasets.university1652 import (
    INDEX_FILES,
    index_lines,
    train_drone_index,
    write_index_files,
    write_limited_view,
)
from xgeo.core.errors import DatasetNotFoundError, XgeoError
from xgeo.core.synthetic import write_dataset

SIZE, RING, STREET = 3, 6, 2  # 3 train, 3 query, 1 distractor building; 3 x 6 drone frames each


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset("university1652", tmp_path_factory.mktemp("u1652"), size=SIZE, seed=0, ring=RING,
                         street_views=STREET, aerial_size=16, pano_size=(8, 16))


def _buildings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_layout_and_split_sizes(root):
    test = root / "test"
    gallery, queries = _buildings(test / "gallery_satellite"), _buildings(test / "query_satellite")
    assert len(_buildings(root / "train" / "drone")) == SIZE and len(queries) == SIZE and len(gallery) == SIZE + SIZE // 2
    assert set(queries) < set(gallery), "query buildings are gallery buildings, plus distractors in the gallery"
    assert not set(_buildings(root / "train" / "drone")) & set(gallery), "train and test buildings are disjoint"
    bid = queries[0]
    names = sorted(p.name for p in (test / "gallery_drone" / bid).iterdir())
    assert names == [f"image-{k:02d}.jpeg" for k in range(1, 3 * RING + 1)]
    assert [p.name for p in (test / "gallery_satellite" / bid).iterdir()] == [f"{bid}.jpg"]
    assert sorted(p.name for p in (test / "query_street" / bid).iterdir()) == ["1.jpg", "2.jpg"]
    first = "image-01.jpeg"
    assert (test / "query_drone" / bid / first).read_bytes() == (test / "gallery_drone" / bid / first).read_bytes()


def test_reader_labels_task_and_pairs(root):
    ds = get_dataset("university1652", root, "test", query="drone", gallery="satellite")
    assert isinstance(ds, University1652)
    assert len(ds.query_files) == SIZE * 3 * RING and len(ds.gallery_files) == SIZE + SIZE // 2
    assert all(int(f.parent.name) == lab for f, lab in zip(ds.query_files, ds.query_labels, strict=True))
    assert ds.query_files == sorted(ds.query_files), "ImageFolder order: buildings sorted, files sorted"
    assert ds.task.query_ids[0].startswith("test/query_drone/")
    assert len(ds.pairs) == len(ds.query_files)  # one satellite per drone image
    q, g = ds.pairs[5]
    assert ds.query_labels[q] == ds.gallery_labels[g]
    street = get_dataset("university1652", root, "train", query="street", gallery="drone")
    assert len(street.query_files) == SIZE * STREET and len(street.pairs) == SIZE * STREET * 3 * RING


def test_index_files_are_the_folder_tree(root):
    lines = index_lines(root)
    for name in INDEX_FILES:
        assert (root / "train" / name).read_text().splitlines() == lines[name]
    buildings = _buildings(root / "train" / "drone")
    assert lines["drone_path.txt"][0] == f"/drone/{buildings[0]}/image-01.jpeg"
    assert lines["drone_id.txt"][3 * RING] == "1" and lines["drone_view_id.txt"][3 * RING - 1] == f"{3 * RING:02d}"
    assert lines["satellite_path.txt"][1] == f"/satellite/{buildings[1]}/{buildings[1]}.jpg"
    files, ids = train_drone_index(root)
    assert files[0] == root / "train" / "drone" / buildings[0] / "image-01.jpeg" and ids.tolist()[-1] == SIZE - 1


def test_missing_index_files_are_regenerated(root, tmp_path):
    copy = Path(shutil.copytree(root, tmp_path / "u"))
    (copy / "train" / "drone_id.txt").unlink()
    (copy / "train" / "drone_path.txt").unlink()
    files, ids = train_drone_index(copy)  # derived in memory
    assert len(files) == len(ids) == SIZE * 3 * RING
    written = write_index_files(copy)
    assert sorted(p.name for p in written) == ["drone_id.txt", "drone_path.txt"]
    assert (copy / "train" / "drone_id.txt").read_text() == (root / "train" / "drone_id.txt").read_text()


def test_malformed_index_file_names_the_file(root, tmp_path):
    copy = Path(shutil.copytree(root, tmp_path / "u"))
    (copy / "train" / "drone_id.txt").write_text("0\nx\n")
    with pytest.raises(XgeoError, match="drone_id.txt") as err:
        train_drone_index(copy)
    assert "plcd-index" in str(err.value)


def test_limited_view_splits_rings_with_the_low_high_bug_fixed(root, tmp_path):
    copy = Path(shutil.copytree(root, tmp_path / "u"))
    counts = write_limited_view(copy, ring=RING)
    n = SIZE + SIZE // 2
    assert counts == {"high": n * RING, "middle": n * RING, "low": n * RING}
    bid = _buildings(copy / "test" / "gallery_drone")[0]
    low = sorted(p.name for p in (copy / "test" / "gallery_drone_low" / bid).iterdir())
    high = sorted(p.name for p in (copy / "test" / "gallery_drone_high" / bid).iterdir())
    assert low[0] == f"image-{2 * RING + 1:02d}.jpeg" and high[-1] == f"image-{RING:02d}.jpeg"
    ds = get_dataset("university1652", copy, "test", query="street", gallery="drone", gallery_folder="gallery_drone_low")
    assert len(ds.gallery_files) == n * RING
    with pytest.raises(XgeoError, match="already exists"):
        write_limited_view(copy, ring=RING)


def test_bad_roots_and_views(root, tmp_path):
    with pytest.raises(DatasetNotFoundError):
        get_dataset("university1652", tmp_path / "missing", "test")
    with pytest.raises(XgeoError, match="no view"):
        get_dataset("university1652", root, "test", query="google")
    with pytest.raises(XgeoError, match="gallery_drone_low"):
        get_dataset("university1652", root, "test", query="street", gallery="drone", gallery_folder="gallery_drone_low")
    sat_to_drone = get_dataset("university1652", root, "test", query="satellite", gallery="drone")
    assert np.all(sat_to_drone.task.relation().sum(1) == 3 * RING)


def test_xgeo_synth_ring_sets_the_drone_frames_per_altitude(tmp_path, capsys):
    from xgeo.core import cli

    args = ["synth", "university1652", "--size", "1", "--aerial-size", "16", "--ground-size", "8", "16"]
    assert cli.main([*args, "--out", str(tmp_path / "u"), "--ring", "6"]) == 0
    frames = list((tmp_path / "u" / "train" / "drone").iterdir())[0].iterdir()
    assert len(list(frames)) == 3 * 6  # three altitudes
    for ring in ("4", "0"):
        with pytest.raises(SystemExit):
            cli.main([*args, "--out", str(tmp_path / "bad"), "--ring", ring])
        assert "multiple of 6" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["synth", "cvusa", "--out", str(tmp_path / "c"), "--size", "1", "--ring", "6"])
    assert "--ring does not apply to cvusa" in capsys.readouterr().err
