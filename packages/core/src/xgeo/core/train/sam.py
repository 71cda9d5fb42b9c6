"""Sharpness-aware minimisation (SAM) and its adaptive variant (ASAM) over any base optimizer.

One update takes two gradient evaluations on the same batch:

1. gradient ``g`` at the weights ``w``; :meth:`SAM.first_step` moves to ``w + eps`` with
   ``eps = rho * g / (||g|| + 1e-12)`` (SAM) or, adaptive,
   ``eps = rho * w * w * g / (|| |w| * g || + 1e-12)`` (ASAM; norms over all parameters together);
2. gradient ``g'`` at ``w + eps``; :meth:`SAM.second_step` puts ``w`` back and lets the base
   optimizer step with ``g'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

_EPS = 1e-12


class SAM(torch.optim.Optimizer):
    """Wrap ``base_optimizer_cls`` (built on the same parameter groups) with a SAM/ASAM ascent step."""

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        base_optimizer_cls: type[torch.optim.Optimizer],
        rho: float = 0.05,
        adaptive: bool = False,
        **base_kwargs: Any,
    ) -> None:
        if rho < 0:
            raise ValueError(f"rho must be non-negative, got {rho}")
        super().__init__(params, {"rho": float(rho), "adaptive": bool(adaptive), **base_kwargs})
        self.base_optimizer = base_optimizer_cls(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    def _params_with_grad(self) -> list[tuple[dict[str, Any], torch.Tensor]]:
        return [(g, p) for g in self.param_groups for p in g["params"] if p.grad is not None]

    @torch.no_grad()
    def _scaled_grad_norm(self) -> torch.Tensor:
        """``||g||`` (SAM groups) combined with ``|| |w| * g ||`` (ASAM groups), all parameters together."""
        pairs = self._params_with_grad()
        if not pairs:
            return torch.zeros(())
        device = pairs[0][1].device
        norms = [((p.abs() * p.grad) if g["adaptive"] else p.grad).norm(p=2).to(device) for g, p in pairs]
        return torch.stack(norms).norm(p=2)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        """Move every parameter to ``w + eps`` (remembering ``w``)."""
        norm = self._scaled_grad_norm()
        for group, p in self._params_with_grad():
            scale = group["rho"] / (norm.to(p.device) + _EPS)
            eps = (p * p * p.grad if group["adaptive"] else p.grad) * scale
            self.state[p]["w"] = p.detach().clone()
            p.add_(eps)
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def restore(self) -> None:
        """Put back the weights saved by :meth:`first_step` (keeps the current gradients)."""
        for group in self.param_groups:
            for p in group["params"]:
                saved = self.state.get(p, {}).pop("w", None)
                if saved is not None:
                    p.copy_(saved)

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore ``w`` and take the base optimizer's step with the gradient computed at ``w + eps``."""
        self.restore()
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """Full SAM update; ``closure`` must zero nothing, run forward + backward and return the loss.

        The gradient at ``w`` must already be in ``.grad`` (from the caller's first backward pass).
        """
        if closure is None:
            raise ValueError("SAM.step needs a closure that re-evaluates the loss and calls backward()")
        self.first_step(zero_grad=True)
        with torch.enable_grad():
            loss = closure()
        self.second_step()
        return loss

    def state_dict(self) -> dict[str, Any]:
        """The base optimizer's state (the saved ``w`` only lives between the two passes)."""
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load the base optimizer's state and keep sharing its parameter groups."""
        self.base_optimizer.load_state_dict(state_dict)
        self.param_groups = self.base_optimizer.param_groups
