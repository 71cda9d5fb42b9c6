import math

import torch

from xgeo.core.commands.demo import format_results
from xgeo.core.demo import run_baseline
from xgeo.core.losses import symmetric_infonce
from xgeo.core.methods import DemoResult


def test_symmetric_infonce_matches_hand_computation():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    # row 0: logits (10, 10) -> -log(1/2); row 1: logits (0, 0) -> -log(1/2)
    # columns: col 0 logits (10, 0) -> -log(e^10/(e^10+1)); col 1 logits (10, 0) target 1 -> -log(1/(e^10+1))
    q2g = math.log(2)
    g2q = 0.5 * (math.log1p(math.exp(-10)) + math.log1p(math.exp(10)))
    assert math.isclose(symmetric_infonce(q, g).item(), 0.5 * (q2g + g2q), rel_tol=1e-6)


def test_baseline_runs_the_whole_pipeline(tmp_path):
    result = run_baseline(tmp_path, seed=0, size=16, epochs=1)
    m = int(result.dataset.split("/")[1].split()[0])
    assert set(result.metrics) == {"R@1", "R@5", "R@10", "R@1%"}
    assert math.isclose(result.chance["R@1"], 100.0 / m)
    assert all(0.0 <= v <= 100.0 for v in result.metrics.values())
    assert result.metrics["R@1"] <= result.metrics["R@5"] <= result.metrics["R@10"]
    assert (tmp_path / "baseline" / "metrics.json").is_file()


def test_table_shows_metric_next_to_chance():
    table = format_results([DemoResult("frgeo", "synthetic VIGOR", {"R@1": 42.0, "hit": 50.0}, {"R@1": 1.0, "hit": 1.0}, 12.0)])
    row = table.splitlines()[2]
    assert "42.0 (1.0)" in row and "50.0 (1.0)" in row and row.split()[0] == "frgeo"
