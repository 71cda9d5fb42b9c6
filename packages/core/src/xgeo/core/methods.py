"""Entry-point registry of installed method packages.

A method package declares, in its ``pyproject.toml``::

    [project.entry-points."xgeo.methods"]
    frgeo = "xgeo.frgeo.plugin:METHOD"

where ``METHOD`` is a :class:`MethodPlugin`. ``xgeo demo`` and ``xgeo localize`` find methods
only through this registry, so a new method plugs in without changes to core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np

from xgeo.core.errors import XgeoError

ENTRY_POINT_GROUP = "xgeo.methods"

#: encodes query image files into a ``[N, D]`` float32 array comparable with a gallery feature file
QueryEncoder = Callable[[Sequence[Path]], np.ndarray]


@dataclass
class DemoResult:
    """What one method's demo reports: its metrics next to chance on a synthetic world."""

    method: str
    dataset: str
    metrics: dict[str, float]
    chance: dict[str, float]
    seconds: float = 0.0
    notes: str = ""


@dataclass
class MethodPlugin:
    """What a method package hands to core."""

    name: str
    version: str
    #: ``demo(workdir, seed) -> DemoResult``: train and evaluate on a synthetic world written under workdir
    demo: Callable[[Path, int], DemoResult] | None = None
    #: ``query_encoder(checkpoint, view) -> QueryEncoder`` for ``xgeo localize``
    query_encoder: Callable[[Path, str], QueryEncoder] | None = None
    summary: str = ""
    commands: list[str] = field(default_factory=list)


def installed_methods() -> dict[str, MethodPlugin]:
    """All methods registered under the ``xgeo.methods`` entry-point group, by name."""
    found: dict[str, MethodPlugin] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        plugin = ep.load()
        found[plugin.name] = plugin
    return dict(sorted(found.items()))


def get_method(name: str) -> MethodPlugin:
    """The installed method called ``name``, or a one-line error listing what is installed."""
    methods = installed_methods()
    if name not in methods:
        known = ", ".join(methods) or "none"
        raise XgeoError(None, f"method {name!r} is not installed (installed: {known})", f"pip install xgeo-{name}")
    return methods[name]
