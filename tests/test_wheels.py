"""Each package builds a wheel with the hatchling backend, with `xgeo` as a namespace package."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())


@pytest.mark.parametrize("name", PACKAGES)
def test_wheel_builds_with_namespace_layout(name, tmp_path):
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT / "packages" / name)]
    subprocess.run(cmd, check=True, capture_output=True)
    (wheel,) = tmp_path.glob(f"xgeo_{name}-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert f"xgeo/{name}/__init__.py" in names
    assert "xgeo/__init__.py" not in names
    if name == "core":
        entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        assert "xgeo = xgeo.core.cli:main" in entry_points
