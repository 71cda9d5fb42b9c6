"""The training loop in one process: files, best model, resume, sampler state, errors, SAM wiring, AMP path."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from xgeo.core.errors import XgeoError
from xgeo.core.io import load_torch
from xgeo.core.train import StepOutput, TrainConfig, Trainer
from xgeo.core.train import trainer as trainer_module
from xgeo.core.train.checkpoint import check_plain

_spec = importlib.util.spec_from_file_location("_train_worker", Path(__file__).with_name("_train_worker.py"))
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # type: ignore[union-attr]


def _config(out: Path, **kw) -> TrainConfig:
    base = {"out_dir": str(out), "epochs": 2, "batch_size": 8, "lr": 1e-2, "seed": 1, "progress": False, "log_every": 1}
    return TrainConfig(**{**base, **kw})


def _equal_states(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_metrics_log_checkpoint_and_best_model(tmp_path: Path) -> None:
    scores = iter([1.0, 3.0, 2.0])
    snapshots: list[dict] = []

    def evaluate(trainer: Trainer) -> dict[str, float]:
        snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
        return {"R@1": next(scores), "R@5": 50.0}

    cfg = _config(tmp_path, epochs=3, schedule="cosine", log_every=2)
    trainer = Trainer(worker.make_model(), worker.Regression(40), worker.regression_step, cfg, evaluate=evaluate)
    last = trainer.fit()

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epoch"] == 2 and metrics["R@1"] == 2.0 and last["R@1"] == 2.0
    assert metrics["best"] == {"metric": "R@1", "value": 3.0, "epoch": 1}
    assert [h["epoch"] for h in metrics["history"]] == [0, 1, 2]
    assert [h["lr"] for h in metrics["history"]] == pytest.approx(
        [1e-2 * 0.5 * (1 + math.cos(math.pi * e / 3)) for e in range(3)]
    )
    assert all(math.isfinite(h["train_loss"]) and "train_mae" in h for h in metrics["history"])

    lines = [json.loads(ln) for ln in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r for r in lines if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [2, 4, 6, 8, 10, 12, 14]  # 5 steps/epoch, every 2nd logged
    assert all({"loss", "lr", "mae", "epoch", "batch"} <= r.keys() for r in steps)
    assert [r["epoch"] for r in lines if r["kind"] == "epoch"] == [0, 1, 2]

    ckpt = load_torch(tmp_path / "checkpoint.pth.tar")
    assert (ckpt["epoch"], ckpt["global_step"], ckpt["batch_in_epoch"]) == (3, 15, 0)
    assert _equal_states(ckpt["state_dict"], trainer.model.state_dict())
    best = load_torch(tmp_path / "model_best.pth.tar")
    assert best["epoch"] == 2 and _equal_states(best["state_dict"], snapshots[1])


def _snapshotting_evaluate(scores: list[float], snapshots: list[dict]):
    values = iter(scores)

    def evaluate(trainer: Trainer) -> dict[str, float]:
        snapshots.append({k: v.clone() for k, v in trainer.model.state_dict().items()})
        return {"R@1": next(values)}

    return evaluate


def test_an_equal_best_metric_keeps_the_earlier_best_epoch(tmp_path: Path) -> None:
    snapshots: list[dict] = []
    cfg = _config(tmp_path, epochs=3)
    Trainer(worker.make_model(), worker.Regression(40), worker.regression_step, cfg,
            evaluate=_snapshotting_evaluate([2.0, 2.0, 1.0], snapshots)).fit()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["best"] == {"metric": "R@1", "value": 2.0, "epoch": 0}
    best = load_torch(tmp_path / "model_best.pth.tar")
    assert best["epoch"] == 1 and _equal_states(best["state_dict"], snapshots[0])
    assert not _equal_states(snapshots[0], snapshots[1])  # the epochs really differ


def test_a_best_copy_failing_half_way_leaves_the_old_best_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    real_copyfile = shutil.copyfile
    calls: list[str] = []

    def copy_half_then_fail(src, dst, *args, **kwargs):
        calls.append(str(dst))
        if len(calls) == 1:
            return real_copyfile(src, dst, *args, **kwargs)
        data = Path(src).read_bytes()
        Path(dst).write_bytes(data[: len(data) // 2])  # the disk fills up half-way through the copy
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shutil, "copyfile", copy_half_then_fail)
    snapshots: list[dict] = []
    trainer = Trainer(worker.make_model(), worker.Regression(40), worker.regression_step, _config(tmp_path, epochs=2),
                      evaluate=_snapshotting_evaluate([1.0, 2.0], snapshots))
    with pytest.raises(OSError, match="No space left"):
        trainer.fit()
    assert len(calls) == 2  # epoch 0's best was copied, epoch 1's (better) copy failed
    best = load_torch(tmp_path / "model_best.pth.tar")  # still the complete file of epoch 0
    assert best["epoch"] == 1 and _equal_states(best["state_dict"], snapshots[0])
    assert sorted(f.name for f in tmp_path.iterdir()) == ["checkpoint.pth.tar", "log.jsonl", "metrics.json", "model_best.pth.tar"]


def test_resume_from_mid_epoch_checkpoint_is_bitwise_identical(tmp_path: Path) -> None:
    def run(out: Path, **kw) -> Trainer:
        cfg = _config(out, epochs=2, sam="sam", rho=0.1, schedule="cosine", schedule_unit="step", warmup_epochs=0.5, **kw)
        trainer = Trainer(worker.make_model(dropout=0.3), worker.Regression(40, noise=0.1), worker.regression_step, cfg)
        trainer.fit()
        return trainer

    full = run(tmp_path / "full")
    run(tmp_path / "part", max_steps=7)
    ckpt = load_torch(tmp_path / "part" / "checkpoint.pth.tar")
    assert (ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["global_step"]) == (1, 2, 7)
    torch.rand(5)  # the resumed run must not depend on what this process did in between
    resumed = run(tmp_path / "part", resume=str(tmp_path / "part"))
    assert resumed.global_step == 10
    assert _equal_states(full.model.state_dict(), resumed.model.state_dict())
    hist_full = json.loads((tmp_path / "full" / "metrics.json").read_text())["history"]
    hist_res = json.loads((tmp_path / "part" / "metrics.json").read_text())["history"]
    assert [h["train_loss"] for h in hist_full] == [h["train_loss"] for h in hist_res]
    logged = [
        json.loads(ln)["step"]
        for ln in (tmp_path / "part" / "log.jsonl").read_text().splitlines()
        if json.loads(ln)["kind"] == "step"
    ]
    assert logged == list(range(1, 11))  # no duplicated or missing step lines across the resume


def test_max_steps_mid_epoch_writes_metrics_with_partial_epoch_means(tmp_path: Path) -> None:
    cfg = _config(tmp_path, epochs=2, max_steps=7)  # 5 steps per epoch: stops after batch 2 of epoch 1
    last = Trainer(worker.make_model(), worker.Regression(40), worker.regression_step, cfg, evaluate=lambda t: {"R@1": 1.0}).fit()

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    steps = [json.loads(ln) for ln in (tmp_path / "log.jsonl").read_text().splitlines() if json.loads(ln)["kind"] == "step"]
    partial = [r for r in steps if r["step"] > 5]
    assert (metrics["epoch"], metrics["step"], metrics["batch"]) == (1, 7, 2) and metrics["partial_epoch"] is True
    assert metrics["train_loss"] == pytest.approx(sum(r["loss"] for r in partial) / 2)
    assert metrics["train_mae"] == pytest.approx(sum(r["mae"] for r in partial) / 2)
    assert "R@1" not in metrics  # no evaluation part-way through an epoch
    assert [h["epoch"] for h in metrics["history"]] == [0] and metrics["best"]["epoch"] == 0
    assert last == {k: v for k, v in metrics.items() if k not in ("best", "history")}
    assert sorted(f.name for f in tmp_path.iterdir()) == ["checkpoint.pth.tar", "log.jsonl", "metrics.json", "model_best.pth.tar"]

    one = tmp_path / "one"  # stopped inside the first epoch: there was no metrics.json at all before
    Trainer(worker.make_model(), worker.Regression(40), worker.regression_step, _config(one, epochs=1, max_steps=2)).fit()
    metrics = json.loads((one / "metrics.json").read_text())
    assert (metrics["epoch"], metrics["step"], metrics["history"], metrics["best"]) == (0, 2, [], None)


def test_custom_sampler_state_round_trips_through_checkpoint(tmp_path: Path) -> None:
    dataset = worker.Regression(32)
    sampler = worker.BankSampler(len(dataset))

    def on_step_end(trainer: Trainer, batch: dict, out: StepOutput) -> None:
        sampler.update(batch["index"], out.outputs)

    cfg = _config(tmp_path, epochs=3, max_steps=6)
    Trainer(worker.make_model(), dataset, worker.regression_step, cfg, sampler=sampler, on_step_end=on_step_end).fit()
    assert sampler.set_epoch_calls == [0, 1]
    ckpt = load_torch(tmp_path / "checkpoint.pth.tar")
    assert ckpt["batch_in_epoch"] == 2 and ckpt["sampler"]["epoch"] == 1
    assert torch.equal(ckpt["sampler"]["bank"], sampler.bank) and torch.equal(ckpt["sampler"]["indices"], sampler.indices)
    assert bool((sampler.bank != 0).all())  # every sample passed once in epoch 0: the bank is real

    fresh = worker.BankSampler(len(dataset))
    resumed = Trainer(
        worker.make_model(),
        dataset,
        worker.regression_step,
        _config(tmp_path, epochs=3, resume=str(tmp_path)),
        sampler=fresh,
        on_step_end=lambda t, b, o: fresh.update(b["index"], o.outputs),
    )
    assert torch.equal(fresh.indices, sampler.indices) and torch.equal(fresh.bank, sampler.bank)
    resumed.fit()
    assert fresh.set_epoch_calls == [2]  # epoch 1 continued from the stored index list, not regenerated


def test_nan_loss_stops_with_one_line_error(tmp_path: Path) -> None:
    def step(model: torch.nn.Module, batch: dict) -> StepOutput:
        out = worker.regression_step(model, batch)
        if trainer.global_step == 2:
            return StepOutput(out.loss * float("nan"))
        return out

    trainer = Trainer(worker.make_model(), worker.Regression(40), step, _config(tmp_path, checkpoint_every=1))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    with pytest.raises(XgeoError) as info:
        trainer.fit()
    line = info.value.line()
    assert "loss became NaN at epoch 1 step 3" in line and str(tmp_path) in line and "\n" not in line
    assert load_torch(tmp_path / "checkpoint.pth.tar")["global_step"] == 2  # the last good state is kept
    assert not _equal_states(before, trainer.model.state_dict())


def test_mismatched_or_foreign_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    Trainer(worker.make_model(), worker.Regression(16), worker.regression_step, _config(tmp_path / "a", epochs=1)).fit()
    other = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with pytest.raises(XgeoError, match="does not match the model") as info:
        Trainer(other, worker.Regression(16), worker.regression_step, _config(tmp_path / "b", resume=str(tmp_path / "a")))
    assert "checkpoint.pth.tar" in info.value.line()
    foreign = tmp_path / "foreign.pth"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(XgeoError, match="not a resumable"):
        Trainer(worker.make_model(), worker.Regression(16), worker.regression_step, _config(tmp_path / "c", resume=str(foreign)))
    with pytest.raises(XgeoError, match="no checkpoint"):
        Trainer(worker.make_model(), worker.Regression(16), worker.regression_step, _config(tmp_path / "d", resume=str(tmp_path)))


def test_trainer_sam_step_matches_manual_asam_update(tmp_path: Path) -> None:
    data = worker.Regression(8)
    model = worker.make_model(seed=4)
    manual = worker.make_model(seed=4)
    cfg = _config(tmp_path, epochs=1, optimizer="sgd", momentum=0.0, lr=0.1, sam="asam", rho=0.4, max_steps=1)
    Trainer(model, data, worker.regression_step, cfg).fit()

    x, y = data.x, data.y
    loss = ((manual(x).squeeze(-1) - y) ** 2).mean()
    grads = torch.autograd.grad(loss, list(manual.parameters()))
    params = list(manual.parameters())
    n = torch.stack([(p.abs() * g).norm() for p, g in zip(params, grads, strict=True)]).norm()
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            p.add_(0.4 * p * p * g / (n + 1e-12))
    loss2 = ((manual(x).squeeze(-1) - y) ** 2).mean()
    grads2 = torch.autograd.grad(loss2, params)  # gradient at w + eps, applied at w
    ref = worker.make_model(seed=4)
    with torch.no_grad():
        for p, g in zip(ref.parameters(), grads2, strict=True):
            p.sub_(0.1 * g)
    for a, b in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    assert not torch.allclose(next(model.parameters()), next(worker.make_model(seed=4).parameters()))


def test_amp_path_with_grad_scaler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _config(tmp_path / "cpu", epochs=1, amp=True, max_steps=2)
    trainer = Trainer(worker.make_model(), worker.Regression(24), worker.regression_step, cfg)
    assert trainer.scaler is None  # ignored on CPU, with one note
    assert any("amp ignored" in ln for ln in (tmp_path / "cpu" / "log.jsonl").read_text().splitlines())

    monkeypatch.setitem(trainer_module.AMP_DTYPES, "cpu", torch.bfloat16)
    for sam in (None, "asam"):
        out = tmp_path / f"amp-{sam}"
        trainer = Trainer(
            worker.make_model(),
            worker.Regression(24),
            worker.regression_step,
            _config(out, epochs=1, amp=True, sam=sam, grad_clip=0.5),
        )
        start = [p.detach().clone() for p in trainer.model.parameters()]
        trainer.fit()
        assert trainer.scaler is not None
        assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(start, trainer.model.parameters(), strict=True))
        assert load_torch(out / "checkpoint.pth.tar")["scaler"]["scale"] > 0


@pytest.mark.parametrize(
    ("bad", "line"),
    [
        ({"optimizer": "lion"}, "unknown optimizer 'lion'; use one of adam, adamw, sgd, sgd_nesterov"),
        ({"sam": "gsam"}, "unknown sam mode 'gsam'; use one of asam, sam"),
        ({"schedule": "linear"}, "unknown schedule 'linear'; use one of constant, cosine, step"),
    ],
)
def test_unknown_names_fail_when_the_trainer_is_built_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: dict, line: str
) -> None:
    def no_setup(device: str) -> None:
        raise AssertionError("the process group was set up before the names were checked")

    monkeypatch.setattr(trainer_module.distributed, "setup", no_setup)
    with pytest.raises(XgeoError) as info:
        Trainer(worker.make_model(), worker.Regression(16), worker.regression_step, _config(tmp_path / "run", **bad))
    assert info.value.line() == line
    assert not (tmp_path / "run").exists()


def test_batch_smaller_than_world_or_dataset_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(XgeoError, match="fewer than one batch"):
        Trainer(worker.make_model(), worker.Regression(4), worker.regression_step, _config(tmp_path, batch_size=8))


def test_on_step_end_gets_first_pass_outputs_with_sam(tmp_path: Path) -> None:
    calls: list[tuple[int, float]] = []
    received: list[tuple[float, float]] = []

    def step(model: torch.nn.Module, batch: dict) -> StepOutput:
        out = worker.regression_step(model, batch)
        value = float(out.loss.detach())
        calls.append((id(model), value))
        return StepOutput(out.loss, {}, value)

    def on_step_end(trainer: Trainer, batch: dict, out: StepOutput) -> None:
        received.append((out.outputs, float(out.loss.detach())))

    cfg = _config(tmp_path, epochs=1, sam="sam", rho=0.5, max_steps=3)
    trainer = Trainer(worker.make_model(), worker.Regression(32), step, cfg, on_step_end=on_step_end)
    trainer.fit()
    assert len(calls) == 6 and {c[0] for c in calls} == {id(trainer.ddp_model)}
    firsts, seconds = [c[1] for c in calls[0::2]], [c[1] for c in calls[1::2]]
    assert [r[0] for r in received] == firsts and firsts != seconds


def test_resume_with_worker_processes_is_bitwise_identical(tmp_path: Path) -> None:
    # Random augmentation runs inside 2 loader workers; items are seeded per (epoch, position), so
    # skipping batches on resume does not shift which random numbers each sample gets.
    def run(out: Path, **kw) -> Trainer:
        cfg = _config(out, epochs=2, num_workers=2, **kw)
        trainer = Trainer(worker.make_model(), worker.Regression(40, noise=0.5), worker.regression_step, cfg)
        trainer.fit()
        return trainer

    full = run(tmp_path / "full")
    run(tmp_path / "part", max_steps=3)
    resumed = run(tmp_path / "part", resume=str(tmp_path / "part"))
    assert _equal_states(full.model.state_dict(), resumed.model.state_dict())
    again = run(tmp_path / "again", seed=2)
    assert not _equal_states(full.model.state_dict(), again.model.state_dict())


def test_sampler_state_must_be_weights_only_safe() -> None:
    check_plain({"bank": torch.zeros(3), "indices": [1, 2], "epoch": 4, "meta": {"name": "x", "w": (1.0, None)}}, "s")
    for bad in ({"bank": np.zeros(3)}, {"epoch": np.int64(3)}, {"items": [1, np.float32(2.0)]}):
        with pytest.raises(TypeError, match="checkpoints hold only tensors"):
            check_plain(bad, "sampler.state_dict()")
