"""Ground -> satellite retrieval by cross-diffusion (spec §8): the four feature files, the offline cache,
the diffused satellite scores and their metrics through core's ``university1652`` protocol.

Ties: many satellites score exactly 0 (no seed reaches them); the ranking orders equal scores by
satellite index (the gallery file's row order), so results never depend on a sort's tie handling.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from xgeo.core.errors import XgeoError
from xgeo.core.evaluate import Context, get_protocol
from xgeo.core.features import FeatureSet, read_features
from xgeo.core.io import atomic_write
from xgeo.core.retrieval import Ranking
from xgeo.core.task import RetrievalTask
from xgeo.plcd.diffusion import DiffusionParams, offline, online, seed_weights, top_k

CACHE_VERSION = "xgeo.plcd.offline/1"
PROTOCOL = "university1652"


@dataclass
class CrossDiffusionInputs:
    """Ground queries and drone gallery in G2D space; the same drone images and the satellites in D2S space."""

    ground: FeatureSet
    drone_g2d: FeatureSet
    drone_d2s: FeatureSet
    satellite: FeatureSet
    #: the G2D drone file holds ``regions + 1`` rows per image (global, then regions)
    regions: int = 0
    #: where each came from (for error lines)
    paths: tuple[str, str, str, str] = ("ground", "drone-g2d", "drone-d2s", "satellite")

    @classmethod
    def read(cls, ground: str | os.PathLike, drone_g2d: str | os.PathLike, drone_d2s: str | os.PathLike,
             satellite: str | os.PathLike, regions: int = 0) -> CrossDiffusionInputs:
        """Read and check four feature files (core feature-store schema)."""
        paths = (ground, drone_g2d, drone_d2s, satellite)
        sets = [read_features(p) for p in paths]
        inputs = cls(*sets, regions=regions, paths=tuple(str(p) for p in paths))
        inputs.check()
        return inputs

    def check(self) -> None:
        """Refuse inputs whose rows do not line up (the original checked nothing)."""
        g, dg, dd, s = self.paths
        per_image = self.regions + 1
        if len(self.drone_g2d) != per_image * len(self.drone_d2s):
            raise XgeoError(dg, f"{len(self.drone_g2d)} rows, but {dd} has {len(self.drone_d2s)} drone images "
                                f"(x {per_image} rows per image with --hiera {self.regions})",
                            "extract both drone files from the same drone gallery (and the same --hiera)")
        g2d_ids = self.drone_g2d.ids[::per_image]
        mismatch = np.flatnonzero(g2d_ids != self.drone_d2s.ids)
        if len(mismatch):
            i = int(mismatch[0])
            raise XgeoError(dg, f"drone ids differ from {dd} at image {i} ({g2d_ids[i]} vs {self.drone_d2s.ids[i]})",
                            "extract both with the same drone gallery folder (plcd-test-g2d / plcd-test-d2s --gallery_drone)")
        for (a, pa), (b, pb) in (((self.ground, g), (self.drone_g2d, dg)), ((self.drone_d2s, dd), (self.satellite, s))):
            if a.dim != b.dim:
                raise XgeoError(pb, f"feature dimension {b.dim} differs from {pa}'s {a.dim}", "pass features of the same model")

    @property
    def graph_features(self) -> np.ndarray:
        """The graph nodes: drone images, then satellites (D2S space)."""
        return np.concatenate([self.drone_d2s.features, self.satellite.features])

    def task(self) -> RetrievalTask:
        """Ground queries against the satellite gallery, by building label."""
        return RetrievalTask.from_labels(self.ground.ids, self.satellite.ids, self.ground.labels, self.satellite.labels,
                                         name="plcd-cross-diffusion")


# ------------------------------------------------------------------------------------------ offline cache
def cache_key(features: np.ndarray, params: DiffusionParams) -> str:
    """A hash of the graph features and every parameter of the offline stage."""
    digest = hashlib.sha256(CACHE_VERSION.encode())
    digest.update(json.dumps(params.offline_key(), sort_keys=True).encode())
    array = np.ascontiguousarray(features, dtype=np.float32)
    digest.update(str(array.shape).encode())
    digest.update(array.tobytes())
    return digest.hexdigest()[:40]


def cached_offline(features: np.ndarray, params: DiffusionParams,
                   cache_dir: str | os.PathLike | None) -> tuple[sp.csr_matrix, bool]:
    """The offline matrix, from ``cache_dir`` when a result for exactly these features and parameters is there
    (``(matrix, True)``), else computed and stored (``(matrix, False)``)."""
    if cache_dir is None:
        return offline(features, params), False
    path = Path(cache_dir) / f"offline-{cache_key(features, params)}.npz"
    if path.is_file():
        try:
            matrix = sp.load_npz(path).tocsr()
        except (OSError, ValueError) as err:
            raise XgeoError(path, f"unreadable diffusion cache ({type(err).__name__})",
                            "delete the file; it is rebuilt") from None
        if matrix.shape != (len(features), len(features)):
            raise XgeoError(path, f"cached matrix has shape {matrix.shape}", "delete the file; it is rebuilt")
        return matrix, True
    matrix = offline(features, params)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, suffix=".npz") as tmp:
        sp.save_npz(tmp, matrix, compressed=False)
    return matrix, False


# ------------------------------------------------------------------------------------------ scores, metrics
def cross_diffuse(inputs: CrossDiffusionInputs, params: DiffusionParams,
                  cache_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, bool]:
    """Diffused satellite scores ``[N_ground, N_satellite]`` and whether the offline stage came from the cache."""
    params.check()
    matrix, hit = cached_offline(inputs.graph_features, params, cache_dir)
    seeds = seed_weights(inputs.ground.features, inputs.drone_g2d.features, params.kq, params.gamma, inputs.regions)
    n_drone = len(inputs.drone_d2s)
    return online(seeds, matrix, slice(n_drone, n_drone + len(inputs.satellite))), hit


def ranking_from_scores(scores: np.ndarray, task: RetrievalTask, k: int = 10) -> Ranking:
    """A core :class:`Ranking` of a score matrix, equal scores ordered by gallery index, junk left out."""
    keep = np.flatnonzero(~task.junk_mask)
    sub = scores[:, keep]
    order = top_k(sub, sub.shape[1])
    position = np.empty_like(order)
    np.put_along_axis(position, order, np.arange(sub.shape[1])[None, :], 1)
    relation = task.relation()[:, keep].tocsr()
    relation.sort_indices()
    rows = np.repeat(np.arange(task.num_queries), np.diff(relation.indptr))
    positions = position[rows, relation.indices]
    counts = np.diff(relation.indptr)
    sorted_positions = np.concatenate([np.sort(positions[a:b]) for a, b in zip(relation.indptr[:-1], relation.indptr[1:])]
                                      or [np.zeros(0, np.int64)]).astype(np.int64)
    first = np.full(task.num_queries, -1, np.int64)
    first[counts > 0] = sorted_positions[relation.indptr[:-1][counts > 0]]
    top = order[:, :k]
    return Ranking(first_rank=first.astype(np.int64), positive_indptr=relation.indptr.astype(np.int64),
                   positive_positions=sorted_positions, num_gallery=task.num_gallery, num_ranked=len(keep),
                   topk_scores=np.take_along_axis(sub, top, 1), topk_indices=keep[top])


def metrics_from_scores(scores: np.ndarray, task: RetrievalTask) -> dict[str, float]:
    """R@1/5/10, R@1% (round convention) and trapezoid mAP of a score matrix, by core's metric path."""
    protocol = get_protocol(PROTOCOL)
    context = Context(ranking_from_scores(scores, task, protocol.k), task, ())
    out: dict[str, float] = {}
    for metric in protocol.metrics:
        out.update({key: float(value) for key, value in metric(context).items()})
    return out
