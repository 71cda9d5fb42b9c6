"""The procedural world, its view renderers, the dataset writers and ``xgeo synth``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xgeo.core import cli
from xgeo.core.datasets import CVACT, CVUSA, VIGOR
from xgeo.core.io import read_image
from xgeo.core.synthetic import (
    WRITERS,
    PanoramaRenderer,
    World,
    aerial_tiles,
    drone_view,
    equirect_panoramas,
    ground_panoramas,
    sar_patch,
    write_dataset,
)
from xgeo.core.synthetic.world import BUILDING, ROAD, WATER

RED = torch.tensor([1.0, 0.0, 0.0])


@pytest.fixture(scope="module")
def world() -> World:
    return World(3, size_px=384)


def paint(world: World, rows: slice, cols: slice, colour) -> World:
    """A copy of ``world`` with a rectangle painted (the module fixture stays untouched)."""
    w = World.__new__(World)
    w.__dict__.update(world.__dict__)
    w.rgb = world.rgb.copy()
    w.rgb[rows, cols] = colour
    return w


def red_columns(img: torch.Tensor) -> np.ndarray:
    red = (img[0] > 0.8) & (img[1] < 0.2) & (img[2] < 0.2)
    return np.flatnonzero(red.any(0).numpy())


def red_rows(img: torch.Tensor) -> np.ndarray:
    red = (img[0] > 0.8) & (img[1] < 0.2) & (img[2] < 0.2)
    return np.flatnonzero(red.any(1).numpy())


# ---------------------------------------------------------------------------------------------- world
def test_world_is_deterministic_and_seeded(world):
    again = World(3, size_px=384)
    assert np.array_equal(world.rgb, again.rgb) and np.array_equal(world.classes, again.classes)
    assert not np.array_equal(world.rgb, World(4, size_px=384).rgb)
    assert world.rgb.shape == (384, 384, 3) and world.rgb.dtype == np.float32
    assert 0.0 <= world.rgb.min() and world.rgb.max() <= 1.0


def test_world_has_every_class_and_masks_partition_it(world):
    masks = world.masks
    total = sum(m.astype(int) for m in masks.values())
    assert np.all(total == 1)
    for name in ("buildings", "roads", "water", "vegetation"):
        assert 0.01 < masks[name].mean() < 0.6, name
    # roads are grey, water is blue: the class map describes the pixels
    assert world.rgb[masks["water"]][:, 2].mean() > world.rgb[masks["water"]][:, 0].mean() + 0.15
    road = world.rgb[masks["roads"]]
    assert np.abs(road[:, 0] - road[:, 1]).max() < 0.01


def test_geo_reference_round_trips_and_matches_the_scale(world):
    rows, cols = np.array([0.0, 10.5, 383.0]), np.array([0.0, 200.25, 17.0])
    lat, lon = world.latlon(rows, cols)
    back_r, back_c = world.pixel(lat, lon)
    assert np.allclose(back_r, rows, atol=1e-6) and np.allclose(back_c, cols, atol=1e-6)
    assert lat[0] == world.origin_latlon[0] and lon[0] == world.origin_latlon[1]
    assert lat[1] < lat[0] and lon[1] > lon[0]  # south and east of the origin
    # 100 px south = 100 * metres_per_px metres along a meridian (R = 6,371,004 m)
    dlat = world.latlon(100.0, 0.0)[0] - world.latlon(0.0, 0.0)[0]
    assert math.isclose(-math.radians(dlat) * 6_371_004.0, 100 * world.metres_per_px, rel_tol=1e-9)
    e, n = world.metres(np.array([0.0, 10.0]), np.array([0.0, 4.0]))
    assert np.allclose(np.diff(e), 4 * world.metres_per_px) and np.allclose(np.diff(n), -10 * world.metres_per_px)


# ---------------------------------------------------------------------------------------------- views
def test_aerial_tile_is_a_north_up_crop(world):
    tile = aerial_tiles(world, [100], [150], extent=64, out_size=64)[0]
    assert torch.equal(tile, world.tensor[:, 68:132, 118:182])
    half = aerial_tiles(world, [100], [150], extent=64, out_size=32)[0]
    assert half.shape == (3, 32, 32)
    assert (half - F.avg_pool2d(tile[None], 2)[0]).abs().mean() < 0.02  # an antialiased downscale of the same crop


@pytest.mark.parametrize(("name", "rows", "cols", "expected"), [
    ("north", slice(170, 180), slice(196, 204), 88),   # 20-30 px north of the place (200, 200)
    ("east", slice(196, 204), slice(220, 230), 132),
    ("south", slice(220, 230), slice(196, 204), 0),
    ("west", slice(196, 204), slice(170, 180), 44),
])
def test_panorama_orientation_north_at_centre_then_east(world, name, rows, cols, expected):
    painted = paint(world, rows, cols, RED.numpy())
    pano = PanoramaRenderer(64, 32, 176)(painted, [200], [200])[0]
    found = red_columns(pano)
    assert len(found) > 0, name
    if name == "south":  # wraps around both edges
        assert set(found) <= set(range(0, 8)) | set(range(168, 176)) and 0 in found and 175 in found
    else:
        centre = (found.min() + found.max()) / 2
        assert abs(centre - expected) <= 2, (name, found)
    # radius 20..30 px of 32 -> rows 32 * (1 - r / 32) = 2..12 (horizon on top, camera foot at the bottom)
    rows_found = red_rows(pano)
    assert rows_found.min() >= 1 and 10 <= rows_found.max() <= 12


def test_polar_transform_of_the_tile_is_the_panorama(world):
    renderer = PanoramaRenderer(64, 32, 176)
    tile = aerial_tiles(world, [150], [220], 64, 64)
    assert torch.allclose(renderer.from_tiles(tile), renderer(world, [150], [220]), atol=1e-5)


def test_nuisance_is_gain_and_noise(world):
    renderer = PanoramaRenderer(64, 32, 176)
    clean = renderer(world, [150, 200], [150, 200])
    noisy = ground_panoramas(world, [150, 200], [150, 200], renderer, np.random.default_rng(0))
    again = ground_panoramas(world, [150, 200], [150, 200], renderer, np.random.default_rng(0))
    assert torch.equal(noisy, again) and not torch.equal(noisy, clean)
    gains = []
    for i in range(2):
        x, y = clean[i].flatten(), noisy[i].flatten()
        inside = (y > 0.02) & (y < 0.98)
        gain = float((x[inside] * y[inside]).sum() / (x[inside] ** 2).sum())
        assert 0.65 < gain < 1.35
        resid = (y[inside] - gain * x[inside]).std().item()
        assert 0.035 < resid < 0.065  # noise std 0.05
        gains.append(gain)
    assert abs(gains[0] - gains[1]) > 1e-3  # one gain per image


def test_equirect_panorama_keeps_the_ground_band_in_the_middle_half(world):
    renderer = PanoramaRenderer(64, 16, 64)
    full = equirect_panoramas(world, [200], [200], renderer, np.random.default_rng(1), gain=(1, 1), noise=0.0)[0]
    assert full.shape == (3, 32, 64)
    assert torch.allclose(full[:, 8:24], renderer(world, [200], [200])[0], atol=1e-6)
    sky = full[:, :8]
    assert (sky[2] > sky[0]).all()  # blue sky on top


def test_drone_view_rotates_with_heading(world):
    painted = paint(world, slice(165, 175), slice(196, 204), RED.numpy())  # ~30 px north of (200, 200)
    north_up = drone_view(painted, 200, 200, altitude_m=40, heading_deg=0, size=64, tilt=0.0)
    facing_east = drone_view(painted, 200, 200, altitude_m=40, heading_deg=90, size=64, tilt=0.0)
    assert north_up.shape == (3, 64, 64)
    assert red_rows(north_up).max() < 32 and abs(red_columns(north_up).mean() - 31.5) < 4
    assert red_columns(facing_east).max() < 32 and abs(red_rows(facing_east).mean() - 31.5) < 4
    low = drone_view(painted, 200, 200, altitude_m=30, heading_deg=0, size=64, tilt=0.0)
    assert len(red_rows(low)) > len(red_rows(north_up))  # lower altitude, bigger object
    oblique = drone_view(painted, 200, 200, altitude_m=40, heading_deg=0, size=64, tilt=0.4)
    assert len(red_columns(oblique)) < len(red_columns(north_up))  # far edge is widened: object shrinks


def test_sar_patch_is_speckled_log_intensity(world):
    patch = sar_patch(world, 192, 192, extent=256, size=256, rng=np.random.default_rng(0), max_offset_px=0)
    assert patch.shape == (1, 256, 256) and 0 <= patch.min() and patch.max() <= 1
    cls = world.classes[64:320, 64:320]
    p = patch[0].numpy()
    if (cls == WATER).any():
        assert p[cls == WATER].mean() < p[cls == BUILDING].mean()
    assert p[cls == ROAD].mean() < p[cls == BUILDING].mean()
    again = sar_patch(world, 192, 192, extent=256, size=256, rng=np.random.default_rng(1), max_offset_px=0)
    assert not torch.equal(patch, again)  # speckle differs between looks
    assert np.corrcoef(p.ravel(), again[0].numpy().ravel())[0, 1] > 0.3  # the scene does not


# ---------------------------------------------------------------------------------------------- writers
def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_writers_are_deterministic(tmp_path, name):
    a = _tree(write_dataset(name, tmp_path / "a", size=2, seed=5))
    b = _tree(write_dataset(name, tmp_path / "b", size=2, seed=5))
    c = _tree(write_dataset(name, tmp_path / "c", size=2, seed=6))
    assert a == b and len(a) > 4
    assert a != c


def _standardise(x: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel standardisation (removes the colour gain)."""
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return (x / x.std(dim=(2, 3), keepdim=True).clamp_min(1e-6)).flatten(1)


def _match_rate(ground: torch.Tensor, polar: torch.Tensor) -> float:
    sim = F.normalize(_standardise(ground), dim=1) @ F.normalize(_standardise(polar), dim=1).T
    return float((sim.argmax(1) == torch.arange(len(ground))).float().mean())


def test_cvusa_ground_view_is_the_polar_aerial_plus_nuisance(cvusa_root):
    """Without any learning, the polar transform of each aerial finds its panorama: the data is learnable."""
    ds = CVUSA(cvusa_root, "train")
    ground = torch.stack([ds.load_query(i) for i in range(len(ds))])
    aerial = torch.stack([ds.load_gallery(i) for i in range(len(ds))])
    polar = PanoramaRenderer(64, *ground.shape[-2:]).from_tiles(aerial)
    assert _match_rate(ground, polar) == 1.0
    assert _match_rate(ground, torch.roll(polar, 44, dims=3)) < 0.5  # a quarter turn breaks it: north is fixed


def test_cvact_middle_crop_is_the_polar_aerial(cvact_root):
    ds = CVACT(cvact_root, "test")
    ground = torch.stack([ds.load_query(i) for i in range(len(ds))])
    aerial = torch.stack([ds.load_gallery(i) for i in range(len(ds))])
    polar = PanoramaRenderer(64, *ground.shape[-2:]).from_tiles(aerial)
    assert _match_rate(ground, polar) == 1.0


def test_vigor_panorama_is_seen_from_its_offset_in_the_positive_tile(vigor_root):
    """Near-ground rows of each panorama = polar transform around (320 + d0, 320 - d1) of its positive tile."""
    ds = VIGOR(vigor_root, "test")
    ground = torch.stack([ds.load_query(i) for i in range(len(ds))])
    h = ground.shape[2]
    near = ground[:, :, h // 2:3 * h // 4]  # lower half of the polar band: radius < extent/4
    renderer = PanoramaRenderer(32, near.shape[2], near.shape[3])  # disc of radius 16 world px
    polar = []
    for i in range(len(ds)):
        tile = ds.load_gallery(int(ds.labels[i, 0]))
        s = tile.shape[-1] / 640.0
        r, c = (320 + ds.delta[i, 0, 0]) * s, (320 - ds.delta[i, 0, 1]) * s
        shift = torch.tensor([c / tile.shape[-1] * 2 - 1, r / tile.shape[-1] * 2 - 1], dtype=torch.float32)
        grid = renderer.grid * (renderer.crop / 64) + shift  # the tile spans 64 world px
        polar.append(F.grid_sample(tile[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0])
    assert _match_rate(near, torch.stack(polar)) == 1.0


def test_cvusa_original_layout_files(cvusa_root):
    lines = (cvusa_root / "splits" / "val-19zl.csv").read_text().splitlines()
    train = (cvusa_root / "splits" / "train-19zl.csv").read_text().splitlines()
    assert len(lines) == 8 and len(train) == 24
    for line in lines + train:
        a, g, s = line.split(",")
        pid = Path(a).stem
        assert len(pid) == 7 and pid.isdigit()
        assert (a, g, s) == (f"bingmap/19/{pid}.jpg", f"streetview/panos/{pid}.jpg", f"streetview/annotations/{pid}.png")
        for rel in (a, g, s):
            assert (cvusa_root / rel).is_file()
    pid = Path(lines[0].split(",")[0]).stem
    assert read_image(cvusa_root / "bingmap/19" / f"{pid}.jpg").shape == (3, 64, 64)
    assert read_image(cvusa_root / "streetview/panos" / f"{pid}.jpg").shape == (3, 32, 176)  # 224:1232 aspect


def test_cvusa_flat_layout_files(cvusa_flat_root):
    lines = (cvusa_flat_root / "splits" / "val-19zl.csv").read_text().splitlines()
    pid = Path(lines[0].split(",")[0]).stem
    assert (cvusa_flat_root / "sat" / f"{pid}.jpg").is_file() and (cvusa_flat_root / "grd" / f"{pid}.png").is_file()
    assert not (cvusa_flat_root / "bingmap").exists()


def test_writers_accept_real_sizes(tmp_path):
    root = write_dataset("cvusa", tmp_path, size=1, seed=0, train_factor=1, aerial_size=750, pano_size=(224, 1232))
    pid = Path((root / "splits" / "val-19zl.csv").read_text().split(",")[0]).stem
    assert read_image(root / "bingmap/19" / f"{pid}.jpg").shape == (3, 750, 750)
    assert read_image(root / "streetview/panos" / f"{pid}.jpg").shape == (3, 224, 1232)


def test_cvact_mat_file_reads_like_the_original_loaders(cvact_root):
    import scipy.io

    mat = scipy.io.loadmat(cvact_root / "ACT_data.mat")
    train = mat["trainSet"]["trainInd"][0][0]
    val = mat["valSet"]["valInd"][0][0]
    test = mat["valSetAll"]["valInd"][0][0]
    assert train.shape == (24, 1) and val.shape == (8, 1) and test.shape == (16, 1)
    n = len(mat["panoIds"])
    assert n == 40 and mat["utm"].shape == (40, 2)
    assert set(val[:, 0]) <= set(test[:, 0]) and not set(train[:, 0]) & set(test[:, 0])
    assert min(train.min(), test.min()) == 1 and max(train.max(), test.max()) == n  # 1-based
    pid = mat["panoIds"][train[0][0] - 1]
    assert (cvact_root / ("streetview/" + pid + "_grdView.jpg")).is_file()
    assert (cvact_root / ("satview_polish/" + pid + "_satView_polish.jpg")).is_file()
    assert read_image(cvact_root / ("streetview/" + pid + "_grdView.jpg")).shape == (3, 64, 128)


# ---------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def synth_cli():
    """The ``xgeo`` entry point, called in-process."""
    return cli.main


def test_cli_synth_is_deterministic_and_readable(tmp_path, synth_cli, capsys):
    for out in ("a", "b"):
        assert synth_cli(["synth", "cvusa", "--out", str(tmp_path / out), "--size", "2", "--seed", "7"]) == 0
    assert "wrote synthetic cvusa" in capsys.readouterr().out
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert a == b and len(a) == 2 + 3 * 8  # two split files, 8 pairs x (aerial, panorama, annotation)
    ds = CVUSA(tmp_path / "a", "test")
    assert len(ds) == 2 and ds[1]["query"].shape == (3, 32, 176)


def test_cli_synth_flat_layout(tmp_path, synth_cli):
    assert synth_cli(["synth", "cvusa", "--out", str(tmp_path), "--size", "1", "--layout", "flat"]) == 0
    assert len(CVUSA(tmp_path, "train", layout="flat")) == 3


@pytest.mark.parametrize(("argv", "fragment"), [
    (["synth", "cvusa", "--size", "0"], "--size 1 or more"),
    (["synth", "vigor", "--size", "1", "--layout", "flat"], "cvusa only"),
    (["synth", "cvact", "--size", "1", "--ground-size", "30", "60"], "multiple of 4"),
])
def test_cli_synth_user_errors_are_one_line(tmp_path, synth_cli, capsys, argv, fragment):
    with pytest.raises(SystemExit) as exc:
        synth_cli([*argv, "--out", str(tmp_path / "out")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and fragment in err[0] and "Traceback" not in err[0]


def test_cli_synth_out_is_a_file(tmp_path, synth_cli, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    with pytest.raises(SystemExit) as exc:
        synth_cli(["synth", "cvusa", "--out", str(target), "--size", "1"])
    assert exc.value.code == 2 and str(target) in capsys.readouterr().err
    assert target.read_text() == "keep me"
