"""Live sources: a camera, a network stream, raw frames on standard input, or a file (played at
its own frame rate to rehearse). `open_source(spec)` chooses; each source's `frames()` yields
`Captured` frames as they arrive, on the capture thread of `session.LiveSession`.

Errors are one-line `SourceError`s that name what is missing and how to get it.
"""
import errno
import glob
import os
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Dict, Iterator, NamedTuple, Optional, Tuple

import av
import numpy as np

from ..color import source_colors
from ..formats import ConversionError
from ..readers import VideoReader

URL_SCHEMES = ('rtsp', 'rtsps', 'rtmp', 'udp', 'rtp', 'srt', 'tcp', 'http', 'https')
CAMERA_FORMATS = {'linux': 'v4l2', 'darwin': 'avfoundation', 'win32': 'dshow'}
# Small probes: a live stream's codec parameters come with its first key frame; FFmpeg's defaults
# (5 s of analysis) would hold the first frame back that long.
NETWORK_OPTIONS = {'analyzeduration': '500000', 'probesize': '32768'}
# UDP: a large socket buffer, and overruns of it are data lost, not the end of the stream.
UDP_OPTIONS = {'buffer_size': '4194304', 'fifo_size': '100000', 'overrun_nonfatal': '1'}


class SourceError(ConversionError):
    """A source that cannot be opened or read, in one line."""


def stderr_line(message: str) -> None:
    """Where a source's and a session's messages go unless told otherwise."""
    print(message, file=sys.stderr, flush=True)


def stalled(name: str, timeout: float) -> str:
    """The message for a source that sent nothing for `timeout` seconds."""
    return (f'{name}: no frame for {timeout:g} s; giving up (the source stalled or stopped; raise --timeout '
            f'to wait longer)')


class Captured(NamedTuple):
    """A frame as it arrived: `image` `[H, W, 3]` uint8 RGB, `pts` the source's timestamp in seconds,
    `arrived` when it arrived (`time.monotonic()`)."""
    image: np.ndarray
    pts: float
    arrived: float


@dataclass
class Source:
    """What every source has: `name` (for messages), `live` (frames come whether or not they are
    taken, so the session drops the oldest; False for a file read as fast as the network goes),
    `frame_rate` (nominal, for recordings), and `frames()`."""
    name: str
    live: bool
    frame_rate: float

    def frames(self) -> Iterator[Captured]:
        raise NotImplementedError

    def why_stalled(self, timeout: float) -> str:
        """Why no frame came for `timeout` seconds, in one line."""
        return stalled(self.name, timeout)

    def close(self) -> None:
        """Stop the source; `frames()` ends (or raises) soon after."""


def is_url(spec: str) -> bool:
    return '://' in spec and spec.split('://', 1)[0].lower() in URL_SCHEMES


def is_camera(spec: str) -> bool:
    return spec.isdigit() or spec.startswith('/dev/video') or spec.startswith('video=') or spec.startswith('avfoundation:')


class PyAVSource(Source):
    """A camera or a network stream, decoded by PyAV (FFmpeg) as it arrives.

    As FFmpeg's own receiver does, packets that cannot be decoded (before the first key frame of a
    stream joined midway, after data was lost) are skipped, and counted in one line to `log` when
    frames come again; the source fails only when nothing decodes for `timeout` seconds. A frame
    without a timestamp is one frame after the last, as in files.
    """

    def __init__(self, name: str, container: av.container.InputContainer, timeout: float,
                 log: Callable[[str], None] = stderr_line):
        stream = container.streams.video[0]
        super().__init__(name, True, float(stream.average_rate or stream.guessed_rate or 30))
        self.container, self.stream, self.timeout, self.log = container, stream, timeout, log
        self.stream.thread_type = 'SLICE'  # frame threads would hold frames back, one per thread
        self._closed = self._running = False
        self._last_pts: Optional[float] = None
        self._skipped = 0  # packets that could not be decoded since the last frame

    def frames(self) -> Iterator[Captured]:
        self._running = True
        try:
            yield from self._decode()
        except av.error.ExitError as e:  # PyAV's read timeout
            # The demuxer holds a stream's last frame until the stream ends (MPEG-TS cannot tell its
            # end before), and the decoder may hold one more: out with them, then give up.
            for frame in self.stream.codec_context.decode(None):
                yield self._captured(frame)
            if not self._closed:
                raise SourceError(self.why_stalled(self.timeout)) from e
        except av.error.FFmpegError as e:
            if not self._closed:
                raise SourceError(f'{self.name}: the stream failed ({e.strerror})') from e
        finally:
            self.container.close()

    def _decode(self) -> Iterator[Captured]:
        """Decode packet by packet: one that fails is skipped and counted, not the end of the stream."""
        keyed = decoded = False  # a key frame, a frame came
        since = time.monotonic()
        packets = self.container.demux(self.stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as e:
                if e.errno != errno.EIO:
                    raise
                packet = None  # the sender closed the connection (RTMP's and SRT's end): out with what is held
            data = packet is not None and packet.size > 0  # not the flush at the end
            try:
                frames = self.stream.codec_context.decode(packet)
            except av.error.FFmpegError:  # e.g. no parameter sets yet: H.264 joined between key frames
                frames = []
                self._skipped += 1
            else:
                keyed = keyed or (data and packet.is_keyframe)
                # Before the first key frame, a decoder that knows the parameter sets drops frames silently.
                if data and not frames and not keyed and not decoded:
                    self._skipped += 1
            if frames:
                if self._skipped:
                    self.log(f'{self.name}: skipped {self._skipped} packets that could not be decoded '
                             + ('after data was lost' if decoded else
                                'before the first key frame (the stream was joined midway)'))
                self._skipped = 0
                decoded, since = True, time.monotonic()
                for frame in frames:
                    yield self._captured(frame)
            elif self._skipped and time.monotonic() - since > self.timeout:
                raise SourceError(self.why_stalled(self.timeout))
            if packet is None:
                return

    def why_stalled(self, timeout: float) -> str:
        if not self._skipped:
            return super().why_stalled(timeout)
        return (f'{self.name}: nothing could be decoded for {timeout:g} s ({self._skipped} packets skipped); raise '
                f'--timeout above the time between the sender\'s key frames, or have it send them more often '
                f'(FFmpeg: -g or -force_key_frames)')

    def _captured(self, frame: av.VideoFrame) -> Captured:
        now = time.monotonic()
        if frame.pts is not None:
            pts = float(frame.pts * frame.time_base)
        else:
            pts = 0.0 if self._last_pts is None else self._last_pts + 1 / self.frame_rate
        self._last_pts = pts
        return Captured(frame.to_ndarray(format='rgb24', **source_colors(frame)), pts, now)

    def close(self) -> None:
        self._closed = True
        if not self._running:  # else `frames()` closes it, on its thread, after its read returns
            self.container.close()


def open_network(url: str, timeout: float, log: Callable[[str], None] = stderr_line) -> PyAVSource:
    """A stream PyAV opens: rtsp://, rtmp://, udp:// and srt:// (MPEG-TS), http(s):// (MPEG-TS, HLS)."""
    scheme = url.split('://', 1)[0].lower()
    options = dict(NETWORK_OPTIONS, **(UDP_OPTIONS if scheme == 'udp' else {}))
    format_ = 'mpegts' if scheme in ('udp', 'srt', 'tcp') else None
    # RTSP: RTP over TCP first (over UDP it loses packets on busy networks: grey smears), then UDP for
    # a server that refuses TCP (it answers 400 or 461), as FFmpeg's receiver tries both.
    transports = ('tcp', 'udp') if scheme.startswith('rtsp') else (None,)
    try:
        for transport in transports:
            if transport is not None:
                options['rtsp_transport'] = transport
            try:
                container = av.open(url, format=format_, options=options, timeout=(timeout, timeout))
                break
            except av.error.HTTPClientError:
                if transport != 'tcp':
                    raise
    except av.error.ExitError as e:
        raise SourceError(f'{url}: nothing received within {timeout:g} s (is the sender running and sending to this '
                          f'address? raise --timeout for a slow start)') from e
    except av.error.ProtocolNotFoundError as e:
        raise SourceError(f'{url}: the FFmpeg inside PyAV {av.__version__} has no {scheme}:// (built without it); '
                          f'relay the stream to udp:// with FFmpeg\'s command line (see documentation/live.md)') from e
    except (av.error.FFmpegError, OSError) as e:
        raise SourceError(f'{url}: cannot open the stream ({getattr(e, "strerror", None) or e})') from e
    if not container.streams.video:
        container.close()
        raise SourceError(f'{url}: the stream has no video')
    return PyAVSource(url, container, timeout, log)


def camera_device(spec: str) -> Tuple[str, str]:
    """`(device, FFmpeg input format)` for a camera: an index (`0`), `/dev/video0`, a DirectShow
    `video=NAME`, or an AVFoundation name or index."""
    format_ = CAMERA_FORMATS.get(sys.platform)
    if format_ is None:
        raise SourceError(f'camera {spec}: no camera input is known on {sys.platform} (use a network stream or stdin)')
    if format_ == 'v4l2':
        return (f'/dev/video{spec}' if spec.isdigit() else spec), format_
    if format_ == 'avfoundation':
        return spec.removeprefix('avfoundation:'), format_
    if spec.isdigit():
        raise SourceError(f'camera {spec}: DirectShow names cameras; give video=NAME (list them with '
                          f'`ffmpeg -list_devices true -f dshow -i dummy`)')
    return spec, format_


def open_camera(spec: str, size: Optional[Tuple[int, int]], frame_rate: Optional[float], timeout: float,
                log: Callable[[str], None] = stderr_line) -> PyAVSource:
    """A camera through PyAV's device formats (v4l2, AVFoundation, DirectShow)."""
    device, format_ = camera_device(spec)
    if format_ == 'v4l2' and not os.path.exists(device):
        present = ', '.join(sorted(glob.glob('/dev/video*'))) or 'none'
        raise SourceError(f'camera {device} does not exist (cameras here: {present}); plug one in, or check '
                          f'`v4l2-ctl --list-devices`')
    options: Dict[str, str] = {}
    if size is not None:
        options['video_size'] = f'{size[0]}x{size[1]}'
    if frame_rate is not None or format_ == 'avfoundation':  # AVFoundation refuses its default 29.97 on most cameras
        options['framerate'] = f'{frame_rate or 30:g}'
    try:
        container = av.open(device, format=format_, options=options, timeout=(timeout, timeout))
    except av.error.ExitError as e:
        raise SourceError(f'camera {device}: no frame within {timeout:g} s') from e
    except (av.error.FFmpegError, OSError) as e:
        if getattr(e, 'errno', None) == errno.EBUSY:
            raise SourceError(f'camera {device} is busy: close the program that uses it') from e
        if getattr(e, 'errno', None) in (errno.EACCES, errno.EPERM):
            raise SourceError(f'camera {device}: permission denied (on Linux, add yourself to the video group; '
                              f'on macOS, allow the terminal in Privacy & Security > Camera)') from e
        raise SourceError(f'camera {device}: cannot open it ({getattr(e, "strerror", None) or e})') from e
    return PyAVSource(f'camera {device}', container, timeout, log)


class RawSource(Source):
    """Raw RGB frames (`-f rawvideo -pix_fmt rgb24`) of a known size from a binary stream (stdin).
    The timestamps are the arrival times."""

    def __init__(self, stream: BinaryIO, size: Tuple[int, int], frame_rate: float = 30, name: str = 'stdin'):
        super().__init__(name, True, frame_rate)
        self.stream, self.size = stream, size

    def frames(self) -> Iterator[Captured]:
        width, height = self.size
        length = width * height * 3
        while True:
            data = bytearray(length)  # a new writable buffer per frame: the frame is handed on as it is
            read = self.stream.readinto(data)
            if not read:
                return
            if read < length:
                raise SourceError(f'{self.name} closed inside a frame ({read} of its {length} bytes for '
                                  f'{width}x{height} rgb24); is --input-size the size the sender writes?')
            now = time.monotonic()
            yield Captured(np.frombuffer(data, np.uint8).reshape(height, width, 3), now, now)


class FileSource(Source):
    """A video file: played at its own frame rate (`realtime`, a rehearsal of a live source, with
    drops), or read as fast as the network goes (every frame)."""

    def __init__(self, path: str, realtime: bool):
        self.reader = VideoReader(path)
        super().__init__(path, realtime, float(self.reader.frame_rate))
        self._stop = False

    def frames(self) -> Iterator[Captured]:
        start = time.monotonic()
        for frame in self.reader.frames():
            if self._stop:
                return
            pts = float(frame.pts * self.reader.time_base)
            if self.live:
                time.sleep(max(0.0, start + pts - time.monotonic()))
            yield Captured(frame.image, pts, time.monotonic())

    def close(self) -> None:
        self._stop = True


def open_source(spec: str, input_size: Optional[Tuple[int, int]] = None, realtime: bool = False,
                timeout: float = 5.0, frame_rate: Optional[float] = None, stdin: Optional[BinaryIO] = None,
                log: Callable[[str], None] = stderr_line) -> Source:
    """The source `spec` names: `-` (raw rgb24 on stdin, `input_size` `(W, H)` needed), a URL, a
    camera, or a video file (`realtime`: played at its frame rate).

    `timeout`: seconds to wait for a network stream or camera to answer, or to decode a frame.
    `frame_rate`: asked of a camera; for stdin, the rate recordings are tagged with. `log`: where a
    stream's or camera's warnings go (packets it skipped).
    """
    if spec == '-':
        if input_size is None:
            raise SourceError('raw frames on stdin need their size: give --input-size W H')
        return RawSource(stdin or sys.stdin.buffer, input_size, frame_rate or 30)
    if is_url(spec):
        return open_network(spec, timeout, log)
    if is_camera(spec):
        return open_camera(spec, input_size, frame_rate, timeout, log)
    if not os.path.isfile(spec):
        raise SourceError(f'input {spec} is not a camera (an index such as 0, /dev/video0, video=NAME), a URL '
                          f'({", ".join(s + "://" for s in URL_SCHEMES)}), - (stdin) or a video file')
    return FileSource(spec, realtime)
