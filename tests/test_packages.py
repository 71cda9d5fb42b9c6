"""Repository-wide rules: each package is its own distribution and methods depend on core only."""

import ast
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())
METHODS = [p for p in PACKAGES if p != "core"]


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


@pytest.mark.parametrize("name", METHODS)
def test_methods_import_core_only(name):
    others = {f"xgeo.{m}" for m in METHODS if m != name}
    for path in (ROOT / "packages" / name).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            for mod in modules:
                assert not any(mod == o or mod.startswith(o + ".") for o in others), f"{path} imports {mod}"
