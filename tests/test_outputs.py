"""Outputs for editors and compositors: codecs, bit depths, colour tags, alpha conventions, decoded back."""

import av
import cv2
import numpy as np
import OpenEXR
import pytest
import torch
from torch import nn

import inference
from inference import convert_video, main
from media import entries, make_video, probe
from streaming import ConversionError, ConversionOptions, ConversionPlan, VideoReader
from streaming.color import BT709, Colors
from streaming.sequence_writer import MARK, ImageSequenceWriter, check_sequence_directory
from streaming.writers import VideoWriter

PQ = Colors(matrix=9, primaries=9, transfer=16)       # BT.2020 PQ (HDR10)
BT601_FULL = Colors(matrix=5, primaries=6, transfer=6, full_range=True)


class Passthrough(nn.Module):
    """MattingNetwork's signature: the foreground is the input, the alpha a ramp from 0 (left) to 1 (right)."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))

    def forward(self, src, r1=None, r2=None, r3=None, r4=None, downsample_ratio=1.0):
        b, t, _, h, w = src.shape
        pha = torch.linspace(0, 1, w, dtype=src.dtype).view(1, 1, 1, 1, w).expand(b, t, 1, h, w)
        return [src.clone(), pha.contiguous(), r1, r2, r3, r4]


def ramp(width=1024, height=16, frames=2) -> torch.Tensor:
    """`[T, 3, H, W]` in 0..1: a gray ramp in 1024 steps across the width, tinted so that chroma is not flat."""
    x = torch.linspace(0, 1, width).view(1, 1, 1, width).expand(frames, 1, height, width)
    return torch.cat([x, x * 0.9 + 0.05, x * 0.8 + 0.1], dim=1)


def write_source(path, colors: Colors, bits: int, size=(1024, 16), frames=2) -> None:
    """A lossless (CRF 0) H.264 clip of `ramp()` at `bits` (8 or 10), in `colors`' Y'CbCr and tagged with them."""
    writer = VideoWriter(path, 30, codec='h264', quality=0, bit_depth=bits, colors=colors)
    writer.write(ramp(*size, frames))
    writer.close()


def stream_info(path):
    """(codec, pix_fmt, (matrix, primaries, transfer, range)) as the container says, before decoding."""
    with av.open(str(path)) as container:
        c = container.streams.video[0].codec_context
        return c.name, c.pix_fmt, (int(c.colorspace), int(c.color_primaries), int(c.color_trc), int(c.color_range))


def luma_levels(path) -> int:
    """Distinct Y' values of the first decoded frame's luma plane (its own bit depth)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    plane = frame.to_ndarray(format='gray16le' if frame.format.components[0].bits > 8 else 'gray')
    return len(np.unique(plane))


@pytest.mark.parametrize('name, codec, bits, transparent, decoder, pix_fmt, read_bits', [
    ('h264.mp4', 'h264', 8, False, 'h264', 'yuv420p', 8),
    ('h265.mp4', 'h265', 10, False, 'hevc', 'yuv420p10le', 10),
    ('av1.mkv', 'av1', 10, False, 'libdav1d', 'yuv420p10le', 10),
    ('vp9.webm', 'vp9', 8, True, 'vp9', 'yuv420p', 8),          # the alpha is a side channel: see test_streaming
    ('prores.mov', 'prores', 10, False, 'prores', 'yuv422p10le', 10),
    ('prores4444.mov', 'prores4444', 10, True, 'prores', 'yuva444p12le', 12),  # FFmpeg decodes 4444 at 12 bits
    ('ffv1.mkv', 'ffv1', 16, True, 'ffv1', 'gbrap16le', 16),  # RGB: tagged with no matrix (0), full range (2)
])
def test_codecs_and_depths_decode_back(tmp_path, name, codec, bits, transparent, decoder, pix_fmt, read_bits):
    colors = PQ if bits > 8 else BT709
    frames = ramp(64, 48, 3)
    if transparent:
        frames = torch.cat([frames, torch.full_like(frames[:, :1], 0.5)], dim=1)
    writer = VideoWriter(tmp_path / name, 30, codec=codec, bit_depth=bits, transparent=transparent, colors=colors)
    writer.write(frames)
    writer.close()
    matrix, full = (0, 2) if codec == 'ffv1' else (colors.matrix, 1)
    assert stream_info(tmp_path / name) == (decoder, pix_fmt, (matrix, colors.primaries, colors.transfer, full))
    info = probe(tmp_path / name)
    assert info['frames'] == 3 and info['size'] == (64, 48)
    reader = VideoReader(tmp_path / name)
    assert reader.bit_depth == read_bits and reader.colors == colors
    image = next(reader.frames()).image.astype(np.float64) / (255 if bits == 8 else 65535)
    expected = frames[0, :3].permute(1, 2, 0).numpy()
    assert np.abs(image - expected)[:, 4:-4].mean() < 0.01  # the colours come back (edges: 4:2:0 blur)


def read_png(path) -> np.ndarray:
    """A PNG as OpenCV reads it (8 or 16 bits), in RGB(A) order."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    return image if image.ndim == 2 else image[..., [2, 1, 0, 3][:image.shape[2]]]


@pytest.mark.parametrize('bits', [8, 16])
def test_ffv1_decodes_to_exactly_the_png_output(tmp_path, bits):
    """FFV1 stores the RGB(A) samples an image sequence holds: each output decodes to its PNGs exactly
    (the alpha as R = G = B), and the foreground read back as a conversion's input is its PNGs again."""
    if bits == 8:
        make_video(tmp_path / 'in.mkv', size=(64, 48), frames=3, noise=True)
    else:
        write_source(tmp_path / 'in.mkv', BT709, 10, size=(64, 48), frames=3)  # 10-bit levels into 16-bit outputs
    for output_type, suffix, codec in (('video', '.mkv', 'ffv1'), ('png_sequence', '', None)):
        convert_video(Passthrough(), str(tmp_path / 'in.mkv'), output_type=output_type, video_codec=codec,
                      bit_depth=bits, transparent=True, output_composition=tmp_path / f'com{suffix}',
                      output_alpha=tmp_path / f'pha{suffix}', output_foreground=tmp_path / f'fgr{suffix}',
                      progress=False)
    formats = {3: 'rgb24', 4: 'rgba'} if bits == 8 else {3: 'rgb48le', 4: 'rgba64le'}
    for name, channels, pix_fmt in (('com', 4, 'bgra'), ('pha', 3, 'bgr0'), ('fgr', 3, 'bgr0')):
        if bits == 16:
            pix_fmt = 'gbrap16le' if channels == 4 else 'gbrp16le'
        codec, stored, (matrix, _, _, color_range) = stream_info(tmp_path / f'{name}.mkv')
        assert (codec, stored, matrix, color_range) == ('ffv1', pix_fmt, 0, 2)  # RGB: no Y'CbCr matrix, full range
        with av.open(str(tmp_path / f'{name}.mkv')) as container:
            decoded = [frame.to_ndarray(format=formats[channels]) for frame in container.decode(video=0)]
        pngs = [read_png(tmp_path / name / f'{t:04d}.png') for t in range(3)]
        assert len(decoded) == 3 and pngs[0].dtype == (np.uint8 if bits == 8 else np.uint16)
        for t, (image, png) in enumerate(zip(decoded, pngs)):
            expected = np.repeat(png[..., None], 3, axis=2) if name == 'pha' else png
            assert np.array_equal(image, expected), (name, t, np.abs(image.astype(int) - expected).max())
    reader = VideoReader(tmp_path / 'fgr.mkv')  # its outputs get BT.709 Y'CbCr, limited range, as an image sequence's
    assert reader.bit_depth == bits and (reader.colors.matrix, reader.colors.full_range) == (1, False)
    for t, frame in enumerate(reader.frames()):
        assert np.array_equal(frame.image, read_png(tmp_path / 'fgr' / f'{t:04d}.png'))


def test_codec_and_container_errors(tmp_path):
    with pytest.raises(ConversionError, match=r'\.mp4 cannot hold prores'):
        VideoWriter(tmp_path / 'a.mp4', 30, codec='prores')
    with pytest.raises(ConversionError, match='transparent video needs .mov'):
        VideoWriter(tmp_path / 'a.mp4', 30, transparent=True)
    with pytest.raises(ConversionError, match='h264 in .mkv keeps no alpha'):
        VideoWriter(tmp_path / 'a.mkv', 30, codec='h264', transparent=True)
    with pytest.raises(ConversionError, match='h264 has no 16-bit format'):
        VideoWriter(tmp_path / 'a.mp4', 30, bit_depth=16)
    with pytest.raises(ConversionError, match='ffv1 has a fixed quality'):
        VideoWriter(tmp_path / 'a.mkv', 30, codec='ffv1', quality=10)
    with pytest.raises(ConversionError, match=r'CRF\) must be in 0\.\.51, got 60'):
        VideoWriter(tmp_path / 'a.mp4', 30, quality=60)
    with pytest.raises(ConversionError, match="unknown video codec 'mpeg2'"):
        VideoWriter(tmp_path / 'a.mkv', 30, codec='mpeg2')
    assert not list(tmp_path.iterdir())  # refused before any file


def test_default_is_constant_quality_and_mbps_forces_a_bit_rate(tmp_path):
    make_video(tmp_path / 'in.mp4', size=(128, 96), frames=3, noise=True)
    plan = ConversionPlan.resolve(tmp_path / 'in.mp4', ConversionOptions(output_composition=tmp_path / 'com.mp4'))
    assert plan.options.output_video_mbps is None and plan.encodings['composition'].options['crf'] == '18'
    convert_video(Passthrough(), str(tmp_path / 'in.mp4'), output_foreground=tmp_path / 'crf.mp4', progress=False)
    convert_video(Passthrough(), str(tmp_path / 'in.mp4'), output_foreground=tmp_path / 'low.mp4',
                  output_video_mbps=0.1, progress=False)
    with pytest.raises(ConversionError, match='output_video_mbps .a bit rate. or video_quality'):
        ConversionPlan.resolve(tmp_path / 'in.mp4', ConversionOptions(output_alpha=tmp_path / 'a.mp4', output_video_mbps=1,
                                                                      video_quality=18))
    source = np.stack([f.image for f in VideoReader(tmp_path / 'in.mp4').frames()]).astype(float)

    def psnr(path):
        decoded = np.stack([f.image for f in VideoReader(path).frames()]).astype(float)
        return 10 * np.log10(255 ** 2 / ((decoded - source) ** 2).mean())
    assert psnr(tmp_path / 'crf.mp4') > max(34, psnr(tmp_path / 'low.mp4') + 5)  # +-40 of noise: bits decide


def test_ten_bit_input_keeps_its_levels(tmp_path):
    write_source(tmp_path / 'in10.mkv', BT709, 10)
    reader = VideoReader(tmp_path / 'in10.mkv')
    frame = next(reader.frames())
    assert reader.bit_depth == 10 and frame.image.dtype == np.uint16
    assert len(np.unique(frame.image[..., 0])) > 600  # 1024 steps in, 877 levels of 10-bit limited range
    convert_video(Passthrough(), str(tmp_path / 'in10.mkv'), output_foreground=tmp_path / 'auto.mp4',
                  output_composition=tmp_path / 'com.mov', video_codec=None, progress=False)
    assert stream_info(tmp_path / 'auto.mp4')[:2] == ('hevc', 'yuv420p10le')  # 10-bit input: H.265 Main10
    assert luma_levels(tmp_path / 'auto.mp4') > 600  # no banding: far more than 256 levels
    assert stream_info(tmp_path / 'com.mov')[:2] == ('prores', 'yuva444p12le')  # transparent .mov: ProRes 4444
    convert_video(Passthrough(), str(tmp_path / 'in10.mkv'), output_foreground=tmp_path / 'eight.mp4',
                  video_codec='h264', progress=False)
    assert stream_info(tmp_path / 'eight.mp4')[:2] == ('h264', 'yuv420p') and luma_levels(tmp_path / 'eight.mp4') <= 256


def test_sixteen_bit_image_sequence_input_keeps_its_levels(tmp_path):
    (tmp_path / 'in').mkdir()
    for t, frame in enumerate(ramp(frames=2)):
        image = (frame.permute(1, 2, 0).numpy() * 65535).round().astype(np.uint16)
        cv2.imwrite(str(tmp_path / 'in' / f'{t}.png'), image[..., ::-1])
    convert_video(Passthrough(), str(tmp_path / 'in'), output_foreground=tmp_path / 'fgr.mp4', progress=False)
    assert stream_info(tmp_path / 'fgr.mp4')[:2] == ('hevc', 'yuv420p10le')  # more than 8 bits in: Main10
    assert luma_levels(tmp_path / 'fgr.mp4') > 600


@pytest.mark.parametrize('output_type, bit_depth, extension', [
    ('png_sequence', 16, 'png'), ('tiff_sequence', 16, 'tif'), ('exr_sequence', None, 'exr'), ('exr_sequence', 32, 'exr')])
def test_alpha_sequences_hold_values_between_8_bit_steps(tmp_path, output_type, bit_depth, extension):
    make_video(tmp_path / 'in.mp4', size=(1000, 8), frames=2)
    convert_video(Passthrough(), str(tmp_path / 'in.mp4'), output_alpha=tmp_path / 'pha', output_type=output_type,
                  bit_depth=bit_depth, progress=False)
    assert entries(tmp_path / 'pha') == [f'0000.{extension}', f'0001.{extension}']
    assert check_sequence_directory(str(tmp_path / 'pha'), extension) == {f'0000.{extension}', f'0001.{extension}'}
    path = str(tmp_path / 'pha' / f'0001.{extension}')
    if extension == 'exr':
        with OpenEXR.File(path) as file:
            pha = file.channels()['A'].pixels
        assert pha.dtype == (np.float32 if bit_depth == 32 else np.float16)
    else:
        image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint16 and image.ndim == 2
        pha = image / 65535
    expected = np.linspace(0, 1, 1000)
    assert np.abs(pha[0] - expected).max() < (1e-3 if extension == 'exr' else 1 / 65535)
    between = np.abs(pha[0] * 255 - np.round(pha[0] * 255)) > 0.1  # off the 8-bit grid
    assert between.mean() > 0.5
    assert len(np.unique(pha)) > 600


def write_users_image(path, extension: str, bits: int) -> None:
    """A numbered image as another program writes it: no mark of this tool."""
    image = np.full((6, 8), 7, np.uint8 if bits == 8 else np.uint16)
    if extension == 'exr':
        with OpenEXR.File({'type': OpenEXR.scanlineimage}, {'A': image.astype(np.float16)}) as file:
            file.write(str(path))
    else:
        cv2.imwrite(str(path), image)


@pytest.mark.parametrize('extension, bits', [('png', 8), ('png', 16), ('tif', 8), ('tif', 16), ('jpg', 8),
                                             ('exr', 16), ('exr', 32)])
def test_frames_carry_the_mark_in_their_first_bytes(tmp_path, extension, bits):
    """Ownership is read from the frames: each carries the mark near its start (PNG: within the first
    100 bytes), so a frame cut short by a crash is still this tool's, and an image without it is not."""
    writer = ImageSequenceWriter(tmp_path / 'seq', extension, bits)
    writer.write(torch.rand(2, 1, 6, 8))
    writer.close()
    data = (tmp_path / 'seq' / f'0001.{extension}').read_bytes()
    end = data.find(MARK.encode()) + len(MARK)
    assert len(MARK) <= end <= (100 if extension == 'png' else 400)
    (tmp_path / 'seq' / f'0001.{extension}').write_bytes(data[:end])  # a crash right after the mark
    assert check_sequence_directory(str(tmp_path / 'seq'), extension) == {f'0000.{extension}', f'0001.{extension}'}
    write_users_image(tmp_path / 'seq' / f'0002.{extension}', extension, bits)
    with pytest.raises(ConversionError, match=rf'already holds 0002.{extension} \(1 numbered images'):
        ImageSequenceWriter(tmp_path / 'seq', extension, bits)


def test_premultiplied_and_straight_alpha(tmp_path):
    make_video(tmp_path / 'in.mp4', size=(64, 48), frames=2)
    outputs = {'output_composition': tmp_path / 'com', 'output_foreground': tmp_path / 'fgr'}
    convert_video(Passthrough(), str(tmp_path / 'in.mp4'), premultiplied=True, progress=False, **outputs)
    fgr_straight = np.asarray(cv2.imread(str(tmp_path / 'fgr' / '0000.png'))[..., ::-1], dtype=float)
    convert_video(Passthrough(), str(tmp_path / 'in.mp4'), progress=False,
                  output_composition=tmp_path / 'straight', output_foreground=tmp_path / 'plain')
    rgba = cv2.imread(str(tmp_path / 'com' / '0000.png'), cv2.IMREAD_UNCHANGED)[..., [2, 1, 0, 3]].astype(float)
    plain = cv2.imread(str(tmp_path / 'plain' / '0000.png'))[..., ::-1].astype(float)
    straight = cv2.imread(str(tmp_path / 'straight' / '0000.png'), cv2.IMREAD_UNCHANGED)[..., [2, 1, 0, 3]].astype(float)
    pha = np.linspace(0, 1, 64)[None, :, None]
    assert np.abs(rgba[..., 3:] / 255 - pha).max() <= 1 / 255  # the alpha itself is the same
    assert np.abs(rgba[..., :3] - plain * pha).max() <= 1       # premultiplied: fgr * pha within 1 level
    assert np.abs(fgr_straight - plain * pha).max() <= 1        # the foreground output too
    assert np.abs(straight[:, 1:, :3] - plain[:, 1:]).max() <= 1  # straight (the default): fgr where alpha > 0
    assert np.abs(rgba[:, 16:, :3] - plain[:, 16:]).max() > 30   # and the two differ


def test_h265_clips_shorter_than_its_b_frame_delay_play(tmp_path):
    """x265 leaves the dts of one- and two-frame clips uninitialised (about one clip in two): the writer
    sets them, so every such MP4 has every frame and increasing decode times from 0."""
    for attempt in range(4):
        for frames in (1, 2):
            path = tmp_path / f'{attempt}_{frames}.mp4'
            writer = VideoWriter(path, 30, codec='h265', bit_depth=10)
            writer.write(ramp(64, 48, frames))
            writer.close()
            with av.open(str(path)) as container:
                dts = [packet.dts for packet in container.demux(video=0) if packet.size]
                assert len(dts) == frames and dts[0] == 0 and dts == sorted(set(dts)), (path.name, dts)


def test_hdr_is_carried_through_or_refused(tmp_path):
    write_source(tmp_path / 'hdr.mkv', PQ, 10, size=(64, 48))
    convert_video(Passthrough(), str(tmp_path / 'hdr.mkv'), output_composition=tmp_path / 'com.mp4',
                  output_alpha=tmp_path / 'pha.mp4', progress=False)
    assert stream_info(tmp_path / 'com.mp4') == ('hevc', 'yuv420p10le', (9, 9, 16, 1))  # tags carried through
    assert stream_info(tmp_path / 'pha.mp4')[2] == (1, 1, 1, 1)  # the matte is coverage, not HDR light
    for kwargs, message in [
            ({'output_composition': tmp_path / 'com.webm'}, r'hdr.mkv is HDR \(BT.2020 PQ, limited range\): '
                                                            r'output_composition as 8-bit vp9 would band'),
            ({'output_foreground': tmp_path / 'fgr.mp4', 'video_codec': 'h264'}, '8-bit h264 would band'),
            ({'output_composition': tmp_path / 'com'}, 'png_sequence images cannot carry its colours')]:
        with pytest.raises(ConversionError, match=message):
            convert_video(Passthrough(), str(tmp_path / 'hdr.mkv'), progress=False, **kwargs)
    convert_video(Passthrough(), str(tmp_path / 'hdr.mkv'), output_alpha=tmp_path / 'pha', progress=False)  # alpha: fine


def test_input_matrix_and_range_are_kept(tmp_path):
    """A BT.601 full-range input is written back in BT.601 full range, its colours unchanged."""
    writer = VideoWriter(tmp_path / 'sd.mkv', 30, codec='h264', quality=0, colors=BT601_FULL)  # lossless
    red = torch.tensor([0.9, 0.1, 0.2]).view(1, 3, 1, 1).expand(2, 3, 48, 64)
    writer.write(red)
    writer.close()
    convert_video(Passthrough(), str(tmp_path / 'sd.mkv'), output_foreground=tmp_path / 'fgr.mp4', progress=False)
    assert stream_info(tmp_path / 'fgr.mp4')[2] == (5, 6, 6, 2)
    with av.open(str(tmp_path / 'fgr.mp4')) as container:
        frame = next(container.decode(video=0))
        y = frame.to_ndarray(format='yuv420p')[:48].mean()
    assert abs(y - (0.299 * 0.9 + 0.587 * 0.1 + 0.114 * 0.2) * 255) < 1.5  # BT.601 luma, full range
    image = next(VideoReader(tmp_path / 'fgr.mp4').frames()).image
    assert np.abs(image.reshape(-1, 3).mean(0) - np.array([0.9, 0.1, 0.2]) * 255).max() < 3


def test_cli_flags(tmp_path, monkeypatch, capsys):
    make_video(tmp_path / 'in.mp4', size=(64, 48), frames=2)
    monkeypatch.setattr(inference, 'model_from_arguments', lambda *args, **kwargs: Passthrough())
    main(['--input-source', str(tmp_path / 'in.mp4'), '--output-foreground', str(tmp_path / 'fgr.mkv'),
          '--video-codec', 'ffv1', '--bit-depth', '10', '--premultiplied', '--disable-progress', '--checkpoint', 'x'])
    assert stream_info(tmp_path / 'fgr.mkv')[:2] == ('ffv1', 'gbrp10le')
    main(['--input-source', str(tmp_path / 'in.mp4'), '--output-foreground', str(tmp_path / 'q.mp4'),
          '--video-quality', '30', '--disable-progress', '--checkpoint', 'x'])
    assert probe(tmp_path / 'q.mp4')['codec'] == 'h264'
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(['--input-source', str(tmp_path / 'in.mp4'), '--output-alpha', str(tmp_path / 'pha.mp4'),
              '--video-codec', 'prores', '--checkpoint', 'x'])
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and '.mp4 cannot hold prores' in err
