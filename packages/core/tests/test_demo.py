import argparse
import math

import numpy as np
import torch

from xgeo.core.commands.demo import format_results
from xgeo.core.datasets import get_dataset
from xgeo.core.datasets.transforms import ResizeViews
from xgeo.core.demo import AERIAL_SIZE, GROUND_SIZE, TwoBranchBaseline, run_baseline
from xgeo.core.io import load_torch
from xgeo.core.losses import symmetric_infonce
from xgeo.core.methods import DemoResult
from xgeo.core.train import embed


def test_symmetric_infonce_matches_hand_computation():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # row 0: logits (10, 10) -> -log(1/2); row 1: logits (0, 0) -> -log(1/2)
    # columns: col 0 logits (10, 0) -> -log(e^10/(e^10+1)); col 1 logits (10, 0) target 1 -> -log(1/(e^10+1))
    q2g = math.log(2)
    g2q = 0.5 * (math.log1p(math.exp(-10)) + math.log1p(math.exp(10)))
    assert math.isclose(symmetric_infonce(q, g).item(), 0.5 * (q2g + g2q), rel_tol=1e-6)


def brute_force_recalls(model: TwoBranchBaseline, test, tol: float = 1e-5) -> tuple[dict, dict]:
    """Lower and upper bounds of R@1/5/10 from float64 cosine scores of ``model``'s embeddings
    (scores within ``tol`` of the positive's may land on either side of it in float32)."""
    q = embed(model.query, test.queries(), 64, "cpu", "query").double()
    g = embed(model.gallery, test.gallery(), 64, "cpu", "gallery").double()
    scores = (torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(g, dim=1).T).numpy()
    labels_q, labels_g = np.asarray(test.task.query_labels), np.asarray(test.task.gallery_labels)
    bounds = []
    for margin in (-tol, tol):
        ranks = np.array([(row > row[labels_g == labels_q[i]].max() + margin).sum() for i, row in enumerate(scores)])
        bounds.append({f"R@{k}": 100.0 * float(np.mean(ranks < k)) for k in (1, 5, 10)})
    return bounds[0], bounds[1]


def test_baseline_runs_the_whole_pipeline_and_beats_chance(tmp_path):
    result = run_baseline(tmp_path, seed=0, size=16, epochs=3)
    m = int(result.dataset.split("/")[1].split()[0])
    assert m == 16 and set(result.metrics) == {"R@1", "R@5", "R@10", "R@1%"}
    # chance of a random ranking with one positive among m, by hand (R@1% with K = floor(16 / 100) = 0)
    assert result.chance == {"R@1": 100 / 16, "R@5": 500 / 16, "R@10": 1000 / 16, "R@1%": 0.0}
    # the trained baseline ranks better than chance (seeded CPU run: deterministic)
    assert result.metrics["R@10"] > result.chance["R@10"]
    assert sum(result.metrics[k] for k in ("R@1", "R@5", "R@10")) > sum(result.chance[k] for k in ("R@1", "R@5", "R@10"))
    assert (tmp_path / "baseline" / "metrics.json").is_file()
    # the reported numbers agree with a float64 brute force on the final checkpoint's embeddings
    model = TwoBranchBaseline()
    model.load_state_dict(load_torch(tmp_path / "baseline" / "checkpoint.pth.tar")["state_dict"])
    transforms = ResizeViews({"query": GROUND_SIZE, "gallery": AERIAL_SIZE}, mean=(0.5,) * 3, std=(0.25,) * 3)
    low, high = brute_force_recalls(model, get_dataset("cvusa", tmp_path / "cvusa", "test", transforms=transforms))
    for key in low:
        assert low[key] <= result.metrics[key] <= high[key], (key, low[key], result.metrics[key], high[key])


def test_table_shows_metric_next_to_chance():
    table = format_results([DemoResult("frgeo", "synthetic VIGOR", {"R@1": 42.0, "hit": 50.0}, {"R@1": 1.0, "hit": 1.0}, 12.0)])
    row = table.splitlines()[2]
    assert "42.0 (1.0)" in row and "50.0 (1.0)" in row and row.split()[0] == "frgeo"


def test_a_demo_that_sets_torch_threads_does_not_change_them_for_the_next(monkeypatch, tmp_path):
    from xgeo.core.commands import demo as demo_command
    from xgeo.core.methods import MethodPlugin
    from xgeo.core.registry import Registry

    seen = []

    def demo(name, threads):
        def run(workdir, seed):
            seen.append(torch.get_num_threads())
            if threads:
                torch.set_num_threads(threads)
            return DemoResult(method=name, dataset="none", metrics={"R@1": 50.0}, chance={"R@1": 1.0})
        return run

    methods = Registry("method", "--method")
    methods.register("a", MethodPlugin("a", "0", demo=demo("a", 1)))
    methods.register("b", MethodPlugin("b", "0", demo=demo("b", None)))
    monkeypatch.setattr(demo_command, "installed_methods", lambda: methods)
    original = torch.get_num_threads()
    torch.set_num_threads(before := 2)  # "a" sets 1
    monkeypatch.setattr(demo_command, "write_outputs", lambda workdir, results: workdir / "report.html")
    parser = argparse.ArgumentParser()
    demo_command.configure(parser)
    try:
        assert demo_command.run(parser.parse_args(["--workdir", str(tmp_path / "demo")])) == 0
        assert seen == [before, before] and torch.get_num_threads() == before
    finally:
        torch.set_num_threads(original)
