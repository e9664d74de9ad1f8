"""Streaming readers and writers for video conversion.

Readers decode one frame at a time and writers encode frames as they come, so memory stays flat
however long the video: nothing indexes the whole input, nothing accumulates frames.

- `VideoReader`, `ImageSequenceReader`: Datasets of RGB frames (the original RVM API), plus
  `frames()`, the fast path `convert_video` uses: `Frame(image [H, W, 3] uint8, pts)` in order.
- `VideoWriter`, `ImageSequenceWriter`: `write(frames [T, C, H, W] in 0..1)` (the original API),
  which is `write_packed(pack(frames))`: `pack` converts to the writer's uint8 layout where the
  frames are (the GPU on CUDA), `write_packed` encodes on the CPU; `convert_video` runs them apart.
- `Background`: a color, image or looped video for the composition.
- `prefetch`, `ThreadedWriter`: the threads and bounded queues that overlap decoding, inference
  and encoding; `Turns`: on a CPU, they take turns with the network instead.
"""
import contextlib
import functools
import os
import queue
import re
import sys
import tempfile
import threading
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from typing import Any, Callable, Deque, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import av
import numpy as np
import torch
import torch.nn.functional as F
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
from PIL import Image, ImageColor
from torch import Tensor
from torch.utils.data import Dataset

VIDEO_EXTENSIONS = ('.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi')
TRANSPARENT_VIDEO_EXTENSIONS = ('.mov', '.webm')
IMAGE_EXTENSIONS = frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)
SEQUENCE_FRAME_RATE = Fraction(30)
GREEN = (120, 255, 155)

# H.264 'superfast' keeps encoding three outputs cheap next to the network on a CPU (25% less
# time than 'veryfast' for 0.2 dB less PSNR at the same bit rate: see documentation/conversion.md).
# Up to three encoders share the cores, so each gets a quarter of them.
H264_OPTIONS = {'preset': 'superfast', 'threads': str(max(1, (os.cpu_count() or 1) // 4))}
VP9_OPTIONS = {'deadline': 'good', 'cpu-used': '5', 'row-mt': '1'}
PRORES_4444_OPTIONS = {'profile': '4444'}


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


Size = Tuple[int, int]  # (width, height)


class ConversionError(ValueError):
    """Bad input or output for a conversion; the message names the path and the problem."""


class Frame(NamedTuple):
    """One decoded frame: `image` `[H, W, 3]` uint8 RGB, shown at `pts` (in the reader's `time_base`)."""
    image: np.ndarray
    pts: int


def natural_key(name: str) -> List[Union[int, str]]:
    """Sort key that orders embedded numbers by value: frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r'(\d+)', name)]


def to_fraction(rate: Union[int, float, Fraction]) -> Fraction:
    """A frame rate as an exact Fraction; floats close to an NTSC rate (n * 1000/1001) become it."""
    if isinstance(rate, (int, Fraction)):
        return Fraction(rate)
    ntsc = Fraction(round(rate * 1.001) * 1000, 1001)
    if abs(rate - ntsc) < 1e-3:
        return ntsc
    return Fraction(rate).limit_denominator(1001)


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


def image_to_rgb(image: Image.Image) -> np.ndarray:
    """A PIL image of any mode (gray, RGBA, 16-bit, palette, CMYK...) as `[H, W, 3]` uint8 RGB.

    Alpha is dropped; 16-bit samples are scaled to 8 bits (not clipped, as PIL's convert does).
    """
    if image.mode == 'I' or image.mode.startswith('I;16'):
        gray = np.asarray(image, dtype=np.float32) / 257
        gray = gray.round().clip(0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert('RGB'))


def cover_size(size: Size, target: Size) -> Size:
    """The smallest size with `size`'s aspect ratio that covers `target` (both `(W, H)`)."""
    scale = max(target[0] / size[0], target[1] / size[1])
    return max(target[0], round(size[0] * scale)), max(target[1], round(size[1] * scale))


def center_crop(image: np.ndarray, target: Size) -> np.ndarray:
    """Crop `[H, W, C]` to `target` `(W, H)` around its center."""
    top, left = (image.shape[0] - target[1]) // 2, (image.shape[1] - target[0]) // 2
    return image[top:top + target[1], left:left + target[0]]


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _lacks_mp4_index(path: str) -> bool:
    """Whether `path` is an MP4/MOV (it starts with an `ftyp` box) whose top-level boxes have no `moov`,
    the index that locates its frames: a file cut off before its writer finished it."""
    with open(path, 'rb') as file:
        end = os.fstat(file.fileno()).st_size
        position, kinds = 0, []
        while position + 8 <= end:
            file.seek(position)
            header = file.read(16)
            size, kind = int.from_bytes(header[:4], 'big'), header[4:8]
            if size == 1 and len(header) == 16:  # a 64-bit size follows the type
                size = int.from_bytes(header[8:16], 'big')
            kinds.append(kind)
            if size < 8:  # 0: the box runs to the end of the file
                break
            position += size
    return bool(kinds) and kinds[0] == b'ftyp' and b'moov' not in kinds


def _open_input(path: str) -> av.container.InputContainer:
    if not os.path.exists(path):
        raise ConversionError(f'input {path} does not exist')
    try:
        return av.open(path)
    except av.error.FFmpegError as e:
        if os.path.isfile(path) and _lacks_mp4_index(path):
            raise ConversionError(f'{path} is an MP4 without its index (moov box): it was cut off before its writer '
                                  f'finished it, so its frames cannot be located; use a complete copy') from e
        raise ConversionError(f'{path} is not a video FFmpeg can read ({e.strerror})') from e


_FORKED_DECODERS: List[Any] = []  # see VideoReader.__getitem__


def _stream_end(stream: av.VideoStream) -> Optional[float]:
    """When the last frame of `stream` ends, in seconds, as the container says (None if it does not)."""
    if stream.duration:
        return float(((stream.start_time or 0) + stream.duration) * stream.time_base)
    tag = stream.metadata.get('DURATION')  # Matroska keeps it per track
    if tag:
        hours, minutes, seconds = tag.split(':')
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return None


def _source_colors(frame: av.VideoFrame) -> Dict[str, Any]:
    """How to read `frame`'s Y'CbCr as RGB: the matrix and range its stream is tagged with; for untagged
    video, the matrix players assume (BT.709 from 1280 wide or above 576 lines, else BT.601)."""
    colorspace = frame.colorspace
    if colorspace == 2:  # FFmpeg's AVCOL_SPC_UNSPECIFIED
        colorspace = Colorspace.ITU709 if frame.width >= 1280 or frame.height > 576 else Colorspace.ITU601
    return {'src_colorspace': colorspace, 'src_color_range': frame.color_range or None}


class _Reader(Dataset):
    """What both readers share: the Dataset view of `frames()` with the original RVM transform."""
    transform: Optional[Callable]

    def frames(self, size: Optional[Size] = None, num_workers: int = 0) -> Iterator[Frame]:
        raise NotImplementedError

    def _item(self, image: np.ndarray) -> Any:
        image = Image.fromarray(image)
        return self.transform(image) if self.transform is not None else image

    def __iter__(self) -> Iterator[Any]:
        for frame in self.frames():
            yield self._item(frame.image)


class VideoReader(_Reader):
    """A video file as a Dataset of RGB frames, decoded as a stream.

    Iterating, or reading indices in increasing order (what a DataLoader does without shuffling),
    decodes each frame once; going back restarts decoding from the start. Nothing is indexed up
    front, so memory does not grow with the video's length.

    Args:
        path: a video file FFmpeg can read.
        transform: applied to each PIL image that `__getitem__` and `__iter__` return (e.g. ToTensor).

    Attributes:
        frame_rate: the average frame rate, an exact Fraction (30000/1001 for NTSC).
        time_base: the unit of `Frame.pts`.
        width, height: the frame size, as shown: upright for phone videos with rotation metadata.
        rotation: the counterclockwise rotation (degrees) that shows the decoded frames upright;
            frames are returned rotated by it, as players show them.
        has_audio: whether the file has an audio stream (copied into video outputs).
    """

    def __init__(self, path: Union[str, os.PathLike], transform: Optional[Callable] = None):
        self.path = os.fspath(path)
        self.transform = transform
        with _open_input(self.path) as container:
            if not container.streams.video:
                raise ConversionError(f'{self.path} has no video stream')
            stream = container.streams.video[0]
            self.frame_rate = stream.average_rate or stream.guessed_rate or SEQUENCE_FRAME_RATE
            self.time_base = stream.time_base
            self.width, self.height = stream.codec_context.width, stream.codec_context.height
            self.has_audio = bool(container.streams.audio)
            self._listed = stream.frames
            self._end = _stream_end(stream)
            self._length = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        self.rotation = self._first_frame_rotation()
        self._turns = round(self.rotation / 90) % 4  # quarter turns counterclockwise
        if self._turns % 2:
            self.width, self.height = self.height, self.width
        self._cursor: Optional[List[Any]] = None  # [pid, frame iterator, index of its next frame]

    def _first_frame_rotation(self) -> int:
        with _open_input(self.path) as container:
            try:
                frame = next(container.decode(video=0), None)
            except av.error.FFmpegError:
                return 0
        return frame.rotation if frame is not None else 0

    def __len__(self) -> int:
        """The number of frames the file holds (its header's count, else its packet count)."""
        return self._length

    def __getitem__(self, idx: int) -> Any:
        if not 0 <= idx < len(self):
            raise IndexError(f'frame {idx} is out of range for {self.path} ({len(self)} frames)')
        if self._cursor is not None and self._cursor[0] != os.getpid():
            # A DataLoader worker forked from a process that was decoding: the decoder's threads
            # did not come along, so closing it here would wait for them forever. Keep it, untouched.
            _FORKED_DECODERS.append(self._cursor)
            self._cursor = None
        if self._cursor is None or idx < self._cursor[2]:
            self._cursor = [os.getpid(), self.frames(), 0]  # a step back: restart
        frames = self._cursor[1]
        for _ in range(idx - self._cursor[2]):
            next(frames, None)
        frame = next(frames, None)
        if frame is None:
            raise IndexError(f'{self.path}: frame {idx} could not be decoded')
        self._cursor[2] = idx + 1
        return self._item(frame.image)

    def frames(self, size: Optional[Size] = None, num_workers: int = 0) -> Iterator[Frame]:
        """Decode every frame in order as `Frame(image [H, W, 3] uint8 RGB, pts)`.

        Args:
            size: `(W, H)` to resize to while converting to RGB, or None for the frame size.
            num_workers: decoder threads; 0 lets FFmpeg choose.

        Data that fails to decode is skipped with a warning naming the frame index; a file that
        ends early (truncated) ends the frames with a warning. pts always increase.
        """
        width, height = size if size is not None else (None, None)
        if self._turns % 2:
            width, height = height, width  # decoded frames are on their side: resize them as decoded
        step = max(1, round(1 / (self.frame_rate * self.time_base)))
        last_pts = None
        count = 0
        damaged: List[int] = []
        with _open_input(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = 'AUTO'
            stream.codec_context.thread_count = num_workers
            for frame in self._decode(container, stream):
                pts = frame.pts if frame.pts is not None else (-step if last_pts is None else last_pts) + step
                if last_pts is not None and pts <= last_pts:
                    pts = last_pts + 1
                last_pts = pts
                if frame.is_corrupt:
                    damaged.append(count)
                count += 1
                image = frame.to_ndarray(format='rgb24', width=width, height=height, **_source_colors(frame))
                yield Frame(np.ascontiguousarray(np.rot90(image, self._turns)) if self._turns else image, pts)
        if damaged:
            _warn(f'{self.path}: {len(damaged)} frames decoded with errors (concealed), the first is frame {damaged[0]}')
        shown_until = (last_pts if last_pts is not None else -step) * self.time_base + 1 / self.frame_rate
        if self._listed and count < self._listed:
            _warn(f'{self.path}: decoded {count} of the {self._listed} frames its header lists '
                  f'(truncated or corrupt after frame {count - 1})')
        elif self._end is not None and self._end - shown_until > 1 / self.frame_rate:
            _warn(f'{self.path}: frames stop at {float(shown_until):.3f} s (after frame {count - 1}) but the video '
                  f'lasts {self._end:.3f} s (truncated or corrupt)')

    def _decode(self, container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.VideoFrame]:
        """Decode `stream`, skipping (with a warning) data that fails; frame indices are in decode order."""
        index = 0
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as e:
                _warn(f'{self.path}: unreadable data after frame {index - 1} ({e.strerror}); keeping the frames before it')
                yield from stream.decode(None)
                return
            try:
                yield from packet.decode()
            except av.error.FFmpegError as e:
                _warn(f'{self.path}: could not decode frame {index} ({e.strerror}); skipped')
            index += packet.size > 0


class ImageSequenceReader(_Reader):
    """A directory of images as a Dataset of RGB frames, in natural order (frame2 before frame10).

    Only files with an image extension count (hidden files and others are ignored). Gray, RGBA,
    16-bit and palette images are converted to RGB. All images must have one size, unless they
    are resized (`frames(size=...)`).

    Args:
        path: the directory.
        transform: applied to each PIL image that `__getitem__` and `__iter__` return.
    """
    frame_rate = SEQUENCE_FRAME_RATE
    time_base = 1 / SEQUENCE_FRAME_RATE
    has_audio = False

    def __init__(self, path: Union[str, os.PathLike], transform: Optional[Callable] = None):
        self.path = os.fspath(path)
        self.transform = transform
        if not os.path.isdir(self.path):
            raise ConversionError(f'input {self.path} does not exist' if not os.path.exists(self.path)
                                  else f'{self.path} is not a directory')
        names = [name for name in os.listdir(self.path) if not name.startswith('.')]
        images = [name for name in names if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
                  and os.path.isfile(os.path.join(self.path, name))]
        if not images:
            raise ConversionError(f'{self.path} has no image files ({len(names)} other entries)')
        self.files = [os.path.join(self.path, name) for name in sorted(images, key=natural_key)]
        with self._open(0) as image:
            self.width, self.height = image.size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx: int) -> Any:
        return self._item(self.load(idx))

    def _open(self, idx: int) -> Image.Image:
        try:
            return Image.open(self.files[idx])
        except OSError as e:
            raise ConversionError(f'{self.files[idx]} is not a readable image ({e})') from e

    def load(self, idx: int, size: Optional[Size] = None) -> np.ndarray:
        """Image `idx` as `[H, W, 3]` uint8 RGB, resized to `size` `(W, H)` if given."""
        with self._open(idx) as image:
            if size is None and image.size != (self.width, self.height):
                raise ConversionError(f'{self.files[idx]} is {image.size[0]}x{image.size[1]} but {self.files[0]} is '
                                      f'{self.width}x{self.height}: the images of a sequence must have one size '
                                      f'(or resize them with input_resize)')
            rgb = image_to_rgb(image)
        if size is not None and (rgb.shape[1], rgb.shape[0]) != tuple(size):
            rgb = np.asarray(Image.fromarray(rgb).resize(tuple(size), Image.Resampling.BILINEAR))
        return rgb

    def frames(self, size: Optional[Size] = None, num_workers: int = 0) -> Iterator[Frame]:
        """Load every image in order as `Frame(image [H, W, 3] uint8 RGB, pts=index)`.

        `num_workers` > 0 decodes that many images ahead on a thread pool.
        """
        if num_workers == 0:
            for idx in range(len(self)):
                yield Frame(self.load(idx, size), idx)
            return
        with ThreadPoolExecutor(num_workers, thread_name_prefix='rvm-image') as pool:
            pending: Deque[Tuple[int, Future]] = deque()
            for idx in range(len(self)):
                pending.append((idx, pool.submit(self.load, idx, size)))
                if len(pending) > 2 * num_workers:
                    done, future = pending.popleft()
                    yield Frame(future.result(), done)
            for done, future in pending:
                yield Frame(future.result(), done)


def open_reader(path: Union[str, os.PathLike], transform: Optional[Callable] = None) -> _Reader:
    """A VideoReader for a file, an ImageSequenceReader for a directory."""
    path = os.fspath(path)
    return ImageSequenceReader(path, transform) if os.path.isdir(path) else VideoReader(path, transform)


def video_codec(path: str, transparent: bool) -> Tuple[str, str, Dict[str, str]]:
    """`(codec, pix_fmt, options)` for a video output, chosen by its extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in VIDEO_EXTENSIONS:
        raise ConversionError(f'{path}: unknown video extension {ext!r} (expected one of {", ".join(VIDEO_EXTENSIONS)}; '
                              f'for an image sequence, give a directory and output_type png_sequence)')
    if transparent:
        if ext == '.mov':
            return 'prores_ks', 'yuva444p10le', PRORES_4444_OPTIONS
        if ext == '.webm':
            return 'libvpx-vp9', 'yuva420p', VP9_OPTIONS
        raise ConversionError(f'{path}: a transparent video needs .mov (ProRes 4444) or .webm (VP9 with alpha), not {ext}')
    if ext == '.webm':
        return 'libvpx-vp9', 'yuv420p', VP9_OPTIONS
    return 'libx264', 'yuv420p', H264_OPTIONS


def check_writable(path: str, directory: bool) -> None:
    """Create `path` (a directory) or its parent, and prove it writable, or raise ConversionError."""
    folder = path if directory else (os.path.dirname(path) or '.')
    if not directory and os.path.isdir(path):
        raise ConversionError(f'output {path} is a directory, but a video file was expected')
    if directory and os.path.exists(path) and not os.path.isdir(path):
        raise ConversionError(f'output {path} is a file, but an image-sequence directory was expected')
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise ConversionError(f'cannot write {path}: {e.strerror or e} ({folder})') from e


# Containers that can hold each audio codec as it is; other codecs are re-encoded.
_AUDIO_CODECS = {
    '.mp4': {'aac', 'mp3', 'opus', 'alac', 'flac', 'ac3', 'eac3'},
    '.m4v': {'aac', 'mp3', 'alac', 'ac3', 'eac3'},
    '.mov': {'aac', 'mp3', 'alac', 'ac3', 'eac3', 'pcm_s16le', 'pcm_s24le', 'pcm_f32le'},
    '.avi': {'mp3', 'ac3', 'pcm_s16le'},
    '.webm': {'opus', 'vorbis'},
}


class _AudioTrack:
    """The first audio stream of a source file, copied into an output as its video is written.

    Packets are copied as they are when the output container can hold their codec (else re-encoded
    to AAC, or Opus for .webm), with their timestamps, so the audio stays in sync with video pts
    that are the source's own.
    """

    def __init__(self, source: str, output: av.container.OutputContainer, ext: str):
        self.input = av.open(source)
        in_stream = self.input.streams.audio[0]
        codec = in_stream.codec_context.name
        if codec in _AUDIO_CODECS.get(ext, {codec}):
            self.stream, self.transcode = output.add_stream_from_template(in_stream), False
        else:
            encoder = 'libopus' if ext == '.webm' else 'aac'
            rate = 48000 if encoder == 'libopus' else in_stream.codec_context.sample_rate
            self.stream, self.transcode = output.add_stream(encoder, rate=rate), True
            self.stream.layout = in_stream.codec_context.layout
        self.output = output
        self.packets = self.input.demux(in_stream)
        self.pending: Optional[av.Packet] = None

    def copy_until(self, seconds: float) -> None:
        """Write the audio that starts before `seconds` (on the source's clock)."""
        while True:
            packet = self.pending or next(self.packets, None)
            self.pending = None
            if packet is None or packet.size == 0:
                return
            when = packet.pts if packet.pts is not None else packet.dts
            if when is not None and when * packet.time_base >= seconds:
                self.pending = packet
                return
            if self.transcode:
                for frame in packet.decode():
                    self.output.mux(self.stream.encode(frame))
            else:
                packet.stream = self.stream
                self.output.mux(packet)

    def close(self) -> None:
        if self.transcode:
            self.output.mux(self.stream.encode(None))
        self.input.close()


class VideoWriter:
    """Encode frames to a video file as they come.

    The codec follows the extension: H.264 (yuv420p) for .mp4, .m4v, .mov, .mkv and .avi, VP9 for
    .webm; with `transparent=True`, ProRes 4444 for .mov and VP9 with alpha for .webm. Colors are
    BT.709 in limited range, and the stream says so. 4:2:0 (yuv420p) needs even sizes: an odd width
    or height is padded by repeating the last column or row.

    Args:
        path: the output file; its folder must exist.
        frame_rate: frames per second (a Fraction keeps NTSC 30000/1001 exact).
        bit_rate: target bits per second (ProRes ignores it: it is constant quality).
        transparent: frames are RGBA, and the alpha channel is encoded.
        time_base: the unit of the `pts` given to `write`; default 1 / frame_rate.
        audio_source: a media file whose first audio stream is copied in, in sync with the pts.
    """

    def __init__(self, path: Union[str, os.PathLike], frame_rate: Union[int, float, Fraction], bit_rate: int = 1000000,
                 transparent: bool = False, time_base: Optional[Fraction] = None, audio_source: Optional[str] = None):
        self.path = os.fspath(path)
        self.ext = os.path.splitext(self.path)[1].lower()
        self.codec, self.pix_fmt, self.options = video_codec(self.path, transparent)
        self.frame_rate = to_fraction(frame_rate)
        self.time_base = Fraction(time_base) if time_base is not None else 1 / self.frame_rate
        self.bit_rate = bit_rate
        self.transparent = transparent
        self.audio_source = audio_source
        self.container = av.open(self.path, mode='w')
        self.size: Optional[Size] = None
        self.stream: Optional[av.VideoStream] = None
        self.audio: Optional[_AudioTrack] = None
        self.count = 0
        self.last_pts = -1

    def write(self, frames: Tensor, pts: Optional[Sequence[int]] = None) -> None:
        """Write `[T, C, H, W]` frames in 0..1: C = 1 (gray), 3 (RGB), or 4 (RGBA, when transparent).

        Shown at `pts` (in `time_base`; default: one frame after another).
        """
        self.write_packed(self.pack(frames).cpu().numpy(), pts)

    def pack(self, frames: Tensor) -> Tensor:
        """`[T, C, H, W]` frames in 0..1 as the uint8 data `write_packed` takes, on their device.

        I420 planes `[T, H * 3 // 2, W]` (see `to_yuv420`; odd sizes padded) for yuv420p streams,
        else `[T, H, W, 4]` RGBA images, which FFmpeg converts to the transparent format.
        """
        channels = frames.size(1)
        if channels not in ((4,) if self.transparent else (1, 3)):
            raise ConversionError(f'{self.path}: got {channels}-channel frames, expected '
                                  f'{"4 (RGBA)" if self.transparent else "1 (gray) or 3 (RGB)"}')
        size = (frames.size(3), frames.size(2))
        if self.size is not None and size != self.size:
            raise ConversionError(f'{self.path}: got {size[0]}x{size[1]} frames after {self.size[0]}x{self.size[1]} ones')
        self.size = size
        if self.pix_fmt != 'yuv420p':
            return to_images(frames)
        if size[0] % 2 or size[1] % 2:
            frames = F.pad(frames, (0, size[0] % 2, 0, size[1] % 2), mode='replicate')
        return to_yuv420(frames)

    def write_packed(self, packed: np.ndarray, pts: Optional[Sequence[int]] = None) -> None:
        """Encode the output of `pack`, as a CPU array, shown at `pts` (default: one frame after another)."""
        if self.stream is None:
            height = packed.shape[1] * 2 // 3 if self.pix_fmt == 'yuv420p' else packed.shape[1]
            self._open(packed.shape[2], height)
        for t in range(packed.shape[0]):
            if self.pix_fmt == 'yuv420p':
                frame = av.VideoFrame.from_ndarray(packed[t], format='yuv420p')
            else:
                frame = av.VideoFrame.from_ndarray(packed[t], format='rgba').reformat(
                    format=self.pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG)
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
        self.stream.bit_rate = self.bit_rate
        context = self.stream.codec_context
        context.time_base = self.time_base
        context.colorspace, context.color_range = Colorspace.ITU709, ColorRange.MPEG
        context.color_primaries, context.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
        self.stream.options = dict(self.options)
        if self.audio_source is not None:
            self.audio = _AudioTrack(self.audio_source, self.container, self.ext)

    def _mux(self, packets: List[av.Packet]) -> None:
        for packet in packets:
            if self.audio is not None and packet.dts is not None:
                self.audio.copy_until(float(packet.dts * packet.time_base))
            self.container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file; it plays with every frame written so far.

        A writer that got no frame removes its empty file.
        """
        try:
            if self.stream is not None:
                self._mux(self.stream.encode(None))
                if self.audio is not None:
                    self.audio.copy_until(float((self.last_pts * self.time_base) + 1 / self.frame_rate))
                    self.audio.close()
        finally:
            self.container.close()
            if self.stream is None and os.path.exists(self.path):
                os.remove(self.path)


class ImageSequenceWriter:
    """Write frames as numbered images `0000.png`, `0001.png`... into a directory (created if needed).

    Images of the same names are replaced. When the writer closes, the numbered images that follow
    its last one (left by an earlier, longer run into the same directory) are removed, so that the
    directory holds this sequence and only it; other files are left alone.

    Args:
        path: the directory.
        extension: 'png' (gray, RGB or RGBA) or 'jpg' (gray or RGB).
    """

    def __init__(self, path: Union[str, os.PathLike], extension: str = 'jpg'):
        self.path = os.fspath(path)
        self.extension = extension
        self.counter = 0
        # zlib level 1: several times faster than PIL's default 6 for ~10% larger files.
        self.options = {'compress_level': 1} if extension == 'png' else {}
        os.makedirs(self.path, exist_ok=True)

    def write(self, frames: Tensor, pts: Optional[Sequence[int]] = None) -> None:
        """Write `[T, C, H, W]` frames in 0..1: C = 1 (gray), 3 (RGB) or 4 (RGBA)."""
        self.write_packed(self.pack(frames).cpu().numpy(), pts)

    def pack(self, frames: Tensor) -> Tensor:
        """`[T, C, H, W]` frames in 0..1 as `[T, H, W, C]` uint8 images, on their device."""
        if frames.size(1) == 4 and self.extension.lower() in ('jpg', 'jpeg'):
            raise ConversionError(f'{self.path}: JPEG has no alpha channel; use png for RGBA frames')
        return to_images(frames)

    def write_packed(self, images: np.ndarray, pts: Optional[Sequence[int]] = None) -> None:
        """Save `[T, H, W, C]` uint8 images (`pts` is accepted for the writers' shared interface and unused)."""
        for image in images:
            image = Image.fromarray(image[..., 0] if image.shape[2] == 1 else image)
            image.save(os.path.join(self.path, f'{self.counter:04d}.{self.extension}'), **self.options)
            self.counter += 1

    def close(self) -> None:
        """Remove the numbered images an earlier run left after this sequence's last one."""
        counter = self.counter
        while os.path.isfile(stale := os.path.join(self.path, f'{counter:04d}.{self.extension}')):
            os.remove(stale)
            counter += 1


Writer = Union[VideoWriter, ImageSequenceWriter]


def background_thread_setup() -> None:
    """Settings for the reader and writer threads.

    One intra-op thread for their torch work (torch's setting is per thread: the network keeps
    its own), and on Linux a slightly lower priority (nice +5, for this thread and the codec
    threads it starts), so that the thread that runs the network goes first where they run at
    once (with a GPU). Not lower: beside other busy processes, a low priority starves them
    (documentation/conversion.md, Benchmark).
    """
    torch.set_num_threads(1)
    if sys.platform == 'linux':
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, os.getpriority(os.PRIO_PROCESS, 0) + 5))


class Turns:
    """The network and the reader and writer threads taking turns, for a network that runs on the CPU.

    Such a network keeps every core busy with OpenMP threads that work in lockstep: a reader or
    writer thread that preempts one of them leaves the others spinning at their next barrier, so
    running beside it costs the network more than the preempting work itself (on 2 cores, ~25 ms
    per 720p frame; see documentation/conversion.md). Instead, the pipeline threads `wait()` before
    each piece of work, and the network runs in `network()`, which first waits for the writers
    to finish what they were given, then holds the pipeline threads back until it returns. The
    pipeline threads still run in parallel with each other. Disabled (for a GPU network, which
    leaves the CPU to the pipeline), both are no-ops.
    """

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._pipeline_may_run = threading.Event()
        self._pipeline_may_run.set()
        self._writer_queues: List[queue.Queue] = []

    def wait(self) -> None:
        """Block a pipeline thread while the network runs."""
        self._pipeline_may_run.wait()

    def add_writer(self, pending: queue.Queue) -> None:
        """A writer's queue, which the network waits to see processed (`task_done` for each item)."""
        self._writer_queues.append(pending)

    @contextlib.contextmanager
    def network(self) -> Iterator[None]:
        """Run the network alone: after the writers finish, with the pipeline threads held back."""
        if not self.enabled:
            yield
            return
        for pending in self._writer_queues:
            pending.join()
        self._pipeline_may_run.clear()
        try:
            yield
        finally:
            self._pipeline_may_run.set()


def prefetch(items: Iterable[Any], max_items: int, turns: Optional[Turns] = None) -> Iterator[Any]:
    """Iterate `items` on a background thread, at most `max_items` ahead of the consumer.

    With `turns`, each item is made only while the network is not running. An exception in the
    producer is raised in the consumer; closing this iterator (or leaving its loop) stops the producer.
    """
    results: 'queue.Queue[Tuple[Any, Optional[BaseException]]]' = queue.Queue(max_items)
    stop = threading.Event()
    done = object()

    def put(item: Tuple[Any, Optional[BaseException]]) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        background_thread_setup()
        iterator = iter(items)
        try:
            while True:
                if turns is not None:
                    turns.wait()
                item = next(iterator, done)
                if item is done:
                    break
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as e:
            put((done, e))
        finally:
            if hasattr(iterator, 'close'):
                iterator.close()

    thread = threading.Thread(target=produce, name='rvm-reader', daemon=True)
    thread.start()
    try:
        while True:
            item, error = results.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join()


class ThreadedWriter:
    """Run a writer on its own thread, behind a bounded queue.

    `write(make_packed, pts, ready)`: the thread waits for `ready` (a CUDA event marking the end of
    a non_blocking copy from the GPU, or None), calls `make_packed()` for the writer's packed uint8
    data on the CPU (`writer.pack`), and writes it. Work done in `make_packed` (the composition, the
    conversion to uint8) runs on this thread (see `background_thread_setup`), off the network's
    thread. With `turns`, each item is written only while the network is not running, and the
    network waits for this writer to finish its items. An error in the thread is raised at the
    next call; `close()` writes what is queued, then closes the writer.
    """

    def __init__(self, writer: Writer, max_pending: int = 2, turns: Optional[Turns] = None):
        self.writer = writer
        self.turns = turns
        self.queue: 'queue.Queue[Optional[Tuple[Callable[[], Tensor], Sequence[int], Any]]]' = queue.Queue(max_pending)
        if turns is not None:
            turns.add_writer(self.queue)
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name=f'rvm-writer {writer.path}', daemon=True)
        self.thread.start()

    def _run(self) -> None:
        background_thread_setup()
        while True:
            item = self.queue.get()
            try:
                if item is None:  # closed
                    return
                if self.error is None:  # after an error, keep taking items so that the producer never blocks
                    self._write(*item)
            except BaseException as e:
                self.error = e
            finally:
                self.queue.task_done()

    def _write(self, make_packed: Callable[[], Tensor], pts: Sequence[int], ready: Any) -> None:
        if self.turns is not None:
            self.turns.wait()
        if ready is not None:
            ready.synchronize()
        with torch.inference_mode():
            packed = make_packed()
        self.writer.write_packed(packed.cpu().numpy(), pts)

    def write(self, make_packed: Callable[[], Tensor], pts: Sequence[int], ready: Any = None) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((make_packed, pts, ready))

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.writer.close()
        if self.error is not None:
            raise self.error


def parse_color(spec: Union[str, Sequence[float]]) -> Tuple[int, int, int]:
    """An RGB color from `(r, g, b)` (0..255), 'r,g,b', '#rrggbb' or a CSS name, or raise ConversionError."""
    try:
        if isinstance(spec, str):
            values = spec.split(',') if ',' in spec and not spec.startswith('rgb') else ImageColor.getrgb(spec)[:3]
        else:
            values = spec
        color = tuple(int(round(float(v))) for v in values)
    except ValueError as e:
        raise ConversionError(f'background {spec!r} is not a color, an image or a video') from e
    if len(color) != 3 or not all(0 <= v <= 255 for v in color):
        raise ConversionError(f'background color {spec!r} must be three values in 0..255')
    return color


class Background:
    """The composition background: a color, an image, or a video looped to length.

    Images and videos are scaled to cover the frame and center-cropped (no distortion).

    Args:
        spec: an RGB color (see `parse_color`), or the path of an image or a video.
        size: the frame size `(W, H)`.
        device, dtype: where the background tensors live.
        turns: for a background video, decode it taking turns with the network (see `Turns`).
    """

    def __init__(self, spec: Union[str, Sequence[float], os.PathLike], size: Size,
                 device: torch.device, dtype: torch.dtype, turns: Optional[Turns] = None):
        self.size, self.device, self.dtype = size, device, dtype
        self.video: Optional[Iterator[Frame]] = None
        path = os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else None
        if path is not None and os.path.isfile(path) and os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
            with Image.open(path) as image:
                rgb = image_to_rgb(image)
            self.still = self._to_tensor(np.stack([self._fit(rgb)]))
        elif path is not None and os.path.isfile(path):
            reader = VideoReader(path)
            self.reader_size = cover_size((reader.width, reader.height), size)
            self.video = prefetch(self._loop(reader), 4, turns)
        else:
            color = torch.tensor(parse_color(spec), dtype=dtype, device=device).div(255)
            self.still = color.view(1, 3, 1, 1)

    def _loop(self, reader: VideoReader) -> Iterator[np.ndarray]:
        while True:
            count = 0
            for frame in reader.frames(self.reader_size):
                count += 1
                yield center_crop(frame.image, self.size)
            if count == 0:
                raise ConversionError(f'background video {reader.path} has no decodable frame')

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        scaled = Image.fromarray(rgb).resize(cover_size((rgb.shape[1], rgb.shape[0]), self.size), Image.Resampling.BILINEAR)
        return center_crop(np.asarray(scaled), self.size)

    def _to_tensor(self, images: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(images)).to(self.device).permute(0, 3, 1, 2).to(self.dtype).div(255)

    def next(self, count: int) -> Tensor:
        """The background of the next `count` frames: `[count, 3, H, W]`, or `[1, 3, H or 1, W or 1]` when still."""
        if self.video is None:
            return self.still
        return self._to_tensor(np.stack([next(self.video) for _ in range(count)]))

    def close(self) -> None:
        if self.video is not None:
            self.video.close()
