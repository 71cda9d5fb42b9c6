"""CVUSA reader on the synthetic fixtures: both layouts, the task, and every broken-layout error."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xgeo.core.datasets import CVUSA, get_dataset
from xgeo.core.errors import DatasetNotFoundError, XgeoError


@pytest.mark.parametrize(("split", "n", "csv"), [("train", 24, "train-19zl.csv"), ("test", 8, "val-19zl.csv")])
def test_reads_the_original_layout(cvusa_root, split, n, csv):
    ds = get_dataset("cvusa", cvusa_root, split)
    assert isinstance(ds, CVUSA) and len(ds) == n
    lines = (cvusa_root / "splits" / csv).read_text().splitlines()
    for i, line in enumerate(lines):
        aerial, pano, _ = line.split(",")
        assert ds.gallery_files[i] == cvusa_root / aerial and ds.query_files[i] == cvusa_root / pano
        assert ds.ids[i] == aerial.split("/")[-1][:-4]
    assert np.array_equal(ds.pairs, np.stack([np.arange(n)] * 2, 1))
    task = ds.task
    assert task.num_queries == task.num_gallery == n
    assert np.array_equal(task.query_labels, np.arange(n)) and np.array_equal(task.gallery_labels, np.arange(n))
    assert list(task.query_ids) == ds.ids
    sample = ds[3]
    assert sample["index"] == 3 and sample["query"].shape == (3, 32, 176) and sample["gallery"].shape == (3, 64, 64)
    assert sample["query"].dtype == torch.float32 and 0 <= sample["query"].min() and sample["query"].max() <= 1


def test_flat_layout_reads_the_same_pairs(cvusa_root, cvusa_flat_root):
    orig = CVUSA(cvusa_root, "test")
    flat = CVUSA(cvusa_flat_root, "test", layout="flat")
    assert flat.ids == orig.ids
    assert flat.query_files[0] == cvusa_flat_root / "grd" / f"{flat.ids[0]}.png"
    assert flat.gallery_files[0] == cvusa_flat_root / "sat" / f"{flat.ids[0]}.jpg"
    # same seed, same world: the aerial images agree, the png panorama is the lossless twin of the jpg
    assert torch.equal(flat.load_gallery(2), orig.load_gallery(2))
    png, jpg = flat.load_query(2), orig.load_query(2)
    assert png.shape == jpg.shape
    assert (F.avg_pool2d(png[None], 4) - F.avg_pool2d(jpg[None], 4)).abs().mean() < 0.02  # JPEG error averages out
    other = orig.load_query(3)
    assert (F.avg_pool2d(png[None], 4) - F.avg_pool2d(other[None], 4)).abs().mean() > 0.04


def test_views_and_transforms(cvusa_root):
    def halve(sample):
        return {k: (v * 0.5 if isinstance(v, torch.Tensor) else v) for k, v in sample.items()}

    ds = CVUSA(cvusa_root, "test", transforms=halve)
    plain = CVUSA(cvusa_root, "test")
    q, g = ds.queries(), ds.gallery()
    assert len(q) == len(g) == 8
    assert torch.equal(q[5]["query"], plain[5]["query"] * 0.5) and g[5]["index"] == 5
    assert torch.equal(g[5]["gallery"], plain.load_gallery(5) * 0.5)


def test_paths_are_joined_to_the_root_as_written(tmp_path, cvusa_root):
    root = tmp_path / "cvusa"
    shutil.copytree(cvusa_root, root)
    csv = root / "splits" / "val-19zl.csv"
    first = csv.read_text().splitlines()[0].split(",")
    (root / "bingmap" / "bingmap").mkdir()
    shutil.move(root / first[0], root / "bingmap" / "bingmap" / first[0].split("/")[-1])
    lines = csv.read_text().splitlines()
    lines[0] = ",".join(["bingmap/bingmap/" + first[0].split("/")[-1], *first[1:]])
    csv.write_text("\n".join(lines) + "\n")
    ds = CVUSA(root, "test")
    assert ds.load_gallery(0).shape == (3, 64, 64)


def test_missing_root(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        CVUSA(tmp_path / "nowhere", "train")
    assert "nowhere" in str(err.value) and "xgeo synth cvusa" in str(err.value)


def test_missing_split_file(tmp_path, cvusa_root):
    root = tmp_path / "cvusa"
    shutil.copytree(cvusa_root, root)
    (root / "splits" / "val-19zl.csv").unlink()
    with pytest.raises(XgeoError) as err:
        CVUSA(root, "test")
    assert "val-19zl.csv" in str(err.value) and "not found" in str(err.value)
    assert len(CVUSA(root, "train")) == 24  # the other split is unaffected


@pytest.mark.parametrize("bad", ["bingmap/19/0000001.jpg,streetview/panos/0000001.jpg", "a,b,c,d", "a,,c"])
def test_malformed_csv_line(tmp_path, cvusa_root, bad):
    root = tmp_path / "cvusa"
    shutil.copytree(cvusa_root, root)
    csv = root / "splits" / "train-19zl.csv"
    lines = csv.read_text().splitlines()
    lines[4] = bad
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(XgeoError) as err:
        CVUSA(root, "train")
    message = str(err.value)
    assert "train-19zl.csv" in message and "line 5" in message and "3 comma-separated" in message
    assert "\n" not in message


def test_unknown_split_and_layout(cvusa_root):
    with pytest.raises(XgeoError, match="val"):
        CVUSA(cvusa_root, "val")
    with pytest.raises(XgeoError, match="layout"):
        CVUSA(cvusa_root, "train", layout="sideways")


def test_unreadable_image_surfaces_at_load_time(tmp_path, cvusa_root):
    root = tmp_path / "cvusa"
    shutil.copytree(cvusa_root, root)
    ds = CVUSA(root, "test")
    ds.query_files[1].write_bytes(b"not a jpeg")
    assert ds[0]["query"].shape == (3, 32, 176)
    with pytest.raises(XgeoError) as err:
        ds[1]
    assert str(ds.query_files[1]) in str(err.value) and "unreadable image" in str(err.value)
