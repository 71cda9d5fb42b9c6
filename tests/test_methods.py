"""The contract every installed method keeps, checked over ``installed_methods()`` (as timm's tests
run over ``list_models()``): presets load, console scripts answer ``--help``, the demo preset trains
a step and its checkpoint reloads into unit-length float32 query rows, and no method imports another.
"""

from __future__ import annotations

import ast
import importlib
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

from xgeo.core.methods import installed_methods
from xgeo.core.presets import preset_names, resolve

METHODS = installed_methods()
NAMES = list(METHODS)
SCRIPTS = {ep.name: ep for ep in entry_points(group="console_scripts")}


def test_methods_are_installed():
    """At least one method is installed, each under its own package name (``xgeo.<name>``)."""
    assert NAMES, "no xgeo method package is installed"
    for name in NAMES:
        plugin = METHODS.get(name)
        assert plugin.name == name and importlib.import_module(f"xgeo.{name}").__version__ == plugin.version


@pytest.mark.parametrize("name", NAMES)
def test_every_shipped_preset_loads(name):
    schema = METHODS.get(name).schema
    assert schema is not None, f"{name} declares no config schema"
    presets = preset_names(schema)
    assert "demo" in presets
    for preset in presets:
        config = resolve(schema, {"config": preset})
        assert config.preset == preset and set(config.sections) == set(schema.sections)


@pytest.mark.parametrize("name", NAMES)
def test_every_console_script_answers_help(name, capsys):
    plugin = METHODS.get(name)
    assert plugin.commands, f"{name} lists no console scripts"
    for command in plugin.commands:
        assert command.startswith(f"{name}-")
        main = SCRIPTS[command].load()
        with pytest.raises(SystemExit) as stop:
            main(["--help"])
        assert stop.value.code == 0
        assert f"usage: {command}" in capsys.readouterr().out


@pytest.mark.parametrize("name", NAMES)
def test_demo_preset_trains_a_step_and_reloads(name, tmp_path):
    plugin = METHODS.get(name)
    run = plugin.smoke(tmp_path)
    assert run.checkpoint.is_file()
    for view, images in run.images.items():
        encode = plugin.query_encoder(run.checkpoint, view)
        rows = encode(images, 2)
        assert rows.dtype == np.float32 and rows.shape[0] == len(images) > 0
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
        assert encode([], 2).shape == (0, rows.shape[1])


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_method_imports_no_other_method(name):
    """Only ``xgeo.core`` and the method itself: holds whether or not the other methods are installed."""
    root = Path(importlib.import_module(f"xgeo.{name}").__file__).parent
    allowed = {"core", name}
    for path in root.rglob("*.py"):
        for module in _imported_modules(path):
            parts = module.split(".")
            assert not (parts[0] == "xgeo" and len(parts) > 1 and parts[1] not in allowed), f"{path} imports {module}"


def test_import_check_sees_another_method(tmp_path):
    (tmp_path / "bad.py").write_text("from xgeo.frgeo.loss import WeightedTupleLoss\nimport xgeo.core.io\n")
    assert _imported_modules(tmp_path / "bad.py") == {"xgeo.frgeo.loss", "xgeo.core.io"}
