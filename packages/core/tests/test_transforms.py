import torch

from xgeo.core.datasets.transforms import ResizeViews


def test_resize_views_sizes_each_view_and_normalises():
    t = ResizeViews({"query": (4, 16), "gallery": (8, 8)}, mean=(0.5,) * 3, std=(0.25,) * 3)
    sample = {"query": torch.full((3, 8, 32), 0.75), "gallery": torch.zeros(3, 16, 16), "index": 3}
    out = t(sample)
    assert out["query"].shape == (3, 4, 16) and torch.allclose(out["query"], torch.ones(3, 4, 16))
    assert out["gallery"].shape == (3, 8, 8) and torch.allclose(out["gallery"], torch.full((3, 8, 8), -2.0))
    assert out["index"] == 3 and sample["query"].shape == (3, 8, 32)  # input sample left untouched
    assert t({"gallery": torch.zeros(3, 16, 16)}).keys() == {"gallery"}
