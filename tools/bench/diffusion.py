"""Offline cross-diffusion: xgeo-plcd's compiled truncated solves against the straightforward per-node SciPy CG.

Both implement the same algorithm (exact kNN, mutual kd-NN graph, S = D^-1/2 W D^-1/2, one truncated
CG solve per node) and run in this one process on the same features: University-1652-like clusters
(one cluster per building: drone images and its satellite around a centre), N nodes in all. Printed:
wall time of each (and of the shared kNN), their ratio, the peak memory each allocates (
each runs in its own spawned process, so the peak is that process's maximum resident set minus what
it held before the call), and the largest difference of the satellite scores of ground-like queries.

    python tools/bench/diffusion.py [--nodes 20000] [--dim 512] [--n_trunc 500] [--kd 70]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np

from xgeo.plcd.diffusion import DiffusionParams, knn, offline, online, seed_weights
from xgeo.plcd.diffusion_reference import offline_per_node


def clustered(rng: np.random.Generator, n: int, dim: int, clusters: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows around ``clusters`` random centres and their cluster labels."""
    centres = rng.standard_normal((clusters, dim))
    labels = rng.integers(0, clusters, n)
    x = centres[labels] + spread * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def _child(fn, args, warmup, conn) -> None:
    import resource

    start = time.perf_counter()
    if warmup is not None:
        fn(*warmup)
    warmup_s = time.perf_counter() - start
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    out = fn(*args)
    seconds = time.perf_counter() - start
    conn.send((out, seconds, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss) * 1024, warmup_s))
    conn.close()


def measured(fn, *args, warmup=None):
    """``fn(*args)`` run in a spawned process: its result, wall time, peak extra resident memory (bytes) and
    the time of ``fn(*warmup)`` run there first (not timed with the rest; 0 without ``warmup``).
    Not forked: a fork after torch has started its thread pool (the seeds' kNN) can hang in the child."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, warmup, child))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


def diffused(offline_fn, features, params, seeds=None, gallery=None):
    """Offline stage by ``offline_fn``, then the satellite scores of the seeds (what is compared)."""
    matrix = offline_fn(features, params)
    return None if seeds is None else online(seeds, matrix, gallery)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--n_trunc", type=int, default=500)
    parser.add_argument("--kd", type=int, default=70)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features", choices=("random", "clustered"), default="random",
                        help="i.i.d. random unit rows (as the issue measured) or 20-node clusters")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n_sat = max(1, args.nodes // 20)
    if args.features == "random":
        features, _ = clustered(rng, args.nodes, args.dim, 1, spread=1e6)
    else:
        features, _ = clustered(rng, args.nodes, args.dim, n_sat, spread=0.8)
    params = DiffusionParams(kd=args.kd, n_trunc=args.n_trunc)
    n_drone = args.nodes - n_sat
    print(f"{args.features} features, N = {args.nodes} nodes ({n_drone} drone + {n_sat} satellite), dim {args.dim}, "
          f"n_trunc {params.n_trunc}, kd {params.kd}, CG tol {params.cg_tol} / {params.cg_maxiter} iterations")

    queries = features[rng.integers(0, n_drone, args.queries)] + 0.05 * rng.standard_normal((args.queries, args.dim))
    seeds = seed_weights(queries.astype(np.float32), features[:n_drone], params.kq, params.gamma)
    gallery = slice(n_drone, args.nodes)
    _, knn_s, _, _ = measured(knn, features, features, params.n_trunc)
    small = (features[:1000], params)  # first call in a process: numba compiles the kernels or loads its cache
    fast, fast_s, fast_peak, load_s = measured(diffused, offline, features, params, seeds, gallery, warmup=(offline, *small))
    slow, slow_s, slow_peak, _ = measured(diffused, offline_per_node, features, params, seeds, gallery,
                                          warmup=(offline_per_node, *small))
    diff = np.abs(fast - slow).max()

    print("both use the same exact kNN (xgeo.plcd.diffusion.knn: blocked float32 matmul + torch.topk candidates),")
    print("so the comparison is fair about the rest: graph, truncated solves")
    print(f"shared exact kNN (inside both)     {knn_s:8.2f} s")
    print(f"per-node SciPy CG (baseline)       {slow_s:8.2f} s   peak {slow_peak / 2**20:8.1f} MiB")
    print(f"xgeo-plcd compiled offline         {fast_s:8.2f} s   peak {fast_peak / 2**20:8.1f} MiB")
    print(f"(not timed: each first ran 1,000 nodes; ours took {load_s:.2f} s there, "
          "numba's kernels compiled or loaded from its cache)")
    print(f"speed-up (whole offline stage)     {slow_s / fast_s:8.2f} x")
    print(f"speed-up (after the shared kNN)    {(slow_s - knn_s) / max(fast_s - knn_s, 1e-9):8.2f} x")
    print(f"max satellite score difference     {diff:.2e}  ({args.queries} queries, kq {params.kq})")


if __name__ == "__main__":
    main()
