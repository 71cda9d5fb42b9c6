"""FRGeo as an xgeo method plugin (entry point ``xgeo.methods: frgeo``): demo, query encoder, smoke run."""

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
from xgeo.frgeo import __version__
from xgeo.frgeo.config import SCHEMA

#: the dataset the demo trains on, the synthetic size and difficulty it writes
DEMO_DATASET = "vigor"
DEMO_SIZE = 64
DEMO_DIFFICULTY = "standard"
#: the demo preset's 20 epochs halved to fit the demo's minute per method (R@1 levels off by epoch 10)
DEMO_EPOCHS = 10

#: view name -> the branch that encodes it ("query": panoramas, "gallery": aerial images)
VIEWS: Registry[str] = Registry("FRGeo view", "--view")
for _name in ("ground", "query", "panorama"):
    VIEWS.register(_name, "query")
for _name in ("aerial", "gallery", "satellite"):
    VIEWS.register(_name, "gallery")


def _config(overrides: dict[str, Any]) -> Any:
    from xgeo.frgeo.config import resolve

    return resolve({"config": "demo", "progress": False, **overrides})


def _train(overrides: dict[str, Any]) -> dict[str, Any]:
    from xgeo.frgeo.run import train

    return train(_config(overrides))


def demo(workdir: Path, seed: int = 0) -> DemoResult:
    """Train FRGeo with the ``demo`` preset on a synthetic VIGOR (cross-area, standard difficulty) and report
    its test metrics; the last checkpoint's test features (with ``/paths``) go to ``workdir/features``."""
    from xgeo.core.datasets import get_dataset
    from xgeo.core.synthetic import write_dataset
    from xgeo.frgeo.data import PERCENT_CONVENTION
    from xgeo.frgeo.run import evaluate, train

    start = time.perf_counter()
    workdir = Path(workdir)
    root = write_dataset(DEMO_DATASET, workdir / "data", size=DEMO_SIZE, seed=seed, difficulty=DEMO_DIFFICULTY)
    config = _config({"dataset": DEMO_DATASET, "cross": True, "data_root": str(root), "save_path": str(workdir / "run"),
                      "epochs": DEMO_EPOCHS, "seed": seed, "overwrite": True})
    metrics = train(config)
    last = evaluate(config, workdir / "run" / "checkpoint.pth.tar", workdir / "features")  # the table's epoch
    test = get_dataset(DEMO_DATASET, root, "test", cross=True)
    m = test.task.num_gallery
    keys = ("R@1", "R@5", "R@10", "R@1%", "hit")
    return DemoResult(
        method="frgeo",
        dataset=f"synthetic VIGOR cross-area ({test.task.num_queries} test panoramas, {m} aerial tiles)",
        metrics={k: float(metrics[k]) for k in keys if k in metrics},
        chance=chance_levels(m, percent_convention=PERCENT_CONVENTION, num_semi=3),
        seconds=time.perf_counter() - start,
        notes=f"demo preset: convnext_atto branches from random init, {DEMO_DIFFICULTY} difficulty; last epoch",
        query_features=Path(last["query_features"]),
        gallery_features=Path(last["gallery_features"]),
        protocol="vigor",
        percent_convention=PERCENT_CONVENTION,
    )


def smoke(workdir: Path) -> SmokeRun:
    """One optimizer step of the demo preset on a tiny synthetic CVUSA; its checkpoint and some images."""
    from xgeo.core.datasets import get_dataset
    from xgeo.core.synthetic import write_dataset

    root = write_dataset("cvusa", Path(workdir) / "data", size=8, seed=0)
    run = Path(workdir) / "run"
    _train({"dataset": "cvusa", "data_root": str(root), "save_path": str(run), "batch_size": 8, "epochs": 1,
            "max_steps": 1, "eval_batch_size": 16})
    split = get_dataset("cvusa", root, "test")
    return SmokeRun(run / "checkpoint.pth.tar", {"ground": split.query_files[:3], "aerial": split.gallery_files[:3]})


def query_encoder(checkpoint: Path, view: str) -> QueryEncoder:
    """Encode image files of one view with a trained checkpoint: ``[N, D]`` float32, unit length."""
    from xgeo.core.runs import resolve_checkpoint
    from xgeo.frgeo.data import PROFILES, FRGeoTransform
    from xgeo.frgeo.weights import load_model

    key = VIEWS.get(view)
    model, _ = load_model(resolve_checkpoint(checkpoint, "frgeo-train"))
    branch = model.encoder(key)
    transform = FRGeoTransform.for_model(model.spec)
    profile = PROFILES.get(model.spec.dataset) if model.spec.dataset in PROFILES else None

    def load(path: Path) -> Any:
        image = read_image(path)
        if key == "query" and profile is not None:
            image = profile.prepare_query(image)
        return transform({key: image})[key]

    def encode(paths: Sequence[Path], batch_size: int = 32) -> np.ndarray:
        return encode_images(paths, load, branch, model.dim, batch_size)

    return encode


METHOD = MethodPlugin(
    name="frgeo",
    version=__version__,
    demo=demo,
    query_encoder=query_encoder,
    summary="FRGeo (AAAI 2024): ConvNeXt branches with feature recombination, weighted (B+1)-tuple loss, ASAM, mining",
    commands=["frgeo-train", "frgeo-eval"],
    schema=SCHEMA,
    smoke=smoke,
)
