"""Writing the feature store (schema ``xgeo.features/1``, see :mod:`xgeo.core.features`).

Rows are appended in chunks to a temporary file renamed into place on a clean close, so a crash
never leaves a half-written store. ``/paths`` (optional) holds each row's file relative to the
``image_root`` attribute.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from xgeo.core.errors import XgeoError
from xgeo.core.task import CRS_VALUES

if TYPE_CHECKING:
    from xgeo.core.features import FeatureSet

SCHEMA = "xgeo.features/1"
DEFAULT_CHUNK_ROWS = 8192


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)

def _hdf5_chunk_rows(dim: int) -> int:
    """Rows per HDF5 storage chunk: about 1 MiB of features."""
    return max(1, min(4096, (1 << 20) // max(4 * dim, 1)))


def relative_paths(files: Any, image_root: str | os.PathLike | None) -> tuple[list[str], str | None]:
    """``files`` as strings relative to ``image_root`` (absolute root returned; ``None`` keeps them as given)."""
    if image_root is None:
        return [str(f) for f in files], None
    root = Path(image_root).resolve()
    return [os.path.relpath(Path(f).resolve(), root) for f in files], str(root)


def resolve_paths(paths: Any, image_root: str | None) -> list[Path]:
    """Stored ``/paths`` entries as paths under ``image_root`` (absolute entries stay absolute)."""
    root = Path(image_root) if image_root else Path()
    return [root / str(p) for p in paths]

class FeatureWriter:
    """Append row chunks to a new feature file; it appears at ``path`` only when closed cleanly.

    >>> with FeatureWriter("q.h5", dim=256, method="frgeo") as w:   # doctest: +SKIP
    ...     for batch in batches:
    ...         w.append(batch.features, batch.ids, batch.labels)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        dim: int,
        *,
        semi_width: int | None = None,
        crs: str | None = None,
        view: str = "",
        method: str = "",
        normalized: bool = False,
        paths: bool = False,
        image_root: str | os.PathLike | None = None,
    ) -> None:
        """``paths=True`` adds a ``/paths`` column (pass ``paths`` to :meth:`append`); ``image_root`` is
        stored as the root attribute they are relative to."""
        if crs is not None and crs not in CRS_VALUES:
            raise ValueError(f"crs must be one of {CRS_VALUES}, got {crs!r}")
        self.path = Path(path)
        self.dim = int(dim)
        self.semi_width = semi_width
        self.crs = crs
        self.attrs = {"schema": SCHEMA, "view": view, "method": method, "normalized": bool(normalized)}
        self.has_paths = bool(paths)
        if image_root is not None:
            self.attrs["image_root"] = str(image_root)
        self.rows = 0
        self._stack: contextlib.ExitStack | None = None
        self._h5: h5py.File | None = None

    def __enter__(self) -> FeatureWriter:
        from xgeo.core.io import atomic_write  # deferred: xgeo.core.io imports torch, readers need not

        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_write(self.path))
        self._h5 = h5py.File(tmp, "w")
        rows = _hdf5_chunk_rows(self.dim)
        h5 = self._h5
        h5.create_dataset("features", (0, self.dim), np.float32, maxshape=(None, self.dim), chunks=(rows, self.dim))
        h5.create_dataset("ids", (0,), h5py.string_dtype("utf-8"), maxshape=(None,), chunks=(rows,))
        h5.create_dataset("labels", (0,), np.int64, maxshape=(None,), chunks=(rows,))
        if self.semi_width is not None:
            w = int(self.semi_width)
            h5.create_dataset("semi_labels", (0, w), np.int64, maxshape=(None, w), chunks=(rows, max(w, 1)))
        if self.crs is not None:
            loc = h5.create_dataset("locations", (0, 2), np.float64, maxshape=(None, 2), chunks=(rows, 2))
            loc.attrs["crs"] = self.crs
        if self.has_paths:
            h5.create_dataset("paths", (0,), h5py.string_dtype("utf-8"), maxshape=(None,), chunks=(rows,))
        return self

    def append(
        self,
        features: Any,
        ids: Any,
        labels: Any,
        semi_labels: Any = None,
        locations: Any = None,
        paths: Any = None,
    ) -> None:
        """Append ``n`` rows (features ``[n, D]``, ids, labels, and semi-labels / locations / paths
        when the file has them)."""
        if self._h5 is None:
            raise RuntimeError("FeatureWriter.append outside its `with` block")
        feats = np.asarray(_numpy(features), dtype=np.float32)
        n = len(feats)
        if feats.shape != (n, self.dim):
            raise ValueError(f"features must have shape [n, {self.dim}], got {feats.shape}")
        if not np.isfinite(feats).all():
            bad = int(np.flatnonzero(~np.isfinite(feats).all(axis=1))[0]) + self.rows
            raise XgeoError(self.path, f"refusing to write NaN/inf features (row {bad})", "check the model's outputs")
        columns = {"features": feats, "ids": np.asarray([str(v) for v in _numpy(ids)], dtype=object),
                   "labels": np.asarray(_numpy(labels), dtype=np.int64)}
        if self.semi_width is not None:
            if semi_labels is None:
                raise ValueError("this file has /semi_labels: pass semi_labels")
            columns["semi_labels"] = np.asarray(_numpy(semi_labels), dtype=np.int64).reshape(n, int(self.semi_width))
        if self.crs is not None:
            if locations is None:
                raise ValueError("this file has /locations: pass locations")
            columns["locations"] = np.asarray(_numpy(locations), dtype=np.float64).reshape(n, 2)
        if self.has_paths:
            if paths is None:
                raise ValueError("this file has /paths: pass paths")
            columns["paths"] = np.asarray([str(v) for v in paths], dtype=object)
        for name, values in columns.items():
            if len(values) != n:
                raise ValueError(f"{name} has {len(values)} rows, features have {n}")
            ds = self._h5[name]
            ds.resize(self.rows + n, axis=0)
            ds[self.rows : self.rows + n] = values
        self.rows += n

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._h5 is not None and self._stack is not None
        try:
            if exc_type is None:
                self._h5.attrs.update(self.attrs)
        finally:
            self._h5.close()
            self._h5 = None
        return bool(self._stack.__exit__(exc_type, exc, tb))


def write_features(path: str | os.PathLike, fs: FeatureSet, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
    """Write ``fs`` to ``path`` (atomically, ``chunk_rows`` rows at a time)."""
    semi_width = None if fs.semi_labels is None else fs.semi_labels.shape[1]
    with FeatureWriter(path, fs.dim, semi_width=semi_width, crs=fs.crs, view=fs.view, method=fs.method,
                       normalized=fs.normalized, paths=fs.paths is not None, image_root=fs.image_root) as writer:
        for a in range(0, len(fs), chunk_rows):
            b = min(a + chunk_rows, len(fs))
            writer.append(
                fs.features[a:b], fs.ids[a:b], fs.labels[a:b],
                None if fs.semi_labels is None else fs.semi_labels[a:b],
                None if fs.locations is None else fs.locations[a:b],
                None if fs.paths is None else fs.paths[a:b],
            )
