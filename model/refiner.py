"""Refiners: guided filters that bring a low-resolution prediction back to full resolution.

Both refiners compute the guided filter's local linear model `y ~ A * x + b` at low resolution,
with the 4-channel guide `x = [rgb, mean(rgb)]` and the signal `y = [fgr residual, alpha]`,
then upsample A and b bilinearly and apply them to the full-resolution guide. They differ only
in the box filter and in how A is found: the fast guided filter solves `cov / (var + eps)`,
the deep guided filter learns it with a small 1x1 conv stack.

Shapes: `fine_src` `[N, 3, H, W]`; `base_src` `[N, 3, h, w]`, `base_fgr` `[N, 3, h, w]`,
`base_pha` `[N, 1, h, w]`, `base_hid` `[N, 16, h, w]`. Returns the fgr residual `[N, 3, H, W]`
and alpha `[N, 1, H, W]`.
"""
from typing import Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class GuidedFilterRefiner(nn.Module):
    """The shared guided-filter computation.

    Subclasses provide `box_filter(x) -> mean over a local window` (a method or a module) and
    `coefficients(cov_xy, var_x, base_hid) -> A`.
    """

    def forward(self, fine_src: Tensor, base_src: Tensor, base_fgr: Tensor, base_pha: Tensor,
                base_hid: Tensor) -> Tuple[Tensor, Tensor]:
        fine_x = torch.cat([fine_src, fine_src.mean(1, keepdim=True)], dim=1)
        A, b = self.linear_model(base_src, base_fgr, base_pha, base_hid)

        # A and b upsampled in one pass, in the default memory format: resizing few-channel maps
        # to full resolution is several times slower in channels_last.
        size = (fine_src.size(2), fine_src.size(3))
        A, b = F.interpolate(torch.cat([A, b], dim=1).contiguous(), size, mode='bilinear',
                             align_corners=False).split(4, dim=1)
        fgr, pha = torch.addcmul(b, A, fine_x).split([3, 1], dim=1)
        return fgr, pha


    def linear_model(self, base_src: Tensor, base_fgr: Tensor, base_pha: Tensor,
                     base_hid: Tensor) -> Tuple[Tensor, Tensor]:
        """The local linear model `y ~ A * x + b` at low resolution: A and b, each `[N, 4, h, w]`."""
        base_x = torch.cat([base_src, base_src.mean(1, keepdim=True)], dim=1)
        base_y = torch.cat([base_fgr, base_pha], dim=1)
        mean_x = self.box_filter(base_x)
        mean_y = self.box_filter(base_y)
        cov_xy = self.box_filter(base_x * base_y) - mean_x * mean_y
        var_x = self.box_filter(base_x * base_x) - mean_x * mean_x
        A = self.coefficients(cov_xy, var_x, base_hid)
        return A, mean_y - A * mean_x


class DeepGuidedFilterRefiner(GuidedFilterRefiner):
    """Deep guided filter: a learnable depthwise 3x3 box filter (initialised to 1/9) and
    A = conv1x1 stack (24 -> 16 -> 16 -> 4, BN + ReLU between) of `cat[cov_xy, var_x, hidden]`."""

    def __init__(self, hid_channels: int = 16):
        super().__init__()
        self.box_filter = nn.Conv2d(4, 4, kernel_size=3, padding=1, bias=False, groups=4)
        nn.init.constant_(self.box_filter.weight, 1 / 9)
        self.conv = nn.Sequential(
            nn.Conv2d(4 * 2 + hid_channels, hid_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(hid_channels),
            nn.ReLU(True),
            nn.Conv2d(hid_channels, hid_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(hid_channels),
            nn.ReLU(True),
            nn.Conv2d(hid_channels, 4, kernel_size=1, bias=True),
        )

    def coefficients(self, cov_xy: Tensor, var_x: Tensor, base_hid: Tensor) -> Tensor:
        return self.conv(torch.cat([cov_xy, var_x, base_hid], dim=1))


class FastGuidedFilterRefiner(GuidedFilterRefiner):
    """Fast guided filter (He et al.), radius 1 and eps 1e-5, no learned parameters.

    The box filter is two separable depthwise convolutions with zero padding (ONNX-friendly).
    """

    def __init__(self, radius: int = 1, eps: float = 1e-5):
        super().__init__()
        self.radius = radius
        self.eps = eps

    def box_filter(self, x: Tensor) -> Tensor:
        channels = x.size(1)
        size = 2 * self.radius + 1
        kernel_x = torch.full((channels, 1, 1, size), 1 / size, device=x.device, dtype=x.dtype)
        kernel_y = torch.full((channels, 1, size, 1), 1 / size, device=x.device, dtype=x.dtype)
        x = F.conv2d(x, kernel_x, padding=(0, self.radius), groups=channels)
        return F.conv2d(x, kernel_y, padding=(self.radius, 0), groups=channels)

    def coefficients(self, cov_xy: Tensor, var_x: Tensor, base_hid: Tensor) -> Tensor:
        return cov_xy / (var_x + self.eps)
