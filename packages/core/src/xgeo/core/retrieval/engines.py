"""Block engines: the array operations a search needs, with NumPy (CPU) or torch (CPU, CUDA).

:class:`Engine` is the interface; :data:`ENGINES` holds the two. NumPy is the CPU default (it
does not import torch, which keeps ``xgeo evaluate`` light: see ``tools/bench/retrieval.py``);
torch serves CUDA and torch tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from xgeo.core.registry import Registry
from xgeo.core.retrieval.options import DTYPES

NORM_EPS = 1e-12
Band = tuple[np.ndarray, np.ndarray, np.ndarray]  # (rows, columns, scores) of a block's near-ties


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of an array-like or a (CPU or CUDA) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@runtime_checkable
class Engine(Protocol):
    """What the search asks of an engine; arrays are the engine's own (ndarray or tensor)."""

    name: str
    np_dtype: np.dtype

    def put(self, x: Any) -> Any:
        """``x`` as a contiguous engine array of the block dtype (no copy when it already is)."""

    def host(self, x: Any) -> np.ndarray:
        """An engine array as a NumPy array."""

    def all_finite(self, x: Any) -> bool: ...
    def empty(self, size: int) -> Any: ...
    def concat(self, parts: Sequence[Any]) -> Any: ...

    def normalize(self, x: Any, inplace: bool = False) -> Any:
        """Rows divided by their L2 norm (row by row: the result of a row never depends on the others)."""

    def sq_norms(self, x: Any) -> Any: ...
    def scale(self, x: Any, factor: float, inplace: bool = False) -> Any: ...
    def view(self, flat: Any, rows: int, cols: int) -> Any: ...
    def select_rows(self, x: Any, idx: np.ndarray) -> Any: ...
    def weights(self, w: np.ndarray) -> Any: ...

    def matmul(self, q: Any, g: Any, out: Any) -> None:
        """``out = q @ g.T`` (the only rounding that depends on the block shape)."""

    def subtract_outer(self, s: Any, row: Any, col: Any) -> None: ...
    def mask_columns(self, s: Any, cols: np.ndarray) -> None: ...

    def take(self, s: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``s[rows, cols]`` on the host."""

    def band(self, s: Any, lower: np.ndarray, upper: np.ndarray, weights: Any = None) -> tuple[np.ndarray, Band]:
        """Per row the (weighted) count of scores above ``upper[r]``, and the entries with
        ``lower[r] < s[r, c] <= upper[r]``."""

    def multi_counts(self, s: Any, rows: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                     weights: Any = None) -> tuple[np.ndarray, Band]:
        """For rows ``rows`` with ascending bounds ``upper``/``lower`` ``[len(rows), W]``: bucket
        counts ``[len(rows), W + 1]`` of ``#(upper < s)``, and the entries inside some
        ``(lower[j], upper[j]]`` (band rows are indices into ``s``)."""

    def topk(self, s: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` per row, ties to the lower column."""

    def pair_dots(self, q: Any, g: Any) -> tuple[np.ndarray, np.ndarray]:
        """Row-wise ``sum(q*g)`` and ``sum(|q*g|)`` in float64 (a reference for error bounds)."""

    def unit_roundoff(self) -> float:
        """Unit roundoff of the block products (2**-24 for IEEE float32)."""


class NumpyEngine:
    """Blocks on the CPU with NumPy (OpenBLAS)."""

    name = "numpy"

    def __init__(self, device: str = "cpu", dtype: str = "float32") -> None:
        if device != "cpu":
            raise ValueError(f"the numpy engine runs on the CPU only, not {device!r}; use engine='torch'")
        self.dtype = self.np_dtype = np.dtype(dtype)
        self._mask = np.empty(0, dtype=bool)

    def put(self, x: Any) -> np.ndarray:
        return np.ascontiguousarray(to_numpy(x), dtype=self.dtype)

    def host(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x)

    def all_finite(self, x: np.ndarray) -> bool:
        return bool(np.isfinite(x).all())

    def empty(self, size: int) -> np.ndarray:
        return np.empty(size, dtype=self.dtype)

    def concat(self, parts: Sequence[np.ndarray]) -> np.ndarray:
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def normalize(self, x: np.ndarray, inplace: bool = False) -> np.ndarray:
        norms = np.maximum(np.sqrt(np.einsum("ij,ij->i", x, x)), NORM_EPS).astype(self.dtype)[:, None]
        return np.divide(x, norms, out=x) if inplace else x / norms

    def sq_norms(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", x, x)

    def scale(self, x: np.ndarray, factor: float, inplace: bool = False) -> np.ndarray:
        return np.multiply(x, self.dtype.type(factor), out=x if inplace else None)

    def view(self, flat: np.ndarray, rows: int, cols: int) -> np.ndarray:
        return flat[: rows * cols].reshape(rows, cols)

    def select_rows(self, x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x[idx])

    def weights(self, w: np.ndarray) -> np.ndarray:
        return np.asarray(w, dtype=np.float64)

    def matmul(self, q: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
        np.matmul(q, g.T, out=out)

    def subtract_outer(self, s: np.ndarray, row: np.ndarray, col: np.ndarray) -> None:
        np.subtract(s, row[:, None], out=s)
        np.subtract(s, col[None, :], out=s)

    def mask_columns(self, s: np.ndarray, cols: np.ndarray) -> None:
        s[:, cols] = -np.inf

    def take(self, s: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return s[rows, cols]

    def _scratch(self, shape: tuple[int, int], which: int = 0) -> np.ndarray:
        size = shape[0] * shape[1]
        if self._mask.size < 2 * size:
            self._mask = np.empty(2 * size, dtype=bool)
        return self._mask[which * size : (which + 1) * size].reshape(shape)

    def count_greater(self, s: np.ndarray, thresholds: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return self._count(np.greater(s, thresholds[:, None], out=self._scratch(s.shape)), weights)

    @staticmethod
    def _count(mask: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        if weights is None:
            return mask.view(np.uint8).sum(axis=1, dtype=np.int64)
        return np.rint(mask.astype(np.float64) @ weights).astype(np.int64)

    def band(self, s: np.ndarray, lower: np.ndarray, upper: np.ndarray, weights: np.ndarray | None = None
             ) -> tuple[np.ndarray, Band]:
        above_upper = np.greater(s, upper[:, None], out=self._scratch(s.shape, 0))
        above_lower = np.greater(s, lower[:, None], out=self._scratch(s.shape, 1))
        n_upper = self._count(above_upper, None)
        near = np.flatnonzero(self._count(above_lower, None) > n_upper)
        above = n_upper if weights is None else self._count(above_upper, weights)
        hit_r, cols = np.nonzero(above_lower[near] & ~above_upper[near])
        rows = near[hit_r]
        return above, (rows, cols, s[rows, cols])

    def multi_counts(self, s: np.ndarray, rows: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                     weights: np.ndarray | None = None) -> tuple[np.ndarray, Band]:
        buckets = upper.shape[1] + 1
        out = np.empty((len(rows), buckets), dtype=np.int64)
        band_rows, band_cols = [], []
        for i, r in enumerate(rows):
            above_upper = np.searchsorted(upper[i], s[r], side="left")
            out[i] = np.rint(np.bincount(above_upper, weights=weights, minlength=buckets))
            hit = np.flatnonzero(np.searchsorted(lower[i], s[r], side="left") > above_upper)
            band_rows.append(np.full(len(hit), r, dtype=np.int64))
            band_cols.append(hit)
        br = np.concatenate(band_rows) if band_rows else np.zeros(0, dtype=np.int64)
        bc = np.concatenate(band_cols) if band_cols else np.zeros(0, dtype=np.int64)
        return out, (br, bc, s[br, bc])

    def topk(self, s: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k == 1:
            idx = s.argmax(axis=1)[:, None]  # first occurrence of the maximum
        elif k >= s.shape[1]:
            idx = np.argsort(-s, axis=1, kind="stable")
        else:
            neg = -s
            idx = np.argpartition(neg, k - 1, axis=1)[:, :k]
            kth = np.take_along_axis(s, idx, axis=1).min(axis=1)
            for r in np.flatnonzero((s >= kth[:, None]).sum(axis=1) > k):  # ties at the boundary
                idx[r] = np.argsort(neg[r], kind="stable")[:k]
        return np.take_along_axis(s, idx, axis=1), idx

    def pair_dots(self, q: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prod = q.astype(np.float64) * g.astype(np.float64)
        return prod.sum(axis=1), np.abs(prod, out=prod).sum(axis=1)

    def unit_roundoff(self) -> float:
        return float(np.finfo(self.dtype).eps) / 2


def _torch_engine(device: str = "cpu", dtype: str = "float32") -> Engine:
    from xgeo.core.retrieval.torch_engine import TorchEngine  # deferred: torch is heavy to import

    return TorchEngine(device, dtype)


#: engine name -> factory ``(device, dtype) -> Engine``
ENGINES: Registry[Callable[[str, str], Engine]] = Registry("engine", "--engine")
ENGINES.register("numpy", NumpyEngine)
ENGINES.register("torch", _torch_engine)


def make_engine(device: str | None = None, engine: str = "auto", dtype: str = "float32", like: Any = None) -> Engine:
    """Choose an engine: ``auto`` is NumPy on the CPU, torch elsewhere (CUDA tensors imply CUDA)."""
    if device in (None, "auto"):
        device = str(like.device) if getattr(like, "is_cuda", False) else "cpu"
    if engine == "auto":
        engine = "numpy" if device == "cpu" else "torch"
    factory = ENGINES.get(engine)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
    return factory(device, dtype)
