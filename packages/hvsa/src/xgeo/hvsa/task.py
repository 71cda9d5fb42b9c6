"""What HVSA hands to core's Trainer: the step and the per-epoch evaluator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from xgeo.core.datasets import CaptionSplit
from xgeo.core.train import StepOutput
from xgeo.core.two_view import TwoViewEvaluator
from xgeo.hvsa.data import PROTOCOL
from xgeo.hvsa.loss import HVSALoss


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)


class HVSAStep:
    """One training step on a caption-level batch: both encoders, the weighted loss."""

    def __init__(self, loss: HVSALoss) -> None:
        self.loss = loss

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> StepOutput:
        images, texts = model(batch["query"], batch["gallery"])
        total, parts = self.loss(images, texts, _unwrap(model).loss_weighting)
        return StepOutput(loss=total, metrics=parts)


def branches(model: nn.Module) -> tuple[Any, Any]:
    """The image (query) and sentence (gallery) encoders of an HVSA model."""
    model = _unwrap(model)
    return model.image_encoder, model.encode_sentences


@dataclass
class EveryNEpochs:
    """``evaluate`` hook that scores only every ``every`` epochs (``logs.eval_step``) and the last one."""

    evaluator: TwoViewEvaluator
    every: int = 1

    def __call__(self, trainer: Any) -> dict[str, float]:
        epoch = trainer.epoch + 1
        if epoch % self.every and epoch != trainer.config.epochs:
            return {}
        return self.evaluator(trainer)


def evaluator(split: CaptionSplit, batch_size: int, num_workers: int = 0) -> TwoViewEvaluator:
    """i2t / t2i R@1/5/10, rsum and mR of ``split`` through core's ``text-image`` protocol."""
    return TwoViewEvaluator(split, branches, PROTOCOL, None, batch_size, num_workers)
