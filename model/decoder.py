"""The recurrent decoder: ConvGRU stages that carry memory from frame to frame.

All tensors here are time-folded, `[N, C, H, W]` with N = B*T frames (see `temporal.py`);
`time_steps` (T, or 0 for single frames) tells the ConvGRUs how to unfold them. Recurrent
states are always `[B, C, H, W]`: the state after the last frame of the chunk.
"""
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .temporal import unfold_time


class RecurrentDecoder(nn.Module):
    """Decodes the encoder features into a 16-channel hidden map at the (downsampled) input size.

    Args:
        feature_channels: channels of the encoder features f1..f4 (f4 after LR-ASPP).
        decoder_channels: output channels of decode3, decode2, decode1 and decode0.
    """

    def __init__(self, feature_channels: List[int], decoder_channels: List[int]):
        super().__init__()
        self.avgpool = HalfSizeAvgPool()
        self.decode4 = BottleneckBlock(feature_channels[3])
        self.decode3 = UpsamplingBlock(feature_channels[3], feature_channels[2], 3, decoder_channels[0])
        self.decode2 = UpsamplingBlock(decoder_channels[0], feature_channels[1], 3, decoder_channels[1])
        self.decode1 = UpsamplingBlock(decoder_channels[1], feature_channels[0], 3, decoder_channels[2])
        self.decode0 = OutputBlock(decoder_channels[2], 3, decoder_channels[3])

    def forward(self, s0: Tensor, f1: Tensor, f2: Tensor, f3: Tensor, f4: Tensor,
                r1: Optional[Tensor], r2: Optional[Tensor], r3: Optional[Tensor], r4: Optional[Tensor],
                time_steps: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """s0 `[N, 3, H, W]` is the source; returns the hidden map `[N, 16, H, W]` and states r1..r4."""
        s1 = self.avgpool(s0)
        s2 = self.avgpool(s1)
        s3 = self.avgpool(s2)
        x4, r4 = self.decode4(f4, r4, time_steps)
        x3, r3 = self.decode3(x4, f3, s3, r3, time_steps)
        x2, r2 = self.decode2(x3, f2, s2, r2, time_steps)
        x1, r1 = self.decode1(x2, f1, s1, r1, time_steps)
        x0 = self.decode0(x1, s0)
        return x0, r1, r2, r3, r4


class HalfSizeAvgPool(nn.Module):
    """`nn.AvgPool2d(2, 2, count_include_pad=False, ceil_mode=True)` without ceil_mode, which some
    runtimes lack (ONNX Runtime's WebGPU AveragePool): one replicated row and column below and to
    the right, then a plain 2x2 average. On an odd side the last window averages a pixel with its
    copy, which is the pixel itself, as ceil_mode's clipped window does; on an even side the extra
    row and column lie outside every window. Constant padding keeps the graph free of shape arithmetic."""

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(F.pad(x, (0, 1, 0, 1), mode='replicate'), 2, 2)


def upsample_to(x: Tensor, like: Tensor) -> Tensor:
    """Bilinear x2 upsampling, cropped to `like`'s height and width (odd sizes round up in the encoder)."""
    x = F.interpolate(x, scale_factor=2.0, mode='bilinear', align_corners=False)
    return x[:, :, :like.size(2), :like.size(3)]


class BottleneckBlock(nn.Module):
    """Runs a ConvGRU on the second half of the channels: `[a, b]` -> `[a, gru(b)]`."""

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.gru = ConvGRU(channels // 2)

    def forward(self, x: Tensor, r: Optional[Tensor], time_steps: int) -> Tuple[Tensor, Tensor]:
        a, b = x.split(self.channels // 2, dim=1)
        b, r = self.gru(b, r, time_steps)
        return torch.cat([a, b], dim=1), r


class UpsamplingBlock(nn.Module):
    """Upsample x2, concatenate [x, encoder feature, pooled source], conv-BN-ReLU, then a half-channel ConvGRU."""

    def __init__(self, in_channels: int, skip_channels: int, src_channels: int, out_channels: int):
        super().__init__()
        self.out_channels = out_channels
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels + src_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(True),
        )
        self.gru = ConvGRU(out_channels // 2)

    def forward(self, x: Tensor, f: Tensor, s: Tensor, r: Optional[Tensor], time_steps: int) -> Tuple[Tensor, Tensor]:
        x = self.conv(torch.cat([upsample_to(x, s), f, s], dim=1))
        a, b = x.split(self.out_channels // 2, dim=1)
        b, r = self.gru(b, r, time_steps)
        return torch.cat([a, b], dim=1), r


class OutputBlock(nn.Module):
    """Upsample x2 to the source size, concatenate the source, two conv-BN-ReLU layers."""

    def __init__(self, in_channels: int, src_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels + src_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(True),
        )

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        return self.conv(torch.cat([upsample_to(x, s), s], dim=1))


class ConvGRU(nn.Module):
    """Convolutional GRU with `channels` channels, stepping through time.

    `r, z = sigmoid(conv(cat[x, h]))`, `c = tanh(conv(cat[x, r * h]))`, `h' = (1 - z) * h + z * c`.

    Input `[N, C, H, W]` time-folded (N = B*T, or B when `time_steps` is 0) and state `[B, C, H, W]`,
    or anything that broadcasts to it (zeros `[1, 1, 1, 1]` for the first frame, as in ONNX), or None
    (zeros). Returns the outputs `[N, C, H, W]` and the state after the last frame.
    """

    def __init__(self, channels: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.channels = channels
        self.ih = nn.Sequential(
            nn.Conv2d(channels * 2, channels * 2, kernel_size, padding=padding),
            nn.Sigmoid(),
        )
        self.hh = nn.Sequential(
            nn.Conv2d(channels * 2, channels, kernel_size, padding=padding),
            nn.Tanh(),
        )

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        r, z = self.ih(torch.cat([x, h], dim=1)).split(self.channels, dim=1)
        c = self.hh(torch.cat([x, r * h], dim=1))
        return (1 - z) * h + z * c

    def forward(self, x: Tensor, h: Optional[Tensor], time_steps: int) -> Tuple[Tensor, Tensor]:
        if time_steps == 0:
            state = self.step(x, torch.zeros_like(x) if h is None else h.expand_as(x))
            return state, state
        frames = unfold_time(x, time_steps)
        state = torch.zeros_like(frames[:, 0]) if h is None else h.expand_as(frames[:, 0])
        outputs: List[Tensor] = []
        for t in range(time_steps):
            state = self.step(frames[:, t], state)
            outputs.append(state)
        return torch.stack(outputs, dim=1).flatten(0, 1), state


class Projection(nn.Module):
    """1x1 convolution from the hidden map to the output channels."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)
