"""Run options: defaults, YAML presets shipped with the package, and command-line overrides.

Precedence, lowest first: :class:`Options` defaults (the original ``train.py`` defaults where it
has the option), the preset (``--config NAME`` or a path; without ``--config`` the paper preset of
``--dataset``/``--cross``), then the flags the user actually typed.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from xgeo.core.errors import XgeoError
from xgeo.core.io import read_yaml

PRESET_PACKAGE = "xgeo.frgeo.presets"


@dataclass
class Options:
    """Everything ``frgeo-train`` / ``frgeo-eval`` can be told."""

    # data
    data_root: str | None = None
    dataset: str = "cvact"
    cross: bool = False
    # model
    backbone: str = "convnext_tiny"
    pretrained: str | None = None
    ground_size: list[int] | None = None  # None: the dataset's paper size
    aerial_size: list[int] | None = None
    fov: int = 0
    frm: str = "branch"
    dim: int | None = 3072  # None: whatever the backbone gives (4 × channels)
    # optimisation
    lr: float = 0.03
    batch_size: int = 32
    epochs: int = 50
    start_epoch: int = 0
    op: str = "adam"
    wd: float = 0.0
    momentum: float = 0.9
    rho: float = 0.05
    asam: bool = False
    cos: bool = False
    alpha: float = 10.0
    local_batch: int | None = None
    # mining
    mining: bool = False
    mining_start: int = 1
    pool_size: int = 40_000
    top_k: int = 100
    # run
    seed: int = 2024
    save_path: str = ""
    resume: str | None = None
    evaluate: bool = False
    workers: int = 4
    print_freq: int = 10
    eval_batch_size: int = 32
    checkpoint_every: int = 0
    max_steps: int | None = None
    device: str = "auto"
    gpu: int | None = None
    gpu_ids: str | None = None  # "0,1": one process per GPU through torchrun (xgeo.core.train.launch)
    progress: bool = True
    # accepted for compatibility with the original command lines
    share: bool = False
    dist_url: str | None = None
    dist_backend: str = "nccl"
    multiprocessing_distributed: bool = False
    world_size: int = -1
    rank: int = -1
    # bookkeeping: where the preset came from
    config: str | None = field(default=None)

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)


OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(Options))


def preset_names() -> list[str]:
    """Names of the presets shipped inside the package."""
    return sorted(p.name[:-5] for p in resources.files(PRESET_PACKAGE).iterdir() if p.name.endswith(".yaml"))


def preset_path(name_or_path: str) -> Path:
    """A shipped preset by name (``demo``, ``cvusa``, …) or a YAML file path.

    A bare name is a shipped preset even when a folder of that name exists; anything with a YAML
    suffix or a path separator is a file.
    """
    candidate = Path(name_or_path)
    is_path = candidate.suffix in (".yaml", ".yml") or "/" in name_or_path or os.sep in name_or_path
    shipped = resources.files(PRESET_PACKAGE) / f"{name_or_path}.yaml"
    if not is_path and shipped.is_file():
        return Path(str(shipped))
    if candidate.is_file():
        return candidate
    names = ", ".join(preset_names())
    if is_path:
        raise XgeoError(candidate, "config file not found", f"pass an existing YAML file or a preset name ({names})")
    raise XgeoError(None, f"no preset called {name_or_path!r}", f"use one of {names} or a path to a YAML file")


def load_preset(name_or_path: str) -> dict[str, Any]:
    """The options of a preset; unknown keys are a one-line error naming the file."""
    path = preset_path(name_or_path)
    values = read_yaml(path)
    unknown = sorted(set(values) - OPTION_NAMES)
    if unknown:
        raise XgeoError(
            path, f"unknown option(s) {', '.join(unknown)}", "remove them or check their spelling (see frgeo-train --help)"
        )
    return values


def default_preset(dataset: str, cross: bool) -> str | None:
    """The paper preset of a dataset, used when no ``--config`` is given."""
    name = f"{dataset}_cross" if cross and dataset == "vigor" else dataset
    return name if name in preset_names() else None


def resolve(given: dict[str, Any]) -> Options:
    """Merge defaults, the preset and the flags the user typed (``given``) into :class:`Options`."""
    base = Options()
    config = given.get("config")
    if config is None:
        dataset = given.get("dataset", base.dataset)
        config = default_preset(dataset, bool(given.get("cross", False)))
    preset = load_preset(config) if config else {}
    merged = {**dataclasses.asdict(base), **preset, **given, "config": config}
    return Options(**merged)
