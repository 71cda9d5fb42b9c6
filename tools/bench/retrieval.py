"""Benchmark ``xgeo evaluate`` against the naive evaluation of the original repositories.

Not a test. Writes a synthetic query/gallery pair of feature files (one-to-one ground truth,
Nq = Ng = 20,000, D = 256 by default), then runs, each as its own process:

- ``xgeo evaluate --protocol crossview`` (chunked exact retrieval);
- the naive path of the original code: the full N x M similarity matrix in NumPy, the positive's
  score read from it, "count strictly greater" per row.

It prints both metric sets (asserted equal), wall time and peak RSS of each process (from
``os.wait4``), the time ratio naive / xgeo (target >= 1) and xgeo's peak RSS (target <= 1 GB).
Finally, in this process, it times the similarity products of the same chunked search and a
plain ``torch.mm`` over the same block shapes (the ceiling) and reports GFLOP/s.

``--engine numpy|torch`` runs ``xgeo evaluate`` with that block engine (for the engine choice).

``--vigor-scale`` instead writes random unit features of VIGOR size (Nq = 52,000 by default,
Ng = 90,000, D = 3072, float32; about 1.8 GB on disk; ``--n-query`` may lower Nq), with the
VIGOR ground truth (one positive, three semi-positives per query), runs
``xgeo evaluate --protocol vigor`` (gallery and queries streamed from HDF5) and reports its wall
time, peak RSS and GFLOP/s against the ceiling: one plain one-block GEMM of the engine.

    python tools/bench/retrieval.py [--n-query 20000] [--n-gallery 20000] [--dim 256]
        [--query-chunk 1024] [--gallery-chunk 4096] [--engine auto] [--skip-naive] [--workdir DIR]
    python tools/bench/retrieval.py --vigor-scale [--n-query 52000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from xgeo.core.features import FeatureFile, FeatureSet, FeatureWriter, write_features
from xgeo.core.retrieval import DEFAULT_GALLERY_CHUNK, DEFAULT_QUERY_CHUNK, Searcher, SearchOptions
from xgeo.core.task import RetrievalTask

KS = (1, 5, 10)


# ------------------------------------------------------------------------------------------ data
def make_files(workdir: Path, n_query: int, n_gallery: int, dim: int, seed: int) -> tuple[Path, Path]:
    """Gallery ~ N(0, I); query i = gallery (i mod Ng) + noise, so recalls are mid-range."""
    rng = np.random.default_rng(seed)
    gallery = rng.standard_normal((n_gallery, dim), dtype=np.float32)
    labels_q = np.arange(n_query) % n_gallery
    query = gallery[labels_q] + 3.5 * rng.standard_normal((n_query, dim), dtype=np.float32)
    task = RetrievalTask.from_labels([f"q{i}" for i in range(n_query)], [f"g{j}" for j in range(n_gallery)],
                                     labels_q, np.arange(n_gallery))
    q_path, g_path = workdir / "query.h5", workdir / "gallery.h5"
    write_features(q_path, FeatureSet.from_task(query, task, "query", method="bench"))
    write_features(g_path, FeatureSet.from_task(gallery, task, "gallery", method="bench"))
    return q_path, g_path


# ------------------------------------------------------------------------------------------ naive
def naive(q_path: str, g_path: str, out: str) -> None:
    """The original repos' evaluation: full similarity matrix, count strictly greater per row."""
    import h5py

    with h5py.File(q_path, "r") as f:
        q, q_labels = f["features"][()], f["labels"][()]
    with h5py.File(g_path, "r") as f:
        g, g_labels = f["features"][()], f["labels"][()]
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    sim = q @ g.T  # N x M
    where = {int(lab): j for j, lab in enumerate(g_labels)}
    truth = np.array([where[int(lab)] for lab in q_labels])
    positive = sim[np.arange(len(q)), truth]
    ranks = (sim > positive[:, None]).sum(axis=1)
    metrics = {f"R@{k}": 100.0 * float(np.mean(ranks < k)) for k in KS}
    metrics["R@1%"] = 100.0 * float(np.mean(ranks < len(g) // 100))
    Path(out).write_text(json.dumps({"metrics": metrics}))


# ------------------------------------------------------------------------------------------ runs
def run_measured(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB) of that process alone."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err.read().decode()}")
    return wall, usage.ru_maxrss / 1024.0


def product_throughput(q_path: Path, g_path: Path, query_chunk: int, gallery_chunk: int) -> dict[str, float]:
    """GFLOP/s of the chunked search's similarity products, of the whole search, and of a plain
    torch.mm over the same block shapes."""
    import torch

    with FeatureFile(q_path) as qf, FeatureFile(g_path) as gf:
        query, gallery = qf.read_features(), gf.read_features()
        relation = RetrievalTask.from_labels(qf.ids, gf.ids, qf.labels, gf.labels).relation()
    searcher = Searcher(gallery, "cosine", options=SearchOptions(query_chunk=query_chunk, gallery_chunk=gallery_chunk))
    engine = searcher.engine
    timed = {"matmul": 0.0}
    plain = engine.matmul

    def timed_matmul(q, g, out):  # noqa: ANN001 - same signature as the engine's
        t0 = time.perf_counter()
        plain(q, g, out)
        timed["matmul"] += time.perf_counter() - t0

    engine.matmul = timed_matmul
    t0 = time.perf_counter()
    for a in range(0, len(query), query_chunk):
        searcher.rank(query[a : a + query_chunk], relation[a : a + query_chunk])
    total = time.perf_counter() - t0
    flops = 2.0 * len(query) * len(gallery) * gallery.shape[1]

    qt, gt = torch.from_numpy(engine.normalize(query)), torch.from_numpy(engine.normalize(gallery))
    out = torch.empty(query_chunk * gallery_chunk)
    t0 = time.perf_counter()
    for a in range(0, len(qt), query_chunk):
        q = qt[a : a + query_chunk]
        for c in range(0, len(gt), gallery_chunk):
            g = gt[c : c + gallery_chunk]
            torch.mm(q, g.T, out=out[: len(q) * len(g)].view(len(q), len(g)))
    ceiling = time.perf_counter() - t0
    return {
        "products_gflops": flops / timed["matmul"] / 1e9,
        "search_gflops": flops / total / 1e9,
        "torch_mm_gflops": flops / ceiling / 1e9,
        "search_s": total,
    }


# ------------------------------------------------------------------------------------------ VIGOR scale
VIGOR_QUERIES, VIGOR_GALLERY, VIGOR_DIM = 52_000, 90_000, 3072


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_vigor_files(workdir: Path, n_query: int, seed: int, rows: int = 4096) -> tuple[Path, Path]:
    """Random unit features in the feature-store schema, written chunk by chunk: gallery ~ unit
    Gaussian; query i = its positive gallery row + noise; three random semi-positives."""
    rng = np.random.default_rng(seed)
    m, d = VIGOR_GALLERY, VIGOR_DIM
    g_path, q_path = workdir / "vigor_gallery.h5", workdir / "vigor_query.h5"
    positive = rng.permutation(m)[:n_query] if n_query <= m else rng.integers(0, m, n_query)
    with FeatureWriter(g_path, d, method="bench", normalized=True) as w:
        for a in range(0, m, rows):
            b = min(a + rows, m)
            w.append(_unit(rng.standard_normal((b - a, d), dtype=np.float32)), [f"g{j}" for j in range(a, b)],
                     np.arange(a, b))
    with FeatureFile(g_path) as gf, FeatureWriter(q_path, d, semi_width=3, method="bench", normalized=True) as w:
        for a in range(0, n_query, rows):
            b = min(a + rows, n_query)
            pos = positive[a:b]
            order = np.argsort(pos)
            base = np.empty((b - a, d), dtype=np.float32)
            base[order] = gf.h5["features"][np.sort(pos)] if len(np.unique(pos)) == len(pos) else gf.read_features()[pos]
            noisy = _unit(base + 0.02 * rng.standard_normal((b - a, d), dtype=np.float32))
            semi = (pos[:, None] + rng.integers(1, m, (b - a, 3))) % m
            w.append(noisy, [f"q{i}" for i in range(a, b)], pos, semi)
    return q_path, g_path


def gemm_ceiling(dim: int, query_chunk: int, gallery_chunk: int, repeats: int = 5) -> float:
    """GFLOP/s of one plain ``query_chunk x dim @ dim x gallery_chunk`` NumPy GEMM (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((query_chunk, dim), dtype=np.float32)
    g = rng.standard_normal((gallery_chunk, dim), dtype=np.float32)
    out = np.empty((query_chunk, gallery_chunk), dtype=np.float32)
    np.matmul(q, g.T, out=out)
    best = min(_timed(lambda: np.matmul(q, g.T, out=out)) for _ in range(repeats))
    return 2.0 * query_chunk * gallery_chunk * dim / best / 1e9


def _timed(fn) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def vigor_scale(workdir: Path, n_query: int, seed: int, engine: str) -> None:
    print(f"VIGOR scale: Nq={n_query} Ng={VIGOR_GALLERY} D={VIGOR_DIM} float32, engine={engine}, threads={os.cpu_count()}")
    t0 = time.perf_counter()
    q_path, g_path = make_vigor_files(workdir, n_query, seed)
    size = (q_path.stat().st_size + g_path.stat().st_size) / 2**30
    print(f"wrote {size:.2f} GiB of features in {time.perf_counter() - t0:.0f} s")
    out_json = workdir / "vigor.json"
    cmd = [sys.executable, "-m", "xgeo.core.cli", "evaluate", "--query", str(q_path), "--gallery", str(g_path),
           "--protocol", "vigor", "--json", str(out_json), "--engine", engine]
    wall, rss = run_measured(cmd)
    metrics = json.loads(out_json.read_text())["metrics"]
    flops = 2.0 * n_query * VIGOR_GALLERY * VIGOR_DIM
    ceiling = gemm_ceiling(VIGOR_DIM, DEFAULT_QUERY_CHUNK, DEFAULT_GALLERY_CHUNK)
    print(f"xgeo evaluate : {wall:7.1f} s  peak RSS {rss:6.0f} MB (target <= 1024)  {metrics}")
    print(f"throughput    : {flops / wall / 1e9:6.1f} GFLOP/s; one-block GEMM ceiling {ceiling:6.1f} GFLOP/s; "
          f"ratio {flops / wall / 1e9 / ceiling:.2f} (target >= 0.8)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-query", type=int, default=20_000)
    parser.add_argument("--n-gallery", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--query-chunk", type=int, default=DEFAULT_QUERY_CHUNK)
    parser.add_argument("--gallery-chunk", type=int, default=DEFAULT_GALLERY_CHUNK)
    parser.add_argument("--engine", choices=["auto", "numpy", "torch"], default="auto", help="xgeo evaluate's block engine")
    parser.add_argument("--vigor-scale", action="store_true", help="stream VIGOR-size feature files (see above)")
    parser.add_argument("--skip-naive", action="store_true", help="only run xgeo (for sizes the naive path cannot hold)")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here (default: a temporary folder)")
    parser.add_argument("--naive", nargs=3, metavar=("Q", "G", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:
        naive(*args.naive)
        return

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.vigor_scale:
            n_query = VIGOR_QUERIES if args.n_query == parser.get_default("n_query") else args.n_query
            vigor_scale(workdir, n_query, args.seed, args.engine)
            return
        print(f"Nq={args.n_query} Ng={args.n_gallery} D={args.dim} chunks={args.query_chunk}x{args.gallery_chunk}"
              f" threads={os.cpu_count()}")
        q_path, g_path = make_files(workdir, args.n_query, args.n_gallery, args.dim, args.seed)
        xgeo_json, naive_json = workdir / "xgeo.json", workdir / "naive.json"
        xgeo_cmd = [sys.executable, "-m", "xgeo.core.cli", "evaluate", "--query", str(q_path), "--gallery", str(g_path),
                    "--protocol", "crossview", "--json", str(xgeo_json), "--query-chunk", str(args.query_chunk),
                    "--gallery-chunk", str(args.gallery_chunk), "--engine", args.engine]
        x_wall, x_rss = run_measured(xgeo_cmd)
        ours = json.loads(xgeo_json.read_text())["metrics"]
        print(f"xgeo evaluate : {x_wall:7.2f} s  peak RSS {x_rss:7.0f} MB  {ours}")
        if not args.skip_naive:
            n_wall, n_rss = run_measured([sys.executable, __file__, "--naive", str(q_path), str(g_path), str(naive_json)])
            theirs = json.loads(naive_json.read_text())["metrics"]
            print(f"naive numpy   : {n_wall:7.2f} s  peak RSS {n_rss:7.0f} MB  {theirs}")
            assert ours == theirs, f"metrics differ: xgeo {ours} vs naive {theirs}"
            print("metrics       : identical")
            print(f"time ratio naive/xgeo = {n_wall / x_wall:.2f} (target >= 1.0); "
                  f"xgeo peak RSS {x_rss:.0f} MB (target <= 1024) vs naive {n_rss:.0f} MB")
        if not args.skip_throughput:
            tp = product_throughput(q_path, g_path, args.query_chunk, args.gallery_chunk)
            print(f"similarity products {tp['products_gflops']:.1f} GFLOP/s; whole chunked search "
                  f"{tp['search_gflops']:.1f} GFLOP/s ({tp['search_s']:.2f} s); plain torch.mm, same block shapes "
                  f"(ceiling) {tp['torch_mm_gflops']:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
