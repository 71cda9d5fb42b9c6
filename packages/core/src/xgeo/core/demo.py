"""A minimal two-branch baseline that shows the whole pipeline on a synthetic world.

synthetic CVUSA on disk -> CVUSA reader -> Trainer -> embeddings -> evaluate_arrays -> table row.
``xgeo demo`` runs it when no method package is installed (or with ``--baseline``), so the
pipeline is visible end to end before any method lands.
"""

from __future__ import annotations

import time
from pathlib import Path

import timm
import torch
from torch import nn

from xgeo.core.datasets import get_dataset
from xgeo.core.datasets.transforms import ResizeViews
from xgeo.core.evaluate import evaluate_arrays
from xgeo.core.losses import symmetric_infonce
from xgeo.core.methods import DemoResult
from xgeo.core.metrics import chance_levels
from xgeo.core.runs import write_split_features
from xgeo.core.synthetic import write_dataset
from xgeo.core.train import StepOutput, TrainConfig, Trainer, embed

GROUND_SIZE = (32, 128)
AERIAL_SIZE = (64, 64)


class TwoBranchBaseline(nn.Module):
    """Two unshared timm backbones mapping ground and aerial images to one embedding space."""

    def __init__(self, backbone: str = "convnext_atto", dim: int = 128) -> None:
        super().__init__()
        self.query = timm.create_model(backbone, pretrained=False, num_classes=dim)
        self.gallery = timm.create_model(backbone, pretrained=False, num_classes=dim)

    def forward(self, query: torch.Tensor, gallery: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.query(query), self.gallery(gallery)


def _step(model: nn.Module, batch: dict) -> StepOutput:
    q, g = model(batch["query"], batch["gallery"])
    return StepOutput(loss=symmetric_infonce(q, g))


def run_baseline(workdir: Path, seed: int = 0, size: int = 100, epochs: int = 8, progress: bool = False,
                 difficulty: str = "standard") -> DemoResult:
    """Train and evaluate the baseline on a synthetic CVUSA written under ``workdir``; its test
    features (with ``/paths``) go to ``workdir/features`` for the demo's report."""
    start = time.perf_counter()
    root = write_dataset("cvusa", Path(workdir) / "cvusa", size=size, seed=seed, difficulty=difficulty)
    # centred at 0 with unit-ish spread; the baseline starts from random weights, so no ImageNet statistics
    transforms = ResizeViews({"query": GROUND_SIZE, "gallery": AERIAL_SIZE}, mean=(0.5,) * 3, std=(0.25,) * 3)
    train = get_dataset("cvusa", root, "train", transforms=transforms)
    test = get_dataset("cvusa", root, "test", transforms=transforms)
    torch.manual_seed(seed)
    model = TwoBranchBaseline()

    features: dict[str, torch.Tensor] = {}

    def evaluate(trainer: Trainer) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            features["query"] = embed(trainer.model.query, test.queries(), 64, trainer.device, "query")
            features["gallery"] = embed(trainer.model.gallery, test.gallery(), 64, trainer.device, "gallery")
        model.train()
        return evaluate_arrays(features["query"], features["gallery"], test.task, "crossview")

    config = TrainConfig(out_dir=str(Path(workdir) / "baseline"), epochs=epochs, batch_size=32, lr=1e-3,
                         schedule="cosine", seed=seed, progress=progress)
    metrics = Trainer(model, train, _step, config, evaluate=evaluate).fit()
    query_h5, gallery_h5 = write_split_features(Path(workdir) / "features", features["query"], features["gallery"],
                                                test.task, "baseline", normalized=False, split=test)
    m = test.task.num_gallery
    return DemoResult(
        method="baseline", dataset=f"synthetic CVUSA ({len(train)} train / {m} test pairs)",
        metrics={k: metrics[k] for k in ("R@1", "R@5", "R@10", "R@1%")},
        chance=chance_levels(m),
        seconds=time.perf_counter() - start,
        query_features=query_h5,
        gallery_features=gallery_h5,
        protocol="crossview",
    )
