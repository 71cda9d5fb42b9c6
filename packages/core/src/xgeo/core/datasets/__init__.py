"""Readers for the standard datasets, in their real on-disk layouts, behind one registry."""

from __future__ import annotations

from collections.abc import Callable

from xgeo.core.datasets.base import CrossViewSplit, ViewDataset
from xgeo.core.registry import Registry

DATASETS: Registry[type[CrossViewSplit]] = Registry("dataset", "--dataset")


def register_dataset(cls: type[CrossViewSplit]) -> type[CrossViewSplit]:
    """Class decorator: make a reader available under ``cls.name``."""
    return DATASETS.register(cls.name, cls)


def get_dataset(name: str, root, split: str, transforms: Callable | None = None, **kwargs) -> CrossViewSplit:
    """Build the reader registered as ``name`` (an unknown name is a one-line error)."""
    return DATASETS.get(name)(root, split, transforms=transforms, **kwargs)


# readers register themselves on import (after the registry exists)
from xgeo.core.datasets.captions import RSICD, RSITMD, CaptionSplit  # noqa: E402
from xgeo.core.datasets.cvact import CVACT  # noqa: E402
from xgeo.core.datasets.cvusa import CVUSA  # noqa: E402
from xgeo.core.datasets.profile import DatasetProfile  # noqa: E402
from xgeo.core.datasets.sn6cmpc import SN6CMPC  # noqa: E402
from xgeo.core.datasets.university1652 import University1652  # noqa: E402
from xgeo.core.datasets.vigor import VIGOR  # noqa: E402

__all__ = [
    "CVACT", "CVUSA", "DATASETS", "RSICD", "RSITMD", "SN6CMPC", "VIGOR", "CaptionSplit", "CrossViewSplit", "DatasetProfile",
    "University1652", "ViewDataset", "get_dataset", "register_dataset",
]
