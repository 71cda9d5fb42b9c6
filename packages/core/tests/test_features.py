"""Feature store: chunked round trips, atomic writes, and one test per rejected file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from xgeo.core.errors import XgeoError
from xgeo.core.features import SCHEMA, FeatureFile, FeatureSet, FeatureWriter, read_features, write_features
from xgeo.core.task import RetrievalTask


def sample(n: int = 11, d: int = 5, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    return FeatureSet(
        features=rng.standard_normal((n, d)).astype(np.float32),
        ids=[f"img_{i:03d}_é" for i in range(n)],
        labels=np.arange(n) % 4 - 1,
        semi_labels=rng.integers(-1, 5, (n, 3)),
        locations=rng.uniform(-50, 50, (n, 2)),
        crs="latlon",
        view="ground",
        method="frgeo",
        normalized=True,
    )


def write_raw(path, features, schema=SCHEMA, drop=(), labels=None):
    """An HDF5 file laid out by hand (to build broken feature files)."""
    n = len(features)
    with h5py.File(path, "w") as f:
        if schema is not None:
            f.attrs["schema"] = schema
        data = {"features": np.asarray(features, np.float32), "ids": np.array([f"x{i}" for i in range(n)], dtype=object),
                "labels": np.arange(n) if labels is None else labels}
        for name, value in data.items():
            if name not in drop:
                f.create_dataset(name, data=value, dtype=h5py.string_dtype() if name == "ids" else None)


def test_round_trip_in_chunks(tmp_path):
    fs = sample()
    path = tmp_path / "q.h5"
    write_features(path, fs, chunk_rows=4)  # 4 does not divide 11
    back = read_features(path)
    np.testing.assert_array_equal(back.features, fs.features)
    assert back.ids.tolist() == fs.ids.tolist()
    np.testing.assert_array_equal(back.labels, fs.labels)
    np.testing.assert_array_equal(back.semi_labels, fs.semi_labels)
    np.testing.assert_array_equal(back.locations, fs.locations)
    assert (back.crs, back.view, back.method, back.normalized) == ("latlon", "ground", "frgeo", True)
    with FeatureFile(path) as f:
        assert len(f) == 11 and f.dim == 5
        assert f.attrs == {"schema": SCHEMA, "view": "ground", "method": "frgeo", "normalized": True}
        starts = [(start, len(block)) for start, block in f.chunks(3)]
        assert starts == [(0, 3), (3, 3), (6, 3), (9, 2)]
        np.testing.assert_array_equal(np.concatenate([b for _, b in f.chunks(3)]), fs.features)


def test_optional_datasets_are_optional(tmp_path):
    fs = FeatureSet(np.ones((2, 3)), ["a", "b"], [0, 1])
    write_features(tmp_path / "g.h5", fs)
    with FeatureFile(tmp_path / "g.h5") as f:
        assert f.semi_labels is None and f.locations is None and f.crs is None and not f.normalized
        assert f.ids.tolist() == ["a", "b"] and f.labels.dtype == np.int64
    assert read_features(tmp_path / "g.h5").features.dtype == np.float32


def test_writer_appends_and_from_task(tmp_path):
    task = RetrievalTask.with_semi_positives(["q0", "q1", "q2"], ["g0", "g1"], [0, 1, 1], [[1], [0], [-1]],
                                             query_locations=[[0, 0], [1, 1], [2, 2]],
                                             gallery_locations=[[0, 0], [1, 1]], crs="metres")
    feats = np.arange(6, dtype=np.float32).reshape(3, 2)
    q = FeatureSet.from_task(feats, task, "query", view="ground")
    assert q.labels.tolist() == [0, 1, 1] and q.semi_labels.tolist() == [[1], [0], [-1]] and q.crs == "metres"
    g = FeatureSet.from_task(feats[:2], task, "gallery")
    assert g.semi_labels is None and g.ids.tolist() == ["g0", "g1"]
    path = tmp_path / "w.h5"
    with FeatureWriter(path, 2, semi_width=1, crs="metres", view="ground") as w:
        w.append(q.features[:2], q.ids[:2], q.labels[:2], q.semi_labels[:2], q.locations[:2])
        assert not path.exists()  # appears only when closed
        w.append(q.features[2:], q.ids[2:], q.labels[2:], q.semi_labels[2:], q.locations[2:])
    back = read_features(path)
    np.testing.assert_array_equal(back.features, feats)
    np.testing.assert_array_equal(back.locations, task.query_locations)


def test_failed_write_leaves_nothing_behind(tmp_path):
    path = tmp_path / "out.h5"
    write_features(path, sample(seed=1))
    before = read_features(path).features.copy()
    with pytest.raises(RuntimeError):
        with FeatureWriter(path, 5) as w:
            w.append(np.zeros((2, 5)), ["a", "b"], [0, 1])
            raise RuntimeError("crash mid-export")
    np.testing.assert_array_equal(read_features(path).features, before)  # old file untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]  # no temporary left


def test_writer_refuses_nan(tmp_path):
    feats = np.zeros((3, 2), np.float32)
    feats[2, 1] = np.nan
    with pytest.raises(XgeoError, match="row 2"):
        write_features(tmp_path / "nan.h5", FeatureSet(feats, ["a", "b", "c"], [0, 1, 2]))
    assert not (tmp_path / "nan.h5").exists()


def test_missing_file(tmp_path):
    with pytest.raises(XgeoError) as err:
        read_features(tmp_path / "absent.h5")
    assert "absent.h5: feature file not found" in err.value.line()


def test_malformed_file(tmp_path):
    path = tmp_path / "junk.h5"
    path.write_bytes(b"this is not HDF5" * 10)
    with pytest.raises(XgeoError) as err:
        read_features(path)
    assert str(path) in err.value.line() and "not a readable HDF5" in err.value.line()
    assert "write_features" in err.value.fix


def test_missing_dataset(tmp_path):
    path = tmp_path / "nolabels.h5"
    write_raw(path, np.zeros((3, 2)), drop=("labels",))
    with pytest.raises(XgeoError) as err:
        read_features(path)
    assert str(path) in err.value.line() and "missing dataset /labels" in err.value.line()


@pytest.mark.parametrize("schema, message", [("xgeo.features/0", "schema is 'xgeo.features/0'"), (None, "no schema")])
def test_wrong_schema(tmp_path, schema, message):
    path = tmp_path / "old.h5"
    write_raw(path, np.zeros((3, 2)), schema=schema)
    with pytest.raises(XgeoError) as err:
        read_features(path)
    assert str(path) in err.value.line() and message in err.value.line()


@pytest.mark.parametrize(
    "features, message",
    [
        (np.arange(6, dtype=np.int64).reshape(3, 2), "int64"),  # integer features
        (np.arange(3, dtype=np.float32), "(3,)"),  # one-dimensional features
        (np.zeros((3, 2, 1), dtype=np.float32), "(3, 2, 1)"),
    ],
    ids=["integer", "1-D", "3-D"],
)
def test_features_must_be_a_float_matrix(tmp_path, features, message):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f.attrs["schema"] = SCHEMA
        f.create_dataset("features", data=features)
        f.create_dataset("ids", data=np.array(["a", "b", "c"], dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("labels", data=np.arange(3))
    with pytest.raises(XgeoError) as err:
        read_features(path)
    line = err.value.line()
    assert line.startswith(f"{path}: ") and "/features must be a float [N, D] array" in line and message in line


@pytest.mark.parametrize("crs", [None, "utm", b"furlongs"], ids=["missing", "unknown", "unknown-bytes"])
def test_locations_need_a_known_crs(tmp_path, crs):
    path = tmp_path / "loc.h5"
    write_raw(path, np.zeros((3, 2)))
    with h5py.File(path, "a") as f:
        loc = f.create_dataset("locations", data=np.zeros((3, 2)))
        if crs is not None:
            loc.attrs["crs"] = crs
    with pytest.raises(XgeoError) as err:
        read_features(path)
    assert str(path) in err.value.line() and "/locations has crs" in err.value.line()
    with h5py.File(path, "a") as f:  # the same file with a known crs is accepted
        f["locations"].attrs["crs"] = "metres"
    assert read_features(path).crs == "metres"


def test_inconsistent_lengths(tmp_path):
    path = tmp_path / "short.h5"
    write_raw(path, np.zeros((3, 2)), labels=np.arange(2))
    with pytest.raises(XgeoError, match="must both have 3 rows"):
        read_features(path)


def test_nan_features(tmp_path):
    feats = np.ones((5, 2), np.float32)
    feats[4, 0] = np.nan
    path = tmp_path / "nan.h5"
    write_raw(path, feats)
    with FeatureFile(path) as f:
        blocks = f.chunks(2)
        assert next(blocks)[0] == 0  # clean chunks stream before the bad one
        next(blocks)
        with pytest.raises(XgeoError) as err:
            next(blocks)
    assert str(path) in err.value.line() and "NaN or inf (row 4)" in err.value.line()
    assert "re-embed" in err.value.fix
