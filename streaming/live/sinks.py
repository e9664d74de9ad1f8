"""Live sinks: a window, a virtual camera, a network stream, a recording, raw RGBA on stdout.

`open_sink(spec, ...)` chooses from the spec (`window`, `virtualcam`, `-`, a URL, else a path).
A sink is checked when it is made, before any frame, and opens its device on the first frame
(when the size is known); `write(frame)` may return a request from the user ('reset', 'stop', or
a `Click` on a person).
What is missing on the machine is a one-line `SinkError` that says how to get it.
"""
import glob
import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Union

import av

from ..formats import VIDEO_EXTENSIONS, ConversionError, Encoding, check_writable, holds_alpha, video_codec
from ..threads import ThreadedWriter, Turns
from ..sequence_writer import ImageSequenceWriter, check_sequence_directory
from ..writers import VideoWriter
from .frame import LiveFrame

LOOPBACK_DEVICES = '/sys/devices/virtual/video4linux/video*'  # where v4l2loopback's devices appear
STREAM_FORMATS = {'udp': 'mpegts', 'srt': 'mpegts', 'tcp': 'mpegts', 'rtp': 'rtp_mpegts', 'rtmp': 'flv',
                  'rtmps': 'flv', 'rtsp': 'rtsp'}
LIVE_INSTALL = 'pip install -r requirements/live.txt'


class SinkError(ConversionError):
    """A sink that is not available, or that failed, in one line."""


@dataclass(frozen=True)
class Click:
    """A click on a frame shown, at `(x, y)` of the frame: keep that person, or drop them (`keep` False)."""
    x: int
    y: int
    keep: bool = True


Request = Optional[Union[str, Click]]
UNSURE_COLOR = (255, 64, 0)  # the window's frame while the people kept are not surely told from the others
UNSURE_BORDER = 4           # px


class Sink:
    """A destination of matted frames. `name` is used in messages."""
    name = 'sink'

    def write(self, frame: LiveFrame) -> Request:
        raise NotImplementedError

    def close(self) -> None:
        pass


class WindowSink(Sink):
    """A window (pygame-ce, i.e. SDL: X11, Wayland, macOS, Windows); `r` resets the recurrent
    states, `q`, Esc or closing the window stops; a left click on a person keeps only them (and
    whoever else is clicked; again to let go), a right click drops them. While the people kept are
    not surely told from the others, the window has an orange frame and says so in its title.
    Runs on the session's thread (macOS needs the main one)."""
    name = 'window'

    def __init__(self, title: str = 'Robust Video Matting'):
        os.environ.setdefault('PYGAME_HIDE_SUPPORT_PROMPT', '1')  # its banner would go to stdout, maybe a sink
        try:
            import pygame
        except ImportError as e:
            raise SinkError(f'the window needs pygame-ce: {LIVE_INSTALL}') from e
        if sys.platform.startswith('linux') and not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
            raise SinkError('no display for the window: DISPLAY and WAYLAND_DISPLAY are unset (run it in a desktop '
                            'session or over ssh -X, or choose another --output: virtualcam, a stream, a file)')
        pygame.display.init()
        if pygame.display.get_driver() in ('offscreen', 'dummy'):
            pygame.display.quit()
            raise SinkError(f'no display for the window: SDL found only its {pygame.display.get_driver()} driver '
                            f'(set SDL_VIDEODRIVER to x11, wayland, cocoa or windows, or choose another --output)')
        self.pygame, self.title, self.screen = pygame, title, None

    def write(self, frame: LiveFrame) -> Request:
        pygame = self.pygame
        image = frame.image()
        size = (image.shape[1], image.shape[0])
        if self.screen is None or self.screen.get_size() != size:
            self.screen = pygame.display.set_mode(size)
        caption = f'{self.title}  (click: keep a person, right click: drop, r: reset, q: quit)'
        pygame.display.set_caption(caption + ('  SELECTION UNSURE' if frame.unsure else ''))
        self.screen.blit(pygame.image.frombuffer(image.tobytes(), size, 'RGB'), (0, 0))
        if frame.unsure:
            pygame.draw.rect(self.screen, UNSURE_COLOR, self.screen.get_rect(), UNSURE_BORDER)
        pygame.display.flip()
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key in (pygame.K_q, pygame.K_ESCAPE)):
                return 'stop'
            if event.type == pygame.KEYDOWN and event.key == pygame.K_r:
                return 'reset'
            if event.type == pygame.MOUSEBUTTONDOWN and event.button in (1, 3):
                return Click(*event.pos, keep=event.button == 1)
        return None

    def close(self) -> None:
        self.pygame.display.quit()


def loopback_missing() -> Optional[str]:
    """Why there is no virtual camera on this Linux machine, or None when a v4l2loopback device exists."""
    if glob.glob(LOOPBACK_DEVICES):
        return None
    return ('no v4l2loopback device: install it (Debian/Ubuntu: sudo apt install v4l2loopback-dkms) and load it '
            '(sudo modprobe v4l2loopback exclusive_caps=1 card_label="RVM")')


class VirtualCameraSink(Sink):
    """A virtual camera (pyvirtualcam: v4l2loopback on Linux, OBS Virtual Camera on Windows and
    macOS) that Zoom, Meet and OBS can pick; shows the composition."""
    name = 'virtual camera'

    def __init__(self, frame_rate: float, device: Optional[str] = None):
        try:
            import pyvirtualcam
        except ImportError as e:
            raise SinkError(f'the virtual camera needs pyvirtualcam: {LIVE_INSTALL}') from e
        if sys.platform.startswith('linux') and (missing := loopback_missing()):
            raise SinkError(f'virtual camera: {missing}')
        self.pyvirtualcam, self.frame_rate, self.device, self.camera = pyvirtualcam, frame_rate, device, None

    def write(self, frame: LiveFrame) -> Request:
        image = frame.image()
        if self.camera is None:
            try:
                self.camera = self.pyvirtualcam.Camera(image.shape[1], image.shape[0], self.frame_rate,
                                                       fmt=self.pyvirtualcam.PixelFormat.RGB, device=self.device)
            except RuntimeError as e:  # no OBS Virtual Camera, a device that is not a loopback one...
                raise SinkError(f'virtual camera: {str(e).splitlines()[0]} (see documentation/live.md)') from e
            self.name = f'virtual camera {self.camera.device}'
        self.camera.send(image)
        return None

    def close(self) -> None:
        if self.camera is not None:
            self.camera.close()


class StreamWriter(VideoWriter):
    """H.264 (low latency: x264 ultrafast, zerolatency, a key frame a second) to a network URL: a
    VideoWriter on the URL's container (`STREAM_FORMATS`), so that frames are packed into Y'CbCr as
    in every video output (`VideoWriter.pack`: BT.709, limited range) and tagged so; pts in ms."""

    def __init__(self, url: str, frame_rate: float, bit_rate: int):
        self.format = STREAM_FORMATS[url.split('://', 1)[0].lower()]
        muxing = {'flush_packets': '1'} if self.format == 'mpegts' else {}
        try:
            container = av.open(url, mode='w', format=self.format, options=muxing)
        except (av.error.FFmpegError, OSError) as e:
            raise SinkError(f'stream {url}: cannot open it ({getattr(e, "strerror", None) or e})') from e
        rate = Fraction(frame_rate).limit_denominator(1001)
        x264 = {'preset': 'ultrafast', 'tune': 'zerolatency', 'g': str(round(rate))}
        live = Encoding('h264', 'yuv420p', 8, x264, None)
        super().__init__(url, rate, bit_rate, time_base=Fraction(1, 1000), encoding=live, container=container)


class WriterSink(Sink):
    """A recording or a stream: a writer on its own thread (`streaming.threads.ThreadedWriter`),
    given the frames' pts in milliseconds from the first; the network waits for it on the CPU."""

    def __init__(self, writer, transparent: bool, turns: Turns, name: str):
        self.threaded = ThreadedWriter(writer, 2, turns)
        self.transparent, self.name = transparent, name
        self.start: Optional[float] = None
        self.last = -1

    def write(self, frame: LiveFrame) -> Request:
        self.start = frame.pts if self.start is None else self.start
        pts = max(round((frame.pts - self.start) * 1000), self.last + 1)  # a source restart goes back in time
        self.last = pts
        writer, rendered = self.threaded.writer, frame.render(self.transparent)
        self.threaded.write(lambda: writer.pack(rendered), [pts])
        return None

    def close(self) -> None:
        self.threaded.close()


class StdoutSink(Sink):
    """Raw RGBA frames (`[H, W, 4]` uint8, row by row) on standard output, for `ffmpeg -f rawvideo
    -pix_fmt rgba -s WxH -i -` or any program that reads them."""
    name = 'stdout'

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout.buffer

    def write(self, frame: LiveFrame) -> Request:
        try:
            self.stream.write(frame.rgba().tobytes())
            self.stream.flush()
        except (BrokenPipeError, ValueError) as e:
            raise SinkError('stdout: the program reading the frames closed the pipe') from e
        return None


def check_recording(path: str, transparent: Optional[bool]) -> bool:
    """Check a recording's path (extension, codec, writable folder, a sequence folder this tool may
    write into) before anything is opened; returns whether it is transparent (`transparent` None:
    when the format holds alpha, as a conversion's composition)."""
    ext = os.path.splitext(path)[1].lower()
    if ext and ext not in VIDEO_EXTENSIONS:
        raise SinkError(f'--output {path}: no writer knows the extension {ext!r} (videos: {", ".join(VIDEO_EXTENSIONS)};'
                        f' a PNG sequence is a directory without an extension)')
    if transparent is None:
        transparent = holds_alpha(path, sequence=not ext)
    if ext:
        video_codec(path, transparent)
    else:
        check_sequence_directory(path, 'png')
    check_writable(path, directory=not ext)
    return transparent


def recording(path: str, frame_rate: float, transparent: Optional[bool], turns: Turns,
              bit_rate: int = 4_000_000) -> WriterSink:
    """A recording to `path`: a video file (any extension the converter writes) or, without an
    extension, a PNG sequence directory. `transparent`: see `check_recording`."""
    transparent = check_recording(path, transparent)
    if os.path.splitext(path)[1]:
        writer = VideoWriter(path, frame_rate, bit_rate, transparent, Fraction(1, 1000))
    else:
        writer = ImageSequenceWriter(path, 'png')
    return WriterSink(writer, transparent, turns, f'recording {path}')


def stream_scheme(spec: str) -> Optional[str]:
    """The scheme of a stream URL spec (checked), or None when `spec` is not a URL."""
    scheme = spec.split('://', 1)[0].lower() if '://' in spec else None
    if scheme is not None and scheme not in STREAM_FORMATS:
        raise SinkError(f'--output {spec}: streams go to {", ".join(s + "://" for s in STREAM_FORMATS)}')
    return scheme


def check_sink(spec: str, transparent: Optional[bool] = None) -> None:
    """What can be checked of sink `spec` before its source is opened: a stream's scheme, a
    recording's path (`check_recording`). The window and the virtual camera check their device
    when opened (`open_sink`)."""
    if spec in ('window', '-') or spec == 'virtualcam' or spec.startswith('virtualcam:'):
        return
    if stream_scheme(spec) is None:
        check_recording(spec, transparent)


def open_sink(spec: str, frame_rate: float, turns: Turns, transparent: Optional[bool] = None) -> Sink:
    """The sink `spec` names: `window`, `virtualcam` (or `virtualcam:/dev/videoN`), `-` (stdout),
    a URL (udp://, srt://, tcp://, rtp://, rtmp(s)://, rtsp://), else a recording path.
    `transparent`: for a recording, see `check_recording`; None when --background was not given."""
    if spec == 'window':
        return WindowSink()
    if spec == 'virtualcam' or spec.startswith('virtualcam:'):
        return VirtualCameraSink(frame_rate, spec.partition(':')[2] or None)
    if spec == '-':
        return StdoutSink()
    if stream_scheme(spec) is not None:
        return WriterSink(StreamWriter(spec, frame_rate, 2_000_000), False, turns, f'stream {spec}')
    return recording(spec, frame_rate, transparent, turns)
