"""The shared CNN of CMPC: a timm ResNet whose last stage runs at stride 1, then global max pooling.

For a 200×200 input a ResNet-50 gives a 2048×13×13 map (stride 16 instead of 32) and a 2048-d
descriptor. ImageNet weights come only from a local file (``--pretrained PATH``, torchvision or
timm naming); nothing is downloaded.
"""

from __future__ import annotations

import timm
import torch
from timm.models.resnet import ResNet
from torch import nn

from xgeo.core.errors import XgeoError
from xgeo.core.io import load_state_dict_into, load_weights


def last_stage_stride_one(net: ResNet) -> None:
    """Set every stride-2 convolution (and pooling shortcut) of ``layer4``'s first block to stride 1."""
    block = net.layer4[0]
    for module in block.modules():
        if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
            module.stride = (1, 1)
        elif isinstance(module, nn.AvgPool2d) and module.stride == 2:  # 'd'-variant shortcuts
            module.stride, module.kernel_size = 1, 1


class MaxPoolResNet(nn.Module):
    """ResNet features (stride-1 last stage) and global max pooling: ``[B, 3, H, W] -> [B, D]``."""

    def __init__(self, arch: str) -> None:
        super().__init__()
        try:
            net = timm.create_model(arch, pretrained=False, num_classes=0, global_pool="")
        except RuntimeError as err:
            raise XgeoError(None, f"unknown backbone {arch!r} ({err})", "use a timm ResNet such as resnet50") from None
        if not isinstance(net, ResNet):
            raise XgeoError(None, f"backbone {arch!r} is not a ResNet", "use a timm ResNet such as resnet50 or test_resnet")
        last_stage_stride_one(net)
        self.net = net
        self.pool = nn.AdaptiveMaxPool2d(1)

    @property
    def dim(self) -> int:
        """Descriptor length (2048 for ResNet-50)."""
        return int(self.net.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.net.forward_features(x)).flatten(1)


def load_pretrained(backbone: MaxPoolResNet, path: str) -> None:
    """ImageNet weights from a local torchvision/timm ResNet checkpoint (the classifier is dropped)."""
    state = {k: v for k, v in load_weights(path).items() if not k.startswith("fc.")}
    load_state_dict_into(backbone.net, state, path)
