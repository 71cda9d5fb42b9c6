"""Learning-rate schedules: a registry of shapes plus linear warm-up.

Time ``t`` is measured in epochs. With ``schedule_unit="epoch"`` the rate is set once at the start of
epoch ``e`` with ``t = e``; with ``"step"`` it is set before every optimizer step with
``t = epoch + batch / steps_per_epoch``. A shape maps ``(t_after_warmup, span, config)`` to a factor
of the base rate, where ``span = epochs - warmup_epochs``. For example ``"cosine"`` with no warm-up
gives ``lr_e = lr0 * 0.5 * (1 + cos(pi * e / E))`` (FRGeo).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from xgeo.core.registry import Registry

if TYPE_CHECKING:
    from xgeo.core.train.config import TrainConfig

ScheduleFn = Callable[[float, float, "TrainConfig"], float]

SCHEDULES: Registry[ScheduleFn] = Registry("schedule")
"""``config.schedule`` -> shape; an unknown name is the registry's one-line error."""


def register_schedule(name: str) -> Callable[[ScheduleFn], ScheduleFn]:
    """Decorator adding a schedule shape to :data:`SCHEDULES`."""
    return SCHEDULES.register(name)


@register_schedule("constant")
def constant(t: float, span: float, config: TrainConfig) -> float:
    """Always the base rate."""
    return 1.0


@register_schedule("cosine")
def cosine(t: float, span: float, config: TrainConfig) -> float:
    """Half a cosine from 1 (t = 0) towards 0 (t = span)."""
    progress = min(max(t / span, 0.0), 1.0) if span > 0 else 1.0
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@register_schedule("step")
def step(t: float, span: float, config: TrainConfig) -> float:
    """Multiply by ``gamma`` at each milestone (in epochs, counted from the start of training)."""
    passed = sum(1 for m in config.milestones if t + config.warmup_epochs >= m)
    return config.gamma**passed


def lr_factor(t: float, config: TrainConfig, unit: float) -> float:
    """Factor of the base rate at time ``t`` (epochs); ``unit`` is one schedule tick in epochs.

    During warm-up the factor rises linearly, ``(t + unit) / warmup_epochs``, so the first tick
    already trains and the full rate is reached when warm-up ends.
    """
    warm = config.warmup_epochs
    if warm > 0 and t < warm:
        return min(1.0, (t + unit) / warm)
    return SCHEDULES.get(config.schedule)(t - warm, config.epochs - warm, config)


class LRSchedule:
    """Sets the learning rate of every parameter group from the epoch/step counters.

    The rate is a pure function of time, so resuming only needs the base rates and the counters.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> None:
        SCHEDULES.get(config.schedule)  # an unknown name fails here, not at the first step
        self.optimizer = optimizer
        self.config = config
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.base_lrs = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
        for group, base in zip(optimizer.param_groups, self.base_lrs, strict=True):
            group["initial_lr"] = base
        self.last_t = 0.0

    @property
    def per_step(self) -> bool:
        """Whether the rate changes every optimizer step (else once per epoch)."""
        return self.config.schedule_unit == "step"

    def set(self, epoch: int, batch: int = 0) -> float:
        """Apply the rate for ``epoch`` (and ``batch`` within it when per step); return the first group's rate."""
        if self.per_step:
            t, unit = epoch + batch / self.steps_per_epoch, 1.0 / self.steps_per_epoch
        else:
            t, unit = float(epoch), 1.0
        factor = lr_factor(t, self.config, unit)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor
        self.last_t = t
        return self.base_lrs[0] * factor

    def state_dict(self) -> dict[str, Any]:
        """Plain-data state."""
        return {
            "schedule": self.config.schedule,
            "unit": self.config.schedule_unit,
            "base_lrs": list(self.base_lrs),
            "last_t": self.last_t,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore base rates and the last time the rate was set."""
        self.base_lrs = [float(x) for x in state["base_lrs"]]
        self.last_t = float(state.get("last_t", 0.0))
