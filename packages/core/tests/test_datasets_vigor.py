"""VIGOR reader on the synthetic fixture: protocols, index conventions, offsets, mining attributes, errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from xgeo.core.datasets import VIGOR, get_dataset
from xgeo.core.datasets.vigor import panorama_latlon, satellite_latlon
from xgeo.core.errors import DatasetNotFoundError, XgeoError

ALL = ("NewYork", "Seattle", "SanFrancisco", "Chicago")


def _lines(root, city, name):
    return (root / "splits" / city / name).read_text().splitlines()


@pytest.mark.parametrize(("cross", "split", "cities", "label_file"), [
    (False, "train", ALL, "same_area_balanced_train.txt"),
    (False, "test", ALL, "same_area_balanced_test.txt"),
    (True, "train", ("NewYork", "Seattle"), "pano_label_balanced.txt"),
    (True, "test", ("SanFrancisco", "Chicago"), "pano_label_balanced.txt"),
])
def test_protocols_and_index_conventions(vigor_root, cross, split, cities, label_file):
    ds = get_dataset("vigor", vigor_root, split, cross=cross)
    assert isinstance(ds, VIGOR) and ds.cities == cities
    sats = [s for c in cities for s in _lines(vigor_root, c, "satellite_list.txt")]
    lines = [ln for c in cities for ln in _lines(vigor_root, c, label_file)]
    assert ds.sat_names == sats and ds.pano_names == [ln.split()[0] for ln in lines]
    assert len(ds) == len(lines) == ds.task.num_queries and ds.task.num_gallery == len(sats)
    offsets = np.cumsum([0] + [len(_lines(vigor_root, c, "satellite_list.txt")) for c in cities])
    for i, line in enumerate(lines):
        tokens = line.split()
        city = next(k for k, c in enumerate(cities) if i < sum(len(_lines(vigor_root, x, label_file)) for x in cities[:k + 1]))
        city_sats = _lines(vigor_root, cities[city], "satellite_list.txt")
        assert [int(v) for v in ds.labels[i]] == [offsets[city] + city_sats.index(tokens[1 + 3 * k]) for k in range(4)]
        assert np.allclose(ds.delta[i].ravel(), [float(tokens[j]) for j in (2, 3, 5, 6, 8, 9, 11, 12)])
        assert ds.query_files[i] == vigor_root / cities[city] / "panorama" / tokens[0]
    assert ds.gallery_files[0] == vigor_root / cities[0] / "satellite" / sats[0]
    assert np.array_equal(ds.pairs, np.stack([np.arange(len(ds)), ds.labels[:, 0]], 1))
    task = ds.task
    assert np.array_equal(task.query_labels, ds.labels[:, 0]) and np.array_equal(task.query_semi_labels, ds.labels[:, 1:])
    assert task.crs == "latlon" and task.query_locations.shape == (len(ds), 2)
    sample = ds[0]
    assert sample["query"].shape == (3, 64, 128) and sample["gallery"].shape == (3, 64, 64)


def test_same_area_train_and_test_split_the_panoramas_of_each_city(vigor_root):
    train, test, cross_train = VIGOR(vigor_root, "train"), VIGOR(vigor_root, "test"), VIGOR(vigor_root, "train", cross=True)
    assert not set(train.pano_names) & set(test.pano_names)
    assert len(train) == len(test) == 12 and len(cross_train) == 12
    assert len(train.sat_names) == 36 and len(cross_train.sat_names) == 18
    # cross-area: train and test cities are different worlds (no shared aerial location)
    cross_test = VIGOR(vigor_root, "test", cross=True)
    assert not set(map(tuple, cross_train.gallery_locations.round(4))) & set(map(tuple, cross_test.gallery_locations.round(4)))


def test_offsets_reproduce_the_panorama_position_from_lat_lon(vigor_root):
    """(row, col) = (320 + d0, 320 - d1) in each of the 4 aerials is where the panorama's lat/lon falls."""
    for city in ALL:
        sats = _lines(vigor_root, city, "satellite_list.txt")
        loc = np.array([satellite_latlon(s) for s in sats])
        n = int(round(np.sqrt(len(sats))))
        grid = loc.reshape(n, n, 2)
        # adjacent tiles are half a tile (= 320 px at the 640 scale) apart
        lat_per_px = (grid[0, 0, 0] - grid[1, 0, 0]) / 320.0
        lon_per_px = (grid[0, 1, 1] - grid[0, 0, 1]) / 320.0
        assert lat_per_px > 0 and lon_per_px > 0
        for line in _lines(vigor_root, city, "pano_label_balanced.txt"):
            tokens = line.split()
            lat, lon = panorama_latlon(tokens[0])
            for k in range(4):
                slat, slon = satellite_latlon(tokens[1 + 3 * k])
                d0, d1 = float(tokens[2 + 3 * k]), float(tokens[3 + 3 * k])
                row, col = 320 + d0, 320 - d1
                assert row == pytest.approx(320 + (slat - lat) / lat_per_px, abs=0.01)
                assert col == pytest.approx(320 + (lon - slon) / lon_per_px, abs=0.01)
                assert 0 <= row < 640 and 0 <= col < 640  # inside the tile: all 4 tiles cover the panorama
            # the positive's central quarter holds the panorama; semi-positives are the other 3 covering tiles
            assert abs(float(tokens[2])) <= 160 and abs(float(tokens[3])) <= 160
            assert len(set(tokens[1::3])) == 4


def test_balanced_and_mining_attributes(vigor_root):
    ds = VIGOR(vigor_root, "train", cross=True)
    counts = np.bincount(ds.labels[:, 0], minlength=len(ds.sat_names))
    assert counts.max() <= 2  # each aerial is the positive of at most 2 panoramas
    assert set(ds.cover) == set(np.flatnonzero(counts))
    for aerial, panos in ds.cover.items():
        assert np.all(ds.labels[panos, 0] == aerial) and len(panos) == counts[aerial]
    assert sorted(np.concatenate(list(ds.cover.values())).tolist()) == list(range(len(ds)))


@pytest.mark.parametrize(("ground_dir", "aerial_dir"), [("ground/{city}", "satellite/{city}")])
def test_configurable_folders(tmp_path, vigor_root, ground_dir, aerial_dir):
    root = tmp_path / "vigor"
    shutil.copytree(vigor_root / "splits", root / "splits")
    for city in ALL:
        shutil.copytree(vigor_root / city / "panorama", root / "ground" / city)
        shutil.copytree(vigor_root / city / "satellite", root / "satellite" / city)
    ds = VIGOR(root, "test", ground_dir=ground_dir, aerial_dir=aerial_dir)
    assert ds.query_files[0].parent == root / "ground" / "NewYork"
    assert ds[0]["query"].shape == (3, 64, 128)


def test_missing_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="VIGOR"):
        VIGOR(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError):
        VIGOR(tmp_path / "empty")


def _copy(tmp_path, vigor_root):
    root = tmp_path / "vigor"
    shutil.copytree(vigor_root / "splits", root / "splits")  # images are not needed to build the index
    return root


def test_missing_split_file(tmp_path, vigor_root):
    root = _copy(tmp_path, vigor_root)
    (root / "splits" / "Seattle" / "same_area_balanced_test.txt").unlink()
    with pytest.raises(XgeoError) as err:
        VIGOR(root, "test")
    assert "Seattle/same_area_balanced_test.txt" in str(err.value) and "not found" in str(err.value)
    VIGOR(root, "train")  # unaffected


@pytest.mark.parametrize(("edit", "fragment"), [
    (lambda t: t[:12], "expected 13"),
    (lambda t: [*t[:2], "north", *t[3:]], "could not convert"),
    (lambda t: [t[0].replace(",", ";"), *t[1:]], "is not <panoid>,<lat>,<lon>,.jpg"),
    (lambda t: [t[0], "satellite_1.0_2.0.png", *t[2:]], "is not in Chicago's satellite_list.txt"),
])
def test_malformed_label_line(tmp_path, vigor_root, edit, fragment):
    root = _copy(tmp_path, vigor_root)
    path = root / "splits" / "Chicago" / "pano_label_balanced.txt"
    lines = path.read_text().splitlines()
    lines[1] = " ".join(edit(lines[1].split()))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(XgeoError) as err:
        VIGOR(root, "test", cross=True)
    message = str(err.value)
    assert "Chicago/pano_label_balanced.txt" in message and "line 2" in message and fragment in message


def test_malformed_satellite_list(tmp_path, vigor_root):
    root = _copy(tmp_path, vigor_root)
    path = root / "splits" / "NewYork" / "satellite_list.txt"
    lines = path.read_text().splitlines()
    lines[2] = "satellite_forty_-73.9.png"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(XgeoError) as err:
        VIGOR(root, "train")
    assert "NewYork/satellite_list.txt" in str(err.value) and "line 3" in str(err.value)


def test_unreadable_image_surfaces_at_load_time(tmp_path, vigor_root):
    root = tmp_path / "vigor"
    shutil.copytree(vigor_root, root)
    ds = VIGOR(root, "test")
    ds.query_files[0].write_bytes(b"garbage")
    with pytest.raises(XgeoError, match="unreadable image"):
        ds[0]
