"""What CMPC hands to core's Trainer: the embedding step, the refinement step, parameter groups, the evaluator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xgeo.cmpc.config import CoarseOptions, RefineOptions
from xgeo.cmpc.loss import cross_modal_triplet
from xgeo.cmpc.refine import refinement_losses, top_candidates
from xgeo.core.train import StepOutput
from xgeo.core.two_view import TwoViewEvaluator


def unwrap(model: nn.Module) -> nn.Module:
    """The CMPC module inside a DDP wrapper (or the module itself)."""
    return getattr(model, "module", model)


class EmbeddingStep:
    """Phase 1: shared network on SAR + optical, triplet both ways, critic steps and the generator term."""

    def __init__(self, query_labels: torch.Tensor, pairs: torch.Tensor, options: CoarseOptions) -> None:
        self.labels = query_labels[pairs[:, 0]]
        self.options = options

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> StepOutput:
        (_, sar), (_, opt) = model(batch["query"], batch["gallery"])
        labels = self.labels.to(sar.device)[batch["index"]]
        triplet = cross_modal_triplet(sar, opt, labels, self.options.margin)
        metrics = {"triplet": float(triplet.detach())}
        loss = triplet
        if self.options.critic:
            critic = unwrap(model).critic
            metrics["critic"] = critic.train_critic(sar, opt)
            adversarial = critic.generator_loss(opt)
            metrics["generator"] = float(adversarial.detach())
            loss = loss + adversarial
        with torch.no_grad():
            metrics["batch_top1"] = float(((sar @ opt.t()).argmax(1) == torch.arange(len(sar), device=sar.device)).float().mean())
        return StepOutput(loss=loss, metrics=metrics)


def embedding_groups(lr: float, lr_mlp: float):
    """Parameter groups of phase 1: everything at ``lr``, the projector at ``lr_mlp`` (critic excluded)."""

    def groups(model: nn.Module) -> list[dict[str, Any]]:
        emb = unwrap(model).embedding
        head = list(emb.projector.parameters()) + list(emb.projector_bn.parameters())
        ids = {id(p) for p in head}
        body = [p for p in unwrap(model).parameters() if p.requires_grad and id(p) not in ids]
        return [{"params": body, "lr": lr}, {"params": head, "lr": lr_mlp}]

    return groups


@dataclass
class RefineStep:
    """Phase 2: each training query against the whole stored training gallery; graphs over the top-K."""

    gallery: torch.Tensor  #: [M, D] unit training-gallery features
    positions: torch.Tensor  #: [M, 2] metres
    options: RefineOptions
    reference_compat: bool = False

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> StepOutput:
        query, positive = batch["feature"], batch["positive"]
        gallery, positions = self.gallery.to(query.device), self.positions.to(query.device)
        refiner = unwrap(model).refiner
        idx = top_candidates(query, gallery, refiner.spec.node_topk, positive)
        scores, r = refiner(query, gallery[idx], positions[idx])
        losses = refinement_losses(scores, r, self.options.margin, self.reference_compat)
        loss = self.options.loss_weight * (losses["cls"] + losses["rank"])
        with torch.no_grad():
            top1 = float((r.argmax(1) == 0).float().mean())
        return StepOutput(loss=loss, metrics={"cls": float(losses["cls"].detach()), "rank": float(losses["rank"].detach()),
                                                 "node0_top1": top1})


class FeatureDataset(torch.utils.data.Dataset):
    """Stored training-query features: ``{"feature", "positive", "index"}`` items."""

    def __init__(self, features: torch.Tensor, positive: torch.Tensor) -> None:
        self.features, self.positive = features, positive

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"feature": self.features[i], "positive": self.positive[i], "index": i}


def encoders(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """SAR and optical go through the same network."""
    return (unwrap(model).embedding.backbone,) * 2


def evaluator(split: Any, batch_size: int, num_workers: int = 0) -> TwoViewEvaluator:
    """Per-epoch coarse evaluation on the test split (``sn6``: CMC, MRR, metre accuracy)."""
    return TwoViewEvaluator(split, encoders, "sn6", None, batch_size, num_workers)
