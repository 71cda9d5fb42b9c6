"""CVACT reader on the synthetic fixture: splits, middle-half crop, UTM locations, missing files, errors."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import scipy.io

from xgeo.core.datasets import CVACT, get_dataset
from xgeo.core.errors import DatasetNotFoundError, XgeoError


@pytest.mark.parametrize(("split", "field", "n"), [("train", ("trainSet", "trainInd"), 24), ("val", ("valSet", "valInd"), 8),
                                                    ("test", ("valSetAll", "valInd"), 16)])
def test_splits_follow_the_mat_indices(cvact_root, split, field, n):
    mat = scipy.io.loadmat(cvact_root / "ACT_data.mat")
    ind = mat[field[0]][field[1]][0][0][:, 0] - 1
    ds = get_dataset("cvact", cvact_root, split)
    assert isinstance(ds, CVACT) and len(ds) == n and ds.num_missing == 0
    assert ds.ids == [str(mat["panoIds"][g]) for g in ind]
    assert ds.query_files[0] == cvact_root / "streetview" / f"{ds.ids[0]}_grdView.jpg"
    assert ds.gallery_files[0] == cvact_root / "satview_polish" / f"{ds.ids[0]}_satView_polish.jpg"
    task = ds.task
    assert task.crs == "metres" and np.allclose(task.query_locations, mat["utm"][ind])
    assert np.array_equal(task.query_locations, task.gallery_locations)
    assert np.array_equal(task.query_labels, np.arange(n))


def test_query_is_the_middle_half_of_the_panorama(cvact_root):
    cropped = CVACT(cvact_root, "val")
    full = CVACT(cvact_root, "val", crop_middle=False)
    a, b = cropped[2]["query"], full[2]["query"]
    assert b.shape == (3, 64, 128) and a.shape == (3, 32, 128)
    assert np.array_equal(a.numpy(), b[:, 16:48].numpy())
    assert cropped[2]["gallery"].shape == (3, 64, 64)


def test_missing_image_is_skipped_and_lists_stay_aligned(tmp_path, cvact_root, caplog):
    root = tmp_path / "cvact"
    shutil.copytree(cvact_root, root)
    full = CVACT(root, "test")
    gone = full.ids[5]
    (root / "satview_polish" / f"{gone}_satView_polish.jpg").unlink()
    with caplog.at_level(logging.WARNING):
        ds = CVACT(root, "test")
    assert ds.num_missing == 1 and len(ds) == len(full) - 1 and gone not in ds.ids
    assert "skipped 1 of 16" in caplog.text
    for pid, q, g in zip(ds.ids, ds.query_files, ds.gallery_files, strict=True):
        assert q.name == f"{pid}_grdView.jpg" and g.name == f"{pid}_satView_polish.jpg"
    keep = [i for i, pid in enumerate(full.ids) if pid != gone]
    assert np.array_equal(ds.task.query_locations, full.task.query_locations[keep])
    assert ds.task.num_gallery == len(ds) and np.array_equal(ds.task.gallery_labels, np.arange(len(ds)))


def test_missing_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="CVACT"):
        CVACT(tmp_path / "nowhere", "train")


def test_missing_mat_file(tmp_path, cvact_root):
    root = tmp_path / "cvact"
    shutil.copytree(cvact_root, root)
    (root / "ACT_data.mat").unlink()
    with pytest.raises(DatasetNotFoundError):
        CVACT(root, "train")


def test_unreadable_mat(tmp_path, cvact_root):
    root = tmp_path / "cvact"
    shutil.copytree(cvact_root, root)
    (root / "ACT_data.mat").write_bytes(b"this is not a MATLAB file at all" * 8)
    with pytest.raises(XgeoError) as err:
        CVACT(root, "train")
    assert "ACT_data.mat" in str(err.value) and "unreadable .mat" in str(err.value)


def test_bad_index_in_mat(tmp_path, cvact_root):
    root = tmp_path / "cvact"
    shutil.copytree(cvact_root, root)
    mat = scipy.io.loadmat(root / "ACT_data.mat")
    ids = np.array([str(s) for s in mat["panoIds"]])
    scipy.io.savemat(root / "ACT_data.mat", {"panoIds": ids, "utm": mat["utm"],
                                             "trainSet": {"trainInd": np.array([[0], [3]], np.int32)},
                                             "valSet": {"valInd": np.array([[1]], np.int32)}})
    with pytest.raises(XgeoError, match="1-based"):
        CVACT(root, "train")
    assert len(CVACT(root, "val")) == 1
    with pytest.raises(XgeoError, match="valSetAll.valInd is missing"):
        CVACT(root, "test")


def test_unreadable_image_surfaces_at_load_time(tmp_path, cvact_root):
    root = tmp_path / "cvact"
    shutil.copytree(cvact_root, root)
    ds = CVACT(root, "val")
    ds.gallery_files[0].write_bytes(b"\x00" * 10)
    with pytest.raises(XgeoError, match="unreadable image"):
        ds[0]
