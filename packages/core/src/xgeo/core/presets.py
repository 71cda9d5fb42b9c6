"""Method configs as data: YAML presets shipped in a package, merged with defaults and typed flags.

A method describes its config with a :class:`ConfigSchema`: named sections, each a dataclass
(``model``: the model spec options, ``data``: dataset options, ``train``: core's
:class:`~xgeo.core.train.TrainConfig`, ...), and one table of **legacy keys**: the flat names of
the original command lines (``lr``, ``wd``, ``op``, ...), each landing in a section field
directly (``"train.lr"``) or through a small function.

:func:`resolve` merges, lowest first: the sections' defaults (plus the schema's own), the preset
(``--config NAME`` or a YAML path; nested sections and/or legacy flat keys), then the flags the
user typed (argparse destinations, which are legacy keys). After each layer every field is
checked against its type and its declared range (:func:`xgeo.core.checks.check_fields`), so a bad
value is refused naming the file or the flag it came from, before any work.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from xgeo.core.checks import check_fields
from xgeo.core.errors import XgeoError
from xgeo.core.io import read_yaml

Nested = dict[str, dict[str, Any]]
#: how one legacy key lands in the sections: ``"section.field"`` or ``fn(value, nested)``
Legacy = str | Callable[[Any, Nested], None]


def to(target: str, convert: Callable[[Any], Any] | None = None) -> Callable[[Any, Nested], None]:
    """A legacy entry writing the (optionally converted) value into ``"section.field"``."""
    section, name = target.split(".", 1)

    def apply(value: Any, nested: Nested) -> None:
        nested[section][name] = convert(value) if convert is not None and value is not None else value

    apply.target = target  # type: ignore[attr-defined]
    return apply


def ignored(value: Any, nested: Nested) -> None:
    """A legacy entry that is accepted and has no effect."""


@dataclass(frozen=True)
class ConfigSchema:
    """The sections of a method's config, its legacy flat keys and where its presets live."""

    method: str
    sections: Mapping[str, type]
    legacy: Mapping[str, Legacy]
    #: the package holding ``<name>.yaml`` presets, e.g. ``"xgeo.frgeo.presets"``
    preset_package: str
    #: section -> field -> default replacing the dataclass default (e.g. the paper's lr)
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: ``finalize(nested)`` after each layer: combine legacy values that only make sense together
    finalize: Callable[[Nested], None] | None = None
    #: ``translate(values, path)`` on a loaded preset: rewrite a file in the original code's own
    #: layout (e.g. nested sections named like ours) into sections and legacy keys
    translate: Callable[[dict[str, Any], Path], dict[str, Any]] | None = None

    def flag_names(self) -> dict[str, str]:
        """``"section.field"`` -> the legacy key that writes it (for error messages)."""
        out: dict[str, str] = {}
        for key, entry in self.legacy.items():
            target = entry if isinstance(entry, str) else getattr(entry, "target", None)
            if target is not None:
                out.setdefault(target, key)
        return out


@dataclass
class Config:
    """A resolved config: one dataclass per section, plus where the preset came from."""

    sections: dict[str, Any]
    preset: str | None = None

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    def to_dict(self) -> Nested:
        """Plain nested data (for checkpoints and ``metrics.json``)."""
        return {name: dataclasses.asdict(value) for name, value in self.sections.items()}


# ------------------------------------------------------------------------------------------ presets
def preset_names(schema: ConfigSchema) -> list[str]:
    """Names of the presets shipped in the method's preset package."""
    return sorted(p.name[:-5] for p in resources.files(schema.preset_package).iterdir() if p.name.endswith(".yaml"))


def preset_path(schema: ConfigSchema, name_or_path: str) -> Path:
    """A shipped preset by name (``demo``, ``cvusa``, ...) or a YAML file by path.

    A bare name is a shipped preset even when a folder of that name exists; anything with a YAML
    suffix or a path separator is a file.
    """
    candidate = Path(name_or_path)
    is_path = candidate.suffix in (".yaml", ".yml") or "/" in name_or_path or os.sep in name_or_path
    shipped = resources.files(schema.preset_package) / f"{name_or_path}.yaml"
    if not is_path and shipped.is_file():
        return Path(str(shipped))
    if candidate.is_file():
        return candidate
    names = ", ".join(preset_names(schema))
    if is_path:
        raise XgeoError(candidate, "config file not found", f"pass an existing YAML file or a preset name ({names})")
    raise XgeoError(None, f"no preset called {name_or_path!r}", f"use one of {names} or a path to a YAML file")


def load_preset(schema: ConfigSchema, name_or_path: str) -> tuple[Path, dict[str, Any]]:
    """The preset's file and its mapping (``yaml.safe_load``)."""
    path = preset_path(schema, name_or_path)
    values = read_yaml(path)
    if not values:
        raise XgeoError(path, "the preset is empty", "give it sections (model:, data:, train:, ...) or leave out --config")
    return path, schema.translate(values, path) if schema.translate is not None else values


# ------------------------------------------------------------------------------------------ merging
def _defaults(schema: ConfigSchema) -> Nested:
    nested: Nested = {}
    for name, cls in schema.sections.items():
        values = {f.name: _field_default(f) for f in dataclasses.fields(cls)}
        values.update(schema.defaults.get(name, {}))
        nested[name] = values
    return nested


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return copy.deepcopy(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _apply_legacy(schema: ConfigSchema, nested: Nested, key: str, value: Any) -> None:
    entry = schema.legacy[key]
    if isinstance(entry, str):
        entry = to(entry)
    entry(value, nested)


def apply_preset(schema: ConfigSchema, nested: Nested, values: Mapping[str, Any], source: Path) -> None:
    """Lay a preset's values over ``nested``; an unknown section field or key is an error naming ``source``."""
    for key, value in values.items():
        if key in schema.sections and isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(schema.sections[key])}
            unknown = sorted(set(value) - known)
            if unknown:
                raise XgeoError(source, f"unknown {key}: option(s) {', '.join(unknown)}", f"use only: {', '.join(sorted(known))}")
            nested[key].update(value)
        elif key in schema.legacy:
            _apply_legacy(schema, nested, key, value)
        else:
            sections = ", ".join(f"{s}:" for s in schema.sections)
            raise XgeoError(source, f"unknown option {key!r}", f"use the sections {sections} or the original flag names")


def apply_flags(schema: ConfigSchema, nested: Nested, given: Mapping[str, Any]) -> None:
    """Lay the flags the user typed (legacy keys, in the table's order) over ``nested``."""
    for key in schema.legacy:
        if key in given:
            _apply_legacy(schema, nested, key, given[key])
    unknown = sorted(set(given) - set(schema.legacy) - {"config"})
    if unknown:
        raise ValueError(f"flags without a config entry in {schema.method}: {', '.join(unknown)}")


def build(schema: ConfigSchema, nested: Nested, source: str | os.PathLike | None, flags: bool = False) -> dict[str, Any]:
    """The section dataclasses for ``nested``; a bad type or range is a one-line error."""
    names = schema.flag_names()
    sections: dict[str, Any] = {}
    for name, cls in schema.sections.items():
        keys = {f.name: _shown(names.get(f"{name}.{f.name}"), name, f.name, flags) for f in dataclasses.fields(cls)}
        try:
            obj = cls(**nested[name])
        except (TypeError, ValueError) as err:
            raise XgeoError(source, f"{name}: {err}", "fix the value") from None
        validate = getattr(obj, "validate", None)  # a section may add checks across its fields (TrainConfig)
        validate(source, keys) if callable(validate) else check_fields(obj, source, keys)
        sections[name] = obj
    return sections


def _shown(legacy: str | None, section: str, name: str, flags: bool) -> str:
    if flags and legacy is not None:
        return "--" + legacy.replace("_", "-") if len(legacy) > 1 else "-" + legacy
    return f"{section}.{name}"


def _finalize(schema: ConfigSchema, nested: Nested) -> None:
    if schema.finalize is not None:
        schema.finalize(nested)


def resolve(schema: ConfigSchema, given: Mapping[str, Any], default_preset: str | None = None) -> Config:
    """Merge the defaults, the preset (``given["config"]`` else ``default_preset``) and the typed flags."""
    nested = _defaults(schema)
    preset = given.get("config") or default_preset
    if preset:
        path, values = load_preset(schema, preset)
        apply_preset(schema, nested, values, path)
        _finalize(schema, nested)
        build(schema, nested, path)
    apply_flags(schema, nested, given)
    _finalize(schema, nested)
    return Config(build(schema, nested, None, flags=True), preset=preset)
