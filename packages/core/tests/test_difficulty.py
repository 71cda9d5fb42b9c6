"""``standard`` worlds do what they claim: facades occlude, the captures differ, views degrade; deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xgeo.core import cli
from xgeo.core.errors import XgeoError
from xgeo.core.synthetic import PanoramaRenderer, World, aerial_tiles, drone_view, write_dataset
from xgeo.core.synthetic.difficulty import blur, layover
from xgeo.core.synthetic.world import BUILDING


@pytest.fixture(scope="module")
def world() -> World:
    return World(5, size_px=256, difficulty="standard")


def _centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    t, left, h, w = box
    return t + h / 2, left + w / 2


def test_easy_is_the_default_and_unknown_difficulty_is_one_line():
    assert World(5, size_px=128).nuisance is None
    assert np.array_equal(World(5, size_px=128).rgb, World(5, size_px=128, difficulty="easy").rgb)
    with pytest.raises(XgeoError, match="--difficulty"):
        World(5, size_px=128, difficulty="hard")


def test_standard_world_is_deterministic(world):
    again = World(5, size_px=256, difficulty="standard")
    for name in ("rgb", "classes", "heights", "ground_rgb", "ground_classes"):
        assert np.array_equal(getattr(world, name), getattr(again, name)), name
    assert world.vanished == again.vanished and world.appeared == again.appeared


def test_facades_hide_the_ground_behind_them(world):
    renderer = PanoramaRenderer(64, 32, 128)
    rng = np.random.default_rng(0)
    places = rng.uniform(40, 216, (12, 2))
    seen = renderer.classes(world, places[:, 0].tolist(), places[:, 1].tolist())
    # what the same pixels would see without occlusion: the ground capture's own classes
    cls = torch.from_numpy(world.ground_classes.astype(np.float32))[None, None]
    hidden_total = 0
    for (r, c), view in zip(places, seen, strict=True):
        grid = renderer.grid * (renderer.crop / 2) + torch.tensor([c, r], dtype=torch.float32)
        norm = (grid + 0.5) / world.size_px * 2 - 1  # absolute pixel centres -> grid_sample coordinates
        ground = torch.nn.functional.grid_sample(cls, norm - 1 / world.size_px, mode="nearest", align_corners=False)
        ground = ground[0, 0].round().to(torch.uint8).numpy()
        hidden = (view == BUILDING) & (ground != BUILDING)
        hidden_total += int(hidden.sum())
        for i, j in zip(*np.nonzero(hidden)):  # a hidden pixel lies beyond (above) a building in its column
            assert (ground[i:, j] == BUILDING).any()
    assert hidden_total > 50
    # the aerial tile shows roofs, never facades: its building pixels are exactly the world's footprints
    tile = aerial_tiles(world, [128.0], [128.0], 64, 64)[0]
    roof = world.rgb[96:160, 96:160].transpose(2, 0, 1)
    assert torch.allclose(tile, torch.from_numpy(np.ascontiguousarray(roof)))


def test_a_vanished_building_is_in_one_view_only(world):
    assert world.vanished and world.appeared
    box = next(b for b in world.vanished if min(b[2], b[3]) >= 10 and 40 < b[0] < 200 and 40 < b[1] < 200)
    r, c = _centre(box)
    assert world.classes[int(r), int(c)] == BUILDING  # in the aerial capture ...
    assert world.ground_classes[int(r), int(c)] != BUILDING  # ... gone from the ground capture
    foot = PanoramaRenderer(64, 32, 128).classes(world, [r], [c])[0, -1]  # the ring at the camera's feet
    assert (foot != BUILDING).mean() > 0.5
    easy_foot = PanoramaRenderer(64, 32, 128).classes(World(5, size_px=256), [r], [c])[0, -1]
    assert (easy_foot == BUILDING).all()  # easy: one raster, so the building is still there
    t, left, h, w = world.appeared[0]
    assert not (world.classes[t:t + h, left:left + w] == BUILDING).any()
    assert (world.ground_classes[t:t + h, left:left + w] == BUILDING).all()


def test_time_gap_shadows_and_season(world):
    assert world.shadow.any() and not (world.shadow & (world.classes == BUILDING)).any()
    veg = (world.ground_classes == 1) & (world.classes == 1) & ~world.shadow
    ratio = world.ground_rgb[veg].mean(axis=0) / world.rgb[veg].mean(axis=0)
    assert ratio[0] > 1.2 and ratio[2] < 0.7  # vegetation turned autumn-coloured between the captures


def test_drone_blur_grows_with_altitude(world):
    def sharpness(img: torch.Tensor) -> float:
        return float((img[:, 1:] - img[:, :-1]).abs().mean())

    low, high = (drone_view(world, 128.0, 128.0, alt, 0.0, size=48) for alt in (30.0, 60.0))
    easy = World(5, size_px=256)
    e_low, e_high = (drone_view(easy, 128.0, 128.0, alt, 0.0, size=48) for alt in (30.0, 60.0))
    assert sharpness(high) / sharpness(e_high) < sharpness(low) / sharpness(e_low) < 1.0
    assert torch.allclose(blur(torch.ones(1, 9, 9), 2.0), torch.ones(1, 9, 9), atol=1e-6)


def test_sar_layover_moves_tall_returns_towards_the_sensor():
    sigma = np.ones((5, 12), np.float32)
    heights = np.zeros((5, 12), np.float32)
    sigma[2, 3], heights[2, 3] = 10.0, 5.0
    out = layover(sigma, heights, factor=0.8)
    assert out[2, 7] == pytest.approx(11.0) and out[2, 3] == pytest.approx(3.0)
    assert out.sum() == pytest.approx(sigma.sum() + 10.0 * 0.3 - 10.0 + 10.0)


def test_same_seed_same_files_and_standard_differs_from_easy(tmp_path):
    def tree(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    a = tree(write_dataset("cvusa", tmp_path / "a", size=2, seed=4, difficulty="standard"))
    b = tree(write_dataset("cvusa", tmp_path / "b", size=2, seed=4, difficulty="standard"))
    e = tree(write_dataset("cvusa", tmp_path / "e", size=2, seed=4))
    assert a == b and a.keys() == e.keys()
    panos = [k for k in a if k.startswith("streetview/panos")]
    assert all(a[k] != e[k] for k in panos)


def test_xgeo_synth_difficulty(tmp_path, capsys):
    assert cli.main(["synth", "vigor", "--out", str(tmp_path / "v"), "--size", "2", "--difficulty", "easy"]) == 0
    assert "easy" in capsys.readouterr().out
    assert cli.main(["synth", "cvact", "--out", str(tmp_path / "c"), "--size", "1"]) == 0
    assert "standard" in capsys.readouterr().out  # the default
    with pytest.raises(SystemExit):
        cli.main(["synth", "cvusa", "--out", str(tmp_path / "x"), "--difficulty", "hard"])
