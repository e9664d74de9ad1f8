"""Readers, writers, backgrounds and the threading helpers of the streaming core, on clips made here."""
import threading
import time
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms.functional import to_tensor

from inference_utils import ImageSequenceReader, ImageSequenceWriter, VideoReader, VideoWriter
from streaming.background import Background, parse_color
from streaming.color import to_images, to_yuv420
from streaming.formats import ConversionError, natural_key
from streaming.images import image_to_rgb
from streaming.threads import ThreadedWriter, Turns, prefetch
from streaming.writers import drop_incomplete_fragment, to_fraction
from media import (decode_rgb, decode_rgba, entries, frame_color, make_video, probe, read_like_original_rvm,
                   set_mp4_rotation)

NTSC = Fraction(30000, 1001)


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp('clip') / 'clip.mp4'
    make_video(path, size=(64, 48), frames=6, rate=NTSC, time_base=Fraction(1, 30000), pts=[i * 1001 for i in range(6)])
    return path


def assert_color(image, color, tol=4):
    assert np.abs(image.reshape(-1, 3).mean(0) - np.array(color)).max() <= tol


def to_frames(images: np.ndarray) -> torch.Tensor:
    """`[T, H, W, 3]` uint8 -> `[T, 3, H, W]` in 0..1, what writers take."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)


def test_natural_key_and_fraction():
    assert sorted(['f10.png', 'f2.png', 'F1.png'], key=natural_key) == ['F1.png', 'f2.png', 'f10.png']
    assert to_fraction(29.97002997) == NTSC and to_fraction(23.976) == Fraction(24000, 1001)
    assert to_fraction(25.0) == 25 and to_fraction(NTSC) == NTSC


def test_video_reader(clip):
    reader = VideoReader(clip, transform=to_tensor)
    assert len(reader) == 6 and reader.frame_rate == NTSC and (reader.width, reader.height) == (64, 48)
    assert not reader.has_audio
    frames = list(reader.frames())
    assert [f.pts for f in frames] == [i * 1001 for i in range(6)]
    for i, frame in enumerate(frames):
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
        assert_color(frame.image, frame_color(i))
    # Dataset access: forward, backward (restarts), transform applied
    assert torch.allclose(reader[3], to_tensor(frames[3].image))
    assert torch.allclose(reader[1], to_tensor(frames[1].image))
    assert len(list(reader)) == 6
    with pytest.raises(IndexError):
        reader[6]
    assert next(iter(reader.frames(size=(33, 17)))).image.shape == (17, 33, 3)
    # the original use: a DataLoader, here with worker processes that each decode their own share
    batches = list(DataLoader(reader, batch_size=2, num_workers=2))
    assert [b.shape for b in batches] == [(2, 3, 48, 64)] * 3
    assert torch.allclose(torch.cat(batches), torch.stack([to_tensor(f.image) for f in frames]))


def test_phone_rotation_is_applied(tmp_path):
    with av.open(str(tmp_path / 'raw.mp4'), 'w') as container:
        stream = container.add_stream('libx264', rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, 'yuv420p'
        image = np.zeros((48, 64, 3), np.uint8)
        image[:24] = (255, 0, 0)  # the top of the scene as stored: red
        image[24:] = (0, 0, 255)
        container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')))
        container.mux(stream.encode())
    set_mp4_rotation(tmp_path / 'raw.mp4', tmp_path / 'phone.mp4')
    reader = VideoReader(tmp_path / 'phone.mp4')
    assert reader.rotation == -90 and (reader.width, reader.height) == (48, 64)
    upright = next(reader.frames()).image
    assert upright.shape == (64, 48, 3)  # turned clockwise: the stored top is now on the right
    assert_color(upright[:, 28:], (255, 0, 0), tol=8)
    assert_color(upright[:, :20], (0, 0, 255), tol=8)
    assert next(reader.frames(size=(24, 32))).image.shape == (32, 24, 3)


def test_reader_rejects_bad_input(tmp_path):
    with pytest.raises(ConversionError, match='does not exist'):
        VideoReader(tmp_path / 'missing.mp4')
    text = tmp_path / 'notes.mp4'
    text.write_text('not a video at all\n' * 50)
    with pytest.raises(ConversionError, match='notes.mp4 is not a video'):
        VideoReader(text)
    with av.open(str(tmp_path / 'whole.mp4'), 'w') as container:  # a plain MP4: the index (moov) is written last
        stream = container.add_stream('mpeg4', rate=30)
        stream.width, stream.height = 64, 48
        for i in range(10):
            noise = np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(noise, 'rgb24')))
        container.mux(stream.encode())
    whole = (tmp_path / 'whole.mp4').read_bytes()
    (tmp_path / 'cut.mp4').write_bytes(whole[:len(whole) // 2])
    with pytest.raises(ConversionError, match=r'cut.mp4 is an MP4 without its index \(moov box\)'):
        VideoReader(tmp_path / 'cut.mp4')
    with pytest.raises(ConversionError, match='has no image files'):
        ImageSequenceReader(tmp_path)


def test_image_sequence_reader_order_and_modes(tmp_path):
    Image.new('L', (8, 6), 100).save(tmp_path / 'frame10.png')
    Image.new('RGBA', (8, 6), (10, 20, 30, 0)).save(tmp_path / 'frame1.png')
    Image.fromarray(np.full((6, 8), 32896, np.uint16)).save(tmp_path / 'frame2.png')  # 16-bit gray: 128 in 8 bits
    Image.new('RGB', (8, 6), (255, 0, 0)).convert('P').save(tmp_path / 'frame3.gif')
    Image.new('RGB', (8, 6)).save(tmp_path / '.hidden.png')
    (tmp_path / 'notes.txt').write_text('not an image')
    reader = ImageSequenceReader(tmp_path)
    assert [p.rsplit('/', 1)[1] for p in reader.files] == ['frame1.png', 'frame2.png', 'frame3.gif', 'frame10.png']
    images = [f.image for f in reader.frames()]
    assert [tuple(image[0, 0]) for image in images] == [(10, 20, 30), (128, 128, 128), (255, 0, 0), (100, 100, 100)]
    assert all(image.shape == (6, 8, 3) and image.dtype == np.uint8 for image in images)  # an 8-bit first image
    assert reader[0].mode == 'RGB' and reader.frame_rate == 30
    assert [f.pts for f in reader.frames(num_workers=2)] == [0, 1, 2, 3]


def test_sixteen_bit_image_sequence_keeps_its_levels(tmp_path):
    """A sequence whose first image is 16-bit is read at 16 bits, whatever the later images hold."""
    ramp = np.linspace(0, 65535, 1024).round().astype(np.uint16)
    rgb = np.stack([ramp, ramp // 2, 65535 - ramp], axis=1)[None].repeat(4, axis=0)  # [4, 1024, 3]
    cv2.imwrite(str(tmp_path / '1.png'), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / '2.tif'), rgb[..., ::-1])
    Image.new('RGB', (1024, 4), (255, 0, 128)).save(tmp_path / '3.png')
    reader = ImageSequenceReader(tmp_path)
    images = [f.image for f in reader.frames()]
    assert reader.bit_depth == 16 and all(image.dtype == np.uint16 for image in images)
    assert np.array_equal(images[0], rgb) and np.array_equal(images[1], rgb)
    assert tuple(images[2][0, 0]) == (65535, 0, 128 * 257)
    assert reader.load(0, size=(512, 2)).dtype == np.uint16 and reader[0].mode == 'RGB'  # the Dataset stays 8-bit


def test_image_sequence_mixed_sizes(tmp_path):
    Image.new('RGB', (8, 6)).save(tmp_path / '1.png')
    Image.new('RGB', (8, 7)).save(tmp_path / '2.png')
    with pytest.raises(ConversionError, match=r'2.png is 8x7 but .*1.png is 8x6'):
        list(ImageSequenceReader(tmp_path).frames())
    # resizing makes them one size
    assert [f.image.shape for f in ImageSequenceReader(tmp_path).frames(size=(4, 4))] == [(4, 4, 3)] * 2


def test_image_to_rgb_16bit_rgb_and_palette():
    palette = Image.new('P', (2, 2))
    palette.putpalette([0, 0, 0, 255, 0, 0])
    palette.putpixel((0, 0), 1)
    assert tuple(image_to_rgb(palette)[0, 0]) == (255, 0, 0)
    assert tuple(image_to_rgb(Image.new('I', (2, 2), 65535))[0, 0]) == (255, 255, 255)


@pytest.mark.parametrize('size', [(64, 48), (65, 49)])
def test_video_writer_sizes_gray_and_rate(tmp_path, size):
    path = tmp_path / 'out.mp4'
    writer = VideoWriter(path, frame_rate=29.97002997)
    frames = torch.linspace(0, 1, 5).view(5, 1, 1, 1).expand(5, 1, size[1], size[0])
    writer.write(frames[:3])
    writer.write(frames[3:])
    writer.close()
    info = probe(path)
    assert info['frames'] == 5 and info['rate'] == NTSC
    assert info['size'] == (size[0] + size[0] % 2, size[1] + size[1] % 2)  # H.264 4:2:0: padded to even
    decoded = decode_rgb(path)
    for t, image in enumerate(decoded):
        assert_color(image, [round(255 * t / 4)] * 3, tol=3)


def test_to_yuv420_is_bt709_limited_range():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 48), torch.linspace(0, 1, 64), indexing='ij')
    rgb = torch.stack([xx, yy, (1 - xx) * yy])[None]  # smooth, so that 2x2 chroma averages agree
    planes = to_yuv420(torch.cat([rgb, rgb.flip(3)]))
    assert planes.shape == (2, 72, 64) and planes.dtype == torch.uint8
    images = to_images(rgb)[0].numpy()
    reference = av.VideoFrame.from_ndarray(images, format='rgb24').reformat(
        format='yuv420p', dst_colorspace='itu709', dst_color_range='MPEG').to_ndarray()
    assert np.abs(planes[0].numpy().astype(int) - reference).max() <= 1  # FFmpeg's conversion, to rounding
    # the corners of the range: black and white are Y' 16 and 235, red is BT.709's (63, 102, 240)
    corners = torch.tensor([[0, 0, 0], [1, 1, 1], [1, 0, 0]], dtype=torch.float32).view(3, 3, 1, 1).expand(3, 3, 2, 2)
    assert to_yuv420(corners).view(3, 6).tolist() == [[16] * 4 + [128, 128], [235] * 4 + [128, 128],
                                                      [63] * 4 + [102, 240]]  # Y' of 2x2 pixels, then Cb, Cr
    gray = to_yuv420(torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1).expand(3, 1, 2, 2))
    assert gray.view(3, 6).tolist() == [[16] * 4 + [128, 128], [126] * 4 + [128, 128], [235] * 4 + [128, 128]]


def test_video_colors_are_tagged_and_read_back(tmp_path):
    colors = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.47, 1, 0.6]]).view(4, 3, 1, 1).expand(4, 3, 48, 64)
    writer = VideoWriter(tmp_path / 'out.mp4', 30, bit_rate=4_000_000)
    writer.write(colors)
    writer.close()
    with av.open(str(tmp_path / 'out.mp4')) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_primaries, context.color_trc, context.color_range) == (1, 1, 1, 1)
    for frame, color in zip(VideoReader(tmp_path / 'out.mp4').frames(), colors[:, :, 0, 0]):
        assert_color(frame.image, (color * 255).tolist(), tol=3)
    # untagged video is read as players read it: BT.709 when HD, BT.601 below
    red = to_yuv420(torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1).expand(1, 3, 720, 1280))[0].numpy()
    for size in ((1280, 720), (640, 480)):
        with av.open(str(tmp_path / 'untagged.mkv'), 'w') as container:
            stream = container.add_stream('ffv1', rate=30)
            stream.width, stream.height, stream.pix_fmt = *size, 'yuv420p'
            planes = np.concatenate([red[:size[1], :size[0]], red[720:720 + size[1] // 2, :size[0]]])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(planes, format='yuv420p')))
            container.mux(stream.encode())
        image = next(VideoReader(tmp_path / 'untagged.mkv').frames()).image
        if size[1] == 720:
            assert_color(image, (255, 0, 0), tol=1)
        else:  # BT.709 planes read with BT.601: visibly off
            assert np.abs(image.reshape(-1, 3).mean(0) - (255, 0, 0)).max() > 10


def test_writer_rejects_bad_frames(tmp_path):
    writer = VideoWriter(tmp_path / 'out.mp4', 30)
    with pytest.raises(ConversionError, match='4-channel frames'):
        writer.write(torch.zeros(1, 4, 8, 8))
    writer.close()
    assert not (tmp_path / 'out.mp4').exists()  # no frame written: no empty file left
    with pytest.raises(ConversionError, match='transparent video needs .mov'):
        VideoWriter(tmp_path / 'out.mp4', 30, transparent=True)
    with pytest.raises(ConversionError, match='unknown video extension'):
        VideoWriter(tmp_path / 'out.xyz', 30)


@pytest.mark.parametrize('name', ['out.webm', 'out.mov'])
def test_transparent_video_alpha_decodes_back(tmp_path, name):
    rgba = torch.zeros(3, 4, 49, 65)
    rgba[:, 0] = 0.8
    rgba[:, 3, :, :30] = 1.0
    rgba[:, 3, :, 30:] = torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1)
    writer = VideoWriter(tmp_path / name, 30, bit_rate=4_000_000, transparent=True)
    writer.write(rgba)
    writer.close()
    frames = decode_rgba(tmp_path / name)
    assert len(frames) == 3 and frames[0].shape == (49, 65, 4)
    for t, frame in enumerate(frames):
        assert abs(frame[:, :26, 3].mean() - 255) < 3
        assert abs(frame[:, 34:, 3].mean() - 255 * [0.0, 0.5, 1.0][t]) < 3
        assert abs(frame[:, :26, 0].mean() - 204) < 4


def test_variable_frame_rate_pts_kept(tmp_path):
    pts = [0, 33, 66, 150, 300, 310, 400]
    src = tmp_path / 'vfr.mkv'
    make_video(src, frames=len(pts), rate=30, pts=pts, time_base=Fraction(1, 1000))
    reader = VideoReader(src)
    frames = list(reader.frames())
    writer = VideoWriter(tmp_path / 'out.mp4', reader.frame_rate, time_base=reader.time_base)
    writer.write(to_frames(np.stack([f.image for f in frames])), [f.pts for f in frames])
    writer.close()
    assert probe(tmp_path / 'out.mp4')['times'] == pytest.approx([p / 1000 for p in pts], abs=1e-3)


@pytest.mark.parametrize('name, codec', [('out.mp4', 'aac'), ('out.webm', 'opus'), ('out.mkv', 'aac')])
def test_audio_copied_in_sync(tmp_path, name, codec):
    src = tmp_path / 'in.mp4'
    make_video(src, frames=15, rate=30, audio_seconds=0.5)
    reader = VideoReader(src)
    assert reader.has_audio
    writer = VideoWriter(tmp_path / name, reader.frame_rate, time_base=reader.time_base, audio_source=str(src))
    for frame in reader.frames():
        writer.write(to_frames(frame.image[None]), [frame.pts])
    writer.close()
    info = probe(tmp_path / name)
    assert info['frames'] == 15 and info['audio'] == codec
    # the audio covers the video (0.5 s), give or take an AAC packet (23 ms) and its priming
    assert 0.5 - 0.03 <= info['audio_seconds'] <= 0.5 + 0.05


def test_truncated_video_warns_and_keeps_frames(tmp_path):
    src = tmp_path / 'in.mp4'
    make_video(src, frames=30, rate=30, noise=True)
    cut = tmp_path / 'cut.mp4'
    cut.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    with pytest.warns(RuntimeWarning, match=r'cut.mp4: decoded (\d+) of the 30 frames its header lists .*after frame'):
        frames = list(VideoReader(cut).frames())
    assert 5 < len(frames) < 30
    for i, frame in enumerate(frames):
        assert_color(frame.image, frame_color(i), tol=8)


def test_corrupt_video_warns_with_frame_index(tmp_path):
    src = tmp_path / 'in.mkv'
    make_video(src, frames=30, rate=30, noise=True)
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 2000] = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    bad = tmp_path / 'bad.mkv'
    bad.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match=r'bad.mkv: .*frame \d+'):
        frames = list(VideoReader(bad).frames())
    assert 5 < len(frames) <= 30


def test_image_sequence_writer(tmp_path):
    frames = [torch.rand(2, 4, 6, 8), torch.rand(1, 1, 6, 8)]
    writer = ImageSequenceWriter(tmp_path / 'seq', 'png')
    for chunk in frames:
        writer.write(chunk)
    writer.close()
    # the folder holds the frames and nothing else, so that a reader of every file in it reads them all
    assert entries(tmp_path / 'seq') == ['0000.png', '0001.png', '0002.png']
    read = read_like_original_rvm(tmp_path / 'seq')
    expected = [image[..., 0] if image.shape[2] == 1 else image
                for chunk in frames for image in to_images(chunk).numpy()]
    assert [image.shape for image in read] == [(6, 8, 4), (6, 8, 4), (6, 8)]
    assert all(np.array_equal(a, b) for a, b in zip(read, expected))
    # a shorter run into the same directory: its frames replace the first ones, the rest are removed;
    # the frame list an older version kept there goes too
    (tmp_path / 'seq' / 'notes.txt').write_text('mine')
    (tmp_path / 'seq' / '.rvm-frames.txt').write_text('0000.png\n0001.png\n0002.png\n')
    writer = ImageSequenceWriter(tmp_path / 'seq', 'png')
    writer.write(torch.zeros(1, 3, 6, 8))
    writer.close()
    assert entries(tmp_path / 'seq') == ['0000.png', 'notes.txt']
    assert Image.open(tmp_path / 'seq' / '0000.png').mode == 'RGB'
    # the user's own numbered images: refused before anything is written, and left as they were
    (tmp_path / 'own').mkdir()
    Image.new('L', (8, 6), 7).save(tmp_path / 'own' / '0001.png')
    mine = (tmp_path / 'own' / '0001.png').read_bytes()
    with pytest.raises(ConversionError, match=r'already holds 0001.png .*did not write'):
        ImageSequenceWriter(tmp_path / 'own', 'png')
    assert entries(tmp_path / 'own') == ['0001.png'] and (tmp_path / 'own' / '0001.png').read_bytes() == mine
    with pytest.raises(ConversionError, match='JPEG has no alpha'):
        ImageSequenceWriter(tmp_path / 'jpg').write(torch.rand(1, 4, 6, 8))


def test_prefetch_is_bounded_and_propagates_errors():
    produced = []

    def items():
        for i in range(100):
            produced.append(i)
            yield i
    iterator = prefetch(items(), 2)
    assert next(iterator) == 0
    time.sleep(0.2)
    assert len(produced) <= 4  # one consumed, two queued, one waiting to be put
    iterator.close()
    assert not any(t.name == 'rvm-reader' for t in threading.enumerate())

    def failing():
        yield 1
        raise ConversionError('frame 1 is broken')
    with pytest.raises(ConversionError, match='frame 1 is broken'):
        list(prefetch(failing(), 2))


class SlowWriter:
    """The writers' interface, taking 20 ms per write and recording `(start, end)` of each."""
    path = 'slow'

    def __init__(self):
        self.writes = []

    def write_packed(self, packed, pts):
        start = time.perf_counter()
        time.sleep(0.02)
        self.writes.append((start, time.perf_counter()))

    def close(self):
        pass


def test_turns_keep_writers_and_reader_out_of_the_network():
    turns = Turns(enabled=True)
    slow = SlowWriter()
    writer = ThreadedWriter(slow, 2, turns)
    networks = []
    for i in range(4):
        writer.write(lambda: torch.zeros(1), [2 * i])
        writer.write(lambda: torch.zeros(1), [2 * i + 1])
        with turns.network():  # waits for both writes, then holds the writer back
            start = time.perf_counter()
            writer.write(lambda: torch.zeros(1), [100 + i])  # queued now, written after the network
            time.sleep(0.03)
            networks.append((start, time.perf_counter()))
    writer.close()
    assert len(slow.writes) == 12
    for start, end in networks:
        assert all(w_end <= start or w_start >= end for w_start, w_end in slow.writes)

    made = []
    with turns.network():  # a reader does not start while the network runs
        items = prefetch((made.append(i) or i for i in range(3)), 2, turns)
        first = []
        consumer = threading.Thread(target=lambda: first.append(next(items)))
        consumer.start()
        time.sleep(0.1)
        assert made == []
    consumer.join(5)
    assert first == [0]
    items.close()

    off = Turns(enabled=False)  # for a GPU network: no waiting at all
    with off.network():
        off.wait()


def test_threaded_writer_raises_writer_errors(tmp_path):
    video = VideoWriter(tmp_path / 'out.mp4', 30)
    writer = ThreadedWriter(video)
    writer.write(lambda: video.pack(torch.zeros(1, 3, 8, 8)), [0])
    writer.write(lambda: video.pack(torch.zeros(1, 3, 8, 8)), [0])  # pts must increase
    with pytest.raises(ConversionError, match='pts 0 does not follow 0'):
        writer.close()
    assert probe(tmp_path / 'out.mp4')['frames'] == 1


def test_parse_color():
    assert parse_color('120,255,155') == parse_color('#78ff9b') == parse_color((120, 255, 155)) == (120, 255, 155)
    assert parse_color('white') == (255, 255, 255)
    for bad in ['nope', '1,2', '300,0,0']:
        with pytest.raises(ConversionError):
            parse_color(bad)


def test_background_image_covers_frame(tmp_path):
    image = np.zeros((10, 40, 3), np.uint8)  # wide: scaled to cover 20x20 then center-cropped
    image[:, :15] = (255, 0, 0)
    image[:, 15:25] = (0, 255, 0)
    image[:, 25:] = (0, 0, 255)
    Image.fromarray(image).save(tmp_path / 'bg.png')
    bg = Background(str(tmp_path / 'bg.png'), (20, 20), torch.device('cpu'), torch.float32)
    out = bg.next(3)
    assert out.shape == (1, 3, 20, 20)
    assert torch.allclose(out[0, :, :, 10], torch.tensor([0., 1., 0.]).view(3, 1).expand(3, 20))  # center stays
    assert torch.allclose(Background('0,0,255', (20, 20), 'cpu', torch.float32).next(2).flatten(), torch.tensor([0., 0., 1.]))


def test_background_video_loops(tmp_path):
    make_video(tmp_path / 'bg.mp4', size=(32, 24), frames=3)
    bg = Background(str(tmp_path / 'bg.mp4'), (16, 16), torch.device('cpu'), torch.float32)
    out = bg.next(7)
    bg.close()
    assert out.shape == (7, 3, 16, 16)
    for t in range(7):
        assert_color(out[t].permute(1, 2, 0).numpy() * 255, frame_color(t % 3))


def test_a_cut_fragmented_mp4_is_trimmed_to_its_last_complete_fragment(tmp_path):
    writer = VideoWriter(tmp_path / 'out.mp4', 30)
    writer.write(torch.rand(90, 3, 48, 64))  # three one-second fragments
    writer.close()
    data = (tmp_path / 'out.mp4').read_bytes()
    (tmp_path / 'cut.mp4').write_bytes(data[:int(len(data) * 0.77)])  # inside the third fragment
    with pytest.raises(av.error.InvalidDataError):
        probe(tmp_path / 'cut.mp4')
    drop_incomplete_fragment(str(tmp_path / 'cut.mp4'))
    assert probe(tmp_path / 'cut.mp4')['frames'] == 60
