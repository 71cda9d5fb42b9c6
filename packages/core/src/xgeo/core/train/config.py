"""Training configuration and the value a method's step returns.

This module imports nothing from its siblings. :meth:`TrainConfig.validate` checks values; names
(``optimizer``, ``sam``, ``schedule``) are checked by the registries that hold them
(:data:`~xgeo.core.train.optimizers.OPTIMIZERS`, :data:`~xgeo.core.train.optimizers.SAM_MODES`,
:data:`~xgeo.core.train.schedules.SCHEDULES`) when the Trainer is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from xgeo.core.errors import XgeoError

SCHEDULE_UNITS = ("epoch", "step")


@dataclass
class TrainConfig:
    """Everything the :class:`~xgeo.core.train.Trainer` needs to know, as plain data."""

    out_dir: str
    epochs: int = 1
    batch_size: int = 32
    """GLOBAL batch across ranks; each rank gets ``batch_size // world_size``."""
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    momentum: float = 0.9
    betas: tuple = (0.9, 0.999)
    sam: str | None = None
    """``None`` (plain optimizer), ``"sam"`` or ``"asam"``."""
    rho: float = 0.05
    schedule: str = "constant"
    schedule_unit: str = "epoch"
    warmup_epochs: float = 0.0
    milestones: tuple = ()
    gamma: float = 0.1
    grad_clip: float | None = None
    amp: bool = False
    seed: int = 0
    num_workers: int = 0
    checkpoint_every: int = 0
    log_every: int = 10
    resume: str | None = None
    best_metric: str = "R@1"
    device: str = "auto"
    progress: bool = True
    max_steps: int | None = None

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

    def validate(self) -> None:
        """Raise :class:`XgeoError` on a value the trainer cannot run with (names are the registries' job)."""

        def bad(problem: str, fix: str) -> XgeoError:
            return XgeoError(None, f"training config: {problem}", fix)

        if self.epochs < 1:
            raise bad(f"epochs={self.epochs}", "use epochs >= 1")
        if self.batch_size < 1:
            raise bad(f"batch_size={self.batch_size}", "use batch_size >= 1")
        if self.schedule_unit not in SCHEDULE_UNITS:
            raise bad(f"unknown schedule_unit {self.schedule_unit!r}", f"choose one of {', '.join(SCHEDULE_UNITS)}")
        if self.warmup_epochs < 0 or self.warmup_epochs > self.epochs:
            raise bad(f"warmup_epochs={self.warmup_epochs}", f"use 0 <= warmup_epochs <= epochs ({self.epochs})")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise bad(f"grad_clip={self.grad_clip}", "use a positive norm or null")
        if self.checkpoint_every < 0 or self.log_every < 1 or self.num_workers < 0:
            raise bad(
                "checkpoint_every/log_every/num_workers out of range",
                "use checkpoint_every >= 0, log_every >= 1, num_workers >= 0",
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise bad(f"max_steps={self.max_steps}", "use a positive number or null")


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
