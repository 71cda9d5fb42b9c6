"""Optimizer registry: config name -> (optimizer class, keyword arguments), wrapped in SAM on request.

Names are looked up in :data:`OPTIMIZERS` and :data:`SAM_MODES`; an unknown one is the registry's
one-line :class:`~xgeo.core.registry.UnknownNameError`. :func:`optimizer_builder` does the look-ups
up front, so the Trainer fails on a bad name before any work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch

from xgeo.core.registry import Registry
from xgeo.core.train.sam import SAM

if TYPE_CHECKING:
    from xgeo.core.train.config import TrainConfig

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]
OptimizerSpec = tuple[type[torch.optim.Optimizer], dict[str, Any]]
OptimizerFactory = Callable[["TrainConfig"], OptimizerSpec]

OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer")
"""``config.optimizer`` -> factory of ``(optimizer class, keyword arguments)``."""

SAM_MODES: Registry[bool] = Registry("sam mode")
"""``config.sam`` -> ``adaptive`` flag of :class:`~xgeo.core.train.sam.SAM` (``config.sam = None``: no SAM)."""
SAM_MODES.register("sam", False)
SAM_MODES.register("asam", True)


def register_optimizer(name: str) -> Callable[[OptimizerFactory], OptimizerFactory]:
    """Decorator adding an optimizer to :data:`OPTIMIZERS`."""
    return OPTIMIZERS.register(name)


@register_optimizer("sgd")
def _sgd(config: TrainConfig) -> OptimizerSpec:
    return torch.optim.SGD, {"lr": config.lr, "momentum": config.momentum, "weight_decay": config.weight_decay}


@register_optimizer("sgd_nesterov")
def _sgd_nesterov(config: TrainConfig) -> OptimizerSpec:
    return torch.optim.SGD, {"lr": config.lr, "momentum": config.momentum, "weight_decay": config.weight_decay, "nesterov": True}


@register_optimizer("adam")
def _adam(config: TrainConfig) -> OptimizerSpec:
    return torch.optim.Adam, {"lr": config.lr, "betas": tuple(config.betas), "weight_decay": config.weight_decay}


@register_optimizer("adamw")
def _adamw(config: TrainConfig) -> OptimizerSpec:
    return torch.optim.AdamW, {"lr": config.lr, "betas": tuple(config.betas), "weight_decay": config.weight_decay}


def optimizer_builder(config: TrainConfig) -> Callable[[Params], torch.optim.Optimizer]:
    """``params -> optimizer`` for ``config``; an unknown ``optimizer`` or ``sam`` name fails here, at once."""
    cls, kwargs = OPTIMIZERS.get(config.optimizer)(config)
    if config.sam is None:
        return functools.partial(cls, **kwargs)
    adaptive = SAM_MODES.get(config.sam)
    return functools.partial(SAM, base_optimizer_cls=cls, rho=config.rho, adaptive=adaptive, **kwargs)


def build_optimizer(params: Params, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer``, inside :class:`SAM` when ``config.sam`` is set.

    Weight decay applies to every parameter given (FRGeo does not exclude norms or biases); pass
    parameter groups to treat some differently.
    """
    return optimizer_builder(config)(params)


def is_two_pass(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer needs a second forward/backward pass (the SAM protocol)."""
    return callable(getattr(optimizer, "first_step", None)) and callable(getattr(optimizer, "second_step", None))
