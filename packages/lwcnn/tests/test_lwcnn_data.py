"""Dataset profiles: folder layouts (the authors' grd/ + sat/), the [-1, 1] transform, UTM per training pair."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import torch

from xgeo.lwcnn.data import LwcnnTransform, open_split, pair_locations


def options(root, dataset: str, layout: str = "auto") -> SimpleNamespace:
    return SimpleNamespace(dataset=dataset, data_root=str(root), layout=layout)


def test_cvact_in_the_authors_flat_layout_reads_the_same_pairs_uncropped(lwcnn_cvact, tmp_path):
    flat = tmp_path / "CVACT"
    shutil.copytree(lwcnn_cvact, flat)
    (flat / "streetview").rename(flat / "grd")
    (flat / "satview_polish").rename(flat / "sat")
    original = open_split(options(lwcnn_cvact, "cvact"), "train", None)
    authors = open_split(options(flat, "cvact"), "train", None)
    assert authors.layout == "flat" and not authors.crop_middle and original.crop_middle
    assert authors.ids == original.ids and authors.query_files[0].parent.name == "grd"
    raw = authors.load_query(0)
    assert raw.shape[1] == 2 * original.load_query(0).shape[1]  # used as stored: no middle-row crop
    assert np.array_equal(pair_locations(authors).numpy(), original.locations[original.pairs[:, 1]])


def test_cvusa_layout_auto_and_forced(lwcnn_cvusa):
    assert open_split(options(lwcnn_cvusa, "cvusa"), "test", None).layout == "original"
    assert open_split(options(lwcnn_cvusa, "cvusa", "flat"), "test", None).query_files[0].parent.name == "grd"
    assert pair_locations(open_split(options(lwcnn_cvusa, "cvusa"), "test", None)) is None


def test_transform_resizes_and_scales_to_minus_one_one():
    sample = {"query": torch.ones(3, 40, 100), "gallery": torch.zeros(3, 50, 50), "index": 3}
    out = LwcnnTransform([16, 64], [32, 32])(sample)
    assert out["query"].shape == (3, 16, 64) and out["gallery"].shape == (3, 32, 32) and out["index"] == 3
    assert torch.allclose(out["query"], torch.ones(1)) and torch.allclose(out["gallery"], -torch.ones(1))
