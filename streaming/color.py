"""Colour: what a video stream's colour tags say (`Colors`), and the conversion between the
network's RGB in 0..1 and what codecs store (Y'CbCr in the stream's matrix and range, 8 to 16 bits).

Outputs are written in the input's matrix, range, primaries and transfer, and tagged with them, so
that an editor shows them as it shows the input; the network sees the input's R'G'B' as they are
coded (for HDR input, PQ or HLG code values: they are carried through, never turned into SDR).
Untagged inputs are read the way players read them.
"""
import functools
from dataclasses import dataclass, replace
from typing import Any, Dict, Tuple

import av
import torch
import torch.nn.functional as F
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from torch import Tensor

# (kr, kb) of the Y'CbCr matrices the writers convert into, by FFmpeg's AVColorSpace number.
MATRIX_COEFFICIENTS = {Colorspace.ITU709: (0.2126, 0.0722),
                       Colorspace.ITU601: (0.299, 0.114), 6: (0.299, 0.114),   # BT.470BG, SMPTE 170M
                       Colorspace.BT2020: (0.2627, 0.0593)}                    # BT.2020 non-constant luminance
HDR_TRANSFERS = {ColorTrc.SMPTE2084: 'PQ', ColorTrc.ARIB_STD_B67: 'HLG'}
_NAMES = {1: 'BT.709', 4: 'FCC', 5: 'BT.601', 6: 'BT.601', 7: 'SMPTE 240M', 9: 'BT.2020', 10: 'BT.2020 CL'}


@dataclass(frozen=True)
class Colors:
    """A stream's colour tags, as FFmpeg numbers them: the Y'CbCr matrix (AVColorSpace), the primaries,
    the transfer (AVColorTransferCharacteristic) and the range (full: 0..2^n-1; limited: Y' 16..235 at 8 bits)."""
    matrix: int = int(Colorspace.ITU709)
    primaries: int = int(ColorPrimaries.BT709)
    transfer: int = int(ColorTrc.BT709)
    full_range: bool = False

    @property
    def hdr(self) -> bool:
        """Whether the transfer is PQ (SMPTE 2084) or HLG (ARIB STD-B67)."""
        return self.transfer in HDR_TRANSFERS

    def describe(self) -> str:
        """E.g. 'BT.2020 PQ, limited range'."""
        transfer = HDR_TRANSFERS.get(self.transfer, 'SDR')
        return f'{_NAMES.get(self.matrix, f"matrix {self.matrix}")} {transfer}, {"full" if self.full_range else "limited"} range'

    def writable(self) -> 'Colors':
        """These colours as an output is written in them: a matrix the writers do not convert into becomes BT.709
        (the frames are RGB by then, so nothing is lost; the primaries and transfer are kept)."""
        return self if self.matrix in MATRIX_COEFFICIENTS else replace(self, matrix=int(Colorspace.ITU709))

    def reformat_options(self) -> Dict[str, Any]:
        """`VideoFrame.reformat` keywords converting RGB into these colours."""
        return {'dst_colorspace': self.matrix, 'dst_color_range': ColorRange.JPEG if self.full_range else ColorRange.MPEG}


BT709 = Colors()  # HD video, and what image sequences are written out as


def frame_colors(frame: av.VideoFrame) -> Colors:
    """The colours `frame`'s stream is tagged with; for untagged ones what players assume: the BT.709
    matrix from 1280 wide or above 576 lines, else BT.601 (with its primaries and transfer).

    RGB frames (FFV1 RGB, GIF) have no Y'CbCr matrix or range: outputs of them are written as those of
    an image sequence, in BT.709 (the BT.2020 matrix with BT.2020 primaries, as HDR10 has it), limited range.
    """
    colorspace, primaries, transfer = int(frame.colorspace), int(frame.color_primaries), int(frame.color_trc)
    hd = frame.format.is_rgb or frame.width >= 1280 or frame.height > 576
    if colorspace == 2:  # unspecified
        colorspace = int(Colorspace.ITU709 if hd else Colorspace.ITU601)
    if primaries == 2:
        primaries = int(ColorPrimaries.BT709 if hd else ColorPrimaries.BT470BG if frame.height == 576
                        else ColorPrimaries.SMPTE170M)
    if transfer == 2:
        transfer = int(ColorTrc.BT709 if hd else ColorTrc.SMPTE170M)
    if frame.format.is_rgb:
        return Colors(int(Colorspace.BT2020 if primaries == ColorPrimaries.BT2020 else Colorspace.ITU709),
                      primaries, transfer, False)
    full = frame.color_range == ColorRange.JPEG or frame.format.name.startswith('yuvj')
    return Colors(colorspace, primaries, transfer, full)


def source_colors(frame: av.VideoFrame) -> Dict[str, Any]:
    """`to_ndarray` keywords that read `frame`'s Y'CbCr as RGB: its matrix and range (see `frame_colors`;
    swscale ignores them for RGB frames, which it only repacks)."""
    colors = frame_colors(frame)
    return {'src_colorspace': colors.matrix, 'src_color_range': ColorRange.JPEG if colors.full_range else ColorRange.MPEG}


def ycbcr_matrix(colors: Colors = BT709, bits: int = 8) -> Tuple[Tensor, Tensor]:
    """RGB in 0..1 -> `bits`-bit Y'CbCr in `colors`' matrix and range: `(weight [3, 3], bias [3])`.

    Limited range is 8-bit's Y' 16..235 and Cb, Cr 16..240 scaled by 2^(bits - 8); full range spans 0..2^bits - 1.
    """
    kr, kb = MATRIX_COEFFICIENTS[colors.matrix]
    kg = 1 - kr - kb
    rows = [[kr, kg, kb],                                           # Y'
            [-kr / (2 - 2 * kb), -kg / (2 - 2 * kb), 0.5],          # Cb = (B - Y') / (2 - 2 kb)
            [0.5, -kg / (2 - 2 * kr), -kb / (2 - 2 * kr)]]          # Cr = (R - Y') / (2 - 2 kr)
    step = 2 ** (bits - 8)
    if colors.full_range:
        scale, bias = [2 ** bits - 1.0] * 3, [0.0, 2.0 ** (bits - 1), 2.0 ** (bits - 1)]
    else:
        scale, bias = [219.0 * step, 224.0 * step, 224.0 * step], [16.0 * step, 128.0 * step, 128.0 * step]
    return torch.tensor(rows, dtype=torch.float64) * torch.tensor(scale, dtype=torch.float64)[:, None], \
        torch.tensor(bias, dtype=torch.float64)


@functools.lru_cache(maxsize=None)
def _yuv420_kernels(device: torch.device, colors: Colors, bits: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """`to_yuv420`'s convolutions on `device`: luma `(weight [1, 3, 1, 1], bias [1])`, chroma
    `(weight [2, 3, 2, 2], bias [2])`. Made once: copying them to a GPU on each call would wait for it."""
    with torch.inference_mode(False):  # normal tensors, usable in and out of inference mode
        weight, bias = ycbcr_matrix(colors, bits)
        weight = weight.float().to(device)[:, :, None, None]
        bias = bias.float().to(device) + 0.5  # converting to integers truncates: with +0.5, rounds
        return weight[:1], bias[:1], weight[1:].expand(2, 3, 2, 2) / 4, bias[1:]


def sample_type(bits: int) -> torch.dtype:
    """The integer type that holds `bits`-bit samples: uint8 up to 8 bits, else uint16."""
    return torch.uint8 if bits <= 8 else torch.uint16


def from_images(images: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """`[T, H, W, C]` decoded samples, uint8 or uint16 (more than 8 bits, in 0..65535) -> `[T, C, H, W]`
    in 0..1 of `dtype`, on their device: the one way pixels become the network's (and the
    background's, and the scene detector's) floats. The inverse of `to_images`."""
    top = 65535 if images.dtype == torch.uint16 else 255
    return images.permute(0, 3, 1, 2).to(dtype).div_(top)


def to_images(frames: Tensor, bits: int = 8) -> Tensor:
    """`[T, C, H, W]` in 0..1 -> `[T, H, W, C]` uint8 (or uint16 in 0..65535 for `bits` 16), rounded half up, on the same device."""
    top = 2 ** bits - 1
    scaled = frames.mul(top).add_(0.5).clamp_(0, top)
    images = torch.empty((frames.size(0), frames.size(2), frames.size(3), frames.size(1)),
                         dtype=sample_type(bits), device=frames.device)
    return images.copy_(scaled.permute(0, 2, 3, 1))  # converting to integers truncates: with +0.5, rounds


def to_yuv420(frames: Tensor, colors: Colors = BT709, bits: int = 8) -> Tensor:
    """`[T, C, H, W]` in 0..1 (C = 3 RGB, or 1 gray) -> `[T, H * 3 // 2, W]` I420 samples, on the same device:
    uint8 for 8 bits, uint16 holding `bits`-bit values (yuv420p10le) above.

    I420 is what H.264, H.265, AV1 and VP9 encode: the Y' plane `[H, W]`, then Cb and Cr `[H / 2, W / 2]`,
    in `colors`' matrix and range (`ycbcr_matrix`). Each chroma sample is the mean of a 2x2 block; values
    are rounded half up. H and W must be even. Converting here, rather than handing RGB to FFmpeg,
    saves the interleaved RGB copy and FFmpeg's conversion: a third of the cost of writing a video.
    """
    t, c, h, w = frames.shape
    frames = frames.float()
    top = 2 ** bits - 1
    luma_weight, luma_bias, chroma_weight, chroma_bias = _yuv420_kernels(frames.device, colors.writable(), bits)
    if c == 1:
        luma_weight = luma_weight.sum(1, keepdim=True)  # gray is R = G = B
    planes = torch.empty((t, h * w * 3 // 2), dtype=sample_type(bits), device=frames.device)
    planes[:, :h * w].view(t, 1, h, w).copy_(F.conv2d(frames, luma_weight, luma_bias).clamp_(0, top))
    chroma = planes[:, h * w:].view(t, 2, h // 2, w // 2)
    if c == 1:
        chroma.fill_(2 ** (bits - 1))  # gray has no chroma
    else:
        chroma.copy_(F.conv2d(frames, chroma_weight, chroma_bias, stride=2).clamp_(0, top))
    return planes.view(t, h * 3 // 2, w)
