"""What users' files and machines do to a conversion: damaged and unusual inputs, full disks,
signals, and bad options. Each ends in converted frames or a one-line error, never a traceback,
and leaves only outputs that play."""
import os
import resource
import signal
import subprocess
import sys
import time
import warnings

import av
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from inference import convert_video
from media import entries, make_video, probe
from streaming import ConversionError, VideoReader
from stubs import StubMatting


def damage(path, out, fraction=None, noise_at=None):
    """Copy `path` to `out`, cut to `fraction` of its bytes, or with 2000 random bytes at `noise_at` of it."""
    data = bytearray(path.read_bytes())
    if fraction is not None:
        data = data[:int(len(data) * fraction)]
    if noise_at is not None:
        at = int(len(data) * noise_at)
        data[at:at + 2000] = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    out.write_bytes(bytes(data))
    return out


def convert(source, out, **kwargs):
    """convert_video with the stub network and the alpha as the output; returns (count, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        count = convert_video(StubMatting(), str(source), output_alpha=out, progress=False, **kwargs)
    return count, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize('ext', ['.mkv', '.ts', '.mp4'])  # the MP4 is faststart: its index comes first
def test_truncated_streaming_containers(tmp_path, ext):
    make_video(tmp_path / f'in{ext}', frames=30, rate=30, noise=True)
    cut = damage(tmp_path / f'in{ext}', tmp_path / f'cut{ext}', fraction=0.6)
    count, messages = convert(cut, tmp_path / 'pha.mp4')
    assert 5 < count < 30
    assert len(messages) == 1 and f'cut{ext}' in messages[0] and 'frame' in messages[0], messages
    assert probe(tmp_path / 'pha.mp4')['frames'] == count


@pytest.mark.parametrize('ext', ['.ts', '.mp4'])
def test_corrupt_packets_are_skipped_and_counted(tmp_path, ext):
    make_video(tmp_path / f'in{ext}', frames=40, rate=30, noise=True)
    bad = damage(tmp_path / f'in{ext}', tmp_path / f'bad{ext}', noise_at=0.5)
    count, messages = convert(bad, tmp_path / 'pha.mp4')
    assert count >= 38  # decoding went on past the damage
    assert len(messages) == 1 and f'bad{ext}: 1 damaged packets, the first at frame' in messages[0], messages
    assert probe(tmp_path / 'pha.mp4')['frames'] == count


def test_resolution_change_midway_is_scaled_to_the_first_size(tmp_path):
    make_video(tmp_path / 'a.ts', size=(64, 48), frames=5)
    make_video(tmp_path / 'b.ts', size=(96, 64), frames=4)
    (tmp_path / 'both.ts').write_bytes((tmp_path / 'a.ts').read_bytes() + (tmp_path / 'b.ts').read_bytes())
    count, messages = convert(tmp_path / 'both.ts', tmp_path / 'pha.mp4')
    assert count == 9
    assert any('scaled to its 64x48' in m for m in messages), messages
    info = probe(tmp_path / 'pha.mp4')
    assert info['frames'] == 9 and info['size'] == (64, 48)


def write_clip(path, codec, pix_fmt, frames=4, size=(64, 48), options=None):
    """A clip in a given codec and pixel format (colour bars that move); GIFs as PIL writes them."""
    images = []
    for i in range(frames):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[:, :, 0] = (np.arange(size[0]) * 4 + i * 16) % 256
        image[:, :, 1] = 128
        images.append(image)
    if codec == 'gif':
        first, *rest = [Image.fromarray(image) for image in images]
        first.save(path, save_all=True, append_images=rest, duration=100, loop=0)
        return
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(codec, rate=10, options=options or {})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format='rgb24').reformat(format=pix_fmt)
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.mark.parametrize('name, codec, pix_fmt, frames, size', [
    ('hevc.mp4', 'libx265', 'yuv420p', 4, (64, 48)),
    ('vp9.webm', 'libvpx-vp9', 'yuv420p', 4, (64, 48)),
    ('mjpeg.avi', 'mjpeg', 'yuvj420p', 4, (64, 48)),
    ('anim.gif', 'gif', 'pal8', 4, (64, 48)),
    ('ten_bit.mkv', 'libx265', 'yuv420p10le', 4, (64, 48)),
    ('one_frame.mp4', 'libx264', 'yuv420p', 1, (64, 48)),
    ('tiny.mkv', 'libx264', 'yuv420p', 3, (8, 8)),
])
def test_input_formats_users_have(tmp_path, name, codec, pix_fmt, frames, size):
    options = {'x265-params': 'log-level=error'} if codec == 'libx265' else None
    write_clip(tmp_path / name, codec, pix_fmt, frames, size, options)
    count, _ = convert(tmp_path / name, tmp_path / 'pha.mp4')
    assert count == frames
    assert probe(tmp_path / 'pha.mp4')['frames'] == frames


def test_a_real_network_on_tiny_frames(tmp_path, mbv3_weights):
    """8x8 frames go through the real network at its automatic ratio (1: no refiner)."""
    from model import create_model
    write_clip(tmp_path / 'tiny.mkv', 'libx264', 'yuv420p', 2, (8, 8))
    count = convert_video(create_model(checkpoint=mbv3_weights), str(tmp_path / 'tiny.mkv'),
                          output_alpha=tmp_path / 'pha', progress=False)
    assert count == 2 and entries(tmp_path / 'pha') == ['0000.png', '0001.png']


def test_unknown_output_extension_is_an_error_whatever_the_type(tmp_path):
    make_video(tmp_path / 'in.mp4', frames=2)
    for output_type in (None, 'video'):
        with pytest.raises(ConversionError, match=r"out.xyz: no writer knows the extension '.xyz'"):
            convert_video(StubMatting(), str(tmp_path / 'in.mp4'), output_alpha=tmp_path / 'out.xyz',
                          output_type=output_type, progress=False)
    assert not (tmp_path / 'out.xyz').exists()
    # an image sequence is a directory without an extension, or any path with png_sequence
    convert(tmp_path / 'in.mp4', tmp_path / 'frames.v1', output_type='png_sequence')
    assert entries(tmp_path / 'frames.v1') == ['0000.png', '0001.png']


def test_sequence_output_never_touches_the_users_files(tmp_path):
    make_video(tmp_path / 'in.mp4', frames=3)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'notes.txt').write_text('mine')
    convert(tmp_path / 'in.mp4', out)                       # a first run: 3 frames beside the user's file
    assert entries(out) == ['0000.png', '0001.png', '0002.png', 'notes.txt']  # nothing hidden beside them
    Image.new('RGB', (64, 48), (1, 2, 3)).save(out / '0007.png')  # the user's own numbered image
    before = {name: (out / name).read_bytes() for name in entries(out)}
    with pytest.raises(ConversionError, match=r'already holds 0007.png \(1 numbered images in all\) that this tool '
                                              r'did not write'):
        convert(tmp_path / 'in.mp4', out)                   # refused before any frame
    assert {name: (out / name).read_bytes() for name in entries(out)} == before
    os.remove(out / '0007.png')
    # a crash that cut a frame short: the first bytes written carry the mark, so it is still ours
    (out / '0001.png').write_bytes(before['0001.png'][:100])
    make_video(tmp_path / 'short.mp4', frames=2)
    convert(tmp_path / 'short.mp4', out)                    # a shorter rerun replaces and removes only its own frames
    assert entries(out) == ['0000.png', '0001.png', 'notes.txt'] and (out / 'notes.txt').read_text() == 'mine'
    assert Image.open(out / '0001.png').size == (64, 48)


# ---------------------------------------------------------------------------------- the command line


def cli(*args, cwd, preexec_fn=None, wait=True):
    """inference.py in a subprocess (its own signals and limits), at a fixed bit rate: these tests need outputs
    that grow as frames are written, which at constant quality the flat mattes of filled weights hardly do."""
    command = [sys.executable, str(ROOT / 'inference.py'), '--disable-progress', '--output-video-mbps', '1',
               *map(str, args)]
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=preexec_fn, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    if wait:
        out, err = process.communicate(timeout=300)
        return process.returncode, err
    return process


@pytest.fixture(scope='module')
def long_clip(tmp_path_factory):
    """Long enough at 160x120 that a conversion runs several seconds."""
    path = tmp_path_factory.mktemp('long') / 'long.mp4'
    make_video(path, size=(160, 120), frames=300, rate=30, noise=True)
    return path


def test_full_disk_is_one_line_and_leaves_only_playable_outputs(tmp_path, mbv3_checkpoint, long_clip):
    """A file size limit makes every write past it fail as a full disk does (EFBIG instead of ENOSPC)."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
    code, err = cli('--checkpoint', mbv3_checkpoint, '--input-source', long_clip, '--output-alpha', 'pha.mp4',
                    '--output-composition', 'com.mkv', cwd=tmp_path, preexec_fn=limit)
    assert code == 1, err
    lines = [line for line in err.splitlines() if 'warning' not in line]
    assert len(lines) == 1 and lines[0].startswith('inference.py: error:') and 'File too large' in lines[0], err
    if (tmp_path / 'pha.mp4').exists():  # cut back to its last complete fragment: it decodes to the end
        assert probe(tmp_path / 'pha.mp4')['frames'] > 0
    if (tmp_path / 'com.mkv').exists():  # ends in a cut packet, which players (and the reader) skip
        assert len(list(VideoReader(tmp_path / 'com.mkv').frames())) > 0


def wait_for_output(path, size, process, timeout=180):
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_size > size):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()[1]
        time.sleep(0.05)


def test_sigterm_closes_outputs_like_ctrl_c(tmp_path, mbv3_checkpoint, long_clip):
    process = cli('--checkpoint', mbv3_checkpoint, '--input-source', long_clip, '--output-alpha', 'pha.mp4',
                  '--output-foreground', 'fgr.mp4', cwd=tmp_path, wait=False)
    wait_for_output(tmp_path / 'pha.mp4', 20_000, process)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=180)
    assert process.returncode == 143 and 'interrupted' in err
    for name in ('pha.mp4', 'fgr.mp4'):
        assert 0 < probe(tmp_path / name)['frames'] < 300


@pytest.mark.parametrize('name', ['pha.mp4', 'pha.mov', 'pha.mkv'])
def test_killed_outright_outputs_play_to_about_the_last_second(tmp_path, mbv3_checkpoint, long_clip, name):
    process = cli('--checkpoint', mbv3_checkpoint, '--input-source', long_clip, '--output-alpha', name,
                  cwd=tmp_path, wait=False)
    wait_for_output(tmp_path / name, 60_000, process)
    time.sleep(1.5)
    process.kill()
    process.wait()
    assert probe(tmp_path / name)['frames'] >= 30  # at least the first second, in fragments


@pytest.mark.parametrize('flags, message', [
    (['--downsample-ratio', '0'], '--downsample-ratio must be in (0, 1], got 0'),
    (['--downsample-ratio', '-1'], '--downsample-ratio must be in (0, 1], got -1'),
    (['--downsample-ratio', '3'], '--downsample-ratio must be in (0, 1], got 3'),
    (['--seq-chunk', '0'], '--seq-chunk must be 1 or more, got 0'),
    (['--input-resize', '0', '0'], '--input-resize must be a width and a height of 1 or more, got 0 0'),
    (['--output-composition', 'com.mp4', '--background', 'missing.png'], 'background missing.png does not exist'),
    (['--output-composition', 'com.mp4', '--background', 'not-a-colour'], "background 'not-a-colour' is not a color"),
    (['--output-foreground', 'fgr.xyz'], "--output-foreground fgr.xyz: no writer knows the extension '.xyz'"),
    (['--output-foreground', 'afile/fgr.mp4'], 'cannot write afile/fgr.mp4'),
    (['--checkpoint', 'truncated.pth'], 'truncated.pth is not a PyTorch checkpoint'),
])
def test_bad_options_fail_at_once_naming_the_flag(tmp_path, mbv3_checkpoint, flags, message):
    make_video(tmp_path / 'in.mp4', frames=2)
    (tmp_path / 'afile').write_text('a file, not a folder')
    (tmp_path / 'truncated.pth').write_bytes(mbv3_checkpoint.read_bytes()[:100_000])
    args = ['--input-source', 'in.mp4', '--output-alpha', 'pha.mp4']
    if '--checkpoint' not in flags:
        args += ['--checkpoint', mbv3_checkpoint]
    code, err = cli(*args, *flags, cwd=tmp_path)
    assert code == 1 and err.count('\n') == 1 and err.startswith('inference.py: error: ') and message in err, err
    assert sorted(os.listdir(tmp_path)) == ['afile', 'in.mp4', 'truncated.pth']  # no output was started
