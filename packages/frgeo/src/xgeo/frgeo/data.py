"""Datasets and training samplers per dataset, as registries keyed by the dataset name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xgeo.core.datasets import CrossViewSplit, get_dataset
from xgeo.core.errors import XgeoError
from xgeo.frgeo.config import Options
from xgeo.frgeo.mining import MiningSampler, PairMiningSampler, VigorMiningSampler
from xgeo.frgeo.transforms import FRGeoTransform

#: dataset -> reader keyword arguments taken from the options
READER_KWARGS: dict[str, Callable[[Options], dict[str, Any]]] = {
    "cvusa": lambda opts: {},
    "cvact": lambda opts: {},
    "vigor": lambda opts: {"cross": bool(opts.cross)},
}


def open_split(opts: Options, split: str, transforms: FRGeoTransform | None) -> CrossViewSplit:
    """The core reader of ``opts.dataset`` on ``opts.data_root`` (layout errors are one-line XgeoErrors)."""
    if not opts.data_root:
        raise XgeoError(None, "no dataset given", f"pass --data-root pointing at your {opts.dataset.upper()} folder")
    if opts.dataset not in READER_KWARGS:
        raise XgeoError(None, f"unknown dataset {opts.dataset!r}", f"use one of {', '.join(READER_KWARGS)}")
    return get_dataset(opts.dataset, opts.data_root, split, transforms=transforms, **READER_KWARGS[opts.dataset](opts))


def _sampler_kwargs(opts: Options, dim: int) -> dict[str, Any]:
    return {
        "batch_size": int(opts.batch_size),
        "dim": dim,
        "mining": bool(opts.mining),
        "mining_start": int(opts.mining_start),
        "seed": int(opts.seed),
        "pool_size": int(opts.pool_size),
        "top_k": int(opts.top_k),
    }


def _pair_sampler(split: CrossViewSplit, opts: Options, dim: int) -> MiningSampler:
    return PairMiningSampler(split.pairs, split.task.num_queries, split.task.num_gallery, **_sampler_kwargs(opts, dim))


def _vigor_sampler(split: CrossViewSplit, opts: Options, dim: int) -> MiningSampler:
    return VigorMiningSampler(split.pairs, split.labels, split.task.num_gallery, **_sampler_kwargs(opts, dim))


#: dataset -> training sampler (a plain shuffle of the same structure when --mining is off)
SAMPLERS: dict[str, Callable[[CrossViewSplit, Options, int], MiningSampler]] = {
    "cvusa": _pair_sampler,
    "cvact": _pair_sampler,
    "vigor": _vigor_sampler,
}


def build_sampler(split: CrossViewSplit, opts: Options, dim: int) -> MiningSampler:
    """The training sampler of ``opts.dataset``."""
    if opts.batch_size < 2 or (opts.mining and opts.batch_size % 2):
        raise XgeoError(
            None,
            f"--batch-size {opts.batch_size}: mined batches are anchors plus as many negatives (and the loss needs 2 pairs)",
            "use an even batch size of at least 2, or --no-mining",
        )
    return SAMPLERS[opts.dataset](split, opts, dim)
