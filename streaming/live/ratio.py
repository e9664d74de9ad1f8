"""Changing the downsample ratio mid-stream: the recurrent states have the downsampled frame's
size, so they are resized to the new one (bilinear), which keeps what they remember of the clip.

Measured on the real weights and clips (documentation/live.md, "Changing the ratio"): TODO.
"""
from typing import Tuple

import torch.nn.functional as F

from ..images import Size
from ..matter import Matter


def state_sizes(size: Size, ratio: float, count: int) -> Tuple[Tuple[int, int], ...]:
    """The `(h, w)` of the `count` recurrent states for frames of `size` `(W, H)` at `ratio`: the
    downsampled frame (`floor(H * ratio)`, as `F.interpolate` makes it) halved `1..count` times,
    rounding up, as the encoder's strided layers and the decoder's pooling do."""
    h, w = int(size[1] * ratio), int(size[0] * ratio)
    sizes = []
    for _ in range(count):
        h, w = -(-h // 2), -(-w // 2)
        sizes.append((h, w))
    return tuple(sizes)


def set_ratio(matter: Matter, ratio: float, size: Size) -> None:
    """Run `matter` at `ratio` from the next frame, for frames of `size` `(W, H)`."""
    if ratio == matter.downsample_ratio:
        return
    matter.downsample_ratio = ratio
    if matter.states[0] is None:
        return
    sizes = state_sizes(size, ratio, len(matter.states))
    matter.states = [F.interpolate(state, size=hw, mode='bilinear', align_corners=False)
                     for state, hw in zip(matter.states, sizes)]
