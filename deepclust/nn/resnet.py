"""ResNet-18 (He et al., 2016) as a 512-d image feature extractor, named as torchvision names it.

Why not ``torchvision.models.resnet18``: the torchvision wheels published for torch 2.13.0 are
CUDA builds whose compiled operators do not load beside the CPU torch wheel, and importing the
broken package also breaks ``transformers`` (it imports torchvision when present). The network
is short, so it is written out here with torchvision's parameter names (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer2.0.downsample.0``, ...), which lets a state dict saved from
torchvision's ``resnet18`` (e.g. the ImageNet file ``resnet18-f37072fd.pth``) load unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (a strided 1x1 projection when the shape changes)."""

    def __init__(self, n_in: int, n_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(n_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(n_out, n_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(n_out)
        self.downsample = (
            nn.Sequential(nn.Conv2d(n_in, n_out, 1, stride=stride, bias=False), nn.BatchNorm2d(n_out))
            if stride != 1 or n_in != n_out
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + shortcut)


class ResNet18Features(nn.Module):
    """ResNet-18 without its classifier: RGB images ``(n, 3, H, W)`` -> pooled features ``(n, 512)``.

    ``load_state_dict`` accepts torchvision's ``resnet18`` state dict with the ``fc.*`` entries
    removed (see :func:`deepclust.io.images.read_backbone_weights`).
    """

    n_features = 512

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths = (64, 64, 128, 256, 512)
        for i in range(1, 5):
            stride = 1 if i == 1 else 2
            layer = nn.Sequential(BasicBlock(widths[i - 1], widths[i], stride), BasicBlock(widths[i], widths[i]))
            self.add_module(f"layer{i}", layer)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for module in self.modules():  # torchvision's initialisation, for the random-weight case
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)
