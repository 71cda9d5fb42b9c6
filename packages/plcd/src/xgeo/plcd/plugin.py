"""PLCD as an xgeo method plugin (entry point ``xgeo.methods: plcd``): demo, query encoder, smoke run.

Views for ``xgeo localize``: ``ground`` needs a G2D checkpoint (its features live in G2D space, against a
drone gallery; ground -> satellite goes through ``plcd-diffuse``), ``satellite`` a D2S checkpoint, and
``drone`` either (the drone branch of that model).
"""

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
from xgeo.plcd import __version__
from xgeo.plcd.config import SCHEMA

#: synthetic University-1652 of the demo: training buildings, gallery distractors, drone ring
DEMO_DATA = {"size": 16, "distractors": 32, "ring": 6, "street_views": 2}
#: the paper's loss settings per model (README commands), laid over the demo preset (G2D: half the epochs)
KIND_FLAGS = {"g2d": {"lambda1": 1.0, "lambda2": 0.1, "easy_pos": True, "epochs": 15}, "d2s": {"lambda1": 5.0, "lambda2": 0.5}}
#: cross-diffusion of the demo: the README's kq, a degree and truncation that suit a graph of ~1,500 nodes
DEMO_DIFFUSION = {"kq": 20, "kd": 30, "n_trunc": 300}

#: view name -> model view
VIEWS: Registry[str] = Registry("PLCD view", "--view")
for _name, _view in (("ground", "ground"), ("street", "ground"), ("query", "ground"), ("drone", "drone"),
                     ("satellite", "satellite"), ("aerial", "satellite"), ("gallery", "satellite")):
    VIEWS.register(_name, _view)


def _train(kind: str, root: Path, run: Path, seed: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from xgeo.plcd.config import resolve
    from xgeo.plcd.run import train

    given = {"config": "demo", "data_dir": str(root), "save_path": str(run), "seed": seed, "overwrite": True,
             "progress": False, **KIND_FLAGS[kind], **(extra or {})}
    return train(resolve(given, kind), kind)


def demo(workdir: Path, seed: int = 0) -> DemoResult:
    """G2D (gen 0) and D2S with the demo preset on a synthetic University-1652, then cross-diffusion."""
    from xgeo.core.synthetic import write_dataset
    from xgeo.plcd.crossdiffusion import CrossDiffusionInputs, cross_diffuse, metrics_from_scores
    from xgeo.plcd.diffusion import DiffusionParams
    from xgeo.plcd.run import DRONE_GALLERY_FILE, test

    start = time.perf_counter()
    workdir = Path(workdir)
    root = write_dataset("university1652", workdir / "data", seed=seed, **DEMO_DATA)
    results = {}
    for kind in ("g2d", "d2s"):
        _train(kind, root, workdir / kind, seed)
        results[kind] = test(workdir / kind, kind, str(root), workdir / kind, batch_size=64)
    g2d, d2s = workdir / "g2d", workdir / "d2s"
    inputs = CrossDiffusionInputs.read(g2d / "query.h5", g2d / "gallery.h5", d2s / DRONE_GALLERY_FILE, d2s / "gallery.h5")
    scores, _ = cross_diffuse(inputs, DiffusionParams(**DEMO_DIFFUSION))
    task = inputs.task()
    ground = metrics_from_scores(scores, task)
    d2s_r1 = results["d2s"]["R@1"]
    return DemoResult(
        method="plcd",
        dataset=f"synthetic University-1652 ground->satellite by cross-diffusion ({task.num_queries} street queries, "
                f"{task.num_gallery} satellites)",
        metrics={k: ground[k] for k in ("R@1", "R@5", "R@10", "R@1%")},
        chance=chance_levels(task.num_gallery, percent_convention="round"),
        seconds=time.perf_counter() - start,
        notes=f"demo preset, ResNet-10-T from random init; drone->satellite (D2S) R@1 {d2s_r1:.2f} "
              f"vs chance {100.0 / results['d2s']['gallery']:.2f}",
    )


def smoke(workdir: Path) -> SmokeRun:
    """One optimizer step of the demo preset (D2S) on a tiny synthetic University-1652; its checkpoint and images."""
    from xgeo.core.datasets import University1652
    from xgeo.core.synthetic import write_dataset

    root = write_dataset("university1652", Path(workdir) / "data", size=4, seed=0, ring=6, street_views=1, distractors=0,
                         aerial_size=32, pano_size=(16, 32))
    run = Path(workdir) / "run"
    _train("d2s", root, run, 0, {"batchsize": 4, "epochs": 1, "max_steps": 1, "h": 32, "w": 32})
    split = University1652(root, "test", query="drone", gallery="satellite")
    return SmokeRun(run / "checkpoint.pth.tar", {"drone": split.query_files[:3], "satellite": split.gallery_files[:3]})


def query_encoder(checkpoint: Path, view: str) -> QueryEncoder:
    """Encode image files of one view with a trained checkpoint: ``[N, 512]`` float32 unit rows (image + flip)."""
    from xgeo.core.runs import resolve_checkpoint
    from xgeo.plcd.data import TestTransform
    from xgeo.plcd.weights import load_model

    model = load_model(resolve_checkpoint(checkpoint, "plcd-train-g2d / plcd-train-d2s"))
    encoder = model.encoder(VIEWS.get(view))
    transform = TestTransform(model.spec.size)

    def load(path: Path) -> Any:
        return transform.image(read_image(path))

    def encode(paths: Sequence[Path], batch_size: int = 32) -> np.ndarray:
        return encode_images(paths, load, encoder, model.dim, batch_size)

    return encode


METHOD = MethodPlugin(
    name="plcd",
    version=__version__,
    demo=demo,
    query_encoder=query_encoder,
    summary="PLCD (TMM 2022): ground-drone and drone-satellite ResNet branches, progressive self-distillation, "
            "cross-diffusion ground->satellite",
    commands=["plcd-train-g2d", "plcd-train-d2s", "plcd-test-g2d", "plcd-test-d2s", "plcd-evaluate", "plcd-diffuse",
              "plcd-index"],
    schema=SCHEMA,
    smoke=smoke,
)
