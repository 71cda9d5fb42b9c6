"""CMPC as an xgeo method plugin (entry point ``xgeo.methods: cmpc``): demo, query encoder, smoke run."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xgeo.cmpc import __version__
from xgeo.cmpc.config import SCHEMA
from xgeo.core.io import read_image
from xgeo.core.methods import DemoResult, MethodPlugin, QueryEncoder, SmokeRun, encode_images
from xgeo.core.registry import Registry

#: the synthetic size the demo writes (test optical references) and its epochs (embedding, refinement)
DEMO_SIZE = 100
DEMO_EPOCHS = (10, 3)

#: view name -> modality; SAR and optical share one network, so both views encode alike
VIEWS: Registry[str] = Registry("CMPC view", "--view")
for _name in ("sar", "query"):
    VIEWS.register(_name, "sar")
for _name in ("optical", "opt", "gallery"):
    VIEWS.register(_name, "optical")


def _config(overrides: dict[str, Any]):
    from xgeo.cmpc.config import resolve

    return resolve({"config": "demo", "progress": False, **overrides})


def demo(workdir: Path, seed: int = 0) -> DemoResult:
    """Both phases of the ``demo`` preset on a small synthetic SN6-CMPC; coarse and refined test metrics."""
    from xgeo.cmpc.data import CMPCTransform, open_split
    from xgeo.cmpc.evaluation import THRESHOLDS, test_model
    from xgeo.cmpc.run import train_both
    from xgeo.core.synthetic import write_dataset

    start = time.perf_counter()
    workdir = Path(workdir)
    root = write_dataset("sn6-cmpc", workdir / "data", size=DEMO_SIZE, seed=seed)
    config = _config({"data_root": str(root), "result_path": str(workdir), "exp_name": "run", "seed": seed,
                      "epochs": DEMO_EPOCHS[0], "refine_epochs": DEMO_EPOCHS[1], "overwrite": True})
    result = train_both(config)
    from xgeo.cmpc.run import load_model

    model = load_model(Path(result["run"]) / "refine" / "checkpoint.pth.tar")
    split = open_split(config.data, "test", CMPCTransform(model.spec.image_size))
    metrics = test_model(model, split, workdir / "test", THRESHOLDS.get("metres"), batch_size=config.data.test_batch)
    coarse = metrics["coarse"]
    final = metrics.get("refined", coarse)  # the method's output: after the scene-graph re-ranking
    m = split.task.num_gallery
    return DemoResult(
        method="cmpc",
        dataset=f"synthetic SN6-CMPC ({split.task.num_queries} SAR queries, {m} optical references)",
        metrics={k: float(final[k]) for k in ("R@1", "R@5", "R@10")},
        chance={f"R@{k}": 100.0 * min(k, m) / m for k in (1, 5, 10)},
        seconds=time.perf_counter() - start,
        notes=(f"after refinement; coarse R@1 {coarse['R@1']:.1f}, R@5 {coarse['R@5']:.1f}, MRR {coarse['MRR']:.1f}; "
               f"refined MRR {final['MRR']:.1f}, acc@100m {final['acc@100m']:.1f}; "
               "demo preset: resnet10t from random init, 32 px"),
    )


def smoke(workdir: Path) -> SmokeRun:
    """One step of each phase of the demo preset on a tiny synthetic SN6-CMPC; its checkpoint and some images."""
    from xgeo.cmpc.data import open_split
    from xgeo.cmpc.run import train_both
    from xgeo.core.synthetic import write_dataset

    root = write_dataset("sn6-cmpc", Path(workdir) / "data", size=8, seed=0, aerial_size=32, extent_px=32)
    config = _config({"data_root": str(root), "result_path": str(workdir), "exp_name": "smoke", "batch_size": 8,
                      "epochs": 1, "refine_epochs": 1, "max_steps": 1})
    config.model.image_size = 32
    result = train_both(config)
    split = open_split(config.data, "test", None)
    return SmokeRun(Path(result["run"]) / "refine" / "checkpoint.pth.tar",
                    {"sar": split.query_files[:3], "optical": split.gallery_files[:3]})


def query_encoder(checkpoint: Path, view: str) -> QueryEncoder:
    """Encode SAR (or optical) patches with a trained checkpoint: ``[N, D]`` float32, unit length."""
    from xgeo.cmpc.data import CMPCTransform
    from xgeo.cmpc.run import load_model

    key = "query" if VIEWS.get(view) == "sar" else "gallery"
    model = load_model(checkpoint)
    transform = CMPCTransform(model.spec.image_size)

    def load(path: Path) -> Any:
        return transform({key: read_image(path)})[key]

    def encode(paths: Sequence[Path], batch_size: int = 32) -> np.ndarray:
        return encode_images(paths, load, model.embedding.backbone, model.dim, batch_size)

    return encode


METHOD = MethodPlugin(
    name="cmpc",
    version=__version__,
    demo=demo,
    query_encoder=query_encoder,
    summary="CMPC (JSTARS 2023): shared ResNet for SAR and optical, triplet + Wasserstein critic, scene-graph GNN re-ranking",
    commands=["cmpc-train", "cmpc-train-emb", "cmpc-train-refine", "cmpc-test"],
    schema=SCHEMA,
    smoke=smoke,
)
