"""Mapping of the original optimisation flags onto core's :class:`~xgeo.core.train.TrainConfig`.

``--op sam`` is AdamW inside core's SAM wrapper (``--asam``: the adaptive variant), weight decay
on every parameter; ``--cos`` is core's per-epoch cosine schedule without warm-up.
"""

from __future__ import annotations

from pathlib import Path

from xgeo.core.errors import XgeoError
from xgeo.core.train import TrainConfig
from xgeo.frgeo.config import Options

#: --op -> (core optimizer, wrapped in SAM)
OPS: dict[str, tuple[str, bool]] = {
    "sgd": ("sgd", False),
    "adam": ("adam", False),
    "adamw": ("adamw", False),
    "sam": ("adamw", True),
}
#: --cos -> core schedule (the original crashes without --cos; we keep the rate constant)
SCHEDULES: dict[bool, str] = {True: "cosine", False: "constant"}


def sam_mode(opts: Options) -> str | None:
    """Core's ``TrainConfig.sam`` for ``--op``/``--asam``."""
    if opts.op not in OPS:
        raise XgeoError(None, f"unknown --op {opts.op!r}", f"use one of {', '.join(OPS)}")
    wrapped = OPS[opts.op][1]
    return ("asam" if opts.asam else "sam") if wrapped else None


def device_name(opts: Options) -> str:
    """``--gpu N`` pins one CUDA device; otherwise ``--device`` (``auto`` by default)."""
    return f"cuda:{opts.gpu}" if opts.gpu is not None else opts.device


def train_config(opts: Options, out_dir: str | Path) -> TrainConfig:
    """Core training config for these options."""
    sam = sam_mode(opts)
    return TrainConfig(
        out_dir=str(out_dir),
        epochs=int(opts.epochs),
        batch_size=int(opts.batch_size),
        lr=float(opts.lr),
        optimizer=OPS[opts.op][0],
        weight_decay=float(opts.wd),
        momentum=float(opts.momentum),
        sam=sam,
        rho=float(opts.rho),
        schedule=SCHEDULES[bool(opts.cos)],
        schedule_unit="epoch",
        warmup_epochs=0.0,
        seed=int(opts.seed),
        num_workers=int(opts.workers),
        checkpoint_every=int(opts.checkpoint_every),
        log_every=max(1, int(opts.print_freq)),
        resume=opts.resume or None,
        best_metric="R@1",
        device=device_name(opts),
        progress=bool(opts.progress),
        max_steps=opts.max_steps,
    )
