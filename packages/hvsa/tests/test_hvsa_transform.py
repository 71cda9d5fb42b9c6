"""The training transform: rotation range from the config, places kept when it is 0."""

from __future__ import annotations

import torch

from xgeo.hvsa.config import resolve
from xgeo.hvsa.data import HVSATransform


def bright_corner(size: int = 64) -> torch.Tensor:
    image = torch.zeros(3, size, size)
    image[:, : size // 3, : size // 3] = 1.0  # a bright block in the north-west
    return image


def brightest_quadrant(image: torch.Tensor) -> int:
    h, w = image.shape[1:]
    quads = [image[:, :h // 2, :w // 2], image[:, :h // 2, w // 2:], image[:, h // 2:, :w // 2], image[:, h // 2:, w // 2:]]
    return int(torch.tensor([q.mean() for q in quads]).argmax())


def test_no_rotation_keeps_the_north_west_block_in_place():
    torch.manual_seed(0)
    still, rotated = HVSATransform(32, train=True, max_rotation=0.0), HVSATransform(32, train=True)
    assert all(brightest_quadrant(still.image(bright_corner())) == 0 for _ in range(20))
    # the original's [0, 90] degrees: counter-clockwise turns past 45 move the block to the south-west
    assert any(brightest_quadrant(rotated.image(bright_corner())) != 0 for _ in range(20))


def test_max_rotation_flag_reaches_the_data_options():
    assert resolve({"config": "rsitmd"}).data.max_rotation == 90.0
    assert resolve({"config": "demo", "max_rotation": 0.0}).data.max_rotation == 0.0
    assert resolve({"config": "synthetic"}).data.max_rotation == 0.0  # its captions name places
