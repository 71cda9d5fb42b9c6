"""Optimizer registry: config name -> (optimizer class, keyword arguments), wrapped in SAM on request."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

from xgeo.core.train.config import SAM_MODES, TrainConfig
from xgeo.core.train.sam import SAM

OptimizerSpec = tuple[type[torch.optim.Optimizer], dict[str, Any]]
OptimizerFactory = Callable[[TrainConfig], OptimizerSpec]

OPTIMIZERS: dict[str, OptimizerFactory] = {}


def register_optimizer(name: str) -> Callable[[OptimizerFactory], OptimizerFactory]:
    """Decorator adding an optimizer to :data:`OPTIMIZERS`."""

    def add(fn: OptimizerFactory) -> OptimizerFactory:
        OPTIMIZERS[name] = fn
        return fn

    return add


@register_optimizer("sgd")
def _sgd(config: TrainConfig) -> OptimizerSpec:
    return torch.optim.SGD, {"lr": config.lr, "momentum": config.momentum, "weight_decay": config.weight_decay}


@register_optimizer("adam")
def _adam(config: TrainConfig) -> OptimizerSpec:
    return torch.optim.Adam, {"lr": config.lr, "betas": tuple(config.betas), "weight_decay": config.weight_decay}


@register_optimizer("adamw")
def _adamw(config: TrainConfig) -> OptimizerSpec:
    return torch.optim.AdamW, {"lr": config.lr, "betas": tuple(config.betas), "weight_decay": config.weight_decay}


def build_optimizer(params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer``, inside :class:`SAM` when ``config.sam`` is set.

    Weight decay applies to every parameter given (FRGeo does not exclude norms or biases); pass
    parameter groups to treat some differently.
    """
    cls, kwargs = OPTIMIZERS[config.optimizer](config)
    adaptive = SAM_MODES[config.sam]
    if adaptive is None:
        return cls(params, **kwargs)
    return SAM(params, cls, rho=config.rho, adaptive=adaptive, **kwargs)


def is_two_pass(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer needs a second forward/backward pass (the SAM protocol)."""
    return callable(getattr(optimizer, "first_step", None)) and callable(getattr(optimizer, "second_step", None))
