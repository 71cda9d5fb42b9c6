"""What a method knows about one dataset, in one object: :class:`DatasetProfile`.

A method keeps one profile per dataset it supports (in a :class:`~xgeo.core.registry.Registry`):
the reader to open, the split it evaluates and selects its model on, the protocol and R@1%
convention of its metrics, the reader options taken from its data options, and how a raw query
image is prepared (the reader's own preprocessing). Methods subclass it to add what is theirs
(input sizes, the training sampler, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from xgeo.core.datasets.base import CrossViewSplit, Transform


def no_options(options: Any) -> dict[str, Any]:
    """Reader options for datasets that take none."""
    return {}


@dataclass(frozen=True, kw_only=True)
class DatasetProfile:
    """How a method reads, evaluates and prepares one dataset."""

    #: core reader name (``xgeo.core.datasets.DATASETS``)
    name: str
    #: split evaluated after every epoch; the best checkpoint is chosen on it
    eval_split: str
    #: core evaluation protocol (``xgeo evaluate --protocol``)
    protocol: str = "crossview"
    #: the method's R@1% convention when it differs from the protocol's (``None``: the protocol's)
    percent_convention: str | None = None
    #: data options -> keyword arguments of the reader (e.g. VIGOR's ``cross``)
    reader_options: Callable[[Any], dict[str, Any]] = field(default=no_options)
    #: one line on how the model is selected on this dataset (printed when training starts)
    selection: str = ""

    def open(self, root: Any, split: str, transforms: Transform | None, options: Any = None) -> CrossViewSplit:
        """The core reader of this dataset on ``root`` (layout errors are one-line XgeoErrors)."""
        from xgeo.core.datasets import get_dataset

        return get_dataset(self.name, root, split, transforms=transforms, **self.reader_options(options))

    def prepare_query(self, image: torch.Tensor) -> torch.Tensor:
        """A raw query image (``[3, H, W]`` in [0, 1]) as the reader would hand it over."""
        from xgeo.core.datasets import DATASETS

        return DATASETS.get(self.name).prepare_query(image)
