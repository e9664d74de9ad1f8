"""The live path in process (streaming.live): drops and latency with a source faster than the
network, the faults (a source that never connects, stops midway, stdin closed, a sink that fails),
state resets, sinks that are missing on this machine, the stream's packing, the adaptive ratio,
and the people kept (a click in the window, --keep).

The network runs with one thread here (see test_live_stream.py for why).
"""
import errno
import io
import os
import socket
import statistics
import subprocess
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

import live
from media import make_video, people_frames, probe, write_frames
from model import create_model
from streaming import Matter, VideoWriter
from streaming.color import to_yuv420
from streaming.live import Captured, LiveSession, SinkError, Source, SourceError, open_sink
from streaming.live import sinks as live_sinks
from streaming.live.adaptive import RAISE_MARGIN, WINDOW, RatioController, ladder
from streaming.live.sinks import StdoutSink, StreamWriter, recording
from streaming.matter import state_sizes
from streaming.live.sources import RawSource, open_source
from stubs import ThresholdMatting

SIZE = (64, 48)


@pytest.fixture
def matter(mbv3_weights, one_thread):
    return Matter(create_model(checkpoint=mbv3_weights), 'cpu')


def test_faster_source_drops_oldest_and_latency_stays_bounded(tmp_path, matter):
    clip = tmp_path / 'fast.mp4'
    make_video(clip, size=(160, 120), frames=240, rate=120)  # 2 s at 120 fps: several times the network's rate
    session = LiveSession(matter, str(clip), realtime=True, log=lambda _: None)
    frames, shown = [], []
    for frame in session:
        frames.append(frame)
        shown.append(time.monotonic())
    stats = session.stats.summary()
    assert stats['frames_in'] == 240
    assert stats['dropped'] > 120 and stats['frames_out'] == len(frames) == 240 - stats['dropped']
    assert all(b.pts > a.pts for a, b in zip(frames, frames[1:]))
    # Never more than the frame in the network plus the one waiting: latency stays within a few
    # output intervals (their p95: the network's time per frame varies on a shared machine).
    interval = float(np.percentile(np.diff(shown), 95))
    assert stats['latency_p95_ms'] / 1000 < 3 * interval, (stats, interval)
    latencies = session.stats.latencies
    third = len(latencies) // 3
    assert statistics.median(latencies[-third:]) < 2 * statistics.median(latencies[:third]) + interval  # no drift


def test_file_without_realtime_mattes_every_frame(tmp_path, matter):
    clip = tmp_path / 'clip.mp4'
    make_video(clip, size=SIZE, frames=12)
    session = LiveSession(matter, str(clip), [str(tmp_path / 'rec.mkv')], log=lambda _: None)
    assert len(list(session)) == 12 and session.stats.dropped == 0
    assert probe(tmp_path / 'rec.mkv')['frames'] == 12


def test_source_that_never_connects_gives_up_after_timeout(matter):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(SourceError, match=rf'udp://127.0.0.1:{port}: nothing received within 1 s'):
        LiveSession(matter, f'udp://127.0.0.1:{port}', timeout=1, log=lambda _: None)
    assert time.monotonic() - start < 10


def raw_frames(count: int) -> bytes:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (count, SIZE[1], SIZE[0], 3), dtype=np.uint8).tobytes()


def feed(pipe_write: int, count: int, close: bool) -> threading.Thread:
    def run():
        with os.fdopen(pipe_write, 'wb', closefd=close) as pipe:
            for i in range(count):
                pipe.write(raw_frames(1))
                pipe.flush()
                time.sleep(0.05)
            if not close:
                time.sleep(5)  # stalled: open but silent, past the session's timeout
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize('close', [True, False], ids=['stdin closed', 'source stops midway'])
def test_raw_stdin_closed_or_stalled_ends_cleanly_with_playable_recording(tmp_path, matter, close):
    read, write = os.pipe()
    feed(write, 6, close)
    source = RawSource(os.fdopen(read, 'rb'), SIZE)
    session = LiveSession(matter, source, [str(tmp_path / 'rec.mp4')], timeout=1.5, log=lambda _: None)
    frames = []
    if close:
        frames = list(session)  # the end of stdin is the end of the run
    else:
        with pytest.raises(SourceError, match='stdin: no frame for 1.5 s; giving up'):
            for frame in session:
                frames.append(frame)
    assert session.stats.frames_in == 6 == len(frames) + session.stats.dropped
    assert probe(tmp_path / 'rec.mp4')['frames'] == len(frames) > 0


def test_stdin_cut_inside_a_frame_names_the_size():
    source = open_source('-', (4, 2), stdin=io.BytesIO(bytes(24 + 5)))
    with pytest.raises(SourceError, match=r'stdin closed inside a frame \(5 of its 24 bytes for 4x2 rgb24\)'):
        list(source.frames())
    with pytest.raises(SourceError, match='give --input-size W H'):
        open_source('-')


def test_sink_failing_midway_leaves_the_others_going(tmp_path, matter):
    clip = tmp_path / 'clip.mp4'
    make_video(clip, size=SIZE, frames=10)
    full = recording(str(tmp_path / 'full.mkv'), 30, None, matter.turns)
    writer = full.threaded.writer
    original = writer.write_packed

    def write_packed(packed, pts):
        if writer.count == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(packed, pts)
    writer.write_packed = write_packed
    messages = []
    session = LiveSession(matter, str(clip), [full, str(tmp_path / 'other.mkv')], log=messages.append)
    assert len(list(session)) == 10
    assert probe(tmp_path / 'other.mkv')['frames'] == 10
    assert probe(tmp_path / 'full.mkv')['frames'] == 4  # what was written before the disk filled plays
    failures = [m for m in messages if 'failed' in m]
    assert len(failures) == 1 and 'full.mkv failed' in failures[0] and '(No space left on device)' in failures[0]
    assert 'the other outputs go on' in failures[0] and '\n' not in failures[0]


class ScriptedSource(Source):
    """Frames of the given sizes and timestamps, one after another, as fast as they are taken."""

    def __init__(self, frames):
        super().__init__('scripted', False, 30)
        self.script = frames

    def frames(self):
        for (width, height), pts in self.script:
            yield Captured(np.full((height, width, 3), 128, np.uint8), pts, time.monotonic())


def test_states_reset_when_the_source_restarts_changes_size_or_by_hand(matter):
    script = [(SIZE, 0.0), (SIZE, 0.1), (SIZE, 5.0), (SIZE, 0.0), ((32, 24), 0.1), (SIZE, 0.2), (SIZE, 0.3)]
    messages = []
    session = LiveSession(matter, ScriptedSource(script), log=messages.append)
    shapes = []
    for frame in session:
        shapes.append(frame.image().shape)
        if frame.index == 4:
            session.reset()
    assert session.stats.resets == 3  # pts back 5 s, the size change, the reset by hand
    assert 'restarted' in messages[0] and 'changed size to 32x24' in messages[1]
    assert shapes == [(SIZE[1], SIZE[0], 3)] * len(script)  # scaled to the first size for the sinks


def test_stdout_sink_writes_raw_rgba(tmp_path, matter):
    clip = tmp_path / 'clip.mp4'
    make_video(clip, size=SIZE, frames=3)
    out = io.BytesIO()
    frames = list(LiveSession(matter, str(clip), [StdoutSink(out)], log=lambda _: None))
    data = np.frombuffer(out.getvalue(), np.uint8).reshape(3, SIZE[1], SIZE[0], 4)
    assert np.array_equal(data[2], frames[2].rgba())
    assert np.array_equal(data[2, ..., 3], frames[2].alpha())


def test_window_without_display_is_a_one_line_error(monkeypatch, matter):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    with pytest.raises(SinkError, match='no display for the window: DISPLAY and WAYLAND_DISPLAY are unset') as e:
        open_sink('window', 30, matter.turns)
    assert '\n' not in str(e.value)


def test_virtual_camera_without_v4l2loopback_says_how_to_get_it(monkeypatch, tmp_path, matter):
    monkeypatch.setattr(live_sinks, 'LOOPBACK_DEVICES', str(tmp_path / 'video*'))
    with pytest.raises(SinkError, match=r'virtual camera: no v4l2loopback device: .*apt install v4l2loopback-dkms'
                                        r'.*modprobe v4l2loopback'):
        open_sink('virtualcam', 30, matter.turns)


def test_ratio_controller_lowers_raises_with_hysteresis(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(time, 'monotonic', lambda: now[0])
    controller = RatioController(target_fps=20, high=0.5, low=0.25)
    assert controller.rungs == ladder(0.5, 0.25) == pytest.approx([0.5, 0.4, 0.32, 0.256, 0.25])

    def run(busy, frames=WINDOW):
        for _ in range(frames):
            controller.update(busy)
        return controller.ratio
    assert run(1 / 15) == pytest.approx(0.4)            # too slow: one rung down per window
    assert run(1 / 15) == pytest.approx(0.32)
    assert run(1 / 22, 5 * WINDOW) == pytest.approx(0.32)  # between the target and the margin: hold
    fast = 1 / (20 * RAISE_MARGIN * 1.1)
    assert run(fast) == pytest.approx(0.32)              # 0.4 failed just now: not retried before the backoff
    now[0] += 11
    assert run(fast) == pytest.approx(0.4)
    assert run(fast, 10 * WINDOW) == pytest.approx(0.5)  # and up to the highest, no further
    assert run(1 / 5, 10 * WINDOW) == pytest.approx(0.25)  # and down to the lowest, no further


def test_stream_sink_sends_mpegts_over_udp(tmp_path, matter):
    clip = tmp_path / 'clip.mp4'
    make_video(clip, size=SIZE, frames=10)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        url = f'udp://127.0.0.1:{s.getsockname()[1]}'
    received = []

    def receive():
        with pytest.raises(SourceError, match='no frame for 2 s'):
            for captured in open_source(url, timeout=2).frames():
                received.append(captured)
    receiver = threading.Thread(target=receive)
    receiver.start()
    time.sleep(0.5)  # listening
    frames = list(LiveSession(matter, str(clip), [url], log=lambda _: None))
    receiver.join()
    assert len(received) == len(frames) == 10
    assert received[0].image.shape == (SIZE[1], SIZE[0], 3)
    assert all(b.pts > a.pts for a, b in zip(received, received[1:]))
    # The composition over green came through (H.264 is lossy: roughly).
    assert np.abs(received[-1].image.astype(int) - frames[-1].image()).mean() < 12


def test_stream_is_packed_as_every_video_output_is(tmp_path):
    """A stream's frames go through `VideoWriter.pack` (color.to_yuv420, BT.709 limited range) like a
    file's: with the stream's encoder settings, a file of the same frames decodes to the very planes
    received over TCP (a packing that differs by one level anywhere changes what the encoder makes)."""
    frames = torch.rand(6, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    pts = [round(t * 1000 / 30) for t in range(len(frames))]
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        url = f'tcp://127.0.0.1:{s.getsockname()[1]}'
    received = []

    def receive():
        with av.open(url, format='mpegts', options={'listen': '1'}, timeout=30) as container:
            received.extend((frame.to_ndarray(), int(frame.colorspace), int(frame.color_range))
                            for frame in container.decode(video=0))
    receiver = threading.Thread(target=receive)
    receiver.start()
    deadline = time.monotonic() + 20
    while True:  # until the receiver listens
        try:
            writer = StreamWriter(url, 30, 2_000_000)
            break
        except SinkError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    writer.write(frames, pts)
    writer.close()
    receiver.join(30)
    file = VideoWriter(tmp_path / 'same.ts', 30, 2_000_000, time_base=Fraction(1, 1000), encoding=writer.encoding)
    file.write(frames, pts)
    file.close()
    with av.open(str(tmp_path / 'same.ts')) as container:
        expected = [frame.to_ndarray() for frame in container.decode(video=0)]
    assert len(received) == len(expected) == 6
    assert all((colorspace, color_range) == (1, 1) for _, colorspace, color_range in received)  # tagged BT.709, limited
    for (planes, _, _), same in zip(received, expected):
        assert np.array_equal(planes, same)
    packed = to_yuv420(frames).numpy()
    assert np.abs(np.stack([planes for planes, _, _ in received]).astype(int) - packed).mean() < 0.5  # codec noise


def test_ratio_change_resizes_states_going_down_and_resets_going_up(matter):
    image = np.random.default_rng(0).integers(0, 255, (1, 90, 160, 3), dtype=np.uint8)
    matter.set_ratio(0.5, (160, 90))
    matter(image)
    matter.set_ratio(0.3, (160, 90))
    assert [tuple(s.shape[2:]) for s in matter.states] == state_sizes((160, 90), 0.3, 4) == [(14, 24), (7, 12),
                                                                                           (4, 6), (2, 3)]
    matter(image)  # the network takes them: the sizes are the ones it makes at 0.3
    assert [tuple(s.shape[2:]) for s in matter.states] == state_sizes((160, 90), 0.3, 4)
    matter.set_ratio(0.5, (160, 90))
    assert matter.states == (None,) * 4 and matter.downsample_ratio == 0.5


@pytest.fixture
def virtual_display():
    """An X display (Xvfb, installed by .ci/setup) for this test: its DISPLAY value."""
    server = subprocess.Popen(['Xvfb', '-displayfd', '1', '-screen', '0', '320x240x24', '-nolisten', 'tcp'],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        yield f':{server.stdout.readline().strip()}'
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_window_shows_the_composition_r_resets_q_quits(tmp_path, matter, monkeypatch, virtual_display):
    monkeypatch.setenv('DISPLAY', virtual_display)
    monkeypatch.delenv('SDL_VIDEODRIVER', raising=False)
    clip = tmp_path / 'clip.mp4'
    make_video(clip, size=SIZE, frames=12)
    session = LiveSession(matter, str(clip), ['window'], log=lambda _: None)
    import pygame
    for frame in session:
        shown = pygame.surfarray.array3d(pygame.display.get_surface()).transpose(1, 0, 2)
        assert np.array_equal(shown, frame.image())
        if frame.index == 2:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_r))
        if frame.index == 4:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q))
    assert session.stats.resets == 1  # r, read after frame 3 was shown
    assert session.stats.frames_out == 6  # q, read after frame 5 was shown, stopped the run


def test_target_fps_out_of_reach_lowers_the_ratio_to_its_floor(tmp_path, matter):
    clip = tmp_path / 'clip.mp4'
    make_video(clip, size=(160, 120), frames=90)
    matter.set_ratio(0.5, (160, 120))
    session = LiveSession(matter, str(clip), target_fps=10_000, min_ratio=0.25, log=lambda _: None)
    frames = list(session)
    used = session.stats.summary()['downsample_ratios_used']
    assert used == pytest.approx(ladder(0.5, 0.25))  # one rung at a time, down to --min-ratio
    assert len(frames) == 90 and frames[-1].ratio == 0.25  # each change went through the network


def test_missing_camera_lists_the_cameras_there_are(monkeypatch):
    exists = os.path.exists
    monkeypatch.setattr(os.path, 'exists', lambda path: path != '/dev/video7' and exists(path))
    monkeypatch.setattr('glob.glob', lambda pattern: [])
    with pytest.raises(SourceError, match=r'camera /dev/video7 does not exist \(cameras here: none\); plug one in'):
        open_source('7')
    with pytest.raises(SourceError, match='is not a camera .*, a URL .*, - \\(stdin\\) or a video file'):
        open_source('no-such-thing.mp4')


def test_a_click_in_the_window_keeps_the_person_clicked(tmp_path, monkeypatch, virtual_display):
    """A left click keeps only the person under it from the next frame on (the window's frame
    shows the other one gone), a second click lets them go; a click on the background says so."""
    monkeypatch.setenv('DISPLAY', virtual_display)
    monkeypatch.delenv('SDL_VIDEODRIVER', raising=False)
    clip = tmp_path / 'people.mp4'
    write_frames(clip, people_frames([[40, 120]] * 10))
    messages = []
    session = LiveSession(Matter(ThresholdMatting(), 'cpu'), str(clip), ['window'], log=messages.append)
    import pygame
    clicks = {2: (120, 70), 3: (5, 5), 6: (120, 70)}
    alphas = []
    for frame in session:
        alphas.append(frame.alpha())
        shown = pygame.surfarray.array3d(pygame.display.get_surface()).transpose(1, 0, 2)
        assert np.array_equal(shown, frame.image())
        if frame.index in clicks:
            pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=clicks[frame.index], button=1))
    left, right = [alpha[:, :80].max() for alpha in alphas], [alpha[:, 80:].max() for alpha in alphas]
    assert right == [255] * 10
    # Each click is read after the next frame is shown (see the test above) and counts from the frame after.
    assert left == [255] * 4 + [0] * 4 + [255] * 2
    assert messages[1:] == ['no person at 5,5']


def test_live_keep_flag_keeps_the_person_from_the_start(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(live, 'model_from_arguments', lambda args, progress: ThresholdMatting())
    clip = tmp_path / 'people.mp4'
    write_frames(clip, people_frames([[40, 120]] * 4))
    live.main(['--input-source', str(clip), '--output', str(tmp_path / 'rec'), '--keep', '40,70', '--quiet'])
    recorded = [np.asarray(Image.open(path)) for path in sorted((tmp_path / 'rec').glob('*.png'))]
    assert len(recorded) == 4 and all(rgba[..., 3][:, :80].max() == 255 and rgba[..., 3][:, 80:].max() == 0
                                      for rgba in recorded)
    with pytest.raises(SystemExit) as exit_:
        live.main(['--input-source', str(clip), '--output', str(tmp_path / 'rec2'), '--keep', '400,70', '--quiet'])
    assert exit_.value.code == 1 and 'live.py: error: --keep 400,70@0: outside the 160x96 frames of' in \
        capsys.readouterr().err
