"""The torch block engine (CPU or CUDA); see :class:`xgeo.core.retrieval.engines.Engine`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from xgeo.core.retrieval.engines import NORM_EPS, Band


class TorchEngine:
    """Blocks with torch, on the CPU or a CUDA device."""

    name = "torch"

    def __init__(self, device: str = "cpu", dtype: str = "float32") -> None:
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        self.np_dtype = np.dtype(dtype)
        self._mask = torch.empty(0, dtype=torch.bool, device=self.device)

    def _t(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).to(self.device)

    def put(self, x: Any) -> torch.Tensor:
        t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
        return t.detach().to(device=self.device, dtype=self.dtype).contiguous()

    def host(self, x: torch.Tensor) -> np.ndarray:
        return x.cpu().numpy()

    def all_finite(self, x: torch.Tensor) -> bool:
        return bool(torch.isfinite(x).all().item())

    def empty(self, size: int) -> torch.Tensor:
        return torch.empty(size, dtype=self.dtype, device=self.device)

    def concat(self, parts: Sequence[torch.Tensor]) -> torch.Tensor:
        return parts[0] if len(parts) == 1 else torch.cat(list(parts))

    def normalize(self, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        norms = x.norm(dim=1, keepdim=True).clamp_min(NORM_EPS)
        return x.div_(norms) if inplace else x / norms

    def sq_norms(self, x: torch.Tensor) -> torch.Tensor:
        return (x * x).sum(dim=1)

    def scale(self, x: torch.Tensor, factor: float, inplace: bool = False) -> torch.Tensor:
        return x.mul_(factor) if inplace else x * factor

    def view(self, flat: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
        return flat[: rows * cols].view(rows, cols)

    def select_rows(self, x: torch.Tensor, idx: np.ndarray) -> torch.Tensor:
        return x[self._t(idx)].contiguous()

    def weights(self, w: np.ndarray) -> torch.Tensor:
        return self._t(np.asarray(w, dtype=np.float64))

    def matmul(self, q: torch.Tensor, g: torch.Tensor, out: torch.Tensor) -> None:
        # the CPU kernels round differently on unaligned rows: feed every product aligned operands,
        # so a block scores the same whether its rows are a slice or a fresh array
        q, g = (x if x.data_ptr() % 64 == 0 else x.clone() for x in (q, g))
        torch.mm(q, g.T, out=out)

    def subtract_outer(self, s: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> None:
        s.sub_(row[:, None]).sub_(col[None, :])

    def mask_columns(self, s: torch.Tensor, cols: np.ndarray) -> None:
        s[:, self._t(cols)] = float("-inf")

    def take(self, s: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return s[self._t(rows), self._t(cols)].cpu().numpy()

    def count_greater(self, s: torch.Tensor, thresholds: np.ndarray, weights: Any = None) -> np.ndarray:
        if self._mask.numel() < s.numel():
            self._mask = torch.empty(s.numel(), dtype=torch.bool, device=self.device)
        mask = self._mask[: s.numel()].view(s.shape)
        torch.gt(s, self._t(thresholds)[:, None], out=mask)
        if weights is None:
            return mask.sum(dim=1).cpu().numpy().astype(np.int64)
        return np.rint((mask.to(torch.float64) @ weights).cpu().numpy()).astype(np.int64)

    def band(self, s: torch.Tensor, lower: np.ndarray, upper: np.ndarray, weights: Any = None
             ) -> tuple[np.ndarray, Band]:
        above = self.count_greater(s, upper, weights)
        lo, hi = self._t(lower), self._t(upper)
        near = torch.nonzero((s > lo[:, None]).sum(dim=1) > (s > hi[:, None]).sum(dim=1)).flatten()
        sub = s[near]
        hit_r, cols = torch.nonzero((sub > lo[near, None]) & (sub <= hi[near, None]), as_tuple=True)
        return above, (near[hit_r].cpu().numpy(), cols.cpu().numpy(), sub[hit_r, cols].cpu().numpy())

    def multi_counts(self, s: torch.Tensor, rows: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                     weights: Any = None) -> tuple[np.ndarray, Band]:
        buckets = upper.shape[1] + 1
        sub = s[self._t(rows)].contiguous()
        above_upper = torch.searchsorted(self._t(upper), sub, right=False)
        above_lower = torch.searchsorted(self._t(lower), sub, right=False)
        hit_r, hit_c = torch.nonzero(above_lower > above_upper, as_tuple=True)
        values = sub[hit_r, hit_c].cpu().numpy()
        above_upper += (torch.arange(len(rows), device=self.device) * buckets)[:, None]
        w = None if weights is None else weights[None, :].expand(len(rows), -1).flatten()
        counts = torch.bincount(above_upper.flatten(), weights=w, minlength=len(rows) * buckets)
        out = np.rint(counts.view(len(rows), buckets).cpu().numpy()).astype(np.int64)
        return out, (rows[hit_r.cpu().numpy()], hit_c.cpu().numpy(), values)

    def topk(self, s: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k == 1:
            vals, idx = torch.max(s, dim=1)  # first occurrence of the maximum
            return vals[:, None].cpu().numpy(), idx[:, None].cpu().numpy()
        if k >= s.shape[1]:
            idx = torch.sort(s, dim=1, descending=True, stable=True).indices
        else:
            vals, idx = torch.topk(s, k, dim=1, largest=True, sorted=False)
            kth = vals.min(dim=1).values
            for r in torch.nonzero((s >= kth[:, None]).sum(dim=1) > k).flatten().tolist():
                idx[r] = torch.sort(s[r], descending=True, stable=True).indices[:k]
        return torch.gather(s, 1, idx).cpu().numpy(), idx.cpu().numpy()

    def pair_dots(self, q: torch.Tensor, g: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        prod = q.to(torch.float64) * g.to(torch.float64)
        return prod.sum(dim=1).cpu().numpy(), prod.abs_().sum(dim=1).cpu().numpy()

    def unit_roundoff(self) -> float:
        if self.dtype == torch.float64:
            return 2.0**-53
        reduced = torch.get_float32_matmul_precision() != "highest"
        if self.device.type == "cuda":
            reduced = reduced or torch.backends.cuda.matmul.allow_tf32
        return 2.0**-8 if reduced else 2.0**-24  # TF32 / bfloat16 products when allowed
