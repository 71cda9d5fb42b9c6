"""Learning-rate schedules: registry shapes, warm-up and the FRGeo per-epoch cosine."""

from __future__ import annotations

import math

import pytest
import torch

from xgeo.core.errors import XgeoError
from xgeo.core.registry import Registry, UnknownNameError
from xgeo.core.train import TrainConfig
from xgeo.core.train.optimizers import OPTIMIZERS, SAM_MODES, build_optimizer
from xgeo.core.train.schedules import SCHEDULES, LRSchedule


def _schedule(steps_per_epoch: int = 4, **cfg) -> LRSchedule:
    config = TrainConfig(out_dir="unused", **cfg)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    return LRSchedule(opt, config, steps_per_epoch)


def test_cosine_per_epoch_matches_frgeo_formula() -> None:
    sched = _schedule(lr=1e-4, epochs=50, schedule="cosine")
    for e in range(50):
        expected = 1e-4 * 0.5 * (1 + math.cos(math.pi * e / 50))
        assert sched.set(e, batch=3) == pytest.approx(expected, rel=1e-12)  # batch ignored per epoch
        assert sched.optimizer.param_groups[0]["lr"] == pytest.approx(expected, rel=1e-12)
    assert sched.set(49) == pytest.approx(1e-4 * 0.5 * (1 + math.cos(math.pi * 49 / 50)))
    assert sched.set(49) < 0.0015e-4


def test_cosine_per_step_with_linear_warmup() -> None:
    sched = _schedule(steps_per_epoch=4, lr=0.1, epochs=3, schedule="cosine", schedule_unit="step", warmup_epochs=1)
    warm = [sched.set(0, b) for b in range(4)]
    assert warm == pytest.approx([0.025, 0.05, 0.075, 0.1])
    after = [sched.set(e, b) for e in (1, 2) for b in range(4)]
    expected = [0.1 * 0.5 * (1 + math.cos(math.pi * (k / 4) / 2)) for k in range(8)]
    assert after == pytest.approx(expected)


def test_step_schedule_milestones_and_warmup_per_epoch() -> None:
    sched = _schedule(lr=1.0, epochs=10, schedule="step", milestones=(4, 7), gamma=0.5, warmup_epochs=2)
    assert [sched.set(e) for e in range(10)] == pytest.approx([0.5, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25])


def test_constant_and_state_round_trip() -> None:
    sched = _schedule(lr=0.3, epochs=4, schedule="constant")
    assert {sched.set(e) for e in range(4)} == {0.3}
    other = _schedule(lr=99.0, epochs=4, schedule="constant")
    other.load_state_dict(sched.state_dict())
    assert other.set(2) == pytest.approx(0.3)


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_registered_schedule_starts_at_base_rate_and_stays_bounded(name: str) -> None:
    sched = _schedule(steps_per_epoch=3, lr=2.0, epochs=6, schedule=name, schedule_unit="step", milestones=(3,))
    values = [sched.set(e, b) for e in range(6) for b in range(3)]
    assert values[0] == pytest.approx(2.0)
    assert all(0.0 <= v <= 2.0 for v in values)
    assert values == sorted(values, reverse=True)  # none of the shapes rises without warm-up


def test_unknown_names_are_user_errors() -> None:
    with pytest.raises(XgeoError, match="schedule_unit='batch' is out of range; schedule_unit must be one of epoch, step"):
        TrainConfig(out_dir="x", schedule_unit="batch").validate()
    for bad in ({"schedule": "linear"}, {"optimizer": "lion"}, {"sam": "gsam"}):
        TrainConfig(out_dir="x", **bad).validate()  # names are not the config's job: the registries check them
    with pytest.raises(UnknownNameError, match="unknown schedule 'linear'; use one of constant, cosine, step"):
        _schedule(schedule="linear")
    params = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(UnknownNameError, match="unknown optimizer 'lion'; use one of adam, adamw, sgd, sgd_nesterov"):
        build_optimizer(params, TrainConfig(out_dir="x", optimizer="lion"))
    with pytest.raises(UnknownNameError, match="unknown sam mode 'gsam'; use one of asam, sam"):
        build_optimizer(params, TrainConfig(out_dir="x", sam="gsam"))
    with pytest.raises(XgeoError, match="unknown training option"):
        TrainConfig.from_dict({"out_dir": "x", "learning_rate": 1.0})


def test_name_tables_are_core_registries() -> None:
    assert all(isinstance(r, Registry) for r in (OPTIMIZERS, SAM_MODES, SCHEDULES))
    assert OPTIMIZERS.names() == ["adam", "adamw", "sgd", "sgd_nesterov"] and SAM_MODES.names() == ["asam", "sam"]
    assert SCHEDULES.names() == ["constant", "cosine", "step"]
