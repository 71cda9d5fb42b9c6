"""Checks that run when a command starts, before any work: option values and output locations.

- **Values:** a :class:`Check` is a named predicate on one value (``positive``, ``finite``, ...).
  The same check serves as an argparse ``type=`` (:func:`arg_type`) and on a config field
  (``dataclasses.field(metadata={"check": positive})``, validated by :func:`check_fields`), so a
  flag and the YAML key behind it are held to one rule.
- **Outputs:** :func:`check_output_file` and :func:`check_output_dir` refuse a location that
  cannot be written (an existing directory where a file goes, a read-only folder, ...), so that no
  command fails after an epoch or a full embedding pass.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import tempfile
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xgeo.core.errors import XgeoError


@dataclass(frozen=True)
class Check:
    """A rule on one value: ``ok(value)`` holds, else the value is refused as ``must ...``."""

    must: str
    ok: Callable[[Any], bool]

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.ok(value))
        except (TypeError, ValueError):
            return False


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


finite = Check("be a finite number", _finite)
positive = Check("be a finite number > 0", lambda v: _finite(v) and v > 0)
non_negative = Check("be a finite number >= 0", lambda v: _finite(v) and v >= 0)
unit_interval = Check("lie in [0, 1]", lambda v: _finite(v) and 0 <= v <= 1)
open_unit_interval = Check("lie in (0, 1)", lambda v: _finite(v) and 0 < v < 1)


def in_range(low: float, high: float) -> Check:
    """A number in ``[low, high]``."""
    return Check(f"lie in [{low}, {high}]", lambda v: _finite(v) and low <= v <= high)


def one_of(*values: Any) -> Check:
    """One of ``values``."""
    return Check(f"be one of {', '.join(map(str, values))}", lambda v: v in values)


def _device_ok(name: Any) -> bool:
    if not isinstance(name, str):
        return False
    if name in ("auto", "cpu"):
        return True
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        return False
    if device.type != "cuda":
        return False
    return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()


device = Check("be auto, cpu or an available cuda[:N]", _device_ok)


def arg_type(convert: Callable[[str], Any], check: Check | None = None) -> Callable[[str], Any]:
    """An argparse ``type=``: ``convert`` the text, then apply ``check``; a bad value is a usage error."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {getattr(convert, '__name__', 'value')}") from None
        if check is not None and not check(value):
            raise argparse.ArgumentTypeError(f"{text!r}: must {check.must}")
        return value

    parse.__name__ = getattr(convert, "__name__", "value")
    return parse


# --------------------------------------------------------------------------------------- config fields
def _allowed_types(annotation: Any) -> tuple[type, ...] | None:
    """Runtime types of a field annotation (``int``, ``float | None``, ``list[int] | None``, ...)."""
    if isinstance(annotation, str):
        annotation = eval(annotation, {"list": list, "tuple": tuple, "dict": dict, "Any": Any, "None": None})  # noqa: S307
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        out: list[type] = []
        for arg in typing.get_args(annotation):
            sub = _allowed_types(arg)
            if sub is None:
                return None
            out.extend(sub)
        return tuple(out)
    if annotation is None or annotation is type(None):
        return (type(None),)
    if origin is not None:
        return (origin,)
    return (annotation,) if isinstance(annotation, type) else None


def _coerce(value: Any, allowed: tuple[type, ...]) -> tuple[bool, Any]:
    """``(ok, value)``: ``value`` as one of ``allowed`` (an int is a float; a list is a tuple)."""
    if isinstance(value, bool):
        return (bool in allowed), value
    if isinstance(value, allowed):
        return True, value
    if float in allowed and isinstance(value, int):
        return True, float(value)
    if tuple in allowed and isinstance(value, list):
        return True, tuple(value)
    if list in allowed and isinstance(value, tuple):
        return True, list(value)
    return False, value


def _type_name(allowed: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in allowed)


def check_fields(obj: Any, source: str | os.PathLike | None = None, keys: dict[str, str] | None = None) -> None:
    """Check every field of dataclass ``obj`` against its annotation and ``metadata["check"]``.

    Numbers are coerced in place (an int where a float goes). ``source`` is the file (or flag set)
    that gave the values and ``keys`` maps a field name to the key the user typed, so the one-line
    error names both.
    """
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        shown = (keys or {}).get(f.name, f.name)
        allowed = _allowed_types(hints.get(f.name, Any))
        if allowed is not None:
            ok, value = _coerce(value, allowed)
            if not ok:
                raise XgeoError(source, f"{shown}={value!r} has the wrong type", f"{shown} must be {_type_name(allowed)}")
            object.__setattr__(obj, f.name, value)
        check = f.metadata.get("check")
        if check is not None and value is not None and not check(value):
            raise XgeoError(source, f"{shown}={value!r} is out of range", f"{shown} must {check.must}")


# ---------------------------------------------------------------------------------------------- outputs
def _existing_ancestor(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def _can_create_in(folder: Path) -> bool:
    """Whether a file can really be created in ``folder`` (a probe, since ``os.access`` says yes to root)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".xgeo-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def _check_writable_parent(path: Path, flag: str) -> None:
    base = _existing_ancestor(path.parent if path.parent != Path("") else Path("."))
    if not base.is_dir():
        raise XgeoError(path, f"{flag}: {base} is a file, not a folder", f"choose another {flag}")
    if not _can_create_in(base):
        raise XgeoError(path, f"{flag}: folder {base} is not writable", f"choose a writable {flag}")


def check_output_file(path: str | os.PathLike, flag: str) -> Path:
    """Refuse a file output that cannot be written: an existing folder, a read-only place."""
    path = Path(path)
    if path.is_dir():
        raise XgeoError(path, f"{flag}: this is a folder", f"give {flag} a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise XgeoError(path, f"{flag}: the file is not writable", f"choose another {flag}")
    _check_writable_parent(path, flag)
    return path


def check_output_dir(path: str | os.PathLike, flag: str) -> Path:
    """Refuse a folder output that cannot be written: an existing file, a read-only place."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise XgeoError(path, f"{flag}: this is a file, not a folder", f"give {flag} a folder")
    if path.is_dir():
        if not _can_create_in(path):
            raise XgeoError(path, f"{flag}: the folder is not writable", f"choose a writable {flag}")
        return path
    _check_writable_parent(path, flag)
    return path
