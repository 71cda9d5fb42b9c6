"""The data protocol every dataset reader follows.

A reader is a class constructed torchgeo-style as ``Reader(root, split, transforms=None, ...)``.
It checks the on-disk layout eagerly (a missing root raises
:class:`~xgeo.core.errors.DatasetNotFoundError`, a broken split file raises
:class:`~xgeo.core.errors.XgeoError` naming the file) and then exposes:

- ``query_files`` / ``gallery_files``: absolute paths, in the dataset's canonical order;
- ``pairs``: ``[P, 2]`` int64 training (query index, gallery index) pairs; ``__len__`` and
  ``__getitem__`` iterate over them, returning ``{"query", "gallery", "index"}`` sample dicts;
- ``task``: the :class:`~xgeo.core.task.RetrievalTask` of the split (queries vs gallery);
- :meth:`queries` / :meth:`gallery`: datasets over one view, returning ``{"query"|"gallery",
  "index"}`` sample dicts, for embedding.

``transforms`` is a callable on the sample dict (as in torchgeo); images arrive as float32
``[3, H, W]`` tensors in ``[0, 1]``, and a transform may resize or normalise the ``"query"`` and
``"gallery"`` entries it finds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from xgeo.core.io import read_image
from xgeo.core.task import RetrievalTask

Sample = dict[str, Any]
Transform = Callable[[Sample], Sample]


class ViewDataset(Dataset):
    """Images of one view (``key`` = ``"query"`` or ``"gallery"``), for embedding."""

    def __init__(self, files: Sequence[Path], key: str, load: Callable[[int], torch.Tensor],
                 transforms: Transform | None = None) -> None:
        self.files = list(files)
        self.key = key
        self.load = load
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Sample:
        sample = {self.key: self.load(index), "index": index}
        return self.transforms(sample) if self.transforms else sample


class CrossViewSplit(Dataset):
    """One split of a paired two-view dataset; iterating it yields training pairs."""

    #: short registry name, e.g. ``"cvusa"``
    name: str = ""

    query_files: list[Path]
    gallery_files: list[Path]
    pairs: np.ndarray
    task: RetrievalTask

    def __init__(self, root: str | Path, split: str, transforms: Transform | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.transforms = transforms

    @staticmethod
    def prepare_query(image: torch.Tensor) -> torch.Tensor:
        """The reader's preprocessing of a raw query image (identity; CVACT crops its ground band)."""
        return image

    def load_query(self, index: int) -> torch.Tensor:
        """Read query image ``index`` with the reader's preprocessing."""
        return self.prepare_query(read_image(self.query_files[index]))

    def load_gallery(self, index: int) -> torch.Tensor:
        """Read gallery image ``index``."""
        return read_image(self.gallery_files[index])

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        q, g = (int(v) for v in self.pairs[index])
        sample = {"query": self.load_query(q), "gallery": self.load_gallery(g), "index": index}
        return self.transforms(sample) if self.transforms else sample

    def queries(self, transforms: Transform | None = None) -> ViewDataset:
        """All queries of the split, for embedding."""
        return ViewDataset(self.query_files, "query", self.load_query, transforms or self.transforms)

    def gallery(self, transforms: Transform | None = None) -> ViewDataset:
        """All gallery entries of the split, for embedding."""
        return ViewDataset(self.gallery_files, "gallery", self.load_gallery, transforms or self.transforms)
