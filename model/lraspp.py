"""Lite R-ASPP: the segmentation head of MobileNetV3, applied to the 1/16 features."""
from torch import Tensor, nn


class LRASPP(nn.Module):
    """`[N, in_channels, H, W]` -> `[N, out_channels, H, W]`: a 1x1 conv branch gated by a global-pool branch."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.aspp1 = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(True),
        )
        self.aspp2 = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.aspp1(x) * self.aspp2(x)
