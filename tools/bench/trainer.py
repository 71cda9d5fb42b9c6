"""Benchmark: overhead of ``xgeo.core.train.Trainer`` over a bare PyTorch loop (not a test).

The same small CNN (64x64 RGB inputs, batch 32), the same in-memory samples and the same number of
optimizer steps go through (a) a plain ``for batch in DataLoader: forward/backward/step`` loop and (b)
``Trainer.fit()`` (one epoch, end-of-epoch checkpoint + metrics.json included, log line every 10 steps).
Runs alternate and the median of ``--repeats`` is reported, as wall-clock time and as this process's
CPU time (``time.process_time``; steadier than wall time when other jobs share the cores).

    python tools/bench/trainer.py [--steps 40] [--repeats 3] [--threads 1] [--progress] [--model cnn|tiny]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from xgeo.core.train import StepOutput, TrainConfig, Trainer


class Images(Dataset):
    """``n`` fixed random 64x64 images with 10-class labels, as sample dicts."""

    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, 64, 64, generator=g)
        self.labels = torch.randint(0, 10, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": self.labels[i]}


MODEL = "cnn"


def make_model() -> nn.Module:
    """A small CNN whose per-step compute dominates (``--model tiny``: almost no compute, to expose fixed costs)."""
    torch.manual_seed(0)
    if MODEL == "tiny":
        return nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, 10))
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


def step(model: nn.Module, batch: dict) -> StepOutput:
    """Cross-entropy on one batch."""
    return StepOutput(nn.functional.cross_entropy(model(batch["image"]), batch["label"]))


def bare(dataset: Dataset, steps: int, batch: int) -> tuple[float, float]:
    """(wall, CPU) seconds for ``steps`` plain optimizer steps."""
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True)
    model.train()
    start, cpu = time.perf_counter(), time.process_time()
    for b in loader:
        loss = nn.functional.cross_entropy(model(b["image"]), b["label"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start, time.process_time() - cpu


def trainer(dataset: Dataset, steps: int, batch: int, progress: bool) -> tuple[float, float]:
    """(wall, CPU) seconds for ``Trainer.fit()`` over the same number of steps (construction excluded)."""
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(out_dir=out, epochs=1, batch_size=batch, lr=1e-3, optimizer="adamw", progress=progress, log_every=10)
        t = Trainer(make_model(), dataset, step, cfg)
        assert t.steps_per_epoch == steps
        start, cpu = time.perf_counter(), time.process_time()
        t.fit()
        return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--progress", action="store_true", help="show the Trainer's tqdm bar (off by default)")
    parser.add_argument("--model", choices=("cnn", "tiny"), default="cnn")
    args = parser.parse_args()
    global MODEL
    MODEL = args.model
    torch.set_num_threads(args.threads)
    dataset = Images(args.steps * args.batch)
    bare(dataset, args.steps, args.batch)  # warm-up (allocator, kernels)
    t_bare, t_trainer = [], []
    for r in range(args.repeats):  # alternate which loop goes first, so drifting load hits both alike
        runs = [("bare", lambda: bare(dataset, args.steps, args.batch))]
        runs.append(("trainer", lambda: trainer(dataset, args.steps, args.batch, args.progress)))
        for name, fn in runs if r % 2 == 0 else runs[::-1]:
            (t_bare if name == "bare" else t_trainer).append(fn())
    print(
        f"model={args.model} steps={args.steps} batch={args.batch} input=3x64x64 threads={args.threads}"
        f" repeats={args.repeats} progress={args.progress}"
    )
    for k, clock in enumerate(("wall", "cpu")):
        for stat in (statistics.median, min):
            mb = stat(t[k] for t in t_bare)
            mt = stat(t[k] for t in t_trainer)
            print(
                f"[{clock} {stat.__name__:>6}] bare {mb:.3f} s ({1000 * mb / args.steps:.1f} ms/step)"
                f"  Trainer {mt:.3f} s ({1000 * mt / args.steps:.1f} ms/step)"
                f"  ratio {mt / mb:.3f} ({100 * (mt / mb - 1):+.1f}%)"
            )
        print(f"[{clock}] runs bare: {', '.join(f'{t[k]:.3f}' for t in t_bare)}")
        print(f"[{clock}] runs Trainer: {', '.join(f'{t[k]:.3f}' for t in t_trainer)}")


if __name__ == "__main__":
    main()
