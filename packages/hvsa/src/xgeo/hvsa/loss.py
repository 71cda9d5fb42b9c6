"""HVSA's training loss: difficulty-weighted bidirectional hinge + feature uniformity, mixed by a
learned softmax weighting.

For a batch of B (image, caption) items, ``s[i, j]`` = cosine(image i, caption j), margin α, and
for every negative ``i ≠ j``:

- image→text cost ``c_s[i, j] = max(0, α + s[i, j] − s[i, i])``;
- text→image cost ``c_im[i, j] = max(0, α + s[i, j] − s[j, j])``;
- ``L_align = (1/B²) Σ_{i≠j} [c_s e^{−β c_s} + c_im e^{−β c_im}]`` (all negatives, weights not detached).

``L_unif = mean_{p<q} exp(−γ ‖x̂_p − x̂_q‖²)`` over the unit image embeddings of rows 0, 5, 10, …
``L = w₁ L_align + w₂ L_unif`` with ``w = softmax(MLP([L_align, L_unif]))`` (:class:`AutoWeight`).

The "curriculum" of the released code is the per-pair weight ``e^{−βc}`` alone, the same at every
step (``curriculum: none``, the default). ``curriculum: linear`` is our option: β moves linearly
from ``beta_start`` to ``beta_end`` over ``pace_epochs`` epochs, so early training down-weights
hard pairs strongly (easy first) and later training weighs them almost fully.

``weighting: equal`` (our option, used by the demo preset) replaces the learned mix by ½, ½: from
random init at toy scale the learned weights move onto the smaller uniformity term within a few
dozen steps and the alignment stops improving (measured on the synthetic RSITMD).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def cosine_scores(images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
    """Cosine ``[B_img, B_txt]``: ⟨v, t⟩ / max(‖v‖‖t‖, 1e-8)."""
    norms = images.norm(dim=1, keepdim=True) * texts.norm(dim=1, keepdim=True).t()
    return images @ texts.t() / norms.clamp(min=1e-8)


def difficulty_weighted_hinge(scores: torch.Tensor, margin: float = 0.2, beta: float = 0.5) -> torch.Tensor:
    """``L_align`` of a square ``[B, B]`` score matrix whose diagonal holds the positive pairs."""
    b = scores.shape[0]
    diag = scores.diagonal()
    cost_s = (margin + scores - diag[:, None]).clamp(min=0)
    cost_im = (margin + scores - diag[None, :]).clamp(min=0)
    off = ~torch.eye(b, dtype=torch.bool, device=scores.device)
    weighted = cost_s * torch.exp(-beta * cost_s) + cost_im * torch.exp(-beta * cost_im)
    return (weighted * off).sum() / (b * b)


def feature_uniformity(features: torch.Tensor, gamma: float = 2.0, stride: int = 5) -> torch.Tensor:
    """``L_unif`` on rows 0, stride, 2·stride, … (unit-normalised); 0 with fewer than two rows."""
    x = F.normalize(features[::stride], dim=1)
    n = x.shape[0]
    if n < 2:
        return features.sum() * 0.0
    sq = torch.cdist(x, x).pow(2)
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool, device=x.device), diagonal=1)
    return torch.exp(-gamma * sq[upper]).mean()


class AutoWeight(nn.Module):
    """Learned mixing of ``k`` losses: Linear(k→64) PReLU Linear(64→128) PReLU Linear(128→k), softmax."""

    def __init__(self, k: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(k, 64, bias=False), nn.PReLU(), nn.Linear(64, 128, bias=False), nn.PReLU(), nn.Linear(128, k, bias=False)
        )

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        return self.net(losses).softmax(dim=-1)

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        """``Σ w_k ℓ_k`` (losses not detached, as in the original)."""
        return (self.weights(losses) * losses).sum()


@dataclass
class Curriculum:
    """β for an epoch: fixed (``none``) or moved linearly (``linear``)."""

    mode: str = "none"
    beta: float = 0.5
    beta_start: float = 2.0
    beta_end: float = 0.0
    pace_epochs: int = 20

    def beta_at(self, epoch: int) -> float:
        if self.mode == "none":
            return self.beta
        progress = min(1.0, epoch / self.pace_epochs) if self.pace_epochs > 0 else 1.0
        return self.beta_start + (self.beta_end - self.beta_start) * progress


CURRICULA: tuple[str, ...] = ("none", "linear")
#: ``learned``: the released AutoWeight MLP; ``equal``: fixed weights 1/2, 1/2 (our option)
WEIGHTINGS: tuple[str, ...] = ("learned", "equal")


class HVSALoss:
    """The full loss for image/text embeddings of one batch; ``epoch()`` drives the optional curriculum."""

    def __init__(self, margin: float = 0.2, gamma: float = 2.0, curriculum: Curriculum | None = None,
                 epoch: Callable[[], int] = lambda: 0, weighting: str = "learned") -> None:
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown loss weighting {weighting!r}")
        self.margin, self.gamma, self.weighting = margin, gamma, weighting
        self.curriculum = curriculum or Curriculum()
        self.epoch = epoch

    def parts(self, images: torch.Tensor, texts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(L_align, L_unif)``."""
        scores = cosine_scores(images, texts)
        align = difficulty_weighted_hinge(scores, self.margin, self.curriculum.beta_at(self.epoch()))
        return align, feature_uniformity(images, self.gamma)

    def __call__(self, images: torch.Tensor, texts: torch.Tensor, weighting: AutoWeight) -> tuple[torch.Tensor, dict[str, float]]:
        align, unif = self.parts(images, texts)
        losses = torch.stack([align, unif])
        w = weighting.weights(losses) if self.weighting == "learned" else torch.full_like(losses, 0.5)
        total = (w * losses).sum()
        return total, {"align": float(align.detach()), "unif": float(unif.detach()), "w_align": float(w[0].detach())}
