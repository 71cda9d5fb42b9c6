"""Entry-point registry of installed method packages.

A method package declares, in its ``pyproject.toml``::

    [project.entry-points."xgeo.methods"]
    frgeo = "xgeo.frgeo.plugin:METHOD"

where ``METHOD`` is a :class:`MethodPlugin`. ``xgeo demo``, ``xgeo localize`` and core's contract
test over installed methods find methods only through this registry, so a new method plugs in
without changes to core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xgeo.core.errors import XgeoError
from xgeo.core.registry import Registry

if TYPE_CHECKING:
    import torch

    from xgeo.core.presets import ConfigSchema

ENTRY_POINT_GROUP = "xgeo.methods"

#: ``encode(inputs, batch_size) -> [N, D]`` float32 unit rows, comparable with a gallery feature file;
#: ``inputs`` are image files, or plain sentences for a text view (HVSA's ``text``)
QueryEncoder = Callable[..., np.ndarray]


@dataclass
class DemoResult:
    """What one method's demo reports: its metrics next to chance on a synthetic world."""

    method: str
    dataset: str
    metrics: dict[str, float]
    chance: dict[str, float]
    seconds: float = 0.0
    notes: str = ""
    #: optional feature files of the evaluated split (with ``/paths``) for the demo's report.html
    query_features: Path | None = None
    gallery_features: Path | None = None
    #: the protocol (and R@1% convention) the metrics were computed with
    protocol: str = "crossview"
    percent_convention: str | None = None


@dataclass
class SmokeRun:
    """A one-step training run of the demo preset: its checkpoint and a few inputs per view
    (image files; sentences for a text view)."""

    checkpoint: Path
    images: dict[str, list[Path] | list[str]]


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
    #: console scripts of the package
    commands: list[str] = field(default_factory=list)
    #: the method's config sections, legacy flags and preset package
    schema: ConfigSchema | None = None
    #: ``smoke(workdir) -> SmokeRun``: the demo preset for one step on a tiny synthetic world
    smoke: Callable[[Path], SmokeRun] | None = None


def installed_methods() -> Registry[MethodPlugin]:
    """All methods registered under the ``xgeo.methods`` entry-point group."""
    found: Registry[MethodPlugin] = Registry("method", "--method")
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        plugin = ep.load()
        found.register(plugin.name, plugin)
    return found


def get_method(name: str) -> MethodPlugin:
    """The installed method called ``name``, or a one-line error listing what is installed."""
    methods = installed_methods()
    if name not in methods:
        known = ", ".join(methods) or "none"
        raise XgeoError(None, f"method {name!r} is not installed (installed: {known})", f"pip install xgeo-{name}")
    return methods.get(name)


def encode_images(
    paths: Sequence[Path],
    load: Callable[[Path], Any],
    encoder: torch.nn.Module,
    dim: int,
    batch_size: int = 32,
) -> np.ndarray:
    """Encode image files ``batch_size`` at a time: ``[N, dim]`` float32 unit rows (N may be 0).

    ``load(path)`` returns the network input for one file (read, prepared, transformed).
    """
    import torch
    import torch.nn.functional as F

    if batch_size < 1:
        raise XgeoError(None, f"batch size {batch_size}", "use a batch size of at least 1")
    out = [np.zeros((0, dim), dtype=np.float32)]
    was_training = encoder.training
    encoder.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(paths), batch_size):
                batch = torch.stack([load(Path(p)) for p in paths[start : start + batch_size]])
                out.append(F.normalize(encoder(batch).float(), dim=1).numpy())
    finally:
        encoder.train(was_training)
    return np.concatenate(out).astype(np.float32, copy=False)
