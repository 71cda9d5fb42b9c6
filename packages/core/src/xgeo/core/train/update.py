"""One optimizer update per batch: forward, backward, clip and step, in one pass or two (SAM/ASAM).

:class:`Updater` owns what happens between "a batch is on the device" and "the weights moved":
autocast and the GradScaler when AMP is on, gradient clipping, the two-pass SAM protocol, and the
check that the loss is finite on every rank. The :class:`~xgeo.core.train.Trainer` owns the loop
around it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from xgeo.core.errors import XgeoError
from xgeo.core.train import distributed
from xgeo.core.train.config import StepOutput
from xgeo.core.train.optimizers import is_two_pass

AMP_DTYPES: dict[str, torch.dtype] = {"cuda": torch.float16}
"""Device types on which ``config.amp`` turns on autocast (with this dtype) and a GradScaler."""

StepFn = Callable[[torch.nn.Module, Any], StepOutput]


class Updater:
    """``updater(batch, where) -> (first-pass StepOutput, loss averaged over ranks)``, one optimizer step.

    ``step_fn`` runs on ``ddp_model``; gradients are clipped and checked on ``model`` (the unwrapped
    module). ``amp`` takes effect only on the device types in :data:`AMP_DTYPES`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        ddp_model: torch.nn.Module,
        step_fn: StepFn,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        *,
        amp: bool,
        grad_clip: float | None,
        out_dir: Path,
    ) -> None:
        self.model, self.ddp_model, self.step_fn, self.optimizer = model, ddp_model, step_fn, optimizer
        self.device, self.grad_clip, self.out_dir = device, grad_clip, out_dir
        self.two_pass = is_two_pass(optimizer)
        self.amp_dtype = AMP_DTYPES.get(device.type) if amp else None
        self.scaler = torch.amp.GradScaler(device.type) if self.amp_dtype is not None else None

    def __call__(self, batch: Any, where: str) -> tuple[StepOutput, float]:
        """One optimizer step (two forward/backward passes with SAM); returns the first pass.

        ``where`` (``"epoch E step S"``) names the place in the error raised for a NaN/inf loss.
        """
        opt, scaler = self.optimizer, self.scaler
        out, loss = self._forward(batch, where)
        self._backward(out.loss)
        if self.two_pass:
            if scaler is not None and not self._grads_finite():
                # fp16 overflow in the first pass: skip this update and lower the scale, as GradScaler would.
                opt.zero_grad(set_to_none=True)
                scaler.update(scaler.get_scale() * scaler.get_backoff_factor())
                return out, loss
            opt.first_step(zero_grad=True)  # type: ignore[attr-defined]
            second, _ = self._forward(batch, where)
            self._backward(second.loss)
            if scaler is not None:
                opt.restore()  # type: ignore[attr-defined]
                base = opt.base_optimizer  # type: ignore[attr-defined]
                scaler.unscale_(base)
                self._clip()
                scaler.step(base)
                scaler.update()
            else:
                self._clip()
                opt.second_step()  # type: ignore[attr-defined]
        elif scaler is not None:
            scaler.unscale_(opt)
            self._clip()
            scaler.step(opt)
            scaler.update()
        else:
            self._clip()
            opt.step()
        opt.zero_grad(set_to_none=True)
        return out, loss

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _forward(self, batch: Any, where: str) -> tuple[StepOutput, float]:
        with self._autocast():
            out = self.step_fn(self.ddp_model, batch)
        return out, self._checked(out.loss, where)

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _clip(self) -> None:
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)

    def _grads_finite(self) -> bool:
        flags = [torch.isfinite(p.grad).all() for p in self.model.parameters() if p.grad is not None]
        return bool(torch.stack(flags).all()) if flags else True

    def _checked(self, loss: torch.Tensor, where: str) -> float:
        """The loss averaged over ranks, as a float; NaN/inf on any rank stops every rank."""
        if loss.numel() != 1:
            raise ValueError(f"step() must return a scalar loss, got shape {tuple(loss.shape)}")
        value = float(distributed.all_reduce_mean(loss.detach().float().reshape(1)))
        if not math.isfinite(value):
            kind = "NaN" if math.isnan(value) else "inf"
            raise XgeoError(
                self.out_dir,
                f"loss became {kind} at {where}",
                "lower lr, set grad_clip, or check the data; resume from the last checkpoint.pth.tar",
            )
        return value
