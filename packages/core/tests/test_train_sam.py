"""SAM / ASAM against hand computations on a two-parameter problem."""

from __future__ import annotations

import math

import pytest
import torch

from xgeo.core.train import SAM

# L(a, b) = a^2 b + 3 b^2 + a  ->  dL/da = 2ab + 1,  dL/db = a^2 + 6b


def _grad(a: float, b: float) -> tuple[float, float]:
    return 2 * a * b + 1, a * a + 6 * b


def _problem(a0: float = 1.5, b0: float = -0.5):
    a = torch.nn.Parameter(torch.tensor(a0, dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor(b0, dtype=torch.float64))
    return a, b, lambda: a * a * b + 3 * b * b + a


def _expected(a: float, b: float, rho: float, lr: float, adaptive: bool) -> tuple[float, float]:
    ga, gb = _grad(a, b)
    if adaptive:
        n = math.hypot(abs(a) * ga, abs(b) * gb)
        ea, eb = rho * a * a * ga / (n + 1e-12), rho * b * b * gb / (n + 1e-12)
    else:
        n = math.hypot(ga, gb)
        ea, eb = rho * ga / (n + 1e-12), rho * gb / (n + 1e-12)
    ga2, gb2 = _grad(a + ea, b + eb)
    return a - lr * ga2, b - lr * gb2


@pytest.mark.parametrize("adaptive", [False, True], ids=["sam", "asam"])
def test_first_and_second_step_match_hand_computation(adaptive: bool) -> None:
    a, b, loss = _problem()
    opt = SAM([a, b], torch.optim.SGD, rho=0.3, adaptive=adaptive, lr=0.1)
    loss().backward()
    opt.first_step(zero_grad=True)
    assert a.grad is None and b.grad is None
    loss().backward()
    opt.second_step(zero_grad=True)
    ea, eb = _expected(1.5, -0.5, 0.3, 0.1, adaptive)
    assert a.item() == pytest.approx(ea, abs=1e-12)
    assert b.item() == pytest.approx(eb, abs=1e-12)


def test_asam_differs_from_sam_and_perturbation_is_restored() -> None:
    a, b, loss = _problem(2.0, 0.25)
    opt = SAM([a, b], torch.optim.SGD, rho=0.5, adaptive=True, lr=0.0)
    loss().backward()
    opt.first_step()
    ga, gb = _grad(2.0, 0.25)
    n = math.hypot(2.0 * ga, 0.25 * gb)
    assert a.item() == pytest.approx(2.0 + 0.5 * 4.0 * ga / n)
    assert b.item() == pytest.approx(0.25 + 0.5 * 0.0625 * gb / n)
    opt.restore()
    assert (a.item(), b.item()) == (2.0, 0.25)


def test_step_with_closure_equals_two_explicit_passes() -> None:
    a, b, loss = _problem()
    opt = SAM([a, b], torch.optim.SGD, rho=0.2, lr=0.05, momentum=0.9)

    def closure() -> torch.Tensor:
        value = loss()
        value.backward()
        return value

    for _ in range(3):
        opt.zero_grad()
        loss().backward()
        opt.step(closure)
    a2, b2, loss2 = _problem()
    opt2 = SAM([a2, b2], torch.optim.SGD, rho=0.2, lr=0.05, momentum=0.9)
    for _ in range(3):
        loss2().backward()
        opt2.first_step(zero_grad=True)
        loss2().backward()
        opt2.second_step(zero_grad=True)
    assert torch.equal(a, a2) and torch.equal(b, b2)
    # by hand: SAM's gradient at w + eps, fed to SGD with momentum (buf = 0.9 buf + g; w -= lr buf)
    w, buf = (1.5, -0.5), (0.0, 0.0)
    for _ in range(3):
        ga, gb = _grad(*w)
        n = math.hypot(ga, gb)
        ga2, gb2 = _grad(w[0] + 0.2 * ga / (n + 1e-12), w[1] + 0.2 * gb / (n + 1e-12))
        buf = (0.9 * buf[0] + ga2, 0.9 * buf[1] + gb2)
        w = (w[0] - 0.05 * buf[0], w[1] - 0.05 * buf[1])
    assert (a.item(), b.item()) == pytest.approx(w, abs=1e-12)
    assert abs(w[0] - 1.5) > 0.01 and abs(w[1] + 0.5) > 0.01  # the weights did move


def test_state_dict_is_the_base_optimizers_and_round_trips() -> None:
    a, b, loss = _problem()
    opt = SAM([a, b], torch.optim.AdamW, rho=0.1, adaptive=True, lr=1e-2, weight_decay=0.03)
    loss().backward()
    opt.first_step(zero_grad=True)
    loss().backward()
    opt.second_step(zero_grad=True)
    state = opt.state_dict()
    assert state["param_groups"][0]["weight_decay"] == 0.03 and len(state["state"]) == 2
    a2, b2, _ = _problem()
    opt2 = SAM([a2, b2], torch.optim.AdamW, rho=0.1, adaptive=True, lr=1e-2, weight_decay=0.03)
    opt2.load_state_dict(state)
    assert opt2.param_groups is opt2.base_optimizer.param_groups
    assert torch.equal(opt2.base_optimizer.state[a2]["exp_avg"], opt.base_optimizer.state[a]["exp_avg"])
