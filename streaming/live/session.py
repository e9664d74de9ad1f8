"""`LiveSession`: the real-time loop. A capture thread puts each frame that arrives into a
latest-frame queue (one or two deep: when the network is slower than the source, the oldest
frame is dropped and counted, so output never drifts behind); the caller's thread mattes the
newest frame and hands it to the sinks, and yields it.

    matter = Matter(create_model(checkpoint='rvm_mobilenetv3.pth'), 'cpu', downsample_ratio=0.5)
    with LiveSession(matter, 'udp://127.0.0.1:5000', ['window', 'out.mkv']) as session:
        for frame in session:            # LiveFrame: frame.image(), frame.rgba(), frame.alpha(), frame.pts
            ...                          # session.reset() forgets the recurrent states; break stops

A click in the window keeps (or drops) the person under it from the next frame on (`Matter.toggle`);
people chosen at the start are the matter's own (`make_matter` with `keep`/`drop`).
"""
import threading
import time
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import av
import numpy as np
from PIL import Image

from ..background import GREEN, check_background
from ..formats import ConversionError
from ..matter import Matter, auto_downsample_ratio
from ..options import check_downsample_ratio
from .adaptive import RatioController
from .frame import LiveFrame
from .latest import Closed, LatestFrames, Stalled
from .sinks import Click, Sink, SinkError, check_sink, open_sink
from .sources import Captured, Source, SourceError, open_source, stderr_line
from .stats import LiveStats

RESTART_GAP = 1.0  # seconds back in time of the source's pts that mean it restarted
STALL_GRACE = 1.0  # beyond --timeout, for a source that times out on its own to hand over its last frames
SINK_ERRORS = (ConversionError, OSError, av.error.FFmpegError, RuntimeError)


class LiveSession:
    """Matte a live source in real time, to sinks and to the caller (iterate it for `LiveFrame`s).

    Args:
        matter: the network (its device and precision) and its recurrent states; its downsample
            ratio (None: the longer side to 512 px) is the one used, or the highest with `target_fps`.
        source: a `Source`, or a spec for `sources.open_source` (`0`, `/dev/video0`, a URL, `-`, a file).
        outputs: `Sink`s or specs for `sinks.open_sink` (`window`, `virtualcam`, a URL, a path, `-`).
        background: the composition background of windows, cameras, streams and opaque
            recordings (a colour, an image or a video); given, recordings are opaque too.
        target_fps: lower the downsample ratio (down to `min_ratio`) while the network cannot hold
            this rate, raise it again when it can (`adaptive.RatioController`).
        timeout: seconds to wait for a source to connect or to send its next frame before giving up.
        duration: stop after this many seconds of frames (None: until the source ends or `stop()`).
        queue_size: frames that may wait for the network (1: lowest latency; 2 absorbs jitter).
        input_size, realtime, frame_rate: for `open_source` (stdin's size, a file at its own rate).
        log: where messages go (a sink that failed, a source restart, packets skipped); default stderr.
        on_second: called with the `LiveStats` about once a second (the CLI prints `stats.line()`).
    """

    def __init__(self, matter: Matter, source: Union[str, Source], outputs: Sequence[Union[str, Sink]] = (),
                 background: Any = None, target_fps: Optional[float] = None, min_ratio: float = 0.125,
                 timeout: float = 5.0, duration: Optional[float] = None, queue_size: int = 1,
                 input_size: Optional[Tuple[int, int]] = None, realtime: bool = False,
                 frame_rate: Optional[float] = None, log: Callable[[str], None] = stderr_line,
                 on_second: Optional[Callable[[LiveStats], None]] = None):
        check_downsample_ratio(min_ratio, '--min-ratio')
        if target_fps is not None and not target_fps > 0:
            raise ConversionError(f'--target-fps must be above 0, got {target_fps:g}')
        if background is not None:
            check_background(background)
        transparent = False if background is not None else None  # given, recordings are opaque too
        for output in outputs:  # every output checked before the source is waited for
            if not isinstance(output, Sink):
                check_sink(output, transparent)
        self.matter, self.log, self.on_second = matter, log, on_second
        self.background_spec = GREEN if background is None else background
        self.target_fps, self.min_ratio, self.timeout, self.duration = target_fps, min_ratio, timeout, duration
        if not isinstance(source, Source):
            log(f'opening {source}')
            source = open_source(source, input_size, realtime, timeout, frame_rate, log=log)
        self.source = source
        self.queue = LatestFrames(queue_size, drop=self.source.live)
        self.stats = LiveStats()
        self._reset = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._capture_thread: Optional[threading.Thread] = None
        self._background = None
        self._pts_offset = 0.0  # added to the source's timestamps: after a restart, they go on from the last frame's
        self.sinks: List[Sink] = []
        try:
            for output in outputs:
                self.sinks.append(output if isinstance(output, Sink) else open_sink(
                    output, self.source.frame_rate, matter.turns, transparent))
        except BaseException:
            self.close()
            raise

    def reset(self) -> None:
        """Forget the recurrent states before the next frame (a new scene, a new person)."""
        self._reset.set()

    def stop(self) -> None:
        """End the iteration after the frame in progress (from any thread)."""
        self._stop.set()

    def __enter__(self) -> 'LiveSession':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _capture(self) -> None:
        try:
            for captured in self.source.frames():
                if not self.queue.put(captured):
                    return
                self.stats.arrived(captured.arrived)
        except BaseException as e:
            self.queue.close(e)
        else:
            self.queue.close()

    def _next(self) -> Optional[Captured]:
        """The next frame to matte, or None when the source ended; SourceError when it stalled or failed."""
        try:
            return self.queue.get(self.timeout + STALL_GRACE)
        except Stalled:
            raise SourceError(self.source.why_stalled(self.timeout)) from None
        except Closed as e:
            if e.__cause__ is not None:
                if isinstance(e.__cause__, ConversionError):
                    raise e.__cause__ from None
                raise SourceError(f'{self.source.name}: {e.__cause__}') from e.__cause__
            return None

    def __iter__(self) -> Iterator[LiveFrame]:
        if self._capture_thread is not None:
            raise RuntimeError('a LiveSession runs once; make a new one')
        self._capture_thread = threading.Thread(target=self._capture, name='rvm-capture', daemon=True)
        self._capture_thread.start()
        try:
            yield from self._run()
        finally:
            self.close()

    def _run(self) -> Iterator[LiveFrame]:
        size = controller = last = first = None
        had_sinks = bool(self.sinks)
        next_second = time.monotonic() + 1
        while not self._stop.is_set():
            if self.duration is not None and first is not None and time.monotonic() - first >= self.duration:
                return
            captured = self._next()
            if captured is None:
                return
            started = time.monotonic()
            first = first or captured.arrived
            image = captured.image
            if size is None:
                size = (image.shape[1], image.shape[0])
                bgr, controller = self._start(size)
            why = None if last is None else self._discontinuity(captured, last, size)
            if why is not None or self._reset.is_set():  # a reset asked for by hand is done by this one too
                self._reset.clear()
                self._restarted(why and f'{self.source.name}: {why}')
            if (image.shape[1], image.shape[0]) != size:  # the sinks keep the first size
                image = np.array(Image.fromarray(image).resize(size, Image.BILINEAR))
            last = captured
            fgr, pha = self.matter(image[None])
            frame = LiveFrame(fgr, pha, bgr.next(1), captured.pts + self._pts_offset, captured.arrived,
                              self.stats.frames_out, self.matter.downsample_ratio, self.matter.unsure)
            self._write(frame)
            if had_sinks and not self.sinks:
                raise SinkError('every output failed; stopping')
            now = time.monotonic()
            self.stats.output(captured.arrived, now, frame.ratio, frame.unsure)
            self.stats.dropped = self.queue.dropped
            if controller is not None:
                self.matter.set_ratio(controller.update(now - started), size)
            if self.on_second is not None and now >= next_second:
                next_second = now + 1
                self.on_second(self.stats)
            yield frame

    def _start(self, size: Tuple[int, int]) -> Tuple[Any, Optional[RatioController]]:
        """At the first frame, of `size` `(W, H)`: the people chosen checked, the background, the ratio and
        its controller."""
        for selection, keep in self.matter.selector.requests:
            if selection.outside(*size):
                raise ConversionError(f'--{"keep" if keep else "drop"} {selection}: outside the {size[0]}x{size[1]} '
                                      f'frames of {self.source.name}')
        self._background = self.matter.background(self.background_spec, size)
        ratio = self.matter.downsample_ratio or auto_downsample_ratio(size[1], size[0])
        self.matter.set_ratio(ratio, size)
        controller = None
        if self.target_fps is not None:
            controller = RatioController(self.target_fps, ratio, min(self.min_ratio, ratio))
        return self._background, controller

    def _discontinuity(self, captured: Captured, last: Captured, size: Tuple[int, int]) -> Optional[str]:
        """Why the recurrent states must not go on from the `last` frame to `captured`: a new frame
        size, or the source's timestamps going back (a sender restarted). From such a restart on, the
        timestamps given out are moved to go on from the last frame's, in real time."""
        went_back = captured.pts < last.pts - RESTART_GAP
        if went_back:
            self._pts_offset += last.pts - captured.pts + max(captured.arrived - last.arrived,
                                                              1 / self.source.frame_rate)
        height, width = captured.image.shape[:2]
        if (height, width) != last.image.shape[:2]:
            scaled = f'; scaled to {size[0]}x{size[1]}' if (width, height) != size else ''
            return f'frames changed size to {width}x{height}{scaled}, recurrent states reset'
        if went_back:
            return (f'timestamps went back {last.pts - captured.pts:.1f} s (the source restarted); recurrent '
                    f'states reset')
        return None

    def _restarted(self, message: Optional[str]) -> None:
        self.matter.reset(keep_ratio=True)
        self.stats.resets += 1
        if message:
            self.log(message)

    def _write(self, frame: LiveFrame) -> None:
        for sink in list(self.sinks):
            try:
                request = sink.write(frame)
            except SINK_ERRORS as e:
                self._drop_sink(sink, e)
                continue
            if request == 'reset':
                self._restarted('reset by hand')
            elif request == 'stop':
                self._stop.set()
            elif isinstance(request, Click):
                self._click(request)

    def _click(self, click: Click) -> None:
        person = self.matter.toggle(click.x, click.y, click.keep)
        if person is None:
            self.log(f'no person at {click.x},{click.y}')

    def _drop_sink(self, sink: Sink, error: BaseException) -> None:
        self.sinks.remove(sink)
        try:
            sink.close()
        except SINK_ERRORS:
            pass  # the error it failed with is the one to tell
        others = 'the other outputs go on' if self.sinks else 'no output is left'
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
        self.log(f'{sink.name} failed at output frame {self.stats.frames_out} ({reason}); it keeps what was written '
                 f'before; {others}')

    def close(self) -> None:
        """Stop the source and close every sink (recordings are finished and playable)."""
        if self._closed:
            return
        self._closed = True
        self.source.close()
        self.queue.close()
        self.queue.discard()
        if self._capture_thread is not None:
            self._capture_thread.join(timeout=self.timeout)
        self.stats.dropped = self.queue.dropped
        if self._background is not None:
            self._background.close()
        for sink in self.sinks:
            try:
                sink.close()
            except SINK_ERRORS as e:
                self.log(f'{sink.name}: could not be finished ({e})')
