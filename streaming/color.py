"""Colour conversion between the network's RGB in 0..1 and what codecs store: BT.709 Y'CbCr.

The video outputs are BT.709 in limited range and their streams are tagged so; inputs are read
with the matrix and range they are tagged with (untagged ones the way players read them).
"""
import functools
from typing import Any, Dict, Tuple

import av
import torch
import torch.nn.functional as F
from av.video.reformatter import Colorspace
from torch import Tensor


def _bt709_limited_range() -> Tuple[Tensor, Tensor]:
    """RGB in 0..1 -> 8-bit BT.709 Y'CbCr in limited range (Y' 16..235, Cb and Cr 16..240): `(weight [3, 3], bias [3])`."""
    kr, kb = 0.2126, 0.0722
    kg = 1 - kr - kb
    rows = [[kr, kg, kb],                                           # Y'
            [-kr / (2 - 2 * kb), -kg / (2 - 2 * kb), 0.5],          # Cb = (B - Y') / (2 - 2 kb)
            [0.5, -kg / (2 - 2 * kr), -kb / (2 - 2 * kr)]]          # Cr = (R - Y') / (2 - 2 kr)
    return torch.tensor(rows) * torch.tensor([[219.0], [224.0], [224.0]]), torch.tensor([16.0, 128.0, 128.0])


# The video outputs' colors: BT.709, the matrix of HD video, in limited range; their streams are tagged with it.
YCBCR_WEIGHT, YCBCR_BIAS = _bt709_limited_range()


@functools.lru_cache(maxsize=None)
def _yuv420_kernels(device: torch.device) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """`to_yuv420`'s convolutions on `device`: luma `(weight [1, 3, 1, 1], bias [1])`, chroma
    `(weight [2, 3, 2, 2], bias [2])`. Made once: copying them to a GPU on each call would wait for it."""
    with torch.inference_mode(False):  # normal tensors, usable in and out of inference mode
        weight = YCBCR_WEIGHT.to(device)[:, :, None, None]
        bias = YCBCR_BIAS.to(device) + 0.5  # converting to uint8 truncates: with +0.5, rounds
        return weight[:1], bias[:1], weight[1:].expand(2, 3, 2, 2) / 4, bias[1:]


def to_images(frames: Tensor) -> Tensor:
    """`[T, C, H, W]` in 0..1 -> `[T, H, W, C]` uint8 (rounded half up), on the same device."""
    scaled = frames.mul(255).add_(0.5).clamp_(0, 255)
    images = torch.empty((frames.size(0), frames.size(2), frames.size(3), frames.size(1)),
                         dtype=torch.uint8, device=frames.device)
    return images.copy_(scaled.permute(0, 2, 3, 1))  # converting to uint8 truncates: with +0.5, rounds


def to_yuv420(frames: Tensor) -> Tensor:
    """`[T, C, H, W]` in 0..1 (C = 3 RGB, or 1 gray) -> `[T, H * 3 // 2, W]` uint8 I420, on the same device.

    I420 is what H.264 and VP9 encode: the Y' plane `[H, W]`, then Cb and Cr `[H / 2, W / 2]`,
    in `YCBCR_WEIGHT` (BT.709, limited range). Each chroma sample is the mean of a 2x2 block; values
    are rounded half up. H and W must be even. Converting here, rather than handing RGB to FFmpeg,
    saves the interleaved RGB copy and FFmpeg's conversion: a third of the cost of writing a video.
    """
    t, c, h, w = frames.shape
    frames = frames.float()
    luma_weight, luma_bias, chroma_weight, chroma_bias = _yuv420_kernels(frames.device)
    if c == 1:
        luma_weight = luma_weight.sum(1, keepdim=True)  # gray is R = G = B
    planes = torch.empty((t, h * w * 3 // 2), dtype=torch.uint8, device=frames.device)
    planes[:, :h * w].view(t, 1, h, w).copy_(F.conv2d(frames, luma_weight, luma_bias).clamp_(0, 255))
    chroma = planes[:, h * w:].view(t, 2, h // 2, w // 2)
    if c == 1:
        chroma.fill_(128)  # gray has no chroma
    else:
        chroma.copy_(F.conv2d(frames, chroma_weight, chroma_bias, stride=2).clamp_(0, 255))
    return planes.view(t, h * 3 // 2, w)


def source_colors(frame: av.VideoFrame) -> Dict[str, Any]:
    """How to read `frame`'s Y'CbCr as RGB: the matrix and range its stream is tagged with; for untagged
    video, the matrix players assume (BT.709 from 1280 wide or above 576 lines, else BT.601)."""
    colorspace = frame.colorspace
    if colorspace == 2:  # FFmpeg's AVCOL_SPC_UNSPECIFIED
        colorspace = Colorspace.ITU709 if frame.width >= 1280 or frame.height > 576 else Colorspace.ITU601
    return {'src_colorspace': colorspace, 'src_color_range': frame.color_range or None}


