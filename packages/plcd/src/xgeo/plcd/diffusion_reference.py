"""The straightforward offline stage, one SciPy ``cg`` call per node (as ``fyang93/diffusion`` does):
the baseline :func:`xgeo.plcd.diffusion.offline` is checked and benchmarked against."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg

from xgeo.plcd.diffusion import DiffusionParams, affinity, knn, laplacian_alpha


def offline_per_node(features: np.ndarray, params: DiffusionParams) -> sp.csr_matrix:
    """``F`` row by row: cut ``L_alpha[T_i, T_i]`` out of the sparse Laplacian and solve it with SciPy's CG."""
    n = len(features)
    n_trunc = min(params.n_trunc, n)
    sims, ids = knn(features, features, n_trunc)
    kd = min(params.kd, n_trunc)
    lap = laplacian_alpha(affinity(sims[:, :kd], ids[:, :kd], params.gamma), params.alpha)
    rhs = np.zeros(n_trunc)
    rhs[0] = 1.0
    values = np.empty((n, n_trunc), np.float32)
    for i in range(n):
        sub = lap[ids[i]][:, ids[i]]
        values[i], _ = cg(sub, rhs, rtol=params.cg_tol, maxiter=params.cg_maxiter)
    indptr = np.arange(0, n * n_trunc + 1, n_trunc)
    return sp.csr_matrix((values.ravel(), ids.ravel(), indptr), shape=(n, n))
