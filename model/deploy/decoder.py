"""The recurrent decoder without concatenations of its outputs and with its ConvGRUs' weights split.

- `conv(cat[x, h])` is computed as `conv_x(x) + conv_h(h)` with the weight split at load time: the
  input halves of both gates run once for all frames of a chunk, and the sums happen inside the
  hidden-state convolutions (oneDNN's fused add).
- The blocks' `cat([a, gru(b)])` is written in place: the GRU's output overwrites `b` in the
  convolution's output.
- Blocks named in `bfloat16_blocks` convolve in bfloat16 (float32 accumulation) and give bfloat16
  outputs, so their feature maps stay bfloat16 (they would be rounded to it at the next
  convolution anyway); the recurrent states and the gates' arithmetic stay float32.

Same interfaces and shapes as `model.decoder` (see there); all maps channels_last.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..decoder import BottleneckBlock, ConvGRU, OutputBlock, RecurrentDecoder, UpsamplingBlock
from ..temporal import unfold_time
from .fusion import ACTIVATIONS, FusedConv2d

CHANNELS_LAST = torch.channels_last


def upsample_to(x: Tensor, like: Tensor) -> Tensor:
    """As `model.decoder.upsample_to` (bilinear x2, cropped to `like`), computing only the kept pixels."""
    return torch._C._nn.upsample_bilinear2d(x, [like.size(2), like.size(3)], False, 2.0, 2.0)


def fused_sequential_conv(block: nn.Sequential, dtype: torch.dtype, onednn: bool) -> List[FusedConv2d]:
    """The (Conv2d, folded BatchNorm, activation) triples of `block` as FusedConv2d modules."""
    layers = list(block)
    return [FusedConv2d(conv, ACTIVATIONS[type(act)], dtype, onednn)
            for conv, act in zip(layers[0::3], layers[2::3])]


class SplitConvGRU(nn.Module):
    """`model.decoder.ConvGRU` with `conv(cat[x, h])` as `conv_x(x) + conv_h(h)`.

    Input `[N, C, H, W]` (float32 or `dtype`), state float32 `[B, C, H, W]`, broadcastable, or None.
    Returns the float32 outputs `[N, C, H, W]` and the state after the last frame.
    """

    def __init__(self, gru: ConvGRU, dtype: torch.dtype, onednn: bool):
        super().__init__()
        c = self.channels = gru.channels
        ih, hh = gru.ih[0], gru.hh[0]
        # the input halves of both gates in one convolution: [r, z, candidate] from x
        self.x_gates = FusedConv2d(ih, 'none', dtype, onednn, weight=torch.cat([ih.weight[:, :c], hh.weight[:, :c]]),
                                   bias=torch.cat([ih.bias, hh.bias]))
        self.h_rz = FusedConv2d(ih, 'none', dtype, onednn, weight=ih.weight[:, c:], use_bias=False)
        self.h_candidate = FusedConv2d(hh, 'none', dtype, onednn, weight=hh.weight[:, c:], use_bias=False)
        self.dtype = dtype

    def step(self, gates_x: Tensor, h: Tensor) -> Tensor:
        c = self.channels
        hc = h.to(self.dtype)
        r, z = self.h_rz(hc, gates_x[:, :2 * c]).sigmoid_().split(c, dim=1)
        candidate = self.h_candidate(r * hc, gates_x[:, 2 * c:]).tanh_()
        return torch.lerp(h, candidate.to(h.dtype), z.to(h.dtype))  # (1 - z) * h + z * candidate

    def forward(self, x: Tensor, h: Optional[Tensor], time_steps: int) -> Tuple[Tensor, Tensor]:
        gates_x = self.x_gates(x.contiguous(memory_format=CHANNELS_LAST))
        shape = (x.size(0) // max(time_steps, 1), self.channels, x.size(2), x.size(3))
        state = (torch.zeros(shape, dtype=torch.float32 if h is None else h.dtype, device=x.device) if h is None
                 else h.expand(shape)).contiguous(memory_format=CHANNELS_LAST)
        if time_steps == 0:
            state = self.step(gates_x, state)
            return state, state
        frames = unfold_time(gates_x, time_steps)
        outputs: List[Tensor] = []
        for t in range(time_steps):
            state = self.step(frames[:, t], state)
            outputs.append(state)
        return torch.stack(outputs, dim=1).flatten(0, 1), state


class SplitBottleneckBlock(nn.Module):
    """`[a, b]` -> `[a, gru(b)]`, written into a copy of the input."""

    def __init__(self, block: BottleneckBlock, dtype: torch.dtype, onednn: bool):
        super().__init__()
        self.channels = block.channels // 2
        self.gru = SplitConvGRU(block.gru, dtype, onednn)

    def forward(self, x: Tensor, r: Optional[Tensor], time_steps: int) -> Tuple[Tensor, Tensor]:
        b, r = self.gru(x[:, self.channels:], r, time_steps)
        x = x.clone()
        x[:, self.channels:] = b
        return x, r


class SplitUpsamplingBlock(nn.Module):
    """Upsample, concatenate [x, f, s] in the convolutions' dtype, conv-ReLU, GRU written in place."""

    def __init__(self, block: UpsamplingBlock, dtype: torch.dtype, onednn: bool):
        super().__init__()
        self.channels = block.out_channels // 2
        self.conv, = fused_sequential_conv(block.conv, dtype, onednn)
        self.gru = SplitConvGRU(block.gru, dtype, onednn)
        self.dtype = dtype

    def forward(self, x: Tensor, f: Tensor, s: Tensor, r: Optional[Tensor], time_steps: int) -> Tuple[Tensor, Tensor]:
        x = self.conv(torch.cat([upsample_to(x.to(self.dtype), s), f.to(self.dtype), s.to(self.dtype)], dim=1))
        b, r = self.gru(x[:, self.channels:], r, time_steps)
        x[:, self.channels:] = b
        return x, r


class SplitOutputBlock(nn.Module):
    """Upsample, concatenate the source, two conv-ReLU layers; returns the model's dtype."""

    def __init__(self, block: OutputBlock, dtype: torch.dtype, onednn: bool):
        super().__init__()
        self.conv1, self.conv2 = fused_sequential_conv(block.conv, dtype, onednn)
        self.dtype = dtype

    def forward(self, x: Tensor, s: Tensor) -> Tensor:
        x = self.conv1(torch.cat([upsample_to(x.to(self.dtype), s), s.to(self.dtype)], dim=1))
        return self.conv2(x).to(s.dtype)


class SplitRecurrentDecoder(RecurrentDecoder):
    """`model.decoder.RecurrentDecoder` built from the Split blocks; its forward, inherited.

    `bfloat16_blocks`: names of the blocks ('decode4' ... 'decode0') that convolve in bfloat16;
    the others convolve in the decoder's dtype.
    """

    def __init__(self, decoder: RecurrentDecoder, onednn: bool, bfloat16_blocks: Sequence[str] = ()):
        nn.Module.__init__(self)  # the blocks come from `decoder`, not from RecurrentDecoder's constructor
        own = decoder.decode0.conv[0].weight.dtype

        def dtype(name: str) -> torch.dtype:
            return torch.bfloat16 if name in bfloat16_blocks else own
        self.avgpool = decoder.avgpool
        self.decode4 = SplitBottleneckBlock(decoder.decode4, dtype('decode4'), onednn)
        self.decode3 = SplitUpsamplingBlock(decoder.decode3, dtype('decode3'), onednn)
        self.decode2 = SplitUpsamplingBlock(decoder.decode2, dtype('decode2'), onednn)
        self.decode1 = SplitUpsamplingBlock(decoder.decode1, dtype('decode1'), onednn)
        self.decode0 = SplitOutputBlock(decoder.decode0, dtype('decode0'), onednn)
