"""Graph diffusion with an offline truncated decomposition (Iscen et al. 2017; Yang et al. 2019), as PLCD uses it.

Graph nodes are unit-length features (PLCD: the test drone gallery and the satellites, D2S space).

- :func:`knn`: exact inner-product k nearest neighbours, descending, ties to the lower index.
- :func:`affinity`: mutual kd-NN graph, ``w_ij = max(x_i.x_j, 0)^gamma`` when ``j`` is among the kd
  nearest of ``i`` **and** ``i`` among those of ``j``, zero diagonal, stored row-wise from ``i``'s list.
- :func:`normalized_affinity`: ``S = D^-1/2 W D^-1/2`` with ``d_i = sum_j w_ij + 1e-12`` (full graph).
- :func:`offline`: for every node ``i`` solve ``(I - alpha S)[T_i, T_i] x = e_1`` over its ``n_trunc``
  nearest nodes ``T_i`` by conjugate gradient (x0 = 0, stop when ``||r|| < tol``, at most ``maxiter``
  iterations: SciPy's ``cg`` step by step); row ``i`` of the result holds ``x`` at ``T_i``. Cutting
  the sub-graphs and solving them are compiled (numba) and run on every core, a node at a time per
  thread, with no Python between nodes.
- :func:`online`: seeds = the ``kq`` nearest drone images of each query, weights ``s^gamma`` (not
  clipped), scores = the weighted sum of the seeds' offline rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np
import scipy.sparse as sp
import torch

from xgeo.core.errors import XgeoError


@dataclass(frozen=True)
class DiffusionParams:
    """Every number the diffusion result depends on (PLCD's README command: kq 20, kd 70, n_trunc 500)."""

    kq: int = 20
    kd: int = 70
    n_trunc: int = 500
    alpha: float = 0.99
    gamma: float = 3.0
    cg_tol: float = 1e-6
    cg_maxiter: int = 20

    def offline_key(self) -> dict[str, float]:
        """The parameters the offline stage depends on (everything but ``kq``)."""
        out = asdict(self)
        out.pop("kq")
        return out

    def check(self) -> None:
        """One-line errors for values the algorithm cannot use."""
        for name in ("kq", "kd", "n_trunc", "cg_maxiter"):
            if int(getattr(self, name)) < 1:
                raise XgeoError(None, f"--{name} {getattr(self, name)} must be at least 1", f"pass --{name} 1 or more")
        if self.kd > self.n_trunc:
            raise XgeoError(None, f"--kd {self.kd} exceeds --n_trunc {self.n_trunc}",
                            "use --kd at most --n_trunc: the graph is built from the truncated lists")
        if not 0 < self.alpha < 1:
            raise XgeoError(None, f"alpha {self.alpha} must lie in (0, 1)", "use 0.99 as the paper")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices ``[N, k]`` of each row's ``k`` largest scores, descending, ties to the lower index.

    ``k + 1`` candidates per row come from ``torch.topk`` (multi-threaded, no copy of ``scores``) and are
    ordered by (score descending, index); a row whose ``k``-th and ``k + 1``-th candidates tie may have
    more equal scores outside the candidates, and only such a row is sorted in full."""
    n, m = scores.shape
    k = min(int(k), m)
    if k == m:
        return np.lexsort((np.broadcast_to(np.arange(m), scores.shape), -scores), axis=1)
    vals, part = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), k + 1, dim=1, sorted=True)
    vals, part = vals.numpy(), part.numpy()
    order = np.take_along_axis(part, np.lexsort((part, -vals), axis=1), 1)[:, :k]
    for row in np.flatnonzero(vals[:, k] == vals[:, k - 1]):
        order[row] = np.lexsort((np.arange(m), -scores[row]))[:k]
    return order


def knn(query: np.ndarray, database: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products of each query row against ``database``: ``(sims, ids)`` ``[N, k]``,
    descending, ties broken by the lower index. One ``block x N`` score matrix at a time (float32)."""
    k = min(int(k), len(database))
    q = np.ascontiguousarray(query, dtype=np.float32)
    db = np.ascontiguousarray(database, dtype=np.float32)
    sims = np.empty((len(q), k), np.float32)
    ids = np.empty((len(q), k), np.int64)
    for a in range(0, len(q), block):
        s = q[a:a + block] @ db.T
        order = top_k(s, k)
        ids[a:a + block] = order
        sims[a:a + block] = np.take_along_axis(s, order, 1)
    return sims, ids


def affinity(sims: np.ndarray, ids: np.ndarray, gamma: float = 3.0) -> sp.csr_matrix:
    """Mutual-kNN affinity ``W`` (float32 CSR ``[N, N]``) from the kd-NN lists ``(sims, ids)`` of every node."""
    n, kd = ids.shape
    rows = np.repeat(np.arange(n), kd)
    cols = ids.ravel()
    lists = sp.csr_matrix((np.ones(n * kd, bool), (rows, cols)), shape=(n, n))
    mutual = np.asarray(lists[cols, rows]).ravel() & (cols != rows)  # i in kNN(j), and not a self-loop
    weights = np.maximum(sims.ravel().astype(np.float32), 0) ** np.float32(gamma)
    return sp.csr_matrix((weights[mutual], (rows[mutual], cols[mutual])), shape=(n, n), dtype=np.float32)


def normalized_affinity(w: sp.spmatrix) -> sp.csr_matrix:
    """``S = D^-1/2 W D^-1/2`` (float32) with degrees ``d = W 1 + 1e-12``."""
    d = np.asarray(w.sum(axis=1), dtype=np.float64).ravel() + 1e-12
    inv = sp.diags(d**-0.5)
    return (inv @ w @ inv).astype(np.float32).tocsr()


def laplacian_alpha(w: sp.spmatrix, alpha: float = 0.99) -> sp.csr_matrix:
    """``L_alpha = I - alpha S`` (float32 CSR), the matrix every truncated system is cut from."""
    s = normalized_affinity(w)
    return (sp.identity(s.shape[0], dtype=np.float32, format="csr") - np.float32(alpha) * s).astype(np.float32).tocsr()


def padded_rows(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """A CSR matrix as fixed-width rows: ``(columns int32 [N, w], values float32 [N, w])``, ``w`` the longest
    row, short rows padded with column -1. Row ``u`` starts at ``u * w``: no row-pointer lookup."""
    counts = np.diff(matrix.indptr)
    width = max(int(counts.max(initial=0)), 1)
    cols = np.full((matrix.shape[0], width), -1, np.int32)
    vals = np.zeros((matrix.shape[0], width), np.float32)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    slot = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], counts)
    cols[rows, slot], vals[rows, slot] = matrix.indices, matrix.data
    return cols, vals


@numba.njit(cache=True)
def _cut(cols, vals, trunc, pos, sub_ptr, sub_col, sub_val):
    """``lap[trunc, trunc]`` (``lap`` as :func:`padded_rows`) into the CSR ``sub_*`` (float64 values).
    ``pos`` maps every node to -1 on entry and is left so."""
    n = trunc.shape[0]
    for j in range(n):
        pos[trunc[j]] = j
    k = 0
    for j in range(n):
        sub_ptr[j] = k
        u = trunc[j]
        for e in range(cols.shape[1]):
            col = cols[u, e]
            if col < 0:
                break
            local = pos[col]
            if local >= 0:
                sub_col[k] = local
                sub_val[k] = vals[u, e]
                k += 1
    sub_ptr[n] = k
    for j in range(n):
        pos[trunc[j]] = -1


@numba.njit(cache=True)
def _cg_first_unit(sub_ptr, sub_col, sub_val, tol, maxiter, x, r, p, q):
    """``x`` solving ``A x = e_1`` (``A`` the CSR ``sub_*``) as SciPy's ``cg`` does: x0 = 0, stop when
    ``||r|| < tol`` (``||e_1|| = 1``), at most ``maxiter`` iterations."""
    n = x.shape[0]
    x[:] = 0.0
    r[:] = 0.0
    r[0] = 1.0
    rho_prev = 1.0
    for iteration in range(maxiter):
        rho = 0.0
        for j in range(n):
            rho += r[j] * r[j]
        if np.sqrt(rho) < tol:
            break
        if iteration == 0:
            p[:] = r
        else:
            beta = rho / rho_prev
            for j in range(n):
                p[j] = r[j] + beta * p[j]
        pq = 0.0
        for j in range(n):
            acc = 0.0
            for e in range(sub_ptr[j], sub_ptr[j + 1]):
                acc += sub_val[e] * p[sub_col[e]]
            q[j] = acc
            pq += p[j] * acc
        if pq <= 0.0:  # r = 0 exactly (possible with tol 0): x is the solution
            break
        step = rho / pq
        for j in range(n):
            x[j] += step * p[j]
            r[j] -= step * q[j]
        rho_prev = rho


@numba.njit(parallel=True, cache=True)
def truncated_solves(cols: np.ndarray, vals: np.ndarray, trunc: np.ndarray, tol: float, maxiter: int,
                     chunks: int) -> np.ndarray:
    """Row ``i``: the solution of ``lap[T_i, T_i] x = e_1`` (``T_i = trunc[i]``, ``lap`` as :func:`padded_rows`),
    float32 ``[N, n]``. Nodes are split into ``chunks`` run in parallel; each chunk cuts its sub-graphs one
    after another into its own buffers (one node-to-position map, reset after each cut)."""
    n_nodes, n = trunc.shape
    out = np.empty((n_nodes, n), np.float32)
    per = (n_nodes + chunks - 1) // chunks
    for c in numba.prange(chunks):
        pos = np.full(cols.shape[0], -1, np.int32)
        sub_ptr = np.empty(n + 1, np.int32)
        sub_col = np.empty(n * cols.shape[1], np.int32)
        sub_val = np.empty(n * cols.shape[1], np.float64)
        x, r, p, q = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        for node in range(c * per, min((c + 1) * per, n_nodes)):
            _cut(cols, vals, trunc[node], pos, sub_ptr, sub_col, sub_val)
            _cg_first_unit(sub_ptr, sub_col, sub_val, tol, maxiter, x, r, p, q)
            out[node] = x
    return out


def offline(features: np.ndarray, params: DiffusionParams) -> sp.csr_matrix:
    """The offline diffusion matrix ``F`` (float32 CSR ``[N, N]``, ``min(n_trunc, N)`` entries per row)."""
    n = len(features)
    n_trunc = min(params.n_trunc, n)
    sims, ids = knn(features, features, n_trunc)
    kd = min(params.kd, n_trunc)
    lap = laplacian_alpha(affinity(sims[:, :kd], ids[:, :kd], params.gamma), params.alpha)
    chunks = min(n, 16 * numba.get_num_threads())
    cols, vals = padded_rows(lap)
    values = truncated_solves(cols, vals, ids.astype(np.int32), float(params.cg_tol), int(params.cg_maxiter), chunks)
    indptr = np.arange(0, n * n_trunc + 1, n_trunc)
    return sp.csr_matrix((values.ravel(), ids.ravel(), indptr), shape=(n, n))


def seed_weights(query: np.ndarray, drones: np.ndarray, kq: int, gamma: float = 3.0, regions: int = 0) -> sp.csr_matrix:
    """``Y`` ``[Nq, Nd]``: each query's ``kq`` nearest drone images (ties to the lower index) weighted ``s^gamma``.
    With ``regions`` h > 0, ``drones`` holds ``h + 1`` consecutive rows per image and ``s`` is their maximum."""
    sims = np.asarray(query, np.float32) @ np.asarray(drones, np.float32).T
    if regions:
        sims = sims.reshape(len(query), -1, regions + 1).max(axis=2)
    n_drone = sims.shape[1]
    kq = min(int(kq), n_drone)
    order = top_k(sims, kq)
    weights = np.take_along_axis(sims, order, 1).astype(np.float64) ** gamma
    rows = np.repeat(np.arange(len(query)), kq)
    return sp.csr_matrix((weights.ravel(), (rows, order.ravel())), shape=(len(query), n_drone))


def online(seeds: sp.csr_matrix, offline_matrix: sp.csr_matrix, gallery: slice) -> np.ndarray:
    """Diffused scores ``[Nq, |gallery|]``: ``Y F`` restricted to the gallery nodes (seeds are the first nodes)."""
    rows = offline_matrix[:seeds.shape[1]][:, gallery]  # the seeds' offline rows, gallery columns only
    return np.asarray((seeds @ rows).todense(), dtype=np.float64)
