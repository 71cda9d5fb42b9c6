"""Graph diffusion with an offline truncated decomposition (Iscen et al. 2017; Yang et al. 2019), as PLCD uses it.

Graph nodes are unit-length features (PLCD: the test drone gallery and the satellites, D2S space).

- :func:`knn`: exact inner-product k nearest neighbours, descending, ties to the lower index.
- :func:`affinity`: mutual kd-NN graph, ``w_ij = max(x_i.x_j, 0)^gamma`` when ``j`` is among the kd
  nearest of ``i`` **and** ``i`` among those of ``j``, zero diagonal, stored row-wise from ``i``'s list.
- :func:`normalized_affinity`: ``S = D^-1/2 W D^-1/2`` with ``d_i = sum_j w_ij + 1e-12`` (full graph).
- :func:`offline`: for every node ``i`` solve ``(I - alpha S)[T_i, T_i] x = e_1`` over its ``n_trunc``
  nearest nodes ``T_i`` by conjugate gradient (x0 = 0, stop when ``||r|| < tol``, at most ``maxiter``
  iterations: SciPy's ``cg`` step by step); row ``i`` of the result holds ``x`` at ``T_i``. Many
  nodes are solved at once: their sub-graphs are cut out together and stacked block-diagonally, and
  one sparse product per iteration serves every system.
- :func:`online`: seeds = the ``kq`` nearest drone images of each query, weights ``s^gamma`` (not
  clipped), scores = the weighted sum of the seeds' offline rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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


def truncated_blocks(lap: sp.csr_matrix, trunc: np.ndarray) -> sp.csr_matrix:
    """``lap[T_b, T_b]`` for a batch of truncation lists ``trunc`` ``[B, n]``, stacked block-diagonally into one
    ``[B n, B n]`` CSR with float64 values. The rows of every list are gathered at once; the columns of list
    ``b`` are renamed ``b N + column``, so one column selection (SciPy's, in C) keeps and renumbers the
    entries of every list at once."""
    b, n = trunc.shape
    big_n = lap.shape[1]
    index = np.int32 if b * big_n < 2**31 else np.int64
    rows = lap[trunc.ravel()]
    indices = rows.indices.astype(index, copy=False)
    bounds = rows.indptr[::n]
    for system in range(1, b):
        indices[bounds[system]:bounds[system + 1]] += system * big_n
    wide = sp.csr_matrix((rows.data, indices, rows.indptr.astype(index, copy=False)), shape=(b * n, b * big_n), copy=False)
    blocks = wide[:, (np.arange(b, dtype=index)[:, None] * big_n + trunc).ravel()]
    blocks.data = blocks.data.astype(np.float64)
    return blocks


def _keep_blocks(matrix: sp.csr_matrix, keep: np.ndarray, n: int) -> sp.csr_matrix:
    """The diagonal blocks (of size ``n``) of a block-diagonal CSR that ``keep`` marks, still block-diagonal."""
    systems = np.flatnonzero(keep)
    sub = matrix[(systems[:, None] * n + np.arange(n)).ravel()]
    new_place = np.cumsum(keep) - 1
    old = sub.indices // n
    sub.indices = (sub.indices - (old - new_place[old]) * n).astype(sub.indices.dtype)
    sub._shape = (len(systems) * n, len(systems) * n)
    return sub


def batched_cg(blocks: sp.csr_matrix, b: np.ndarray, tol: float, maxiter: int) -> np.ndarray:
    """Conjugate gradient on ``B`` independent systems at once (``blocks`` block-diagonal, ``b`` ``[B, n]``),
    each following SciPy's ``cg`` (x0 = 0, stop when ``||r|| < tol ||b||``, ``maxiter``) step by step.
    Converged systems are dropped from the matrix once they are a quarter of those still in it."""
    n_sys, n = b.shape
    x = np.zeros(b.shape)
    r = b.astype(np.float64).copy()
    atol = tol * np.linalg.norm(r, axis=1)
    p = np.zeros(b.shape)
    rho_prev = np.ones(n_sys)
    live = np.arange(n_sys)  # systems whose blocks are in ``matrix``
    active = np.ones(n_sys, bool)  # systems not yet converged (sticky, as SciPy returns at once)
    matrix = blocks
    for iteration in range(maxiter):
        active[live] &= np.linalg.norm(r[live], axis=1) >= atol[live]
        running = active[live]
        if not running.any():
            break
        if (~running).sum() * 4 >= len(live):
            matrix = _keep_blocks(matrix, running, n)
            live = live[running]
            running = np.ones(len(live), bool)
        rl, pl = r[live], p[live]
        rho = np.einsum("ij,ij->i", rl, rl)
        if iteration:
            pl = np.where(running[:, None], rl + (rho / rho_prev[live])[:, None] * pl, pl)
        else:
            pl = rl.copy()
        q = (matrix @ pl.ravel()).reshape(pl.shape)
        pq = np.einsum("ij,ij->i", pl, q)
        step = np.where(running, rho / np.where(pq == 0, 1.0, pq), 0.0)[:, None]
        x[live] += step * pl
        r[live] = rl - step * q
        p[live] = pl
        rho_prev[live] = np.where(running, rho, rho_prev[live])
    return x


def offline(features: np.ndarray, params: DiffusionParams, batch: int = 512) -> sp.csr_matrix:
    """The offline diffusion matrix ``F`` (float32 CSR ``[N, N]``, ``min(n_trunc, N)`` entries per row)."""
    n = len(features)
    n_trunc = min(params.n_trunc, n)
    sims, ids = knn(features, features, n_trunc)
    kd = min(params.kd, n_trunc)
    lap = laplacian_alpha(affinity(sims[:, :kd], ids[:, :kd], params.gamma), params.alpha)
    values = np.empty((n, n_trunc), np.float32)
    for a in range(0, n, batch):
        trunc = ids[a:a + batch]
        rhs = np.zeros(trunc.shape)
        rhs[:, 0] = 1.0
        values[a:a + batch] = batched_cg(truncated_blocks(lap, trunc), rhs, params.cg_tol, params.cg_maxiter)
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
