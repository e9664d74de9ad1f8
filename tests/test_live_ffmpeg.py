"""Live matting against FFmpeg's command line, the peer users have (OBS, GStreamer and cameras send
the same streams): FFmpeg sends to live.py over UDP, SRT, RTMP, RTSP and TCP, started before or
after it, joined mid-stream; and live.py's stream sinks are received by FFmpeg.

The commands are the ones documentation/live.md shows, word for word but for the ports and the
file names (the tests add -hide_banner -nostdin -loglevel error). The network runs with one thread
(see test_live_stream.py for why).
"""
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import av
import numpy as np
import pytest

from media import probe
from streaming import Matter
from streaming.live import LiveSession
from stubs import StubMatting

ROOT = Path(__file__).resolve().parent.parent
FFMPEG = shutil.which('ffmpeg')
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="FFmpeg's command line is not installed "
                                                       "(.ci/setup installs it: apt-get install ffmpeg)")
SIZE = (160, 120)
RATE = 15
KEY_EVERY = 4  # seconds between the sender's key frames
X264 = '-c:v libx264 -preset ultrafast -tune zerolatency'
# live.py's small probe for FFmpeg receiving SRT: its own would hold a stream back 5 s, and fail on a
# shorter one, whose end (SRT's: EIO) comes before the probe's.
PROBE = '-probesize 32768 -analyzeduration 500000'
# What documentation/live.md shows ({clip}: a video file; {port}: a free port on 127.0.0.1).
SEND_UDP = f'ffmpeg -re -i {{clip}} {X264} -g {KEY_EVERY * RATE} -f mpegts udp://127.0.0.1:{{port}}'
# A live capture into FFmpeg (a camera, a screen), here raw frames on its stdin, paced by the test;
# without a probe, FFmpeg would hold back 5 s of them before it sends the first.
CAPTURE = (f'ffmpeg -f rawvideo -pix_fmt rgb24 -video_size {SIZE[0]}x{SIZE[1]} -framerate {RATE} '
           f'-probesize 32 -analyzeduration 0 -i - {X264} '
           f"-force_key_frames 'expr:gte(t,n_forced*{{every}})'")
SEND_CAPTURE = CAPTURE + ' -f mpegts udp://127.0.0.1:{port}'


def cli_lacks(scheme: str) -> Optional[str]:
    """Why FFmpeg's command line cannot send or receive `scheme`, or None."""
    listing = subprocess.run([FFMPEG, '-hide_banner', '-protocols'], capture_output=True, text=True).stdout
    return None if scheme in listing.split() else f"FFmpeg's command line has no {scheme}://"


def missing_protocol(scheme: str) -> Optional[str]:
    """Why `scheme` cannot be tested here (PyAV's FFmpeg or FFmpeg's command line lacks it), or None."""
    if scheme == 'rtsp':
        scheme = 'tcp'  # RTSP is a format of every FFmpeg, over its tcp:// and udp://
    try:
        av.open(f'{scheme}://127.0.0.1:9', format='mpegts', timeout=(1, 1)).close()  # nothing listens on port 9
    except av.error.ProtocolNotFoundError:
        return f"the FFmpeg inside PyAV {av.__version__} has no {scheme}:// (its wheels are built without it)"
    except (av.error.FFmpegError, OSError):
        pass
    return cli_lacks(scheme)


def free_port(kind: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM if kind == 'udp' else socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def listening(port: int, kind: str) -> bool:
    """Whether a socket on this machine is bound to `port` (UDP) or listens on it (TCP), from /proc/net;
    probing with a connection would be taken by a server that accepts one client."""
    with open(f'/proc/net/{kind}') as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f':{port:04X}') and (kind == 'udp' or fields[3] == '0A'):
                return True
    return False


def wait_until(condition, what: str, process=None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f'{process.args[0]} ended before {what}')
        assert time.monotonic() < deadline, f'not {what} within {seconds} s'
        time.sleep(0.05)


def wait_listening(port: int, kind: str, process=None, seconds: float = 60) -> None:
    wait_until(lambda: listening(port, kind), f'listening on {kind} port {port}', process, seconds)


def ffmpeg(command: str, **kwargs) -> subprocess.Popen:
    """FFmpeg's command line (`command` as the docs show it, from `ffmpeg`), errors only on stderr."""
    args = shlex.split(command)
    return subprocess.Popen([FFMPEG, '-hide_banner', '-nostdin', '-loglevel', 'error', *args[1:]],
                            stderr=subprocess.PIPE, **kwargs)


@pytest.fixture
def processes():
    """Processes a test starts; any still running at its end are killed."""
    started = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def stub_matter(one_thread):
    """Where the matte does not matter: a network of known outputs, fast."""
    return Matter(StubMatting(), 'cpu')


def make_clip(path, frames: int, size=SIZE) -> None:
    subprocess.run([FFMPEG, '-loglevel', 'error', '-f', 'lavfi', '-i', f'testsrc2=size={size[0]}x{size[1]}:rate={RATE}',
                    '-frames:v', str(frames), '-pix_fmt', 'yuv420p', str(path)], check=True)


def run_session(*args, **kwargs):
    """A LiveSession made and run on a thread (its source may wait for a sender): `(thread, result)`,
    `result` holding the `session`, the `pts` of its frames and the `error` it ended with."""
    result = {'pts': [], 'error': None}

    def run():
        try:
            result['session'] = LiveSession(*args, **kwargs)
            result['pts'].extend(frame.pts for frame in result['session'])
        except Exception as e:  # the test looks at it
            result['error'] = e
    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def capture_frames(count: int):
    """Raw rgb24 frames that move, so that each P frame needs the frames before it."""
    x = np.arange(SIZE[0])[None, :, None]
    y = np.arange(SIZE[1])[:, None, None]
    for i in range(count):
        yield (((x + 3 * i) * 4 + y * np.array([0, 2, 5]) + 40 * (i % 2)) % 256).astype(np.uint8).tobytes()


def feed(sender: subprocess.Popen, frames) -> None:
    """Write raw frames to the sender's stdin at RATE, as a capture delivers them."""
    start = time.monotonic()
    for i, frame in enumerate(frames):
        time.sleep(max(0.0, start + i / RATE - time.monotonic()))
        sender.stdin.write(frame)
        sender.stdin.flush()


def live_py(tmp_path, weights, *args) -> subprocess.Popen:
    checkpoint = tmp_path / 'filled.pth'
    if not checkpoint.exists():
        import torch
        torch.save(weights, checkpoint)
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    return subprocess.Popen([sys.executable, str(ROOT / 'live.py'), '--checkpoint', str(checkpoint), '--quiet', *args],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def skip_warnings(stderr: str, url: str):
    """The counts of live.py's warnings about packets it skipped (before the first key frame)."""
    return [int(n) for n in re.findall(rf'live.py: {re.escape(url)}: skipped (\d+) packets that could not be decoded '
                                       rf'before the first key frame', stderr)]


def test_udp_from_ffmpeg_started_after_live_py(tmp_path, mbv3_weights, processes):
    frames = (KEY_EVERY + 1) * RATE
    make_clip(tmp_path / 'clip.mp4', frames)
    port = free_port('udp')
    url = f'udp://127.0.0.1:{port}'
    live = live_py(tmp_path, mbv3_weights, '--input-source', url, '--output', str(tmp_path / 'rec.mkv'),
                   '--timeout', '6', '--stats', str(tmp_path / 'stats.json'))
    processes.append(live)
    wait_listening(port, 'udp', live)
    sender = ffmpeg(SEND_UDP.format(clip=tmp_path / 'clip.mp4', port=port))
    processes.append(sender)
    assert sender.wait(120) == 0, sender.stderr.read().decode()
    _, stderr = live.communicate(timeout=120)
    # UDP has no end: live.py gives up on the silent stream after --timeout, the recording finished.
    assert live.returncode == 1 and 'no frame for 6 s; giving up' in stderr, stderr
    assert skip_warnings(stderr, url) == []  # it listened before the first packet: every one decodes
    stats = json.loads((tmp_path / 'stats.json').read_text())
    assert stats['frames_in'] == frames and stats['frames_out'] + stats['dropped'] == frames, stats
    times = probe(tmp_path / 'rec.mkv')['times']
    assert len(times) == stats['frames_out'] > 0 and np.all(np.diff(times) > 0)


def test_udp_joined_mid_stream_starts_at_the_next_key_frame(tmp_path, mbv3_weights, processes):
    key, joined = KEY_EVERY * RATE, KEY_EVERY * RATE // 2  # live.py joins halfway to the second key frame
    frames = key + 6 * RATE
    port = free_port('udp')
    url = f'udp://127.0.0.1:{port}'
    sender = ffmpeg(SEND_CAPTURE.format(every=KEY_EVERY, port=port), stdin=subprocess.PIPE)
    processes.append(sender)
    capture = capture_frames(frames)
    feed(sender, (next(capture) for _ in range(joined)))  # the stream runs; nobody receives it yet
    # --timeout above the sender's key frame interval: a joining receiver waits up to that for one.
    live = live_py(tmp_path, mbv3_weights, '--input-source', url, '--output', str(tmp_path / 'rec.mkv'),
                   '--timeout', str(KEY_EVERY + 2), '--stats', str(tmp_path / 'stats.json'))
    processes.append(live)
    wait_listening(port, 'udp', live)
    feed(sender, capture)
    sender.stdin.close()
    assert sender.wait(60) == 0, sender.stderr.read().decode()
    _, stderr = live.communicate(timeout=120)
    assert live.returncode == 1 and f'no frame for {KEY_EVERY + 2} s; giving up' in stderr, stderr
    # The packets before the next key frame cannot be decoded: skipped, counted once, not fatal.
    skipped = skip_warnings(stderr, url)
    assert len(skipped) == 1 and 0 < skipped[0] <= key - joined + 1, stderr
    # Every frame from that key frame on was decoded, and each was matted or dropped, none before it.
    stats = json.loads((tmp_path / 'stats.json').read_text())
    assert stats['frames_in'] == frames - key and stats['frames_out'] + stats['dropped'] == frames - key, stats
    times = probe(tmp_path / 'rec.mkv')['times']
    assert len(times) == stats['frames_out'] > 0 and np.all(np.diff(times) > 0)
    # The last frame sent is the last recorded (nothing follows it to drop it): count back to the first.
    first_recorded = frames - 1 - round((times[-1] - times[0]) * RATE)
    assert key <= first_recorded < key + 5 * RATE  # recorded within 5 s (of stream) of the first key frame


def test_udp_without_a_key_frame_within_timeout_fails_saying_so(stub_matter, processes):
    port = free_port('udp')
    sender = ffmpeg(SEND_CAPTURE.format(every=60, port=port), stdin=subprocess.PIPE)
    processes.append(sender)
    capture = capture_frames(5 * RATE)
    feed(sender, (next(capture) for _ in range(RATE)))  # past the first key frame; the next is a minute away
    thread, result = run_session(stub_matter, f'udp://127.0.0.1:{port}', timeout=2, log=lambda _: None)
    wait_listening(port, 'udp')
    feeding = threading.Thread(target=feed, args=(sender, capture))
    feeding.start()
    thread.join(60)
    assert result['session'].stats.frames_in == 0
    assert re.fullmatch(rf"udp://127.0.0.1:{port}: nothing could be decoded for 2 s \(\d+ packets skipped\); raise "
                        rf"--timeout above the time between the sender's key frames, or have it send them more "
                        rf"often \(FFmpeg: -g or -force_key_frames\)", str(result['error'])), result['error']
    feeding.join(60)


def test_udp_sender_restarted_and_resized_resets_states_and_keeps_time(tmp_path, stub_matter):
    """A sender restarted (its timestamps start again) and restarted at another size: the states are
    reset, frames are scaled to the first size, and timestamps go on increasing in real time."""
    frames = 3 * RATE
    make_clip(tmp_path / 'clip.mp4', frames)
    make_clip(tmp_path / 'larger.mp4', frames, (192, 144))
    port = free_port('udp')
    url = f'udp://127.0.0.1:{port}'
    messages = []
    thread, result = run_session(stub_matter, url, [str(tmp_path / 'rec.mkv')], timeout=5, log=messages.append)
    wait_listening(port, 'udp')
    for clip in ('clip.mp4', 'clip.mp4', 'larger.mp4'):
        sender = ffmpeg(SEND_UDP.format(clip=tmp_path / clip, port=port))
        assert sender.wait(60) == 0, sender.stderr.read().decode()
    thread.join(60)
    assert 'no frame for 5 s' in str(result['error'])
    stats = result['session'].stats
    assert stats.frames_in == 3 * frames and stats.resets == 2, messages
    assert [m for m in messages if 'skipped' in m] == []
    assert len([m for m in messages if 'timestamps went back' in m]) == 1
    assert len([m for m in messages if 'changed size to 192x144; scaled to 160x120' in m]) == 1
    assert np.all(np.diff(result['pts']) > 0)
    recorded = probe(tmp_path / 'rec.mkv')
    assert recorded['size'] == SIZE and recorded['frames'] == stats.frames_out
    assert np.all(np.diff(recorded['times']) > 0)
    assert recorded['times'][-1] - recorded['times'][0] > 2 * frames / RATE  # three clips' time, not one


# Each protocol with FFmpeg's command line sending to live.py: (the sender, live.py's URL, who
# listens, over which transport); the side that listens starts first.
SOURCES = {
    'tcp': (f"ffmpeg -re -i {{clip}} {X264} -g 60 -f mpegts 'tcp://127.0.0.1:{{port}}?listen=1'",
            'tcp://127.0.0.1:{port}', 'ffmpeg', 'tcp'),
    'rtmp': (f'ffmpeg -re -i {{clip}} {X264} -g 60 -f flv -listen 1 rtmp://127.0.0.1:{{port}}/live/stream',
             'rtmp://127.0.0.1:{port}/live/stream', 'ffmpeg', 'tcp'),
    'srt-listener': (f'ffmpeg -re -i {{clip}} {X264} -g 60 -f mpegts srt://127.0.0.1:{{port}}',
                     'srt://127.0.0.1:{port}?mode=listener', 'live', 'udp'),
    'srt-caller': (f"ffmpeg -re -i {{clip}} {X264} -g 60 -f mpegts 'srt://127.0.0.1:{{port}}?mode=listener'",
                   'srt://127.0.0.1:{port}', 'ffmpeg', 'udp'),
}


@pytest.mark.parametrize('protocol', SOURCES)
def test_source_from_ffmpeg(tmp_path, stub_matter, processes, protocol):
    """Over a connection the sender starts the stream for live.py: every frame decodes, and the
    sender's end (it closes the connection) is the end of the run."""
    if reason := missing_protocol(protocol.split('-')[0]):
        pytest.skip(reason)
    command, url, listener, kind = SOURCES[protocol]
    frames = 2 * RATE
    make_clip(tmp_path / 'clip.mp4', frames)
    port = free_port(kind)
    url = url.format(port=port)
    messages = []

    def start_sender():
        processes.append(ffmpeg(command.format(clip=tmp_path / 'clip.mp4', port=port)))
        return processes[-1]
    if listener == 'ffmpeg':
        wait_listening(port, kind, start_sender())
    thread, result = run_session(stub_matter, url, [str(tmp_path / 'rec.mkv')], timeout=10, log=messages.append)
    if listener == 'live':
        wait_listening(port, kind)
        start_sender()
    sender = processes[-1]
    assert sender.wait(60) == 0, sender.stderr.read().decode()
    thread.join(60)
    assert result['error'] is None and [m for m in messages if 'skipped' in m] == [], (result['error'], messages)
    stats = result['session'].stats
    assert stats.frames_in == frames and stats.frames_out + stats.dropped == frames
    assert probe(tmp_path / 'rec.mkv')['frames'] == stats.frames_out > 0


# Each stream sink with FFmpeg's command line receiving: (the receiver, live.py's --output, who
# listens, over which transport). UDP has no end: the receiver stops 5 s after the last packet.
SINKS = {
    'udp': ("ffmpeg -i 'udp://127.0.0.1:{port}?timeout=5000000' -f framecrc -", 'udp://127.0.0.1:{port}',
            'ffmpeg', 'udp'),
    'tcp': ("ffmpeg -i 'tcp://127.0.0.1:{port}?listen=1' -f framecrc -", 'tcp://127.0.0.1:{port}', 'ffmpeg', 'tcp'),
    'rtmp': ('ffmpeg -listen 1 -i rtmp://127.0.0.1:{port}/live/stream -f framecrc -',
             'rtmp://127.0.0.1:{port}/live/stream', 'ffmpeg', 'tcp'),
    'rtsp': ('ffmpeg -rtsp_flags listen -i rtsp://127.0.0.1:{port}/live -f framecrc -',
             'rtsp://127.0.0.1:{port}/live', 'ffmpeg', 'tcp'),
    'srt-listener': (f'ffmpeg {PROBE} -i srt://127.0.0.1:{{port}} -f framecrc -',
                     'srt://127.0.0.1:{port}?mode=listener', 'live', 'udp'),
    'srt-caller': (f"ffmpeg {PROBE} -i 'srt://127.0.0.1:{{port}}?mode=listener' -f framecrc -",
                   'srt://127.0.0.1:{port}', 'ffmpeg', 'udp'),
}


@pytest.mark.parametrize('protocol', SINKS)
def test_stream_sink_received_by_ffmpeg(tmp_path, stub_matter, processes, protocol):
    """FFmpeg's receiver, there before the first packet, decodes every frame live.py sends, without
    an error."""
    if reason := missing_protocol(protocol.split('-')[0]):
        pytest.skip(reason)
    command, url, listener, kind = SINKS[protocol]
    frames = 2 * RATE
    make_clip(tmp_path / 'clip.mp4', frames)
    port = free_port(kind)
    url = url.format(port=port)

    def start_receiver():
        processes.append(ffmpeg(command.format(port=port), stdout=subprocess.PIPE))
        return processes[-1]
    if listener == 'ffmpeg':
        wait_listening(port, kind, start_receiver())
    thread, result = run_session(stub_matter, str(tmp_path / 'clip.mp4'), [url], log=lambda _: None)
    if listener == 'live':
        wait_listening(port, kind)
        start_receiver()
    thread.join(60)
    receiver = processes[-1]
    received, errors = receiver.communicate(timeout=60)
    assert result['error'] is None and result['session'].stats.frames_out == frames
    decoded = [line for line in received.decode().splitlines() if not line.startswith('#')]
    assert len(decoded) == frames, errors.decode()
    assert [line for line in errors.decode().splitlines() if line.startswith('[h264')] == []


@pytest.fixture
def rtsp_server(processes):
    """An RTSP server that relays what FFmpeg publishes (Debian's rtsp-server-perl; it sends RTP over
    UDP only): `(players' port, publishers' port, its log lines so far)`."""
    server = shutil.which('rtsp-server-perl')
    if server is None:
        pytest.skip("no RTSP server to relay FFmpeg's stream: Debian's rtsp-server-perl is the one tested "
                    "(apt-get install rtsp-server-perl)")
    players, publishers = free_port('tcp'), free_port('tcp')
    relay = subprocess.Popen([server, '--clientport', str(players), '--serverport', str(publishers), '--loglevel', '4',
                              '--client_listen_address', '127.0.0.1', '--source_listen_address', '127.0.0.1',
                              '--rtp_start_port', str(free_port('udp') & ~1)],
                             env=dict(os.environ, PERLIO=':unix'), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)  # PERLIO: its log unbuffered, line by line
    processes.append(relay)
    log = []

    def read():
        for line in relay.stdout:
            log.append(line)
    threading.Thread(target=read, daemon=True).start()
    wait_listening(players, 'tcp', relay)
    wait_listening(publishers, 'tcp', relay)
    return players, publishers, log


def test_rtsp_from_ffmpeg_through_a_server_joined_midway(tmp_path, stub_matter, processes, rtsp_server):
    players, publishers, log = rtsp_server
    key, joined = KEY_EVERY * RATE, KEY_EVERY * RATE // 2
    frames = key + 2 * RATE
    sender = ffmpeg(CAPTURE.format(every=KEY_EVERY) + f' -f rtsp rtsp://127.0.0.1:{publishers}/live',
                    stdin=subprocess.PIPE)
    processes.append(sender)
    capture = capture_frames(frames)
    feed(sender, (next(capture) for _ in range(joined)))
    wait_until(lambda: any('Got record for mountpoint /live' in line for line in log), 'publishing', sender)
    messages = []
    url = f'rtsp://127.0.0.1:{players}/live'
    thread, result = run_session(stub_matter, url, [str(tmp_path / 'rec.mkv')], timeout=KEY_EVERY + 2,
                                 log=messages.append)
    wait_until(lambda: any('Got method PLAY' in line for line in log), 'playing')
    feed(sender, capture)
    time.sleep(1)  # the relay drops what it has not forwarded when the publisher's TEARDOWN comes
    sender.stdin.close()
    assert sender.wait(60) == 0, sender.stderr.read().decode()
    thread.join(60)
    assert f'no frame for {KEY_EVERY + 2} s' in str(result['error'])  # RTP over UDP: no end but silence
    skipped = [int(n) for n in re.findall(rf'{re.escape(url)}: skipped (\d+) packets that could not be decoded before '
                                          rf'the first key frame', '\n'.join(messages))]
    assert len(skipped) == 1 and 0 < skipped[0] <= key - joined + 1, messages
    stats = result['session'].stats
    assert stats.frames_in == frames - key and stats.frames_out + stats.dropped == frames - key
    assert probe(tmp_path / 'rec.mkv')['frames'] == stats.frames_out > 0


# SRT where PyAV has no libsrt: FFmpeg's command line relays it to and from UDP on this machine.
# A stream's end reaches FFmpeg as an error there (SRT's, UDP's timeout: EIO), after which its MPEG-TS
# demuxer keeps the frame it holds: each FFmpeg in the chain loses the stream's last frame.
RELAY_SRT_IN = f"ffmpeg {PROBE} -i 'srt://127.0.0.1:{{srt}}?mode=listener' -c copy -f mpegts udp://127.0.0.1:{{udp}}"
RELAY_SRT_OUT = (f"ffmpeg {PROBE} -i 'udp://127.0.0.1:{{udp}}?timeout=5000000' -c copy -f mpegts "
                 f"srt://127.0.0.1:{{srt}}")


def test_srt_from_ffmpeg_relayed_to_udp(tmp_path, stub_matter, processes):
    if reason := cli_lacks('srt'):
        pytest.skip(reason)
    frames = 2 * RATE
    make_clip(tmp_path / 'clip.mp4', frames)
    srt, udp = free_port('udp'), free_port('udp')
    thread, result = run_session(stub_matter, f'udp://127.0.0.1:{udp}', [str(tmp_path / 'rec.mkv')], timeout=10,
                                 log=lambda _: None)
    wait_listening(udp, 'udp')
    processes.append(ffmpeg(RELAY_SRT_IN.format(srt=srt, udp=udp)))
    wait_listening(srt, 'udp', processes[-1])
    sender = ffmpeg(f'ffmpeg -re -i {tmp_path / "clip.mp4"} {X264} -g 60 -f mpegts srt://127.0.0.1:{srt}')
    processes.append(sender)
    assert sender.wait(60) == 0, sender.stderr.read().decode()
    thread.join(60)
    assert 'no frame for 10 s' in str(result['error'])
    stats = result['session'].stats
    assert stats.frames_in == frames - 1 and stats.frames_out + stats.dropped == stats.frames_in
    assert round((result['pts'][-1] - result['pts'][0]) * RATE) == frames - 2  # from the first frame, all but the last
    assert probe(tmp_path / 'rec.mkv')['frames'] == stats.frames_out


def test_stream_sink_relayed_to_srt_received_by_ffmpeg(tmp_path, stub_matter, processes):
    if reason := cli_lacks('srt'):
        pytest.skip(reason)
    frames = 2 * RATE
    make_clip(tmp_path / 'clip.mp4', frames)
    srt, udp = free_port('udp'), free_port('udp')
    receiver = ffmpeg(f"ffmpeg {PROBE} -i 'srt://127.0.0.1:{srt}?mode=listener' -f framecrc -", stdout=subprocess.PIPE)
    processes.append(receiver)
    wait_listening(srt, 'udp', receiver)
    processes.append(ffmpeg(RELAY_SRT_OUT.format(srt=srt, udp=udp)))
    wait_listening(udp, 'udp', processes[-1])
    thread, result = run_session(stub_matter, str(tmp_path / 'clip.mp4'), [f'udp://127.0.0.1:{udp}'],
                                 log=lambda _: None)
    thread.join(60)
    received, errors = receiver.communicate(timeout=60)
    assert result['error'] is None and result['session'].stats.frames_out == frames
    decoded = [line for line in received.decode().splitlines() if not line.startswith('#')]
    assert len(decoded) == frames - 2, errors.decode()  # the relay's last frame and the receiver's
    assert [line for line in errors.decode().splitlines() if line.startswith('[h264')] == []
