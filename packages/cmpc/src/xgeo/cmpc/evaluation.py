"""``cmpc-test``: coarse and refined metrics on the test split, feature files with metres, and plots.

Reported before and after refinement: CMC top-1/5/10/20, mean reciprocal rank (the release prints
it as "mAP"), accuracy at metre thresholds (50/100/150/200 m by default; ``reference-grid`` gives the
release's grid points 42.1/94.7/147.4/200 m, which it printed as 50/100/150/200) and the mean
localisation error (query position vs. the top-1 reference's position).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xgeo.cmpc.data import PROFILE
from xgeo.cmpc.model import CMPC
from xgeo.cmpc.refine import refine_order
from xgeo.cmpc.task import evaluator
from xgeo.core.io import write_json
from xgeo.core.registry import Registry
from xgeo.core.report import (
    accuracy_vs_distance,
    cmc_curve,
    plot_accuracy_vs_distance,
    plot_cmc,
    plot_retrieval_grid,
    retrieval_rows,
    sample_queries,
    top1_errors,
)
from xgeo.core.rerank import coarse_ranking, reorder_top_k, score_ranking
from xgeo.core.runs import write_split_features
from xgeo.core.train import distributed as dist_utils

#: named threshold sets (metres)
THRESHOLDS: Registry[tuple[float, ...]] = Registry("threshold preset", "--threshold-preset")
THRESHOLDS.register("metres", (50.0, 100.0, 150.0, 200.0))
#: the release's linspace(0, 200, 20) at indices 4/9/14/19, printed there as "50/100/150/200 m"
THRESHOLDS.register("reference-grid", tuple(float(v) for v in np.linspace(0, 200, 20)[[4, 9, 14, 19]]))
CMC_KS = (1, 5, 10, 20)
PLOTS = {"cmc": "cmc_coarse_vs_refined.png", "accuracy": "accuracy_vs_threshold.png", "grid": "retrieval_grid.png"}


def test_model(model: CMPC, split: Any, out_dir: Path, thresholds: tuple[float, ...], *, refine: bool = True,
               batch_size: int = 32, device: str = "auto", grid_queries: int = 6) -> dict[str, Any]:
    """Evaluate ``model`` on ``split``; write query.h5/gallery.h5, eval_metrics.json and the three PNGs."""
    _, dev = dist_utils.setup(device)
    model = model.to(dev)
    query, gallery = evaluator(split, batch_size).features(model, dev)
    task = split.task
    k = min(model.spec.node_topk, task.num_gallery)
    ranking = coarse_ranking(query.numpy(), gallery.numpy(), task, PROFILE.protocol, k=k)
    results: dict[str, Any] = {"queries": task.num_queries, "gallery": task.num_gallery, "thresholds_m": list(thresholds)}
    results["coarse"] = score_ranking(ranking, task, PROFILE.protocol, thresholds)
    stages = {"coarse": ranking}
    if refine and k >= model.spec.edge_topk + 1:
        import torch

        positions = torch.from_numpy(task.gallery_locations).float().to(dev)
        order = refine_order(model.refiner, query.to(dev), gallery.to(dev), positions, ranking.topk_indices, batch_size)
        stages["refined"] = reorder_top_k(ranking, task, order)
        results["refined"] = score_ranking(stages["refined"], task, PROFILE.protocol, thresholds)
    results["chance"] = {"R@1": 100.0 / task.num_gallery}
    qpath, gpath = write_split_features(out_dir, query, gallery, task, "cmpc", ("sar", "optical"), split=split)
    results["query_features"], results["gallery_features"] = str(qpath), str(gpath)
    results["plots"] = write_plots(stages, split, out_dir, grid_queries)
    write_json(out_dir / "eval_metrics.json", results)
    return results


def write_plots(stages: dict[str, Any], split: Any, out_dir: Path, grid_queries: int = 6) -> dict[str, str]:
    """CMC coarse vs refined, accuracy vs distance threshold, and a retrieval grid (after refinement if run)."""
    task = split.task
    m = task.num_gallery
    # the sn6 protocol reports R@1/5/10/20 and no R@1% (on 100 references R@1% would be R@1)
    curves = [cmc_curve(r.first_rank, m, name, max_k=min(max(CMC_KS), m), ks=CMC_KS, percent_convention=None)
              for name, r in stages.items()]
    paths = {"cmc": plot_cmc(curves, out_dir / PLOTS["cmc"], title=f"CMC on {task.num_queries} SAR queries, {m} optical")}
    distance = [accuracy_vs_distance(top1_errors(r.topk_indices, task.query_locations, task.gallery_locations, "metres"),
                                     max_distance=300.0, label=name) for name, r in stages.items()]
    paths["accuracy"] = plot_accuracy_vs_distance(distance, out_dir / PLOTS["accuracy"],
                                                  title="top-1 within d metres of the SAR query")
    last_name, last = list(stages.items())[-1]
    chosen = sample_queries(task.num_queries, grid_queries, seed=0)
    positives = [task.positives(q) for q in range(task.num_queries)]
    scores = last.topk_scores if last.topk_scores is not None else np.zeros(last.topk_indices.shape)
    rows = retrieval_rows(chosen, last.topk_indices, scores, positives, task.query_ids, task.gallery_ids,
                          [str(p) for p in split.query_files], [str(p) for p in split.gallery_files], top=5)
    title = f"SAR queries and their top-5 optical ({last_name} order; scores: coarse -|q-g|^2; green: the correct patch)"
    paths["grid"] = plot_retrieval_grid(rows, out_dir / PLOTS["grid"], title=title)
    return {k: str(v) for k, v in paths.items()}


def summary_lines(results: dict[str, Any], threshold_names: dict[float, str] | None = None) -> list[str]:
    """Console lines: one per stage with CMC, MRR, metre accuracy and mean error."""
    lines = []
    for stage in ("coarse", "refined"):
        if stage not in results:
            continue
        m = results[stage]
        parts = [f"top-{k} {m[f'R@{k}']:.2f}" for k in CMC_KS if f"R@{k}" in m]
        parts.append(f"MRR {m['MRR']:.2f}")
        for t in results["thresholds_m"]:
            key = f"acc@{float(t):g}m"
            label = (threshold_names or {}).get(t, f"{float(t):g} m")
            parts.append(f"acc {label} {m[key]:.2f}")
        parts.append(f"mean error {m['mean_error_m']:.1f} m")
        lines.append(f"{stage:>8}: " + "  ".join(parts))
    return lines
