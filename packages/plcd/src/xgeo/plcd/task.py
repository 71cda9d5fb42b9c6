"""What PLCD hands to core's Trainer: the parameter groups (backbones at 0.1x the head's rate), the step and the evaluator."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from xgeo.core.errors import XgeoError
from xgeo.core.train import StepOutput
from xgeo.core.two_view import TwoViewEvaluator
from xgeo.plcd.config import LossOptions
from xgeo.plcd.data import SECTORS, EvalViews
from xgeo.plcd.loss import id_loss, similarity_kd, similarity_rows, soft_margin_triplet
from xgeo.plcd.model import TwoViewNet

#: dataset view folder name -> model view name
MODEL_VIEW = {"street": "ground", "satellite": "satellite", "drone": "drone"}


def learning_rate_groups(lr: float, backbone_scale: float = 0.1):
    """``model -> parameter groups`` for core's Trainer: backbones at ``lr * backbone_scale``, the rest at ``lr``.

    The paper: backbones 0.001, head 0.01 (``backbone_scale`` 0.1)."""

    def groups(model: nn.Module) -> list[dict[str, Any]]:
        net = getattr(model, "module", model)  # inside DDP or not
        body = [p for m in (net.backbone1, net.backbone2) for p in m.parameters() if p.requires_grad]
        ids = {id(p) for p in body}
        head = [p for p in net.parameters() if p.requires_grad and id(p) not in ids]
        return [{"params": body, "lr": lr * backbone_scale}, {"params": head, "lr": lr}]

    return groups


class PLCDStep:
    """One step: both branches on anchors and their six drone positives; L_tri, L_id and, with a teacher, L_kd."""

    def __init__(self, loss: LossOptions, teacher: TwoViewNet | None = None) -> None:
        self.loss = loss
        self.teacher = teacher
        if teacher is not None:
            teacher.eval()  # the original left the teacher in train mode (dropout and batch statistics in its targets)
            for p in teacher.parameters():
                p.requires_grad_(False)
            if loss.hiera and not teacher.spec.regions:
                raise XgeoError(None, f"--hiera {loss.hiera} needs a teacher with region features (a gen >= 1 run)",
                                "pass --old_name of a step-2 run, or --hiera 0")

    def __call__(self, model: nn.Module, batch: dict[str, Any]) -> StepOutput:
        cfg = self.loss
        anchor, labels = batch["anchor"], batch["label"]
        drones = batch["positives"].flatten(0, 1)
        out = model(anchor, drones, regions=cfg.hiera)
        tri = soft_margin_triplet(out.e1, out.e2, labels, SECTORS, cfg.easy_pos, cfg.n_neg, cfg.pairing)
        ident = id_loss(out.logits1, out.logits2, labels, SECTORS)
        loss = cfg.lambda1 * tri + cfg.lambda2 * ident
        metrics = {"tri": float(tri.detach()), "id": float(ident.detach())}
        if self.teacher is not None:
            self.teacher.eval()
            with torch.no_grad():
                target = self.teacher(anchor, drones, regions=cfg.hiera)
            regions = out.regions2 if cfg.hiera else None
            student_rows = similarity_rows(out.e1, out.e2, regions)
            teacher_rows = similarity_rows(target.e1, target.e2, target.regions2 if cfg.hiera else None)
            kd = similarity_kd(student_rows, teacher_rows, cfg.tau)
            loss = loss + cfg.lambda3 * kd
            metrics["kd"] = float(kd.detach())
        return StepOutput(loss=loss, metrics=metrics)


def branches(views: EvalViews):
    """``model -> (query encoder, gallery encoder)`` for the evaluation views."""

    def pick(model: TwoViewNet) -> tuple[nn.Module, nn.Module]:
        return model.encoder(MODEL_VIEW[views.query]), model.encoder(MODEL_VIEW[views.gallery])

    return pick


def evaluator(split: Any, views: EvalViews, batch_size: int, num_workers: int = 0) -> TwoViewEvaluator:
    """University-1652 metrics (R@1/5/10, R@1% round convention, trapezoid mAP) on the test split."""
    return TwoViewEvaluator(split, branches(views), "university1652", None, batch_size, num_workers)
