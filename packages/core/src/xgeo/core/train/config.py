"""Training configuration and the value a method's step returns.

This module imports nothing from its siblings. :meth:`TrainConfig.validate` checks values (each
field declares its range, see :mod:`xgeo.core.checks`); names
(``optimizer``, ``sam``, ``schedule``) are checked by the registries that hold them
(:data:`~xgeo.core.train.optimizers.OPTIMIZERS`, :data:`~xgeo.core.train.optimizers.SAM_MODES`,
:data:`~xgeo.core.train.schedules.SCHEDULES`) when the Trainer is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from xgeo.core.checks import Check, check_fields, device, non_negative, one_of, positive, unit_interval
from xgeo.core.errors import XgeoError

SCHEDULE_UNITS = ("epoch", "step")
BETAS = Check("be two numbers in [0, 1)", lambda b: len(b) == 2 and all(0 <= float(x) < 1 for x in b))
MILESTONES = Check("be epochs >= 0", lambda ms: all(float(m) >= 0 for m in ms))


@dataclass
class TrainConfig:
    """Everything the :class:`~xgeo.core.train.Trainer` needs to know, as plain data."""

    out_dir: str
    epochs: int = field(default=1, metadata={"check": positive})
    batch_size: int = field(default=32, metadata={"check": positive})
    """GLOBAL batch across ranks; each rank gets ``batch_size // world_size``."""
    lr: float = field(default=1e-3, metadata={"check": positive})
    optimizer: str = "adamw"
    weight_decay: float = field(default=0.0, metadata={"check": non_negative})
    momentum: float = field(default=0.9, metadata={"check": unit_interval})
    betas: tuple = field(default=(0.9, 0.999), metadata={"check": BETAS})
    sam: str | None = None
    """``None`` (plain optimizer), ``"sam"`` or ``"asam"``."""
    rho: float = field(default=0.05, metadata={"check": non_negative})
    schedule: str = "constant"
    schedule_unit: str = field(default="epoch", metadata={"check": one_of(*SCHEDULE_UNITS)})
    warmup_epochs: float = field(default=0.0, metadata={"check": non_negative})
    milestones: tuple = field(default=(), metadata={"check": MILESTONES})
    gamma: float = field(default=0.1, metadata={"check": positive})
    grad_clip: float | None = field(default=None, metadata={"check": positive})
    amp: bool = False
    seed: int = field(default=0, metadata={"check": non_negative})
    num_workers: int = field(default=0, metadata={"check": non_negative})
    checkpoint_every: int = field(default=0, metadata={"check": non_negative})
    log_every: int = field(default=10, metadata={"check": positive})
    resume: str | None = None
    #: replace a run already in ``out_dir`` (without it, and without ``resume``, such a folder is refused)
    overwrite: bool = False
    best_metric: str = "R@1"
    device: str = field(default="auto", metadata={"check": device})
    progress: bool = True
    max_steps: int | None = field(default=None, metadata={"check": positive})

    def __post_init__(self) -> None:
        self.out_dir = str(self.out_dir)
        self.betas = tuple(float(b) for b in self.betas)
        self.milestones = tuple(float(m) for m in self.milestones)
        if self.resume is not None:
            self.resume = str(self.resume)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str | None = None) -> TrainConfig:
        """Build a config from a mapping (e.g. a YAML preset); unknown keys are a user error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise XgeoError(source, f"unknown training option(s) {', '.join(unknown)}", f"use only: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data copy (tuples, numbers, strings, None): safe for JSON and ``weights_only`` loading."""
        return dataclasses.asdict(self)

    def validate(self, source: str | None = None, keys: dict[str, str] | None = None) -> None:
        """Raise :class:`XgeoError` on a value the trainer cannot run with (names are the registries' job).

        Every field is checked against its type and declared range; ``source`` and ``keys`` (field ->
        the flag or key the user typed) make the one-line error name what to change.
        """
        check_fields(self, source, keys)
        if self.warmup_epochs > self.epochs:
            shown = (keys or {}).get("warmup_epochs", "warmup_epochs")
            raise XgeoError(source, f"{shown}={self.warmup_epochs} is longer than the run", f"use at most epochs ({self.epochs})")


@dataclass
class StepOutput:
    """What ``step(model, batch)`` returns.

    ``loss`` is the scalar to minimise (differentiable); ``metrics`` are floats (or 0-d tensors) that are
    logged and averaged over the epoch; ``outputs`` is handed untouched to ``on_step_end`` (for instance
    detached embeddings that feed a mining memory bank).
    """

    loss: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    outputs: Any = None
