"""ResNet building blocks of the XMem encoders (no torchvision, no pretrained downloads).

The key encoder is a ResNet-50 and the value encoder a ResNet-18, both truncated after
``layer3`` (stride 16). Blocks follow the "v1.5" layout (the stride sits on the 3x3
convolution of a bottleneck). Module names match the original checkpoints.
"""
from __future__ import annotations

from torch import Tensor, nn

__all__ = ["BasicBlock", "Bottleneck", "make_layer", "stem"]


class BasicBlock(nn.Module):
    """ResNet-18/34 residual block: two 3x3 convolutions."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    """ResNet-50 bottleneck block: 1x1, strided 3x3, 1x1 (x4 channels)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


def make_layer(block: type[BasicBlock | Bottleneck], inplanes: int, planes: int,
               blocks: int, stride: int = 1) -> nn.Sequential:
    """A ResNet stage; the first block gets a 1x1 projection shortcut when shapes change."""
    out_planes = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out_planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out_planes, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_planes),
        )
    layers: list[nn.Module] = [block(inplanes, planes, stride, downsample)]
    layers += [block(out_planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def stem(in_channels: int) -> tuple[nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d]:
    """The ResNet stem: 7x7 stride-2 convolution, batch norm and 3x3 stride-2 max pooling."""
    return (nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
