"""CMPC's coarse losses: the batch-hard cross-modal triplet and the Wasserstein modality critic.

Triplet (margin ``m`` = 0.5, squared Euclidean distances on the unit 512-d projections): for
anchors ``a_i`` with ids ``y_i`` against targets ``t_j`` of the same batch order::

    d+_i = max_{j: y_j = y_i} |a_i - t_j|^2     d-_i = min_{j: y_j != y_i} |a_i - t_j|^2
    L(A -> T) = mean_i max(0, d+_i - d-_i + m)      L_tri = L(opt -> sar) + L(sar -> opt)

Critic D (512 -> 512 -> 512 -> 1, LeakyReLU 0.2 then 0.01): per iteration it takes ``steps`` (5)
Adam steps (lr 1e-3, weight decay 5e-4) on detached embeddings, each on the half of the optical
batch it scores highest and the half of the SAR batch it scores lowest,
``L_D = -mean D(sar) + mean D(opt)``, and clips every weight to ``[-clip, clip]`` (0.1). The
generator term ``-mean D(opt)`` over the optical half scored highest, times ``weight`` (0.01), is
the only part with a gradient, and it reaches the optical embeddings only.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from xgeo.core.train import distributed

TRIPLET_MARGIN = 0.5


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[N, M]`` squared Euclidean distances (clamped at 0)."""
    d = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None] - 2 * a @ b.t()
    return d.clamp(min=0)


def batch_hard_triplet(anchor: torch.Tensor, target: torch.Tensor, labels: torch.Tensor,
                       margin: float = TRIPLET_MARGIN) -> torch.Tensor:
    """Batch-hard triplet loss of anchors against targets (same order, ids ``labels``)."""
    dist = squared_distances(anchor, target)
    same = labels[:, None] == labels[None, :]
    hardest_pos = dist.masked_fill(~same, float("-inf")).amax(1)
    hardest_neg = dist.masked_fill(same, float("inf")).amin(1)
    return F.relu(hardest_pos - hardest_neg + margin).mean()


def cross_modal_triplet(sar: torch.Tensor, opt: torch.Tensor, labels: torch.Tensor,
                        margin: float = TRIPLET_MARGIN) -> torch.Tensor:
    """Both directions, no same-modality pairs: ``L(opt -> sar) + L(sar -> opt)``."""
    return batch_hard_triplet(opt, sar, labels, margin) + batch_hard_triplet(sar, opt, labels, margin)


class CriticNet(nn.Module):
    """D: ``in_dim -> 512 -> 512 -> 1``, LeakyReLU 0.2 after the first layer, 0.01 after the second."""

    def __init__(self, in_dim: int, hidden: int = 512) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(in_dim, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.fc1(x), 0.2)
        x = F.leaky_relu(self.fc2(x), 0.01)
        return self.fc3(x).view(-1)


class WassersteinCritic(nn.Module):
    """The modality critic with its own Adam; its weights never receive the embedding loss's gradient.

    Its parameters do not require gradients outside :meth:`train_critic`, so the Trainer's
    optimizer leaves them alone; the Adam state travels in the model's ``state_dict``.
    """

    def __init__(self, in_dim: int, lr: float = 1e-3, weight_decay: float = 5e-4, steps: int = 5, clip: float = 0.1,
                 weight: float = 0.01) -> None:
        super().__init__()
        self.net = CriticNet(in_dim)
        self.steps, self.clip, self.weight = int(steps), float(clip), float(weight)
        self.net.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr, weight_decay=weight_decay)

    @staticmethod
    def _hardest(scores: torch.Tensor, highest: bool) -> torch.Tensor:
        return scores.argsort(descending=highest)[: max(1, len(scores) // 2)]

    def critic_loss(self, sar: torch.Tensor, opt: torch.Tensor) -> torch.Tensor:
        """``-mean D(sar) + mean D(opt)`` over the lowest-scored SAR and highest-scored optical halves."""
        with torch.no_grad():
            s_idx = self._hardest(self.net(sar), highest=False)
            o_idx = self._hardest(self.net(opt), highest=True)
        return -self.net(sar[s_idx]).mean() + self.net(opt[o_idx]).mean()

    def train_critic(self, sar: torch.Tensor, opt: torch.Tensor) -> float:
        """``steps`` Adam steps on detached embeddings, weights clipped after each; the last critic loss."""
        sar, opt = sar.detach(), opt.detach()
        params = list(self.net.parameters())
        loss = torch.zeros(())
        self.net.requires_grad_(True)
        try:
            with torch.enable_grad():
                for _ in range(self.steps):
                    self.optimizer.zero_grad(set_to_none=True)
                    loss = self.critic_loss(sar, opt)
                    loss.backward()
                    if distributed.get_world_size() > 1:
                        for p in params:
                            p.grad = distributed.all_reduce_mean(p.grad)
                    self.optimizer.step()
                    with torch.no_grad():
                        for p in params:
                            p.clamp_(-self.clip, self.clip)
        finally:
            self.net.requires_grad_(False)
            self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def generator_loss(self, opt: torch.Tensor) -> torch.Tensor:
        """``weight * -mean D(opt)`` over the optical half the critic scores highest (gradient to ``opt`` only)."""
        scores = self.net(opt)
        idx = self._hardest(scores.detach(), highest=True)
        return -self.weight * scores[idx].mean()

    def get_extra_state(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if state and state.get("optimizer"):
            self.optimizer.load_state_dict(state["optimizer"])
