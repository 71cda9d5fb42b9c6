"""The one training loop of xgeo.

A method hands the :class:`Trainer` a model, a training dataset and a ``step(model, batch) ->
StepOutput`` function; the trainer owns everything else: DDP under ``torchrun``, sampling,
one- and two-pass (SAM/ASAM) optimisation, AMP on CUDA, clipping, schedules, checkpoints that
resume bit-for-bit, progress and metric files. The update on one batch (passes, AMP, clipping)
is :class:`~xgeo.core.train.update.Updater`; this module is the loop around it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler, Sampler
from tqdm.auto import tqdm

from xgeo.core.errors import XgeoError
from xgeo.core.io import check_finite, load_state_dict_into
from xgeo.core.progress import notify_epoch
from xgeo.core.train import distributed
from xgeo.core.train.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    check_identity,
    check_plain,
    copy_atomic,
    load_checkpoint,
    resolve_resume,
    save_checkpoint,
)
from xgeo.core.train.config import StepOutput, TrainConfig
from xgeo.core.train.data import epoch_loader, move_to_device
from xgeo.core.train.optimizers import optimizer_builder
from xgeo.core.train.records import RunRecords, prepare_run_dir
from xgeo.core.train.rng import capture_rng_state, restore_rng_state, seed_everything
from xgeo.core.train.schedules import SCHEDULES, LRSchedule
from xgeo.core.train.update import AMP_DTYPES, StepFn, Updater

logger = logging.getLogger("xgeo.train")

EvaluateFn = Callable[["Trainer"], dict[str, float]]
ParamGroupsFn = Callable[[torch.nn.Module], list[dict[str, Any]]]
StepEndFn = Callable[["Trainer", Any, StepOutput], None]


def _stateful(sampler: Any) -> bool:
    return callable(getattr(sampler, "state_dict", None)) and callable(getattr(sampler, "load_state_dict", None))


class Trainer:
    """Train ``model`` on ``train_dataset`` with ``step(model, batch) -> StepOutput``.

    ``step`` gets the (DDP-wrapped) model and a batch already on the device; with SAM/ASAM it runs
    twice per update. ``config.batch_size`` is the global batch, split evenly over the ranks. Files
    in ``config.out_dir``: ``checkpoint.pth.tar`` (latest, complete), ``model_best.pth.tar`` (when
    ``config.best_metric`` improves), ``metrics.json`` (after every epoch, and when ``max_steps``
    stops the run part-way through one) and ``log.jsonl``.

    Hooks: ``evaluate(trainer) -> dict`` after every epoch on all ranks; ``on_step_end(trainer, batch,
    out)`` after every optimizer step with the (first-pass) :class:`StepOutput`. A custom ``sampler``
    yields this rank's indices, has ``__len__`` and ``set_epoch``; if it has ``state_dict`` /
    ``load_state_dict`` its state (taken on rank 0, so it must be the same on every rank) is stored in
    each checkpoint. ``identity`` (plain data, e.g. method, dataset, model spec) is stored too, and a
    checkpoint whose identity differs is refused on resume. ``param_groups(model)`` (optional) gives
    the optimizer's parameter groups (e.g. a head at a larger ``lr``); by default every parameter that
    requires a gradient, at ``config.lr``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        train_dataset: Dataset,
        step: StepFn,
        config: TrainConfig,
        *,
        sampler: Sampler[int] | None = None,
        evaluate: EvaluateFn | None = None,
        on_step_end: StepEndFn | None = None,
        collate_fn: Callable[[Sequence[Any]], Any] | None = None,
        identity: dict[str, Any] | None = None,
        param_groups: ParamGroupsFn | None = None,
    ) -> None:
        config.validate()
        prepare_run_dir(config.out_dir, config.resume, config.overwrite, flag="out_dir")
        # Names go through their registries first: an unknown one is a one-line error before any work.
        make_optimizer = optimizer_builder(config)
        SCHEDULES.get(config.schedule)
        self.config = config
        self.out_dir = Path(config.out_dir)
        info, self.device = distributed.setup(config.device)
        self.rank, self.world_size, self.is_main = info.rank, info.world_size, info.is_main
        self.records = RunRecords(self.out_dir, enabled=self.is_main)
        if config.batch_size < self.world_size:
            raise XgeoError(
                None,
                f"batch_size {config.batch_size} is smaller than the {self.world_size} processes",
                "raise batch_size or start fewer processes",
            )
        self.batch_size = config.batch_size // self.world_size
        if config.batch_size % self.world_size:
            self.note(
                f"batch_size {config.batch_size} is not divisible by {self.world_size} processes; each uses {self.batch_size}"
            )

        seed_everything(config.seed + self.rank)
        self.model = model.to(self.device)
        if info.is_distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model: torch.nn.Module = DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.ddp_model = self.model
        self.train_dataset = train_dataset
        self.identity = dict(identity or {})
        check_plain(self.identity, "identity")
        self.step_fn, self.evaluate_fn, self.on_step_end, self.collate_fn = step, evaluate, on_step_end, collate_fn
        self.sampler = (
            sampler
            if sampler is not None
            else DistributedSampler(
                train_dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=config.seed, drop_last=True
            )
        )
        self.steps_per_epoch = len(self.sampler) // self.batch_size  # type: ignore[arg-type]
        if self.steps_per_epoch == 0:
            raise XgeoError(
                None,
                f"the training set gives {len(self.sampler)} samples per process, fewer than one batch of {self.batch_size}",
                "lower batch_size or use a larger training split",
            )  # type: ignore[arg-type]

        params = param_groups(self.model) if param_groups is not None else [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(params)
        self.scheduler = LRSchedule(self.optimizer, config, self.steps_per_epoch)
        self.updater = Updater(
            self.model, self.ddp_model, step, self.optimizer, self.device,
            amp=config.amp, grad_clip=config.grad_clip, out_dir=self.out_dir,
        )
        self.two_pass, self.amp_dtype, self.scaler = self.updater.two_pass, self.updater.amp_dtype, self.updater.scaler
        if config.amp and self.amp_dtype is None:
            self.note(f"amp ignored: mixed precision is only used on {', '.join(AMP_DTYPES)} (this run is on {self.device.type})")

        self.epoch = 0
        self.global_step = 0
        self.batch_in_epoch = 0
        self.best: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.lr = self.scheduler.base_lrs[0]
        self._sums: dict[str, float] = {}
        self._count = 0
        self._pending_rng: list[dict[str, Any]] | None = None
        self._sampler_restored = False
        self._t0 = time.monotonic()
        if config.resume:
            self._load(resolve_resume(config.resume))

    # ----------------------------------------------------------------------------------- public
    def note(self, message: str) -> None:
        """One informational line: logged (rank 0) and appended to ``log.jsonl``."""
        if self.is_main:
            logger.warning(message)
            self.records.log({"kind": "note", "step": getattr(self, "global_step", 0), "message": message})

    def log(self, **fields: Any) -> None:
        """Append a custom record (e.g. a method's own diagnostics) to ``log.jsonl`` on rank 0."""
        self.records.log({"kind": "custom", "epoch": self.epoch, "step": self.global_step, **fields})

    def fit(self) -> dict[str, Any]:
        """Train until ``config.epochs`` (or ``config.max_steps``); return the last metrics."""
        if self._pending_rng is not None:
            self._restore_rng(self._pending_rng)
            self._pending_rng = None
        self.optimizer.zero_grad(set_to_none=True)
        last: dict[str, Any] = dict(self.history[-1]) if self.history else {}
        while self.epoch < self.config.epochs and not self._reached_max_steps():
            if not self._train_epoch():
                last = self._end_part_way()
                break
            last = self._end_epoch()
        distributed.barrier()
        return last

    def state_dict(self) -> dict[str, Any]:
        """The full training state written to ``checkpoint.pth.tar`` (collective: call on every rank)."""
        rng = distributed.all_gather_objects(capture_rng_state())
        sampler_state: Any = {"epoch": self.epoch}
        if _stateful(self.sampler) and self.is_main:
            sampler_state = self.sampler.state_dict()  # type: ignore[attr-defined]
            check_plain(sampler_state, "sampler.state_dict()")
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "batch_in_epoch": self.batch_in_epoch,
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler": sampler_state,
            "rng": rng,
            "best": self.best,
            "history": self.history,
            "config": self.config.to_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "running": {"sums": dict(self._sums), "count": self._count},
            "world_size": self.world_size,
            "identity": self.identity,
        }

    def save_checkpoint(self) -> Path:
        """Write ``out_dir/checkpoint.pth.tar`` atomically (rank 0 writes; every rank must call)."""
        state = self.state_dict()
        path = self.out_dir / CHECKPOINT_NAME
        if self.is_main:
            save_checkpoint(state, path)
        return path

    # ---------------------------------------------------------------------------------- resume
    def _load(self, path: Path) -> None:
        ckpt = load_checkpoint(path)
        check_identity(path, ckpt.get("identity") or {}, self.identity)
        check_finite(ckpt["state_dict"], path)
        load_state_dict_into(self.model, ckpt["state_dict"], path)
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError, RuntimeError) as err:
            raise XgeoError(
                path,
                f"optimizer state does not match this run ({str(err).splitlines()[0][:160]})",
                "resume with the same optimizer, sam mode and model",
            ) from None
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch = int(ckpt["epoch"])
        self.global_step = int(ckpt["global_step"])
        self.batch_in_epoch = int(ckpt["batch_in_epoch"])
        self.best = ckpt["best"]
        self.history = list(ckpt["history"])
        running = ckpt.get("running") or {}
        self._sums = {k: float(v) for k, v in running.get("sums", {}).items()}
        self._count = int(running.get("count", 0))
        if _stateful(self.sampler) and ckpt["sampler"] is not None:
            self.sampler.load_state_dict(ckpt["sampler"])  # type: ignore[attr-defined]
            self._sampler_restored = self.batch_in_epoch > 0
        saved_world = int(ckpt.get("world_size", len(ckpt["rng"])))
        if saved_world != self.world_size:
            self.note(
                f"{path}: written by {saved_world} processes, resumed with {self.world_size};"
                " the run continues but is not bit-identical"
            )
        self._pending_rng = ckpt["rng"]
        self.records.truncate_after(self.global_step)
        self.note(f"resumed from {path} at epoch {self.epoch}, batch {self.batch_in_epoch}, step {self.global_step}")

    def _restore_rng(self, states: list[dict[str, Any]]) -> None:
        restore_rng_state(states[self.rank] if self.rank < len(states) else states[0])

    # -------------------------------------------------------------------------------- the loop
    def _reached_max_steps(self) -> bool:
        return self.config.max_steps is not None and self.global_step >= self.config.max_steps

    def _train_epoch(self) -> bool:
        """Run (the rest of) the current epoch; False when ``max_steps`` stopped it part-way."""
        cfg, epoch = self.config, self.epoch
        self.ddp_model.train()
        if not self._sampler_restored:
            self.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
        self._sampler_restored = False
        self.lr = self.scheduler.set(epoch, self.batch_in_epoch)
        loader = epoch_loader(
            self.train_dataset,
            self.sampler,
            self.batch_size,
            epoch=epoch,
            skip=self.batch_in_epoch,
            seed=cfg.seed,
            rank=self.rank,
            num_workers=cfg.num_workers,
            collate_fn=self.collate_fn,
            pin_memory=self.device.type == "cuda",
        )
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=self.batch_in_epoch,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=True if not (cfg.progress and self.is_main) else None,  # None: off when not a terminal
            dynamic_ncols=True,
        )
        try:
            for batch in loader:
                if self.scheduler.per_step:
                    self.lr = self.scheduler.set(epoch, self.batch_in_epoch)
                batch = move_to_device(batch, self.device, non_blocking=True)
                out, loss = self.updater(batch, where=f"epoch {epoch + 1} step {self.global_step + 1}")
                self.global_step += 1
                self.batch_in_epoch += 1
                self._accumulate(loss, out.metrics)
                if self.on_step_end is not None:
                    self.on_step_end(self, batch, out)
                if self.global_step % cfg.log_every == 0:
                    self._log_step(loss, out.metrics, bar)
                bar.update(1)
                last_batch = self.batch_in_epoch >= self.steps_per_epoch
                stop = self._reached_max_steps()
                if not last_batch and (stop or (cfg.checkpoint_every and self.global_step % cfg.checkpoint_every == 0)):
                    self.save_checkpoint()
                if stop and not last_batch:
                    return False
        finally:
            bar.close()
        return True

    # ------------------------------------------------------------------------- metrics & files
    def _accumulate(self, loss: float, metrics: dict[str, Any]) -> None:
        self._count += 1
        self._sums["loss"] = self._sums.get("loss", 0.0) + loss
        for name, value in metrics.items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value)

    def _epoch_means(self) -> dict[str, float]:
        """Training averages over the epoch so far, averaged over ranks (collective)."""
        if not self._count:
            return {}
        names = sorted(self._sums)
        means = torch.tensor([self._sums[n] / self._count for n in names], dtype=torch.float64)
        means = distributed.all_reduce_mean(means)
        return {f"train_{n}": float(v) for n, v in zip(names, means.tolist(), strict=True)}

    def _log_step(self, loss: float, metrics: dict[str, Any], bar: Any) -> None:
        if not self.is_main:
            return
        plain = {k: float(v) for k, v in metrics.items()}
        self.records.log(
            {
                "kind": "step",
                "epoch": self.epoch,
                "step": self.global_step,
                "batch": self.batch_in_epoch,
                "lr": self.lr,
                "loss": loss,
                **plain,
                "time": round(time.monotonic() - self._t0, 3),
            }
        )
        bar.set_postfix(loss=f"{loss:.4g}", lr=f"{self.lr:.3g}", refresh=False)

    def _end_epoch(self) -> dict[str, Any]:
        """Evaluate, record, checkpoint (epoch + 1, batch 0) and copy the best model."""
        epoch = self.epoch
        train = self._epoch_means()
        self.ddp_model.eval()
        evaluation = {k: float(v) for k, v in self.evaluate_fn(self).items()} if self.evaluate_fn is not None else {}
        record: dict[str, Any] = {"epoch": epoch, "step": self.global_step, "lr": self.lr, **train, **evaluation}
        self.history.append(record)
        key = self.config.best_metric
        improved = (
            key in evaluation
            and math.isfinite(float(evaluation[key]))
            and (self.best is None or float(evaluation[key]) > self.best["value"])
        )
        if improved:
            self.best = {"metric": key, "value": float(evaluation[key]), "epoch": epoch}
        self.epoch, self.batch_in_epoch = epoch + 1, 0
        self._sums, self._count = {}, 0
        path = self.save_checkpoint()
        self.records.log({"kind": "epoch", **record})
        self.records.write_metrics(record, self.best, self.history)
        if improved and self.is_main:
            copy_atomic(path, self.out_dir / BEST_NAME)
        if self.is_main:
            notify_epoch(epoch, self.config.epochs, record)
        return record

    def _end_part_way(self) -> dict[str, Any]:
        """Stopped by ``max_steps`` inside an epoch: ``metrics.json`` gets the epoch's training means so far.

        The record is marked ``partial_epoch`` and stays out of ``history`` (the epoch is not over; a
        resumed run finishes it). The checkpoint was already written by the loop.
        """
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "step": self.global_step,
            "batch": self.batch_in_epoch,
            "lr": self.lr,
            "partial_epoch": True,
            **self._epoch_means(),
        }
        self.records.write_metrics(record, self.best, self.history)
        return record
