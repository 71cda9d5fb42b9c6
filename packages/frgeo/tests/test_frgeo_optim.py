"""ASAM over AdamW (through core's SAM) against a hand computation; flag mapping onto TrainConfig."""

from __future__ import annotations

import math

import pytest
import torch

from xgeo.core.train.optimizers import build_optimizer
from xgeo.frgeo.config import resolve


def loss_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b - 1.0) ** 2 + 0.5 * a**2


def grad(a: float, b: float) -> tuple[float, float]:
    r = a * b - 1.0
    return 2 * r * b + a, 2 * r * a


def test_paper_preset_is_asam_adamw_cosine_without_warmup():
    cfg = resolve({"dataset": "cvusa"}).train
    assert (cfg.optimizer, cfg.sam, cfg.rho, cfg.weight_decay) == ("adamw", "asam", 2.5, 0.03)
    assert (cfg.schedule, cfg.schedule_unit, cfg.warmup_epochs, cfg.lr, cfg.batch_size, cfg.epochs) == (
        "cosine",
        "epoch",
        0.0,
        1e-4,
        32,
        50,
    )
    vigor = resolve({"dataset": "vigor", "cross": True}).train
    assert (vigor.lr, vigor.batch_size) == (5e-5, 16)
    plain = resolve({"dataset": "cvusa", "op": "adam", "asam": False, "cos": False}).train
    assert (plain.optimizer, plain.sam, plain.schedule) == ("adam", None, "constant")


def hand_asam_adamw(w: list[float], steps: int, lr: float, rho: float, wd: float, adaptive: bool = True) -> list[float]:
    """ASAM ascent, gradient at the perturbed point, AdamW step from the restored weights (by hand)."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m, v = [0.0, 0.0], [0.0, 0.0]
    for t in range(1, steps + 1):
        g = grad(*w)
        scaled = [abs(wi) * gi if adaptive else gi for wi, gi in zip(w, g, strict=True)]
        norm = math.sqrt(sum(s * s for s in scaled))
        w_adv = [wi + rho * (wi * wi * gi if adaptive else gi) / (norm + 1e-12) for wi, gi in zip(w, g, strict=True)]
        g_adv = grad(*w_adv)
        new = []
        for k in range(2):
            m[k] = beta1 * m[k] + (1 - beta1) * g_adv[k]
            v[k] = beta2 * v[k] + (1 - beta2) * g_adv[k] ** 2
            m_hat, v_hat = m[k] / (1 - beta1**t), v[k] / (1 - beta2**t)
            new.append(w[k] * (1 - lr * wd) - lr * m_hat / (math.sqrt(v_hat) + eps))
        w = new
    return w


def test_asam_steps_match_hand_computation():
    lr, rho, wd = 0.1, 2.5, 0.03
    opts = resolve({"dataset": "cvusa", "lr": lr})
    a = torch.nn.Parameter(torch.tensor(0.8, dtype=torch.float64))
    b = torch.nn.Parameter(torch.tensor(-0.3, dtype=torch.float64))
    opt = build_optimizer([a, b], opts.train)
    for _ in range(3):
        loss_fn(a, b).backward()
        opt.first_step(zero_grad=True)
        loss_fn(a, b).backward()
        opt.second_step(zero_grad=True)

    expected = hand_asam_adamw([0.8, -0.3], 3, lr, rho, wd)
    assert a.item() == pytest.approx(expected[0], abs=1e-10)
    assert b.item() == pytest.approx(expected[1], abs=1e-10)
    # the adaptive perturbation matters: plain SAM or no SAM would land elsewhere
    assert abs(hand_asam_adamw([0.8, -0.3], 3, lr, rho, wd, adaptive=False)[1] - expected[1]) > 1e-3
    assert abs(hand_asam_adamw([0.8, -0.3], 3, lr, 0.0, wd)[1] - expected[1]) > 1e-3
