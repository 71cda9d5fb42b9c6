"""HVSA as an xgeo method plugin (entry point ``xgeo.methods: hvsa``): demo, query encoder, smoke run.

Views: ``image`` encodes image files, ``text`` encodes sentences (plain strings, not files): both
give unit rows in the same space, so either side can query a feature file of the other.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xgeo.core.io import read_image
from xgeo.core.methods import DemoResult, MethodPlugin, QueryEncoder, SmokeRun, encode_images
from xgeo.core.registry import Registry
from xgeo.hvsa import __version__
from xgeo.hvsa.config import SCHEMA

DEMO_DATASET = "rsitmd"
#: test images of the demo's synthetic RSITMD (the writer adds 9 x as many training images); smaller than
#: `xgeo synth`'s 100 to fit the demo's minute per method
DEMO_SIZE = 25

VIEWS: Registry[str] = Registry("HVSA view", "--view")
for _name in ("image", "query", "aerial"):
    VIEWS.register(_name, "image")
for _name in ("text", "caption", "sentence", "gallery"):
    VIEWS.register(_name, "text")


def _train(overrides: dict[str, Any]) -> dict[str, Any]:
    from xgeo.hvsa.config import resolve
    from xgeo.hvsa.run import train

    return train(resolve({"config": "demo", "progress": False, **overrides}))


def text_image_chance(num_images: int, per_image: int = 5, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Expected i2t/t2i R@K, rsum and mR of a random ranking (i2t: best of 5 positives among 5N captions)."""
    from math import comb

    n, m = num_images, num_images * per_image
    out = {f"i2t_R@{k}": 100.0 * (1.0 - comb(m - per_image, min(k, m)) / comb(m, min(k, m))) for k in ks}
    out.update({f"t2i_R@{k}": 100.0 * min(k, n) / n for k in ks})
    out["rsum"] = sum(out.values())
    out["mR"] = out["rsum"] / (2 * len(ks))
    return out


def demo(workdir: Path, seed: int = 0) -> DemoResult:
    """Train HVSA with the ``demo`` preset (one seeded run) on a synthetic RSITMD; its test metrics."""
    from xgeo.core.synthetic import write_dataset

    start = time.perf_counter()
    workdir = Path(workdir)
    root = write_dataset(DEMO_DATASET, workdir / "data", size=DEMO_SIZE, seed=seed)
    metrics = _train({"data_root": str(root), "save_path": str(workdir / "run"), "seeds": [seed], "runs": 1, "overwrite": True})
    chance = text_image_chance(DEMO_SIZE)
    # xgeo demo's table shows R@K: here text -> image (a sentence retrieves its image), the everyday use
    for table in (metrics, chance):
        table.update({f"R@{k}": table[f"t2i_R@{k}"] for k in (1, 5, 10)})
    return DemoResult(
        method="hvsa",
        dataset=f"synthetic RSITMD ({DEMO_SIZE} test images, {5 * DEMO_SIZE} captions; R@K = text->image)",
        metrics={k: float(v) for k, v in metrics.items()},
        chance=chance,
        seconds=time.perf_counter() - start,
        notes="demo preset: ResNet-18 + KEA and a 256-d Bayesian GRU from random init, 32 px images, one seed",
    )


def smoke(workdir: Path) -> SmokeRun:
    """One optimizer step of the demo preset on a tiny synthetic RSITMD; its checkpoint, images and sentences."""
    from xgeo.core.datasets import get_dataset
    from xgeo.core.synthetic import write_dataset

    root = write_dataset(DEMO_DATASET, Path(workdir) / "data", size=4, seed=0)
    run = Path(workdir) / "run"
    _train({"data_root": str(root), "save_path": str(run), "batch_size": 10, "epochs": 1, "max_steps": 1,
            "eval_batch_size": 16, "runs": 1, "seeds": [0]})
    split = get_dataset(DEMO_DATASET, root, "test")
    return SmokeRun(run / "run0" / "checkpoint.pth.tar", {"image": split.query_files[:3], "text": split.captions[:3]})


def query_encoder(checkpoint: Path, view: str) -> QueryEncoder:
    """Encode image files (``image``) or sentences (``text``) with a trained checkpoint: ``[N, D]`` unit rows."""
    import torch
    import torch.nn.functional as F

    from xgeo.core.runs import resolve_checkpoint
    from xgeo.hvsa.data import HVSATransform
    from xgeo.hvsa.weights import load_model

    key = VIEWS.get(view)
    model, _ = load_model(resolve_checkpoint(checkpoint, "hvsa-train"))
    if key == "image":
        transform = HVSATransform(model.spec.image_size)

        def encode(paths: Sequence[Path], batch_size: int = 32) -> np.ndarray:
            return encode_images(paths, lambda p: transform.image(read_image(p)), model.image_encoder, model.dim, batch_size)

        return encode

    def encode_text(sentences: Sequence[str], batch_size: int = 32) -> np.ndarray:
        out = [np.zeros((0, model.dim), dtype=np.float32)]
        with torch.no_grad():
            for s in range(0, len(sentences), max(1, batch_size)):
                out.append(F.normalize(model.encode_sentences([str(t) for t in sentences[s:s + batch_size]]), dim=1).numpy())
        return np.concatenate(out).astype(np.float32, copy=False)

    return encode_text


METHOD = MethodPlugin(
    name="hvsa",
    version=__version__,
    demo=demo,
    query_encoder=query_encoder,
    summary="HVSA (TGRS 2023): ResNet-18 + KEA vs skip-thought GRU on the hypersphere, difficulty-weighted hinge + uniformity",
    commands=["hvsa-train", "hvsa-eval", "hvsa-search"],
    schema=SCHEMA,
    smoke=smoke,
)
