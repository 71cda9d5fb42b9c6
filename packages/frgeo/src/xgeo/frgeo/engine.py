"""What FRGeo hands to core's Trainer: the step, the mining-bank hook and the per-epoch evaluation."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xgeo.core.datasets import CrossViewSplit
from xgeo.core.evaluate import evaluate_arrays
from xgeo.core.task import RetrievalTask
from xgeo.core.train import StepOutput, Trainer, embed
from xgeo.frgeo.loss import WeightedTupleLoss
from xgeo.frgeo.mining import MiningSampler, feed_bank
from xgeo.frgeo.model import FRGeo
from xgeo.frgeo.profiles import PERCENT_CONVENTION, DatasetProfile


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


def embed_split(
    model: FRGeo, split: CrossViewSplit, batch_size: int, device: torch.device | str, num_workers: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised query and gallery descriptors of a split, in the split's order (all ranks)."""
    query = embed(model.query_net, split.queries(), batch_size, device, "query", num_workers)
    gallery = embed(model.reference_net, split.gallery(), batch_size, device, "gallery", num_workers)
    return F.normalize(query, dim=1), F.normalize(gallery, dim=1)


def compute_metrics(query: torch.Tensor, gallery: torch.Tensor, task: RetrievalTask, profile: DatasetProfile) -> dict[str, float]:
    """The metrics FRGeo reports on this dataset: R@1/5/10, floor R@1% and, on VIGOR, the hit rate."""
    return evaluate_arrays(query, gallery, task, profile.protocol, percent_convention=PERCENT_CONVENTION, normalized=True)


class SplitEvaluator:
    """``evaluate`` hook: embed the evaluation split and compute the dataset's metrics."""

    def __init__(self, split: CrossViewSplit, profile: DatasetProfile, batch_size: int, num_workers: int = 0) -> None:
        self.split, self.profile = split, profile
        self.batch_size, self.num_workers = batch_size, num_workers

    def __call__(self, trainer: Trainer) -> dict[str, float]:
        query, gallery = embed_split(trainer.model, self.split, self.batch_size, trainer.device, self.num_workers)
        return compute_metrics(query, gallery, self.split.task, self.profile)
