"""SN6-CMPC: the reader on hand-written annotations, bad input, and the synthetic writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from xgeo.core import cli
from xgeo.core.datasets import SN6CMPC, get_dataset
from xgeo.core.errors import DatasetNotFoundError, XgeoError
from xgeo.core.evaluate import evaluate_arrays
from xgeo.core.io import read_image, write_image
from xgeo.core.synthetic import write_dataset


def _write(root: Path, split: str, modality: str, stem: str, content) -> Path:
    path = root / split / "annotations" / modality / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.fixture
def hand(tmp_path) -> Path:
    """Two optical references (ids 7, 3) and three SAR queries, two of them on id 7."""
    root = tmp_path / "samearea"
    for i, (x, y) in {7: (100.0, 200.0), 3: (0.0, 0.0)}.items():
        _write(root, "test", "opt", str(i), {"id": i, "file_path": f"{i}.png", "pos": {"x": x, "y": y}, "extra": [1]})
    _write(root, "test", "sar", "10", {"id": 3, "file_path": "10.png", "pos": {"x": 5, "y": -5}})
    _write(root, "test", "sar", "2", {"id": 7, "file_path": "2.png", "pos": {"x": 110, "y": 200}, "near_id": [7, 3]})
    _write(root, "test", "sar", "9", {"id": 7, "file_path": "9.png", "pos": {"x": 90.5, "y": 201}})
    return root


def test_reader_orders_by_file_number_and_relates_queries_by_id(hand):
    split = SN6CMPC(hand, "test")
    assert split.sar_names == ["2", "9", "10"]  # integer order, not string order
    assert list(split.gallery_labels) == [3, 7]
    assert [p.name for p in split.query_files] == ["2.png", "9.png", "10.png"]
    assert split.pairs.tolist() == [[0, 1], [1, 1], [2, 0]]  # two queries share optical id 7
    assert split.near_ids == [[7, 3], None, None]
    np.testing.assert_allclose(split.query_locations, [[110, 200], [90.5, 201], [5, -5]])
    assert split.task.crs == "metres"
    assert split.task.relation().toarray().tolist() == [[False, True], [False, True], [True, False]]


def test_reader_metres_through_the_sn6_protocol(hand):
    split = get_dataset("sn6-cmpc", hand, "test")
    # queries 0, 1 retrieve id 7 first, query 2 retrieves id 7 first too (wrong): its positive is second
    gallery = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)  # ids 3, 7
    query = np.array([[0.0, 1.0], [0.1, 0.9], [0.2, 0.8]], np.float32)
    m = evaluate_arrays(query, gallery, split.task, "sn6", thresholds=(10.0, 250.0))
    assert m["R@1"] == pytest.approx(200 / 3) and m["R@5"] == 100.0
    assert m["MRR"] == pytest.approx(100 * (1 + 1 + 0.5) / 3)
    errors = [10.0, np.hypot(9.5, 1.0), np.hypot(95, 205)]  # top-1 is id 7 at (100, 200) for every query
    assert m["acc@10m"] == pytest.approx(200 / 3) and m["acc@250m"] == pytest.approx(100.0)
    assert m["mean_error_m"] == pytest.approx(np.mean(errors))


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"id": 3, "file_path": "x.png", "pos": {"x": 1, "y": 2}', "malformed annotation JSON (line 1"),
        ({"file_path": "x.png", "pos": {"x": 1, "y": 2}}, "no 'id' field"),
        ({"id": 3, "file_path": "x.png", "pos": {"x": 1}}, "'pos' must be an object with 'x' and 'y'"),
        ({"id": "3", "file_path": "x.png", "pos": {"x": 1, "y": 2}}, "'id' must be an integer"),
        ({"id": 3, "file_path": "x.png", "pos": {"x": 1, "y": None}}, "'pos.y' must be a finite number"),
        ({"id": 99, "file_path": "x.png", "pos": {"x": 1, "y": 2}}, "SAR id 99 names no optical annotation"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_sar_annotation_is_one_line_naming_the_file(hand, content, needle):
    bad = _write(hand, "test", "sar", "50", content)
    with pytest.raises(XgeoError) as err:
        SN6CMPC(hand, "test")
    line = err.value.line()
    assert needle in line and str(bad) in line and "\n" not in line


def test_missing_root_split_and_duplicate_ids(hand, tmp_path):
    with pytest.raises(DatasetNotFoundError):
        SN6CMPC(tmp_path / "nowhere", "test")
    with pytest.raises(DatasetNotFoundError):
        SN6CMPC(hand, "train")
    with pytest.raises(XgeoError, match="no split 'val'"):
        SN6CMPC(hand, "val")
    _write(hand, "test", "opt", "8", {"id": 7, "file_path": "8.png", "pos": {"x": 1, "y": 2}})
    with pytest.raises(XgeoError, match="optical id 7 appears twice"):
        SN6CMPC(hand, "test")


def test_reader_loads_images_as_sample_dicts(hand):
    for name in ("2", "9", "10"):
        write_image(hand / "test" / "imgs" / "sar" / f"{name}.png", np.full((8, 8, 3), 40, np.uint8))
    for name in ("3", "7"):
        write_image(hand / "test" / "imgs" / "opt" / f"{name}.png", np.full((8, 8, 3), 200, np.uint8))
    sample = SN6CMPC(hand, "test")[1]
    assert sample["query"].shape == (3, 8, 8) and sample["index"] == 1
    assert float(sample["query"].mean()) == pytest.approx(40 / 255)
    assert float(sample["gallery"].mean()) == pytest.approx(200 / 255)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    return write_dataset("sn6-cmpc", tmp_path_factory.mktemp("sn6"), size=4, seed=1, aerial_size=32, extent_px=32)


def test_synthetic_layout_ids_and_metres(synthetic):
    assert synthetic.name == "samearea"
    train, test = SN6CMPC(synthetic, "train"), SN6CMPC(synthetic, "test")
    assert train.task.num_gallery == 12 and test.task.num_gallery == 4
    assert sorted(train.gallery_labels) == list(range(12)) and sorted(test.gallery_labels) == list(range(12, 16))
    assert test.task.num_queries > test.task.num_gallery  # some references have two SAR queries
    for split in (train, test):
        # each query lies within 0.2 patches (100 m) of its reference per axis, so its own is the nearest
        own = split.gallery_locations[split.pairs[:, 1]]
        assert np.abs(split.query_locations - own).max() <= 20.0 + 1e-6
        dist = np.linalg.norm(split.query_locations[:, None] - split.gallery_locations[None], axis=2)
        assert (dist.argmin(axis=1) == split.pairs[:, 1]).all()
        assert (np.linalg.norm(split.query_locations - own, axis=1) > 0).any()  # off-grid queries exist
        assert all(near[0] == label for near, label in zip(split.near_ids, split.query_labels, strict=True))
    neighbours = np.diff(np.sort(np.unique(test.gallery_locations[:, 0])))
    assert np.allclose(neighbours, 100.0)  # a regular grid of 100 m patches
    sar = read_image(test.query_files[0])
    assert sar.shape == (3, 32, 32) and not np.allclose(sar[0].numpy(), sar[1].numpy())  # independent speckle per channel


def test_synthetic_sar_follows_the_optical_content(synthetic):
    """SAR brightness correlates with the optical luminance of the same place, not with another place."""
    test = SN6CMPC(synthetic, "test")
    lum = [read_image(p).mean(0).numpy().ravel() for p in test.gallery_files]
    own, other = [], []
    for q, g in test.pairs[: len(test.gallery_files)]:
        sar = read_image(test.query_files[q]).mean(0).numpy().ravel()
        own.append(np.corrcoef(sar, lum[g])[0, 1])
        other.append(np.corrcoef(sar, lum[(g + 1) % len(lum)])[0, 1])
    assert np.mean(own) > np.mean(other) + 0.1


def test_xgeo_synth_sn6_cmpc(tmp_path, capsys):
    assert cli.main(["synth", "sn6-cmpc", "--out", str(tmp_path), "--size", "2", "--aerial-size", "16"]) == 0
    assert "samearea" in capsys.readouterr().out
    assert SN6CMPC(tmp_path / "samearea", "test").task.num_gallery == 2
    with pytest.raises(SystemExit):
        cli.main(["synth", "sn6-cmpc", "--out", str(tmp_path), "--ground-size", "16", "16"])
    assert "--ground-size does not apply to sn6-cmpc" in capsys.readouterr().err


def _files(root: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob(pattern)) if p.is_file()}


@pytest.fixture(scope="module")
def by_difficulty(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sn6-difficulty")
    kwargs = {"size": 4, "seed": 2, "aerial_size": 32, "extent_px": 32}
    return {"easy": write_dataset("sn6-cmpc", base / "easy", **kwargs),
            "standard": write_dataset("sn6-cmpc", base / "standard", difficulty="standard", **kwargs),
            "again": write_dataset("sn6-cmpc", base / "again", difficulty="standard", **kwargs)}


def test_synthetic_standard_same_places_other_pixels_and_reproducible(by_difficulty):
    easy, standard, again = by_difficulty["easy"], by_difficulty["standard"], by_difficulty["again"]
    # geometry, ids, positions and near ids do not depend on the difficulty
    assert _files(easy, "*.json") == _files(standard, "*.json")
    # the SAR patches change (time gap + layover), the optical ones too (shadows of the aerial capture)
    for kind in ("sar", "opt"):
        e, s = _files(easy / "test" / "imgs" / kind, "*.png"), _files(standard / "test" / "imgs" / kind, "*.png")
        assert e.keys() == s.keys() and sum(e[k] != s[k] for k in e) >= len(e) // 2
    # the same seed gives the same files
    assert _files(standard, "*") == _files(again, "*")


def test_synthetic_standard_sar_sees_another_date_with_layover():
    from xgeo.core.synthetic.difficulty import Nuisance
    from xgeo.core.synthetic.sn6cmpc import sar_capture
    from xgeo.core.synthetic.views import sar_patch
    from xgeo.core.synthetic.world import World

    easy = World(5, size_px=256, metres_per_px=1.0)
    assert sar_capture(easy) is easy
    world = World(5, size_px=256, metres_per_px=1.0, difficulty="standard")
    seen = sar_capture(world)
    assert seen.rgb is world.ground_rgb and seen.heights is world.ground_heights  # the other capture
    assert (seen.classes != world.classes).any() and world.vanished  # buildings gone or new since the optical
    # layover: on a tall building the SAR patch differs from the same capture without it
    tall = np.argwhere(world.ground_heights[32:-32, 32:-32] > 10) + 32
    r, c = (int(v) for v in tall[0])
    flat = type(seen)(**{**vars(seen), "nuisance": None})
    lean = sar_patch(seen, r, c, 32, 32, np.random.default_rng(0), max_offset_px=0)
    plain = sar_patch(flat, r, c, 32, 32, np.random.default_rng(0), max_offset_px=0)
    assert not np.allclose(lean.numpy(), plain.numpy())
    assert Nuisance().layover > 0


def test_synthetic_unknown_difficulty_is_refused_before_writing(tmp_path):
    with pytest.raises(Exception, match="difficulty"):
        write_dataset("sn6-cmpc", tmp_path / "x", size=2, difficulty="hard")
    assert not (tmp_path / "x").exists()
