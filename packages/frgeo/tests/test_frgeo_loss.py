"""WBL against a hand computation, its equality with symmetric InfoNCE at τ = 0.1, and local_batch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xgeo.frgeo.loss import WeightedTupleLoss, chunked_wbl, wbl


def hand_wbl(q: torch.Tensor, r: torch.Tensor, alpha: float) -> float:
    q = [v / v.norm() for v in q.double()]
    r = [v / v.norm() for v in r.double()]
    n = len(q)
    s = [[float(q[i] @ r[j]) for j in range(n)] for i in range(n)]
    q2r = sum(math.log(1 + sum(math.exp(alpha * (s[i][j] - s[i][i])) for j in range(n) if j != i)) for i in range(n)) / n
    r2q = sum(math.log(1 + sum(math.exp(alpha * (s[j][i] - s[i][i])) for j in range(n) if j != i)) for i in range(n)) / n
    return 0.5 * (q2r + r2q)


def symmetric_infonce(q: torch.Tensor, r: torch.Tensor, tau: float) -> torch.Tensor:
    logits = F.normalize(q, dim=1) @ F.normalize(r, dim=1).t() / tau
    diag = torch.arange(len(q))
    return -0.5 * (logits.log_softmax(1)[diag, diag].mean() + logits.log_softmax(0)[diag, diag].mean())


def test_matches_hand_computation():
    torch.manual_seed(0)
    q, r = torch.randn(6, 5), torch.randn(6, 5)
    for alpha in (10.0, 3.0):
        assert abs(wbl(q, r, alpha).item() - hand_wbl(q, r, alpha)) < 1e-5


def test_is_not_one_directional():
    torch.manual_seed(1)
    q, r = torch.randn(5, 4), torch.randn(5, 4)
    one_way = F.cross_entropy(10 * F.normalize(q, dim=1) @ F.normalize(r, dim=1).t(), torch.arange(5))
    assert abs(wbl(q, r).item() - one_way.item()) > 1e-4


def test_equals_symmetric_infonce_at_tau_one_tenth():
    torch.manual_seed(2)
    q, r = torch.randn(16, 32, dtype=torch.float64), torch.randn(16, 32, dtype=torch.float64)
    assert torch.allclose(wbl(q, r, alpha=10.0), symmetric_infonce(q, r, tau=0.1), atol=1e-12)


def test_local_batch_deals_rows_round_robin_like_two_ranks():
    torch.manual_seed(3)
    q, r = torch.randn(8, 4), torch.randn(8, 4)
    rank0, rank1 = [0, 2, 4, 6], [1, 3, 5, 7]
    expected = 0.5 * (hand_wbl(q[rank0], r[rank0], 10.0) + hand_wbl(q[rank1], r[rank1], 10.0))
    got = chunked_wbl(q, r, 10.0, local_batch=4)
    assert abs(got.item() - expected) < 1e-5
    assert abs(got.item() - hand_wbl(q, r, 10.0)) > 1e-3  # really a different loss
    assert torch.equal(chunked_wbl(q, r, 10.0, local_batch=8), wbl(q, r))  # no-op when it covers the batch
    assert torch.equal(WeightedTupleLoss(10.0, 4)(q, r), got)


def test_module_alpha_is_the_functional_alpha():
    torch.manual_seed(4)
    q, r = torch.randn(6, 5), torch.randn(6, 5)
    for alpha in (3.0, 25.0):
        module = WeightedTupleLoss(alpha=alpha)
        assert abs(module(q, r).item() - hand_wbl(q, r, alpha)) < 1e-5
        assert abs(module(q, r).item() - hand_wbl(q, r, 10.0)) > 1e-2  # not the default weight
        assert torch.equal(module(q, r), wbl(q, r, alpha))
    local = WeightedTupleLoss(alpha=3.0, local_batch=3)  # alpha also reaches the sub-batches
    expected = 0.5 * (hand_wbl(q[0::2], r[0::2], 3.0) + hand_wbl(q[1::2], r[1::2], 3.0))
    assert abs(local(q, r).item() - expected) < 1e-5


def test_alpha_flag_reaches_the_training_loss(frgeo_cvusa, tmp_path, run_cli, fast, monkeypatch):
    """`frgeo-train --alpha 3` trains with WBL at alpha 3 (the Trainer is replaced by a recorder)."""
    from xgeo.frgeo import cli, run

    seen = []

    class Recorder:
        def __init__(self, model, train_dataset, step, config, **kwargs):
            seen.append(step)
            self.device = torch.device("cpu")

        def fit(self):
            return {}

    monkeypatch.setattr(run, "Trainer", Recorder)
    for flags, alpha in (([], 10.0), (["--alpha", "3"], 3.0)):
        save = tmp_path / f"run{alpha}"
        argv = ["--dataset", "cvusa", *fast, *flags, "--data-root", str(frgeo_cvusa), "--save_path", str(save)]
        code, _, err = run_cli(cli.train_main, argv)
        assert code == 0, err
        q, r = torch.randn(4, 6), torch.randn(4, 6)
        assert abs(seen[-1].loss(q, r).item() - hand_wbl(q, r, alpha)) < 1e-5


def test_gradient_flows_to_both_views():
    q = torch.randn(4, 3, requires_grad=True)
    r = torch.randn(4, 3, requires_grad=True)
    wbl(q, r).backward()
    assert q.grad.abs().sum() > 0 and r.grad.abs().sum() > 0
