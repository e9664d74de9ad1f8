"""live.py end to end over a real network stream: a generated clip sent over UDP MPEG-TS on
127.0.0.1 in real time, matted live, recorded losslessly, and compared with convert_video.

The network runs with one thread (OMP_NUM_THREADS=1): on a shared 2-core machine, two OpenMP
threads in lockstep beside other busy processes run many times slower than one (see
documentation/live.md), and this test is about the live path, not the core's speed.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

import live
from inference import convert_video
from media import frame_color, probe
from model import create_model

ROOT = Path(__file__).resolve().parent.parent
SIZE = (64, 48)
RATE = 8
FRAMES = 24


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def make_ts(path, frames=FRAMES, size=SIZE, rate=RATE) -> None:
    """An MPEG-TS clip of `frame_color` frames with noise (so that the network's alpha varies)."""
    rng = np.random.default_rng(1)
    with av.open(str(path), 'w', format='mpegts') as container:
        stream = container.add_stream('libx264', rate=rate)
        stream.width, stream.height, stream.pix_fmt = *size, 'yuv420p'
        stream.options = {'preset': 'ultrafast', 'tune': 'zerolatency', 'g': str(rate)}
        for i in range(frames):
            image = np.empty((size[1], size[0], 3), np.uint8)
            image[:] = frame_color(i)
            image[size[1] // 4: 3 * size[1] // 4, size[0] // 3: 2 * size[0] // 3] = rng.integers(0, 255, 3)
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def send_realtime(path, url: str, stop_after=None) -> int:
    """Remux the packets of `path` to `url` (MPEG-TS) at their own pace; returns the frames sent."""
    sent = 0
    with av.open(str(path)) as source, av.open(url, 'w', format='mpegts', options={'flush_packets': '1'}) as out:
        video = source.streams.video[0]
        stream = out.add_stream_from_template(video)
        start = first = None
        for packet in source.demux(video):
            if packet.dts is None:
                continue
            if stop_after is not None and sent == stop_after:
                break
            pts = float(packet.pts * packet.time_base)
            start, first = start or time.monotonic(), first if first is not None else pts
            time.sleep(max(0.0, start + pts - first - time.monotonic()))
            packet.stream = stream
            out.mux(packet)
            sent += 1
    return sent


def live_command(tmp_path, weights, *args) -> list:
    checkpoint = tmp_path / 'filled.pth'
    if not checkpoint.exists():
        torch.save(weights, checkpoint)
    return [sys.executable, str(ROOT / 'live.py'), '--checkpoint', str(checkpoint), '--quiet', *args]


def run_live(command, sender=None, timeout=90) -> subprocess.CompletedProcess:
    """Run live.py; once it says it is opening its source (it listens from then on), run `sender`
    on a thread. Returns the process's result; `sender`'s return value goes to `.sent`."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    lines = []
    result = {}
    thread = None
    if sender is not None:
        for line in process.stderr:
            lines.append(line)
            if line.startswith('live.py: opening'):
                break
        time.sleep(1)  # from that line to its socket's bind: a moment, longer on a busy machine
        thread = threading.Thread(target=lambda: result.update(sent=sender()))
        thread.start()
    stdout, stderr = process.communicate(timeout=timeout)
    if thread is not None:
        thread.join()
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, ''.join(lines) + stderr)
    completed.sent = result.get('sent')
    return completed


def decoded_frames(path):
    """The RGB frames of `path` as PyAV decodes them (what live.py's network source gets)."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format='rgb24') for frame in container.decode(video=0)]


def test_udp_stream_recorded_live_matches_convert_video(tmp_path, mbv3_weights, one_thread):
    clip = tmp_path / 'clip.ts'
    make_ts(clip)
    url = f'udp://127.0.0.1:{free_udp_port()}'
    stats = tmp_path / 'stats.json'
    result = run_live(live_command(tmp_path, mbv3_weights, '--input-source', url, '--timeout', '3',
                                   '--output', str(tmp_path / 'rgba'), '--output', str(tmp_path / 'rec.mkv'),
                                   '--stats', str(stats)),
                      lambda: send_realtime(clip, url))
    assert result.sent == FRAMES
    # UDP has no end: live.py gives up on the silent stream after --timeout, closing the recordings.
    assert result.returncode == 1 and 'no frame for 3 s; giving up' in result.stderr, result.stderr
    summary = json.loads(stats.read_text())
    recorded = sorted((tmp_path / 'rgba').glob('*.png'))
    assert summary['frames_out'] == len(recorded) >= 3
    assert summary['frames_out'] + summary['dropped'] == summary['frames_in'] == FRAMES, summary
    times = probe(tmp_path / 'rec.mkv')['times']
    assert len(times) == len(recorded) and np.all(np.diff(times) > 0)

    # The frames it matted, by their timestamps (ms from the first), through convert_video.
    kept = [round(t * RATE) for t in np.array(times) - times[0]]
    assert kept == sorted(set(kept)) and kept[-1] < FRAMES
    source = tmp_path / 'kept'
    source.mkdir()
    for i, index in enumerate(kept):
        av.VideoFrame.from_ndarray(decoded_frames(clip)[index], format='rgb24').to_image().save(source / f'{i:04d}.png')
    convert_video(create_model(checkpoint=mbv3_weights), str(source), output_alpha=str(tmp_path / 'alpha'),
                  progress=False, device='cpu')
    expected = [np.asarray(Image.open(p)) for p in sorted((tmp_path / 'alpha').glob('*.png'))]
    live_alpha = [np.asarray(Image.open(p))[..., 3] for p in recorded]
    assert len(expected) == len(live_alpha)
    for i, (a, b) in enumerate(zip(live_alpha, expected)):
        assert np.abs(a.astype(int) - b).max() <= 1, f'frame {i}'
    if summary['dropped'] == 0:
        assert kept == list(range(FRAMES))


def test_cli_missing_display_is_one_line(tmp_path, mbv3_weights, monkeypatch, capsys):
    clip = tmp_path / 'clip.ts'
    make_ts(clip, frames=3)
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    with pytest.raises(SystemExit) as exit_:
        live.main(live_command(tmp_path, mbv3_weights, '--input-source', str(clip), '--output', 'window')[2:])
    assert exit_.value.code == 1
    stderr = capsys.readouterr().err
    assert [line for line in stderr.splitlines() if 'error' in line] == [
        'live.py: error: no display for the window: DISPLAY and WAYLAND_DISPLAY are unset (run it in a desktop '
        'session or over ssh -X, or choose another --output: virtualcam, a stream, a file)']
