"""The evaluation hook of two-view methods: embed a split with two encoders, score a protocol.

:class:`TwoViewEvaluator` is what a method hands to core's Trainer as ``evaluate``: after every
epoch it embeds the evaluation split's queries with one encoder and its gallery with the other
(each rank a shard, gathered in order, so every rank computes the metrics over the whole gallery,
whatever the number of processes) and returns the protocol's metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xgeo.core.datasets.base import CrossViewSplit
from xgeo.core.evaluate import evaluate_arrays
from xgeo.core.train.embed import embed

#: ``branches(model) -> (query encoder, gallery encoder)``
Branches = Callable[[nn.Module], tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]]


def embed_two_views(
    query_encoder: Callable[[torch.Tensor], torch.Tensor],
    gallery_encoder: Callable[[torch.Tensor], torch.Tensor],
    split: CrossViewSplit,
    batch_size: int,
    device: torch.device | str,
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2-normalised query and gallery descriptors of ``split``, in its order, on every rank."""
    query = embed(query_encoder, split.queries(), batch_size, device, "query", num_workers)
    gallery = embed(gallery_encoder, split.gallery(), batch_size, device, "gallery", num_workers)
    return F.normalize(query, dim=1), F.normalize(gallery, dim=1)


@dataclass
class TwoViewEvaluator:
    """``evaluate`` hook: the metrics of ``protocol`` on ``split`` for the trainer's current model."""

    split: CrossViewSplit
    branches: Branches
    protocol: str
    percent_convention: str | None = None
    batch_size: int = 32
    num_workers: int = 0

    def features(self, model: nn.Module, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit-length query and gallery descriptors of the split."""
        query_encoder, gallery_encoder = self.branches(model)
        return embed_two_views(query_encoder, gallery_encoder, self.split, self.batch_size, device, self.num_workers)

    def metrics(self, query: torch.Tensor, gallery: torch.Tensor) -> dict[str, float]:
        """The protocol's metrics for descriptors of this split."""
        return evaluate_arrays(
            query, gallery, self.split.task, self.protocol, percent_convention=self.percent_convention, normalized=True
        )

    def __call__(self, trainer: Any) -> dict[str, float]:
        return self.metrics(*self.features(trainer.model, trainer.device))
