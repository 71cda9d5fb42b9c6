"""The feature store: embeddings with their ids, labels and locations in HDF5.

Schema ``xgeo.features/1`` (one file per side, query or gallery)::

    /features     float32 [N, D]
    /ids          UTF-8 strings [N]
    /labels       int64 [N]              (gallery: -1 = junk)
    /semi_labels  int64 [N, S]           optional, -1 pads (VIGOR semi-positives)
    /locations    float64 [N, 2]         optional, attribute ``crs`` = "latlon" | "metres"
    root attributes: schema = "xgeo.features/1", view, method, normalized

Files are written in row chunks through a temporary file renamed into place (a crash never
leaves a half-written store) and read in row chunks, so neither side needs the whole matrix in
memory. A file that is missing, not HDF5, of another schema, lacks a dataset or holds NaN/inf
features raises :class:`~xgeo.core.errors.XgeoError` naming the file and the fix.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from xgeo.core.errors import XgeoError
from xgeo.core.task import CRS_VALUES, RetrievalTask

SCHEMA = "xgeo.features/1"
REQUIRED = ("features", "ids", "labels")
DEFAULT_CHUNK_ROWS = 8192
_REWRITE = "re-export the features with xgeo (xgeo.core.features.write_features)"


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _hdf5_chunk_rows(dim: int) -> int:
    """Rows per HDF5 storage chunk: about 1 MiB of features."""
    return max(1, min(4096, (1 << 20) // max(4 * dim, 1)))


@dataclass
class FeatureSet:
    """Embeddings of one side of a retrieval problem, with everything needed to score them."""

    features: np.ndarray
    ids: np.ndarray
    labels: np.ndarray
    semi_labels: np.ndarray | None = None
    locations: np.ndarray | None = None
    crs: str | None = None
    view: str = ""
    method: str = ""
    normalized: bool = False

    def __post_init__(self) -> None:
        self.features = np.ascontiguousarray(_numpy(self.features), dtype=np.float32)
        if self.features.ndim != 2:
            raise ValueError(f"features must be [N, D], got shape {self.features.shape}")
        n = len(self.features)
        self.ids = np.asarray([str(v) for v in self.ids], dtype=object)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.ids.shape != (n,) or self.labels.shape != (n,):
            raise ValueError(f"ids and labels must have {n} entries, got {self.ids.shape} and {self.labels.shape}")
        if self.semi_labels is not None:
            semi = np.asarray(self.semi_labels, dtype=np.int64)
            self.semi_labels = semi if semi.ndim == 2 and len(semi) == n else semi.reshape(n, -1)  # [0, S] kept as is
        if self.locations is not None:
            self.locations = np.asarray(self.locations, dtype=np.float64)
            if self.locations.shape != (n, 2):
                raise ValueError(f"locations must have shape ({n}, 2), got {self.locations.shape}")
            if self.crs not in CRS_VALUES:
                raise ValueError(f"locations need crs in {CRS_VALUES}, got {self.crs!r}")
        elif self.crs is not None:
            raise ValueError("crs given without locations")

    def __len__(self) -> int:
        return len(self.features)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @classmethod
    def from_task(
        cls, features: Any, task: RetrievalTask, side: str = "query", view: str = "", method: str = "", normalized: bool = False
    ) -> FeatureSet:
        """Features of the ``"query"`` or ``"gallery"`` side of ``task`` with its ids, labels,
        semi-positive labels (query side) and locations."""
        if side == "query":
            ids, labels, semi, loc = task.query_ids, task.query_labels, task.query_semi_labels, task.query_locations
        elif side == "gallery":
            ids, labels, semi, loc = task.gallery_ids, task.gallery_labels, None, task.gallery_locations
        else:
            raise ValueError(f"side must be 'query' or 'gallery', not {side!r}")
        return cls(features, ids, labels, semi, loc, task.crs if loc is not None else None, view, method, normalized)


# ---------------------------------------------------------------------------------------- writing
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
    ) -> None:
        if crs is not None and crs not in CRS_VALUES:
            raise ValueError(f"crs must be one of {CRS_VALUES}, got {crs!r}")
        self.path = Path(path)
        self.dim = int(dim)
        self.semi_width = semi_width
        self.crs = crs
        self.attrs = {"schema": SCHEMA, "view": view, "method": method, "normalized": bool(normalized)}
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
            h5.create_dataset("semi_labels", (0, w), np.int64, maxshape=(None, w), chunks=(rows, w) if w else None)
        if self.crs is not None:
            loc = h5.create_dataset("locations", (0, 2), np.float64, maxshape=(None, 2), chunks=(rows, 2))
            loc.attrs["crs"] = self.crs
        return self

    def append(
        self,
        features: Any,
        ids: Any,
        labels: Any,
        semi_labels: Any = None,
        locations: Any = None,
    ) -> None:
        """Append ``n`` rows (features ``[n, D]``, ids, labels, and semi-labels / locations when
        the file has them)."""
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
                       normalized=fs.normalized) as writer:
        for a in range(0, len(fs), chunk_rows):
            b = min(a + chunk_rows, len(fs))
            writer.append(
                fs.features[a:b], fs.ids[a:b], fs.labels[a:b],
                None if fs.semi_labels is None else fs.semi_labels[a:b],
                None if fs.locations is None else fs.locations[a:b],
            )


# ---------------------------------------------------------------------------------------- reading
class FeatureFile:
    """An open feature file, validated against the schema, read in row chunks.

    >>> with FeatureFile("gallery.h5") as f:            # doctest: +SKIP
    ...     for start, block in f.chunks(4096):
    ...         ...
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._h5: h5py.File | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FeatureFile:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Open and validate the file (raises :class:`XgeoError` on any problem)."""
        if not self.path.is_file():
            raise XgeoError(self.path, "feature file not found", "check the path, or " + _REWRITE)
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as err:
            detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            raise XgeoError(self.path, f"not a readable HDF5 feature file ({detail})", _REWRITE) from None
        try:
            self._validate()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def _fail(self, problem: str) -> XgeoError:
        return XgeoError(self.path, problem, _REWRITE)

    def _validate(self) -> None:
        h5 = self.h5
        schema = h5.attrs.get("schema")
        if isinstance(schema, bytes):
            schema = schema.decode("utf-8", "replace")
        if schema is None:
            raise self._fail(f"no schema attribute (expected {SCHEMA!r}); not an xgeo feature file")
        if schema != SCHEMA:
            raise self._fail(f"schema is {schema!r}, this xgeo reads {SCHEMA!r}")
        for name in REQUIRED:
            if name not in h5 or not isinstance(h5[name], h5py.Dataset):
                raise self._fail(f"missing dataset /{name}")
        feats = h5["features"]
        if feats.ndim != 2 or feats.dtype.kind != "f":
            raise self._fail(f"/features must be a float [N, D] array, got {feats.dtype} {feats.shape}")
        n = feats.shape[0]
        if h5["ids"].shape != (n,) or h5["labels"].shape != (n,):
            raise self._fail(f"/ids {h5['ids'].shape} and /labels {h5['labels'].shape} must both have {n} rows like /features")
        if h5["labels"].dtype.kind not in "iu":
            raise self._fail(f"/labels must be integers, got {h5['labels'].dtype}")
        if "semi_labels" in h5:
            semi = h5["semi_labels"]
            if semi.ndim != 2 or semi.shape[0] != n or semi.dtype.kind not in "iu":
                raise self._fail(f"/semi_labels must be an integer [{n}, S] array, got {semi.dtype} {semi.shape}")
        if "locations" in h5:
            loc = h5["locations"]
            if loc.shape != (n, 2) or loc.dtype.kind != "f":
                raise self._fail(f"/locations must be a float [{n}, 2] array, got {loc.dtype} {loc.shape}")
            crs = loc.attrs.get("crs")
            crs = crs.decode() if isinstance(crs, bytes) else crs
            if crs not in CRS_VALUES:
                raise self._fail(f"/locations has crs {crs!r}, expected one of {CRS_VALUES}")

    def _read(self, name: str, selection: Any = ()) -> Any:
        """``/name[selection]``; a read failure (truncated, corrupt file) becomes an XgeoError."""
        try:
            ds = self.h5[name]
            return ds.asstr()[selection] if name == "ids" else ds[selection]
        except (OSError, RuntimeError, UnicodeDecodeError) as err:
            detail = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
            raise XgeoError(self.path, f"corrupt dataset /{name} ({detail})", _REWRITE) from None

    # ------------------------------------------------------------------ content
    @property
    def h5(self) -> h5py.File:
        if self._h5 is None:
            raise RuntimeError("FeatureFile is not open; use it as a context manager")
        return self._h5

    def __len__(self) -> int:
        return int(self.h5["features"].shape[0])

    @property
    def dim(self) -> int:
        return int(self.h5["features"].shape[1])

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes: schema, view, method, normalized."""
        out: dict[str, Any] = {}
        for key, value in self.h5.attrs.items():
            value = value.decode() if isinstance(value, bytes) else value
            out[key] = value.item() if isinstance(value, np.generic) else value
        return out

    @property
    def normalized(self) -> bool:
        return bool(self.h5.attrs.get("normalized", False))

    @property
    def ids(self) -> np.ndarray:
        return np.asarray(self._read("ids"), dtype=object)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self._read("labels"), dtype=np.int64)

    @property
    def semi_labels(self) -> np.ndarray | None:
        return np.asarray(self._read("semi_labels"), dtype=np.int64) if "semi_labels" in self.h5 else None

    @property
    def locations(self) -> np.ndarray | None:
        return np.asarray(self._read("locations"), dtype=np.float64) if "locations" in self.h5 else None

    @property
    def crs(self) -> str | None:
        if "locations" not in self.h5:
            return None
        crs = self.h5["locations"].attrs["crs"]
        return crs.decode() if isinstance(crs, bytes) else str(crs)

    def chunks(self, rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, features[start:start+rows])`` as float32, rejecting NaN/inf rows."""
        if rows < 1:
            raise ValueError("rows must be positive")
        for start in range(0, len(self), rows):
            yield start, self.read_rows(start, start + rows)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """``features[start:stop]`` as a new float32 array, rejecting NaN/inf rows."""
        block = np.asarray(self._read("features", slice(start, stop)), dtype=np.float32)
        finite = np.isfinite(block)
        if not finite.all():
            bad = start + int(np.flatnonzero(~finite.all(axis=1))[0])
            raise XgeoError(
                self.path, f"features contain NaN or inf (row {bad})",
                "the model diverged or the export failed; re-embed and re-export the features",
            )
        return block

    def read_features(self, rows: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
        """All features ``[N, D]`` float32, read chunk by chunk."""
        out = np.empty((len(self), self.dim), dtype=np.float32)
        for start, block in self.chunks(rows):
            out[start : start + len(block)] = block
        return out

    def read(self) -> FeatureSet:
        """The whole file as a :class:`FeatureSet`."""
        attrs = self.attrs
        return FeatureSet(
            self.read_features(), self.ids, self.labels, self.semi_labels, self.locations, self.crs,
            view=str(attrs.get("view", "")), method=str(attrs.get("method", "")), normalized=self.normalized,
        )


def read_features(path: str | os.PathLike) -> FeatureSet:
    """Read a whole feature file (validated, NaN-checked) into a :class:`FeatureSet`."""
    with FeatureFile(path) as f:
        return f.read()
