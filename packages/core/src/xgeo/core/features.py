"""The feature store: embeddings with their ids, labels and locations in HDF5.

Schema ``xgeo.features/1`` (one file per side, query or gallery)::

    /features     float32 [N, D]
    /ids          UTF-8 strings [N]
    /labels       int64 [N]              (gallery: -1 = junk)
    /semi_labels  int64 [N, S]           optional, -1 pads (VIGOR semi-positives)
    /locations    float64 [N, 2]         optional, attribute ``crs`` = "latlon" | "metres"
    /paths        UTF-8 strings [N]      optional: the file each row came from, relative to the root
                                         attribute ``image_root`` (for sentences: the sentence itself)
    root attributes: schema = "xgeo.features/1", view, method, normalized[, image_root]

Files are written in row chunks through a temporary file renamed into place (a crash never
leaves a half-written store) and read in row chunks, so neither side needs the whole matrix in
memory. A file that is missing, not HDF5, of another schema, lacks a dataset or holds NaN/inf
features raises :class:`~xgeo.core.errors.XgeoError` naming the file and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from xgeo.core.errors import XgeoError
from xgeo.core.feature_writer import (  # noqa: F401  (re-exported: the store's public API)
    DEFAULT_CHUNK_ROWS,
    SCHEMA,
    FeatureWriter,
    _numpy,
    relative_paths,
    resolve_paths,
    write_features,
)
from xgeo.core.task import CRS_VALUES, RetrievalTask

REQUIRED = ("features", "ids", "labels")
_REWRITE = "re-export the features with xgeo (xgeo.core.features.write_features)"


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
    #: optional file of each row, relative to ``image_root`` (see :meth:`image_files`)
    paths: np.ndarray | None = None
    image_root: str | None = None

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
            self.semi_labels = np.asarray(self.semi_labels, dtype=np.int64).reshape(n, -1)
        if self.locations is not None:
            self.locations = np.asarray(self.locations, dtype=np.float64)
            if self.locations.shape != (n, 2):
                raise ValueError(f"locations must have shape ({n}, 2), got {self.locations.shape}")
            if self.crs not in CRS_VALUES:
                raise ValueError(f"locations need crs in {CRS_VALUES}, got {self.crs!r}")
        elif self.crs is not None:
            raise ValueError("crs given without locations")
        if self.paths is not None:
            self.paths = np.asarray([str(v) for v in self.paths], dtype=object)
            if self.paths.shape != (n,):
                raise ValueError(f"paths must have {n} entries, got {self.paths.shape}")

    def image_files(self) -> list[Path] | None:
        """The row files as paths (``image_root / path``), or ``None`` without ``/paths``."""
        return None if self.paths is None else resolve_paths(self.paths, self.image_root)

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
        if "paths" in h5 and (h5["paths"].shape != (n,) or h5["paths"].dtype.kind not in "OSU"):
            raise self._fail(f"/paths must be {n} strings, got {h5['paths'].dtype} {h5['paths'].shape}")

    def _read(self, name: str, selection: Any = ()) -> Any:
        """``/name[selection]``; a read failure (truncated, corrupt file) becomes an XgeoError."""
        try:
            ds = self.h5[name]
            return ds.asstr()[selection] if name in ("ids", "paths") else ds[selection]
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

    @property
    def paths(self) -> np.ndarray | None:
        """The ``/paths`` strings, or ``None`` when the file has none."""
        return np.asarray(self._read("paths"), dtype=object) if "paths" in self.h5 else None

    @property
    def image_root(self) -> str | None:
        """The ``image_root`` attribute (what ``/paths`` are relative to), or ``None``."""
        root = self.attrs.get("image_root")
        return None if root is None else str(root)

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
            paths=self.paths, image_root=self.image_root,
        )


def read_features(path: str | os.PathLike) -> FeatureSet:
    """Read a whole feature file (validated, NaN-checked) into a :class:`FeatureSet`."""
    with FeatureFile(path) as f:
        return f.read()
