"""The lightweight CNN as an xgeo method plugin (entry point ``xgeo.methods: lwcnn``): demo, query encoder, smoke run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xgeo.core.io import read_image
from xgeo.core.methods import DemoResult, MethodPlugin, QueryEncoder, SmokeRun, encode_images
from xgeo.core.metrics import chance_levels
from xgeo.core.registry import Registry
from xgeo.lwcnn import __version__
from xgeo.lwcnn.config import SCHEMA

#: the dataset the demo trains on, the synthetic size and difficulty it writes (the demo preset in under a minute
#: on 2 idle cores; the README's runs use `xgeo synth`'s default size 100 and ``standard`` difficulty instead)
DEMO_DATASET = "cvusa"
DEMO_SIZE = 30
DEMO_DIFFICULTY = "easy"

#: view name -> the branch that encodes it ("query": panoramas, "gallery": aerial images)
VIEWS: Registry[str] = Registry("view", "--view")
for _name in ("ground", "query", "panorama"):
    VIEWS.register(_name, "query")
for _name in ("aerial", "gallery", "satellite"):
    VIEWS.register(_name, "gallery")


def _train(overrides: dict[str, Any]) -> dict[str, Any]:
    from xgeo.lwcnn.config import resolve
    from xgeo.lwcnn.run import train

    return train(resolve({"config": "demo", "progress": False, **overrides}))


def demo(workdir: Path, seed: int = 0) -> DemoResult:
    """Train with the ``demo`` preset on a small synthetic CVUSA and report its ground→aerial test metrics."""
    from xgeo.core.synthetic import write_dataset
    from xgeo.lwcnn.data import PERCENT_CONVENTION

    start = time.perf_counter()
    workdir = Path(workdir)
    root = write_dataset(DEMO_DATASET, workdir / "data", size=DEMO_SIZE, seed=seed, difficulty=DEMO_DIFFICULTY)
    metrics = _train({"dataset": DEMO_DATASET, "data_root": str(root), "results_dir": str(workdir / "run"),
                      "seed": seed, "overwrite": True})
    keys = ("R@1", "R@5", "R@10", "R@1%")
    return DemoResult(
        method="lwcnn",
        dataset=f"synthetic CVUSA ({DEMO_SIZE} test panoramas, {DEMO_SIZE} aerial tiles, {DEMO_DIFFICULTY})",
        metrics={k: float(metrics[k]) for k in keys if k in metrics},
        chance=chance_levels(DEMO_SIZE, percent_convention=PERCENT_CONVENTION),
        seconds=time.perf_counter() - start,
        notes="demo preset: ResNet-34 branches (to layer3) with SA at 16x64 / 32x32 inputs, from random init",
    )


def smoke(workdir: Path) -> SmokeRun:
    """One optimizer step of the demo preset on a tiny synthetic CVUSA; its checkpoint and some images."""
    from xgeo.core.datasets import get_dataset
    from xgeo.core.synthetic import write_dataset

    root = write_dataset("cvusa", Path(workdir) / "data", size=8, seed=0)
    run = Path(workdir) / "run"
    _train({"dataset": "cvusa", "data_root": str(root), "results_dir": str(run), "batch_size": 8, "n_epochs": 1,
            "max_steps": 1, "batch_size_val": 16})
    split = get_dataset("cvusa", root, "test")
    return SmokeRun(run / "checkpoint.pth.tar", {"ground": split.query_files[:3], "aerial": split.gallery_files[:3]})


def query_encoder(checkpoint: Path, view: str) -> QueryEncoder:
    """Encode image files of one view with a trained checkpoint: ``[N, D]`` float32, unit length."""
    from xgeo.core.runs import resolve_checkpoint
    from xgeo.lwcnn.data import PROFILES, LwcnnTransform
    from xgeo.lwcnn.weights import load_model

    key = VIEWS.get(view)
    model, _ = load_model(resolve_checkpoint(checkpoint, "lwcnn-train"))
    branch = model.encoder(key)
    transform = LwcnnTransform.for_model(model.spec)
    # the reader's query preparation (CVACT: the middle-row crop) applies to the layout the model was trained on;
    # panoramas of the flat layout were used as stored
    known = model.spec.dataset in PROFILES and model.spec.layout != "flat"
    profile = PROFILES.get(model.spec.dataset) if known else None

    def load(path: Path) -> Any:
        image = read_image(path)
        if key == "query" and profile is not None:
            image = profile.prepare_query(image)
        return transform({key: image})[key]

    def encode(paths: Sequence[Path], batch_size: int = 32) -> np.ndarray:
        return encode_images(paths, load, branch, model.dim, batch_size)

    return encode


METHOD = MethodPlugin(
    name="lwcnn",
    version=__version__,
    demo=demo,
    query_encoder=query_encoder,
    summary="Lightweight CNN (IGARSS 2023): truncated ResNet-34 branches with spatial-aware attention, "
    "weighted soft-margin triplet with a hard-negative schedule",
    commands=["lwcnn-train", "lwcnn-test"],
    schema=SCHEMA,
    smoke=smoke,
)
