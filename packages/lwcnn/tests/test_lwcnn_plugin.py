"""The plugin's query encoder prepares panoramas the way the model's training layout did."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from xgeo.core.datasets.cvact import crop_middle_rows
from xgeo.core.io import read_image
from xgeo.lwcnn.config import resolve
from xgeo.lwcnn.data import LwcnnTransform
from xgeo.lwcnn.model import ModelSpec, build_model
from xgeo.lwcnn.plugin import query_encoder
from xgeo.lwcnn.run import model_spec

TINY_SIZES = {"ground_size": [16, 64], "aerial_size": [32, 32]}


def flat_copy(root, tmp_path):
    flat = tmp_path / "CVACT"
    shutil.copytree(root, flat)
    (flat / "streetview").rename(flat / "grd")
    (flat / "satview_polish").rename(flat / "sat")
    return flat


def test_the_model_spec_records_the_folder_layout(lwcnn_cvact, tmp_path):
    flat = flat_copy(lwcnn_cvact, tmp_path)
    assert model_spec(resolve({"config": "demo", "dataset": "cvact", "data_root": str(lwcnn_cvact)})).layout == "original"
    assert model_spec(resolve({"config": "demo", "dataset": "cvact", "data_root": str(flat)})).layout == "flat"


@pytest.mark.parametrize("layout", ["original", "flat"])
def test_cvact_panoramas_are_cropped_only_for_a_model_of_the_original_layout(lwcnn_cvact, tmp_path, layout):
    torch.manual_seed(0)
    model = build_model(ModelSpec(dataset="cvact", layout=layout, **TINY_SIZES)).eval()
    checkpoint = tmp_path / "model.pth.tar"
    torch.save({"state_dict": model.state_dict()}, checkpoint)
    pano = next((lwcnn_cvact / "streetview").glob("*.jpg"))
    image = read_image(pano)
    seen = crop_middle_rows(image) if layout == "original" else image
    with torch.no_grad():
        expected = model.encoder("query")(LwcnnTransform.for_model(model.spec)({"query": seen})["query"][None])
    got = query_encoder(checkpoint, "ground")([pano])
    assert np.allclose(got, expected.numpy(), atol=1e-5)
    other = crop_middle_rows(image) if layout == "flat" else image
    with torch.no_grad():
        wrong = model.encoder("query")(LwcnnTransform.for_model(model.spec)({"query": other})["query"][None])
    assert not np.allclose(got, wrong.numpy(), atol=1e-3)
