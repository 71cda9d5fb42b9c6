"""What FRGeo hands to core's Trainer: the step, the mining-bank hook and the evaluator."""

from __future__ import annotations

from typing import Any

from torch import nn

from xgeo.core.datasets import CrossViewSplit
from xgeo.core.train import StepOutput, Trainer
from xgeo.core.two_view import TwoViewEvaluator
from xgeo.frgeo.data import FRGeoProfile
from xgeo.frgeo.loss import WeightedTupleLoss
from xgeo.frgeo.mining import MiningSampler, feed_bank


class FRGeoStep:
    """One training step: both branches, WBL; hands detached embeddings on for the mining bank."""

    def __init__(self, loss: WeightedTupleLoss) -> None:
        self.loss = loss

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> StepOutput:
        query, reference = model(batch["query"], batch["gallery"])
        loss = self.loss(query, reference)
        return StepOutput(
            loss=loss,
            metrics=WeightedTupleLoss.diagnostics(query, reference),
            outputs=(batch["index"], query.detach(), reference.detach()),
        )


class BankFeeder:
    """``on_step_end`` hook: writes the first-pass embeddings of the whole global batch into the bank."""

    def __init__(self, sampler: MiningSampler) -> None:
        self.sampler = sampler

    def __call__(self, trainer: Trainer, batch: Any, out: StepOutput) -> None:
        index, query, reference = out.outputs
        feed_bank(self.sampler, index, query, reference)


def branches(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The ground (query) and aerial (gallery) encoders of an FRGeo model."""
    return model.query_net, model.reference_net


def evaluator(split: CrossViewSplit, profile: FRGeoProfile, batch_size: int, num_workers: int = 0) -> TwoViewEvaluator:
    """The per-epoch evaluation: R@1/5/10, floor R@1% and, on VIGOR, the hit rate."""
    return TwoViewEvaluator(split, branches, profile.protocol, profile.percent_convention, batch_size, num_workers)
