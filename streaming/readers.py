"""Readers: a video file or a folder of images as a stream of RGB frames, and as a Dataset.

Readers decode one frame at a time, so memory stays flat however long the video: nothing indexes
the whole input, nothing accumulates frames.

- `VideoReader`, `ImageSequenceReader`: Datasets of RGB frames (the original RVM API), plus
  `frames()`, the fast path the converter uses: `Frame(image [H, W, 3] uint8, pts)` in order
  (uint16 for video of more than 8 bits, so that 10-bit input keeps its levels).
- `open_reader(path)`: the right one for a file or a directory.

Damaged input is read as far as it decodes: data that fails is skipped and counted, a file that
ends early ends the frames, each with one warning naming the frame; a video whose frames change
size midway is scaled to the first frame's size.
"""
import os
import warnings
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction
from typing import Any, Callable, Deque, Iterator, List, NamedTuple, Optional, Tuple, Union

import av
import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from .color import BT709, Colors, frame_colors, source_colors
from .formats import ConversionError, list_images, mp4_boxes
from .images import Size, image_to_rgb

SEQUENCE_FRAME_RATE = Fraction(30)


class Frame(NamedTuple):
    """One decoded frame: `image` `[H, W, 3]` RGB, uint8, or uint16 (0..65535) when the reader's
    `bit_depth` is above 8, shown at `pts` (in the reader's `time_base`)."""
    image: np.ndarray
    pts: int


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _lacks_mp4_index(path: str) -> bool:
    """Whether `path` is an MP4/MOV (it starts with an `ftyp` box) whose top-level boxes have no `moov`,
    the index that locates its frames: a file cut off before its writer finished it."""
    kinds = [kind for kind, _, _ in mp4_boxes(path)]
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


class _Reader(Dataset):
    """What both readers share: the Dataset view of `frames()` with the original RVM transform."""
    transform: Optional[Callable]

    def frames(self, size: Optional[Size] = None, num_workers: int = 0) -> Iterator[Frame]:
        raise NotImplementedError

    def _item(self, image: np.ndarray) -> Any:
        if image.dtype == np.uint16:  # PIL has no 16-bit RGB: the Dataset's images are 8-bit
            image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
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
        bit_depth: bits per sample of the decoded frames (8, 10, 12...); `frames()` gives uint16 above 8.
        colors: the stream's colour tags (`color.Colors`; untagged ones as players read them).
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
        self.rotation, self.bit_depth, self.colors = self._first_frame_properties()
        self._turns = round(self.rotation / 90) % 4  # quarter turns counterclockwise
        if self._turns % 2:
            self.width, self.height = self.height, self.width
        self._cursor: Optional[List[Any]] = None  # [pid, frame iterator, index of its next frame]

    def _first_frame_properties(self) -> Tuple[int, int, Colors]:
        """The rotation, bit depth and colours of the first frame (0, 8 and BT.709 if none decodes)."""
        with _open_input(self.path) as container:
            try:
                frame = next(container.decode(video=0), None)
            except av.error.FFmpegError:
                frame = None
        if frame is None:
            return 0, 8, BT709
        return frame.rotation, max(component.bits for component in frame.format.components), frame_colors(frame)

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
        """Decode every frame in order as `Frame(image [H, W, 3] RGB, pts)`: uint8, uint16 above 8 bits.

        Args:
            size: `(W, H)` to resize to while converting to RGB, or None for the frame size.
            num_workers: decoder threads; 0 lets FFmpeg choose.

        Data that fails to decode is skipped and counted, with one warning naming the first frame;
        a file that ends early (truncated) ends the frames with a warning. Frames whose size differs
        from the first frame's are scaled to it (one warning). pts always increase.
        """
        width, height = size if size is not None else (None, None)
        if self._turns % 2:
            width, height = height, width  # decoded frames are on their side: resize them as decoded
        step = max(1, round(1 / (self.frame_rate * self.time_base)))
        rgb = 'rgb24' if self.bit_depth <= 8 else 'rgb48le'
        last_pts = None
        count = 0
        damaged: List[int] = []
        resized: List[int] = []
        damaged_packets: List[Tuple[int, bool]] = []  # (frame index, whether it decoded)
        with _open_input(self.path) as container:
            stream = container.streams.video[0]
            stream.thread_type = 'AUTO'
            stream.codec_context.thread_count = num_workers
            for frame in self._decode(container, stream, damaged_packets):
                pts = frame.pts if frame.pts is not None else (-step if last_pts is None else last_pts) + step
                if last_pts is not None and pts <= last_pts:
                    pts = last_pts + 1
                last_pts = pts
                if frame.is_corrupt:
                    damaged.append(count)
                if width is None:  # the first frame's size is every frame's
                    width, height = frame.width, frame.height
                elif size is None and (frame.width, frame.height) != (width, height):
                    resized.append(count)
                count += 1
                scale = size is not None or (frame.width, frame.height) != (width, height)  # else swscale only converts
                image = frame.to_ndarray(format=rgb, width=width if scale else None, height=height if scale else None,
                                         **source_colors(frame))
                yield Frame(np.ascontiguousarray(np.rot90(image, self._turns)) if self._turns else image, pts)
        if resized:
            _warn(f'{self.path}: {len(resized)} frames, from frame {resized[0]}, differ in size from the first frame '
                  f'and were scaled to its {width}x{height}')
        # One warning about damage: a file that ends early (its last packet is damaged too), else the damage.
        shown_until = (last_pts if last_pts is not None else -step) * self.time_base + 1 / self.frame_rate
        lost = sum(1 for _, decoded in damaged_packets if not decoded)
        if self._listed and count + lost < self._listed:
            _warn(f'{self.path}: decoded {count} of the {self._listed} frames its header lists '
                  f'(truncated or corrupt after frame {count - 1})')
        elif self._end is not None and self._end - shown_until > 1 / self.frame_rate:
            _warn(f'{self.path}: frames stop at {float(shown_until):.3f} s (after frame {count - 1}) but the video '
                  f'lasts {self._end:.3f} s (truncated or corrupt)')
        elif damaged_packets:
            _warn(f'{self.path}: {len(damaged_packets)} damaged packets, the first at frame {damaged_packets[0][0]}: '
                  f'{lost} skipped, {len(damaged_packets) - lost} decoded with errors concealed')
        elif damaged:
            _warn(f'{self.path}: {len(damaged)} frames decoded with errors (concealed), the first is frame {damaged[0]}')

    def _decode(self, container: av.container.InputContainer, stream: av.VideoStream,
                damaged: List[Tuple[int, bool]]) -> Iterator[av.VideoFrame]:
        """Decode `stream`, going on past damaged packets (each goes to `damaged` as `(frame index in
        decode order, whether it decoded)`); unreadable data ends it with a warning, keeping the frames before."""
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
                if packet.is_corrupt:
                    damaged.append((index, True))
            except av.error.FFmpegError:
                damaged.append((index, False))
            index += packet.size > 0


class ImageSequenceReader(_Reader):
    """A directory of images as a Dataset of RGB frames, in natural order (frame2 before frame10).

    Only files with an image extension count (hidden files and others are ignored). Gray, RGBA and
    palette images are converted to RGB. A sequence whose first image has 16 bits per sample (PNG,
    TIFF) is read at 16 bits (`bit_depth` 16, uint16 frames), so that its levels reach a 10- or
    16-bit output. All images must have one size, unless they are resized (`frames(size=...)`).

    Args:
        path: the directory.
        transform: applied to each PIL image that `__getitem__` and `__iter__` return.
    """
    frame_rate = SEQUENCE_FRAME_RATE
    time_base = 1 / SEQUENCE_FRAME_RATE
    has_audio = False
    colors = BT709

    def __init__(self, path: Union[str, os.PathLike], transform: Optional[Callable] = None):
        self.path = os.fspath(path)
        self.transform = transform
        if not os.path.isdir(self.path):
            raise ConversionError(f'input {self.path} does not exist' if not os.path.exists(self.path)
                                  else f'{self.path} is not a directory')
        images = list_images(self.path)
        if not images:
            others = sum(1 for name in os.listdir(self.path) if not name.startswith('.'))
            raise ConversionError(f'{self.path} has no image files ({others} other entries)')
        self.files = [os.path.join(self.path, name) for name in images]
        with self._open(0) as image:
            self.width, self.height = image.size
        self.bit_depth = 16 if _sample_bits(self.files[0]) > 8 else 8

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
        """Image `idx` as `[H, W, 3]` RGB (uint8; uint16 when `bit_depth` is 16), resized to `size` `(W, H)`."""
        if self.bit_depth > 8:  # PIL has no 16-bit RGB: FFmpeg decodes these
            frame = self._decode(idx)
            self._check_size(idx, (frame.width, frame.height), size)
            if size is not None and (frame.width, frame.height) != tuple(size):
                frame = frame.reformat(width=size[0], height=size[1], interpolation='BILINEAR')
            if frame.format.components[0].bits > 8:
                return frame.to_ndarray(format='rgb48le')
            return frame.to_ndarray(format='rgb24').astype(np.uint16) * 257  # exact, unlike swscale's rgb48
        with self._open(idx) as image:
            self._check_size(idx, image.size, size)
            rgb = image_to_rgb(image)
        if size is not None and (rgb.shape[1], rgb.shape[0]) != tuple(size):
            rgb = np.asarray(Image.fromarray(rgb).resize(tuple(size), Image.Resampling.BILINEAR))
        return rgb

    def _decode(self, idx: int) -> av.VideoFrame:
        try:
            with av.open(self.files[idx]) as container:
                return next(container.decode(video=0))
        except (av.error.FFmpegError, StopIteration) as e:
            raise ConversionError(f'{self.files[idx]} is not a readable image ({e})') from e

    def _check_size(self, idx: int, found: Size, size: Optional[Size]) -> None:
        if size is None and tuple(found) != (self.width, self.height):
            raise ConversionError(f'{self.files[idx]} is {found[0]}x{found[1]} but {self.files[0]} is '
                                  f'{self.width}x{self.height}: the images of a sequence must have one size '
                                  f'(or resize them with input_resize)')

    def frames(self, size: Optional[Size] = None, num_workers: int = 0) -> Iterator[Frame]:
        """Load every image in order as `Frame(image [H, W, 3] RGB, pts=index)` (uint16 at 16 bits).

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


def _sample_bits(path: str) -> int:
    """Bits per sample of an image file as FFmpeg decodes it; 8 for a file FFmpeg cannot open."""
    try:
        with av.open(path) as container:
            return container.streams.video[0].codec_context.format.components[0].bits
    except (av.error.FFmpegError, IndexError, AttributeError):
        return 8


def open_reader(path: Union[str, os.PathLike], transform: Optional[Callable] = None) -> _Reader:
    """A VideoReader for a file, an ImageSequenceReader for a directory."""
    path = os.fspath(path)
    return ImageSequenceReader(path, transform) if os.path.isdir(path) else VideoReader(path, transform)
