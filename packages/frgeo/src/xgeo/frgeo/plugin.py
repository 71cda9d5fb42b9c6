"""FRGeo as an xgeo method plugin (entry point ``xgeo.methods: frgeo``): demo and query encoder."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from xgeo.core.datasets.cvact import crop_middle_rows
from xgeo.core.errors import XgeoError
from xgeo.core.io import read_image
from xgeo.core.methods import DemoResult, MethodPlugin, QueryEncoder
from xgeo.core.metrics import chance_levels
from xgeo.frgeo import __version__
from xgeo.frgeo.profiles import PERCENT_CONVENTION

#: the dataset the demo trains on, and the synthetic size it writes
DEMO_DATASET = "vigor"
DEMO_SIZE = 100

#: dataset -> preprocessing a reader applies to a raw ground image before the transforms
GROUND_PREP: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "cvact": crop_middle_rows,
}

#: view name -> (sample key, branch)
VIEWS: dict[str, tuple[str, str]] = {
    "ground": ("query", "query"),
    "query": ("query", "query"),
    "panorama": ("query", "query"),
    "aerial": ("gallery", "gallery"),
    "gallery": ("gallery", "gallery"),
    "satellite": ("gallery", "gallery"),
}


def demo(workdir: Path, seed: int = 0) -> DemoResult:
    """Train FRGeo with the ``demo`` preset on a synthetic VIGOR (cross-area) and report its test metrics."""
    from xgeo.core.synthetic import write_dataset
    from xgeo.frgeo.config import resolve
    from xgeo.frgeo.data import open_split
    from xgeo.frgeo.runner import run_training

    start = time.perf_counter()
    workdir = Path(workdir)
    root = write_dataset(DEMO_DATASET, workdir / "data", size=DEMO_SIZE, seed=seed)
    opts = resolve(
        {
            "config": "demo",
            "dataset": DEMO_DATASET,
            "cross": True,
            "data_root": str(root),
            "save_path": str(workdir / "run"),
            "seed": seed,
            "progress": False,
        }
    )
    metrics = run_training(opts)
    test = open_split(opts, "test", None)
    m = test.task.num_gallery
    keys = ("R@1", "R@5", "R@10", "R@1%", "hit")
    return DemoResult(
        method="frgeo",
        dataset=f"synthetic VIGOR cross-area ({test.task.num_queries} test panoramas, {m} aerial tiles)",
        metrics={k: float(metrics[k]) for k in keys if k in metrics},
        chance=chance_levels(m, percent_convention=PERCENT_CONVENTION, num_semi=3),
        seconds=time.perf_counter() - start,
        notes="demo preset: convnext_atto branches from random init",
    )


def query_encoder(checkpoint: Path, view: str) -> QueryEncoder:
    """Encode image files of one view with a trained checkpoint: ``[N, D]`` float32, unit length."""
    from xgeo.frgeo.runner import resolve_checkpoint, transform_for
    from xgeo.frgeo.weights import load_model

    if view not in VIEWS:
        raise XgeoError(None, f"FRGeo has no view {view!r}", f"use one of {', '.join(VIEWS)}")
    key, branch_name = VIEWS[view]
    model, _ = load_model(resolve_checkpoint(checkpoint))
    model.eval()
    branch = model.encoder(branch_name)
    transform = transform_for(model.spec)
    prep = GROUND_PREP.get(model.spec.dataset) if key == "query" else None

    def encode(paths: Sequence[Path], batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(paths), batch_size):
            images = []
            for path in paths[start : start + batch_size]:
                img = read_image(path)
                images.append(transform({key: prep(img) if prep else img})[key])
            with torch.no_grad():
                out.append(F.normalize(branch(torch.stack(images)), dim=1))
        if not out:
            return np.zeros((0, model.dim), dtype=np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    return encode


METHOD = MethodPlugin(
    name="frgeo",
    version=__version__,
    demo=demo,
    query_encoder=query_encoder,
    summary="FRGeo (AAAI 2024): ConvNeXt branches with feature recombination, weighted (B+1)-tuple loss, ASAM, mining",
    commands=["frgeo-train", "frgeo-eval"],
)
