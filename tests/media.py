"""Small media files for the conversion tests, made with PyAV (nothing is downloaded)."""
import os
import struct
from pathlib import Path
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple

import av
import numpy as np
from PIL import Image


def frame_color(i: int) -> Tuple[int, int, int]:
    """The solid RGB color of frame `i` in the clips `make_video` writes: far apart from frame to frame."""
    return (40 + 37 * i) % 200 + 20, (200 - 23 * i) % 180 + 40, 128


def make_video(path, size=(64, 48), frames=6, rate=Fraction(30), pts: Optional[Sequence[int]] = None,
               time_base: Optional[Fraction] = None, audio_seconds: float = 0.0, noise: bool = False,
               codec: str = 'libx264', pix_fmt: str = 'yuv420p') -> None:
    """A clip of solid-color frames (`frame_color(i)`), with a 440 Hz AAC tone when `audio_seconds` > 0.

    `pts` (in `time_base`, default 1/rate) gives variable frame timing; default one frame after another.
    Odd sizes need a codec other than libx264 (e.g. 'mpeg4'). `noise` adds +-40 of noise, so that every frame takes many bytes (for damaging files). MP4s
    have their index first (faststart), as a truncated download still has it.
    """
    time_base = time_base or 1 / Fraction(rate)
    rng = np.random.default_rng(0)
    options = {'movflags': 'faststart'} if str(path).endswith(('.mp4', '.mov')) else {}
    with av.open(str(path), 'w', options=options) as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height = size
        video.pix_fmt = pix_fmt
        video.codec_context.time_base = time_base
        video.bit_rate = 4_000_000 if noise else 200_000
        audio = None
        if audio_seconds:
            audio = container.add_stream('aac', rate=44100)
            audio.layout = 'stereo'
        for i in range(frames):
            image = np.empty((size[1], size[0], 3), np.uint8)
            image[:] = frame_color(i)
            if noise:
                image = (image + rng.integers(-40, 41, image.shape)).clip(0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            frame.pts = i if pts is None else pts[i]
            frame.time_base = time_base
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            samples = int(audio_seconds * 44100)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(np.repeat(tone[None], 2, 0), format='fltp', layout='stereo')
            frame.sample_rate, frame.pts = 44100, 0
            container.mux(audio.encode(frame))
            container.mux(audio.encode())


def set_mp4_rotation(path, out) -> None:
    """Copy an MP4 with the display matrix of a phone held upright (ffprobe: rotation of -90 degrees)."""
    data = bytearray(open(path, 'rb').read())
    box = data.find(b'tkhd')
    version = data[box + 4]
    matrix = box + 8 + (28 if version == 1 else 20) + 16  # after the times, track id, duration, layer...
    data[matrix:matrix + 36] = struct.pack('>9i', 0, 65536, 0, -65536, 0, 0, 0, 0, 0x40000000)
    open(out, 'wb').write(bytes(data))


def probe(path) -> dict:
    """What a player sees: video frame count (decoded), size, rate, pts (seconds), audio duration (seconds)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        info = {'size': (video.codec_context.width, video.codec_context.height), 'rate': video.average_rate,
                'codec': video.codec_context.name, 'audio': None}
        if container.streams.audio:
            audio = container.streams.audio[0]
            info['audio'] = audio.codec_context.name
            info['audio_seconds'] = sum(f.samples for f in container.decode(audio)) / audio.codec_context.sample_rate
            container.seek(0)
        times = [float(frame.pts * frame.time_base) for frame in container.decode(video)]
    info['frames'], info['times'] = len(times), times
    return info


def decode_rgba(path) -> List[np.ndarray]:
    """Every frame as `[H, W, 4]` uint8 RGBA, with the alpha plane the file carries.

    FFmpeg's native VP9 decoder ignores the alpha that WebM stores beside each frame; libvpx-vp9 reads it.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name == 'vp9':
            decoder = av.CodecContext.create('libvpx-vp9', 'r')
            frames = [f for packet in container.demux(stream) for f in decoder.decode(packet)]
        else:
            frames = list(container.decode(stream))
    return [frame.to_ndarray(format='rgba') for frame in frames]


def decode_rgb(path) -> List[np.ndarray]:
    """Every frame as `[H, W, 3]` uint8 RGB."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format='rgb24') for frame in container.decode(video=0)]


def visible(directory) -> List[str]:
    """The names in `directory` that a file browser shows (not hidden ones)."""
    return sorted(p.name for p in Path(directory).iterdir() if not p.name.startswith('.'))


def entries(directory) -> List[str]:
    """Every name in `directory`, hidden ones too, sorted."""
    return sorted(os.listdir(directory))


def read_like_original_rvm(directory) -> List[np.ndarray]:
    """The frames of `directory` as the original RVM's ImageSequenceReader reads them: every name in
    `sorted(os.listdir(path))` opened with PIL (it fails on any file that is not an image)."""
    return [np.asarray(Image.open(os.path.join(directory, name))) for name in sorted(os.listdir(directory))]


PEOPLE_COLORS = ((250, 190, 150), (150, 210, 250))  # bright, of different hues: told apart by colour


def people_frames(positions: Sequence[Sequence[Optional[float]]], size=(160, 96),
                  colors: Sequence[Tuple[int, int, int]] = PEOPLE_COLORS) -> np.ndarray:
    """`[T, H, W, 3]` frames of bright figures (a head over a body) on a dark ground, for
    `stubs.ThresholdMatting`: `positions[t][i]` is figure i's centre x on frame t (None: gone)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    frames = np.full((len(positions), h, w, 3), 30, np.uint8)
    for frame, xs in zip(frames, positions):
        for x, color in zip(xs, colors):
            if x is None:
                continue
            head = (xx - x) ** 2 + (yy - 0.3 * h) ** 2 <= (0.12 * h) ** 2
            body = (np.abs(xx - x) <= 0.17 * h) & (yy >= 0.45 * h)
            frame[head | body] = color
    return frames


def write_frames(path, frames: np.ndarray, rate: int = 30) -> None:
    """`[T, H, W, 3]` RGB frames as an H.264 MP4 (near lossless: flat colours survive)."""
    with av.open(str(path), 'w') as container:
        stream = container.add_stream('libx264', rate=rate)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = 'yuv420p'
        stream.options = {'crf': '8'}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        container.mux(stream.encode())
