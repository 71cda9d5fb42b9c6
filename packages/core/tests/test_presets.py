"""Method configs: sections, legacy flat keys, precedence and the checks after each layer."""

from dataclasses import dataclass, field
from importlib import resources

import pytest

from xgeo.core.checks import positive
from xgeo.core.errors import XgeoError
from xgeo.core.presets import ConfigSchema, preset_names, resolve, to


@dataclass
class Model:
    width: int = field(default=8, metadata={"check": positive})
    name: str = "tiny"


@dataclass
class Train:
    lr: float = field(default=0.1, metadata={"check": positive})
    schedule: str = "constant"
    epochs: int = 1


def _finalize(nested):
    nested["train"]["epochs"] = max(nested["train"]["epochs"], 1)


@pytest.fixture
def schema(tmp_path, monkeypatch):
    """A schema whose preset package is a folder on sys.path with one preset."""
    pkg = tmp_path / "fake_presets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "demo.yaml").write_text("model:\n  width: 4\ntrain:\n  lr: 0.5\n")
    (pkg / "flat.yaml").write_text("learning_rate: 0.25\ncos: true\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    resources.files("fake_presets")  # importable
    return ConfigSchema(
        method="fake",
        sections={"model": Model, "train": Train},
        legacy={"width": "model.width", "lr": "train.lr", "learning_rate": "train.lr",  # errors name the first
                "cos": to("train.schedule", lambda on: "cosine" if on else "constant"), "epochs": "train.epochs"},
        preset_package="fake_presets",
        defaults={"train": {"lr": 0.01}},
        finalize=_finalize,
    )


def test_defaults_then_preset_then_flags(schema):
    assert preset_names(schema) == ["demo", "flat"]
    base = resolve(schema, {})
    assert (base.model.width, base.train.lr, base.preset) == (8, 0.01, None)  # schema default beats the dataclass's
    demo = resolve(schema, {"config": "demo"})
    assert (demo.model.width, demo.train.lr) == (4, 0.5)
    typed = resolve(schema, {"config": "demo", "lr": 2})
    assert typed.train.lr == 2.0 and isinstance(typed.train.lr, float) and typed.model.width == 4
    assert resolve(schema, {}, default_preset="demo").model.width == 4


def test_legacy_flat_keys_and_converters(schema):
    flat = resolve(schema, {"config": "flat"})
    assert (flat.train.lr, flat.train.schedule) == (0.25, "cosine")
    assert resolve(schema, {"config": "flat", "cos": False}).train.schedule == "constant"
    assert resolve(schema, {"epochs": 0}).train.epochs == 1  # finalize runs after the flags


def test_bad_values_name_their_source(schema, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('train:\n  lr: "fast"\n')
    with pytest.raises(XgeoError, match=r"bad.yaml: train.lr='fast' has the wrong type"):
        resolve(schema, {"config": str(bad)})
    bad.write_text("train:\n  lr: .nan\n")
    with pytest.raises(XgeoError, match=r"bad.yaml: train.lr=nan is out of range"):
        resolve(schema, {"config": str(bad)})
    with pytest.raises(XgeoError, match=r"^--lr=-1.0 is out of range; --lr must be a finite number > 0$"):
        resolve(schema, {"lr": -1.0})


def test_unknown_keys_and_presets(schema, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(XgeoError, match=r"bad.yaml: unknown train: option\(s\) learning_rate"):
        resolve(schema, {"config": str(bad)})
    bad.write_text("speed: 3\n")
    with pytest.raises(XgeoError, match=r"bad.yaml: unknown option 'speed'"):
        resolve(schema, {"config": str(bad)})
    bad.write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(XgeoError, match="malformed YAML"):
        resolve(schema, {"config": str(bad)})
    with pytest.raises(XgeoError, match="no preset called 'nope'; use one of demo, flat"):
        resolve(schema, {"config": "nope"})


def test_an_empty_preset_is_refused(schema, tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(XgeoError, match=r"empty.yaml: the preset is empty"):
        resolve(schema, {"config": str(empty)})
