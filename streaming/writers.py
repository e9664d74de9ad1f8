"""VideoWriter: frames to a video file, encoded as they come (numbered images: `sequence_writer`).

`write(frames [T, C, H, W] in 0..1)` is the original API; it is `write_packed(pack(frames))`:
`pack` quantises to the writer's layout and bit depth (uint8, or uint16 for 10- and 16-bit outputs)
where the frames are (the GPU on CUDA), `write_packed` encodes on the CPU; the converter runs
them on different threads. Until `pack`, frames are the network's floats.
"""
import os
from fractions import Fraction
from typing import List, Optional, Sequence, Union

import av
import numpy as np
import torch.nn.functional as F
from av.video.reformatter import ColorRange
from torch import Tensor

from .audio import AudioTrack
from .color import BT709, Colors, to_images, to_yuv420
from .formats import ConversionError, Encoding, container_options, mp4_boxes, video_codec
from .images import Size


def to_fraction(rate: Union[int, float, Fraction]) -> Fraction:
    """A frame rate as an exact Fraction; floats close to an NTSC rate (n * 1000/1001) become it."""
    if isinstance(rate, (int, Fraction)):
        return Fraction(rate)
    ntsc = Fraction(round(rate * 1.001) * 1000, 1001)
    if abs(rate - ntsc) < 1e-3:
        return ntsc
    return Fraction(rate).limit_denominator(1001)


# `av.VideoFrame.from_ndarray` formats of `to_images`' output, by (channels, bits). 10-bit images are made for
# RGB streams only (FFV1), in their own planar format: swscale would truncate 16-bit samples to 10 bits, not round them.
_IMAGE_FORMATS = {(1, 8): 'gray', (3, 8): 'rgb24', (4, 8): 'rgba', (1, 16): 'gray16le', (3, 16): 'rgb48le',
                  (4, 16): 'rgba64le', (3, 10): 'gbrp10le', (4, 10): 'gbrap10le'}
RGB_MATRIX = 0  # FFmpeg's AVCOL_SPC_RGB: the tag of a stream with no Y'CbCr matrix (GBR planes: FFV1 RGB)


class VideoWriter:
    """Encode frames to a video file as they come.

    The codec follows `codec` or the extension (`formats.video_codec`): H.264 for .mp4, .m4v, .mov,
    .mkv and .avi, VP9 for .webm; with `transparent=True`, ProRes 4444 for .mov, VP9 with alpha for
    .webm, FFV1 for .mkv. Constant quality (the codec's CRF) unless `bit_rate` is given. Colors are
    written in `colors`' matrix and range and the stream is tagged with them (default BT.709, limited
    range); RGB streams (FFV1) hold the RGB samples an image sequence would, tagged as RGB, full
    range, with `colors`' primaries and transfer. I420 and 4:2:2 (ProRes HQ) need even sizes: an odd
    width or height is padded by repeating the last column or row.

    Crash-safe as it is written: MP4 and MOV are fragmented (a self-contained fragment per second)
    and every packet is flushed, so a process killed outright leaves a file that plays up to about
    the last second written; Matroska and WebM are so by design (documentation/conversion.md,
    "Interrupted conversions"). A writer whose file cannot be finished (a full disk) removes it
    unless it plays.

    Args:
        path: the output file; its folder must exist.
        frame_rate: frames per second (a Fraction keeps NTSC 30000/1001 exact).
        bit_rate: target bits per second; None: constant quality (ProRes and FFV1 ignore it).
        transparent: frames are RGBA, and the alpha channel is encoded.
        time_base: the unit of the `pts` given to `write`; default 1 / frame_rate.
        audio_source: a media file whose first audio stream is copied in, in sync with the pts.
        codec: a key of `formats.CODECS` ('h264', 'h265', 'av1', 'vp9', 'prores', 'prores4444', 'ffv1').
        quality: the codec's constant-quality value (CRF; lower is better), None for its default.
        bit_depth: 8, 10 or 16 (FFV1); None: `source_bits`, as far as the codec goes by default.
        colors: the output's colour tags and the matrix and range its samples are converted into.
        encoding: how to encode, instead of what `formats.video_codec` makes of the extension, codec,
            bit depth and quality (a network stream's live H.264).
        container: an output opened elsewhere (a network stream) instead of a file at `path`, which
            then only names it in messages; `close` closes it.
    """

    def __init__(self, path: Union[str, os.PathLike], frame_rate: Union[int, float, Fraction],
                 bit_rate: Optional[int] = None, transparent: bool = False, time_base: Optional[Fraction] = None,
                 audio_source: Optional[str] = None, codec: Optional[str] = None, quality: Optional[float] = None,
                 bit_depth: Optional[int] = None, source_bits: int = 8, colors: Colors = BT709,
                 encoding: Optional[Encoding] = None, container: Optional[av.container.OutputContainer] = None):
        self.path = os.fspath(path)
        self.ext = os.path.splitext(self.path)[1].lower()
        self.encoding = encoding or video_codec(self.path, transparent, codec, bit_depth, source_bits, quality)
        self.codec, self.pix_fmt = self.encoding.encoder, self.encoding.pix_fmt
        self.rgb = av.VideoFormat(self.pix_fmt).is_rgb
        self.colors = colors.writable()
        self.matrix = RGB_MATRIX if self.rgb else self.colors.matrix
        self.color_range = ColorRange.JPEG if self.rgb or self.colors.full_range else ColorRange.MPEG
        # RGB streams get images at their own depth; others 8 or 16 bits, which FFmpeg converts to the stream's format.
        self.image_bits = self.encoding.bits if self.rgb else 8 if self.encoding.bits <= 8 else 16
        self.frame_rate = to_fraction(frame_rate)
        self.time_base = Fraction(time_base) if time_base is not None else 1 / self.frame_rate
        self.bit_rate = bit_rate
        self.transparent = transparent
        self.audio_source = audio_source
        self.i420 = self.pix_fmt in ('yuv420p', 'yuv420p10le')
        self.subsampled = self.i420 or '422' in self.pix_fmt  # libvpx takes odd sizes through FFmpeg's conversion
        self.container = container or av.open(self.path, mode='w', options=container_options(self.ext))
        self.size: Optional[Size] = None
        self.stream: Optional[av.VideoStream] = None
        self.audio: Optional[AudioTrack] = None
        self.count = 0
        self.last_pts = -1

    def write(self, frames: Tensor, pts: Optional[Sequence[int]] = None) -> None:
        """Write `[T, C, H, W]` frames in 0..1: C = 1 (gray), 3 (RGB), or 4 (RGBA, when transparent).

        Shown at `pts` (in `time_base`; default: one frame after another).
        """
        self.write_packed(self.pack(frames).cpu().numpy(), pts)

    def pack(self, frames: Tensor) -> Tensor:
        """`[T, C, H, W]` frames in 0..1 as the data `write_packed` takes, on their device: quantised here
        to the stream's bit depth (uint8 for 8 bits, else uint16), the network's floats until now.

        I420 planes `[T, H * 3 // 2, W]` (see `to_yuv420`) for 4:2:0 streams; `[T, H, W, C]` RGB(A)
        images at the stream's bit depth for RGB streams (gray as R = G = B); else `[T, H, W, C]`
        images (16-bit above 8 bits), which FFmpeg converts to the stream's format. Odd sizes of
        subsampled formats are padded.
        """
        channels = frames.size(1)
        if channels not in ((4,) if self.transparent else (1, 3)):
            raise ConversionError(f'{self.path}: got {channels}-channel frames, expected '
                                  f'{"4 (RGBA)" if self.transparent else "1 (gray) or 3 (RGB)"}')
        size = (frames.size(3), frames.size(2))
        if self.size is not None and size != self.size:
            raise ConversionError(f'{self.path}: got {size[0]}x{size[1]} frames after {self.size[0]}x{self.size[1]} ones')
        self.size = size
        if self.subsampled and (size[0] % 2 or size[1] % 2):
            frames = F.pad(frames, (0, size[0] % 2, 0, size[1] % 2), mode='replicate')
        if self.i420:
            return to_yuv420(frames, self.colors, self.encoding.bits)
        if self.rgb and channels == 1:
            frames = frames.expand(-1, 3, -1, -1)
        return to_images(frames, self.image_bits)

    def write_packed(self, packed: np.ndarray, pts: Optional[Sequence[int]] = None) -> None:
        """Encode the output of `pack`, as a CPU array, shown at `pts` (default: one frame after another)."""
        if self.stream is None:
            height = packed.shape[1] * 2 // 3 if self.i420 else packed.shape[1]
            self._open(packed.shape[2], height)
        for t in range(packed.shape[0]):
            if self.i420:
                frame = av.VideoFrame.from_ndarray(packed[t], format=self.pix_fmt)
            else:
                image = packed[t]
                fmt = _IMAGE_FORMATS[image.shape[2], self.image_bits]
                frame = av.VideoFrame.from_ndarray(image[..., 0] if image.shape[2] == 1 else image, format=fmt)
                if fmt != self.pix_fmt:
                    frame = frame.reformat(format=self.pix_fmt, **self.colors.reformat_options())
            # Tagged per frame too: some encoders (ProRes) write the frame's tags into each frame's header.
            frame.colorspace, frame.color_range = self.matrix, self.color_range
            frame.color_primaries, frame.color_trc = self.colors.primaries, self.colors.transfer
            frame.pts = self.count if pts is None else int(pts[t])
            if frame.pts <= self.last_pts:
                raise ConversionError(f'{self.path}: pts {frame.pts} does not follow {self.last_pts}')
            frame.time_base = self.time_base
            self._mux(self.stream.encode(frame))
            self.last_pts = frame.pts
            self.count += 1

    def _open(self, width: int, height: int) -> None:
        self.stream = self.container.add_stream(self.codec, rate=self.frame_rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = self.pix_fmt
        options = dict(self.encoding.options)
        if self.bit_rate is not None:
            self.stream.bit_rate = self.bit_rate
            options.pop(self.encoding.quality_option or '', None)
        elif self.encoding.codec == 'vp9':
            self.stream.bit_rate = 0  # libvpx's constant quality: a CRF without a bit rate cap
        context = self.stream.codec_context
        context.time_base = self.time_base
        context.colorspace, context.color_range = self.matrix, self.color_range
        context.color_primaries, context.color_trc = self.colors.primaries, self.colors.transfer
        self.stream.options = options
        if self.audio_source is not None:
            self.audio = AudioTrack(self.audio_source, self.container, self.ext)

    def _mux(self, packets: List[av.Packet]) -> None:
        for packet in packets:
            if self.audio is not None and packet.dts is not None:
                self.audio.copy_until(float(packet.dts * packet.time_base))
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file; it plays with every frame written so far.

        A writer that got no frame removes its empty file; one that cannot finish its file (an
        error while writing it, e.g. a full disk) removes it unless what was written plays.
        """
        finished = False
        try:
            if self.stream is not None:
                packets = self.stream.encode(None)
                if self.codec == 'libx265' and self.count < 3:
                    # x265 derives dts from its third frame's pts (its B-frame delay) and leaves them
                    # uninitialised in a shorter clip, which the MP4 muxer then rejects. One or two
                    # frames are coded in display order, so dts = pts is right.
                    for packet in packets:
                        packet.dts = packet.pts
                self._mux(packets)
                if self.audio is not None:
                    self.audio.copy_until(float((self.last_pts * self.time_base) + 1 / self.frame_rate))
                    self.audio.close()
            finished = True
        finally:
            try:
                self.container.close()
            except (OSError, av.error.FFmpegError):
                finished = False
                if self.stream is None:
                    raise
            if not finished and self.ext in ('.mp4', '.m4v', '.mov') and os.path.exists(self.path):
                drop_incomplete_fragment(self.path)
            if os.path.exists(self.path) and (self.stream is None or not (finished or plays(self.path))):
                os.remove(self.path)


def drop_incomplete_fragment(path: str) -> None:
    """Cut a fragmented MP4/MOV whose writing failed back to its last complete fragment (`moof` +
    `mdat`), so that it ends cleanly instead of in a packet cut off midway."""
    boxes = mp4_boxes(path)
    end = os.path.getsize(path)
    if not boxes or boxes[0][0] != b'ftyp':
        return
    keep = end
    for i, (kind, offset, size) in enumerate(boxes):
        complete = offset + size <= end and (kind != b'moof' or (i + 1 < len(boxes) and boxes[i + 1][0] == b'mdat'))
        if not complete:
            keep = boxes[i - 1][1] if kind == b'mdat' and i and boxes[i - 1][0] == b'moof' else offset
            break
    if keep < end:
        os.truncate(path, keep)


def plays(path: str) -> bool:
    """Whether the video file at `path` opens and decodes a first frame."""
    try:
        with av.open(path) as container:
            return next(container.decode(video=0), None) is not None
    except (OSError, IndexError, av.error.FFmpegError):  # IndexError: no video stream
        return False
