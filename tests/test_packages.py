"""Repository-wide rules: each package is its own distribution and methods depend on core only (imports: test_methods.py)."""

from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())


def test_all_packages_present():
    assert PACKAGES == ["cmpc", "core", "frgeo", "hvsa", "lwcnn", "plcd"]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_metadata(name):
    meta = tomllib.loads((ROOT / "packages" / name / "pyproject.toml").read_text())
    assert meta["build-system"]["build-backend"] == "hatchling.build"
    assert meta["project"]["name"] == f"xgeo-{name}"
    assert meta["project"]["version"]
    deps = meta["project"]["dependencies"]
    assert not any("==" in d for d in deps), "packages take ordinary ranges; pins belong to the setup step"
    if name != "core":
        assert [d.split(">")[0].split("=")[0].strip() for d in deps] == ["xgeo-core"]
    src = ROOT / "packages" / name / "src" / "xgeo"
    assert not (src / "__init__.py").exists(), "xgeo is a namespace package"
    assert (src / name / "__init__.py").is_file()
