"""What the lightweight CNN hands to core's Trainer: the step and the two-direction evaluator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from xgeo.core.datasets import CrossViewSplit
from xgeo.core.evaluate import evaluate_arrays
from xgeo.core.train import StepOutput
from xgeo.core.two_view import TwoViewEvaluator
from xgeo.lwcnn.data import LwcnnProfile
from xgeo.lwcnn.loss import HardRatioSchedule, SoftMarginTripletLoss, far_pairs

#: key prefix of the aerial→ground metrics (ground→aerial keys are unprefixed: R@1 selects the best model)
REVERSE_PREFIX = "a2g_"


class LwcnnStep:
    """One training step: both branches, then the soft-margin triplet loss at this epoch's hard ratio.

    ``locations`` (``[P, 2]`` UTM metres per training pair, CVACT) turns on the near-negative mask.
    The epoch comes from the trainer the step is :meth:`bind`-ed to (0 before that).
    """

    def __init__(
        self,
        loss: SoftMarginTripletLoss,
        schedule: HardRatioSchedule,
        locations: torch.Tensor | None = None,
        radius_m: float = 25.0,
    ) -> None:
        self.loss, self.schedule, self.locations, self.radius_m = loss, schedule, locations, float(radius_m)
        self.epoch: Callable[[], int] = lambda: 0

    def bind(self, trainer: Any) -> None:
        """Read the current epoch from ``trainer`` (core's Trainer) from now on."""
        self.epoch = lambda: int(trainer.epoch)

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> StepOutput:
        ground, aerial = model(batch["query"], batch["gallery"])
        ratio = self.schedule(self.epoch())
        valid = None
        if self.locations is not None:
            valid = far_pairs(self.locations[batch["index"].cpu()], self.radius_m)
        loss = self.loss(aerial, ground, ratio, valid)
        with torch.no_grad():
            cos = aerial @ ground.t()
            n = len(cos)
            negatives = (cos.sum() - cos.diagonal().sum()) / max(n * n - n, 1)
        return StepOutput(loss=loss, metrics={"hard_ratio": ratio, "mean_pos": cos.diagonal().mean().item(),
                                               "mean_neg": negatives.item()})


class BothDirections(TwoViewEvaluator):
    """``evaluate`` hook: ground→aerial metrics (``R@1``, ...) and aerial→ground ones (``a2g_R@1``, ...)."""

    def metrics(self, query: torch.Tensor, gallery: torch.Tensor) -> dict[str, float]:
        forward = super().metrics(query, gallery)
        reverse = evaluate_arrays(
            gallery, query, self.split.task.transposed(), self.protocol, percent_convention=self.percent_convention,
            normalized=True,
        )
        return {**forward, **{REVERSE_PREFIX + k: v for k, v in reverse.items()}}


def branches(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The ground (query) and aerial (gallery) encoders."""
    return model.ground_net, model.aerial_net


def evaluator(split: CrossViewSplit, profile: LwcnnProfile, batch_size: int, num_workers: int = 0) -> BothDirections:
    """The per-epoch evaluation over the whole split on every rank: R@1/5/10 and R@1% (r < 0.01·N), both ways."""
    return BothDirections(split, branches, profile.protocol, profile.percent_convention, batch_size, num_workers)
