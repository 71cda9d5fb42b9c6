"""Key-entity attention (KEA): HVSA's external-attention block on the ResNet-18 feature map.

For ``X`` of shape ``[B, C, H, W]`` (``N = H·W`` positions) and ``S`` memory units:

1. ``Y = Conv1x1(X)`` (with bias), flattened to ``[B, C, N]``;
2. ``A = M_k Y`` (``M_k``: ``[S, C]``), softmax over the N positions of each unit, then each
   position's S values divided by their sum (+1e-9), the "double normalisation";
3. ``Z = M_v A`` (``M_v``: ``[C, S]``), back to ``[B, C, H, W]``, ``Conv1x1`` (no bias) + BatchNorm;
4. ``ReLU(X + Z)``.

``tied=True`` (default, the released code's behaviour): ``M_v`` is ``M_kᵀ`` throughout training.
The original assigns one parameter's storage to the other, so both names update the same memory;
here there is one parameter used twice (its gradient is the sum of both uses, one optimizer update).
``tied=False`` gives ``M_v`` its own parameter, initialised to ``M_kᵀ``.
"""

from __future__ import annotations

import torch
from torch import nn


class KEA(nn.Module):
    """External attention with ``units`` shared memory units over a ``channels``-channel map."""

    def __init__(self, channels: int = 512, units: int = 64, tied: bool = True) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(channels, channels, 1)
        self.memory_key = nn.Parameter(torch.empty(units, channels))
        nn.init.kaiming_uniform_(self.memory_key, a=5**0.5)
        self.tied = tied
        self.memory_value = None if tied else nn.Parameter(self.memory_key.detach().t().clone())
        self.conv_out = nn.Conv2d(channels, channels, 1, bias=False)
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)

    @property
    def value_memory(self) -> torch.Tensor:
        """``M_v`` (``[C, S]``): ``M_kᵀ`` when tied."""
        return self.memory_key.t() if self.memory_value is None else self.memory_value

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The doubly normalised attention map ``[B, S, N]``."""
        y = self.conv_in(x).flatten(2)
        attn = torch.einsum("sc,bcn->bsn", self.memory_key, y).softmax(dim=-1)
        return attn / (attn.sum(dim=1, keepdim=True) + 1e-9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        z = torch.einsum("cs,bsn->bcn", self.value_memory, self.attention(x)).reshape(b, c, h, w)
        return self.act(x + self.norm(self.conv_out(z)))
