"""convert_video and the inference.py command line, end to end on clips made here.

Most tests run a stub model with known outputs (fast, exact composition math); a few run a real
MattingNetwork with filled weights: the TorchScript path, the deployment hook and the CLI.
"""
import time
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

import inference
import model.checkpoint as checkpoint
from fill_weights import fill_state_dict
from inference import auto_downsample_ratio, convert_video, main
from inference_utils import VideoWriter
from streaming import ConversionError
from streaming.background import GREEN
from media import decode_rgb, decode_rgba, frame_color, make_video, probe, visible
from stubs import ALPHAS, FGR, StubMatting
from model import MattingNetwork
from streaming.device import Placement

NTSC = Fraction(30000, 1001)


def expected_composition(background):
    """The composition `[4 quarters, 3]` in 0..255 for each quarter's alpha."""
    fgr, bgr = torch.tensor(FGR), torch.tensor(background) / 255
    return torch.stack([fgr * a + bgr * (1 - a) for a in ALPHAS]).mul(255).round()


def quarter_means(image):
    """Mean color of each quarter of the width (away from its edges): `[4, C]`."""
    w = image.shape[1]
    return np.stack([image[:, q * w // 4 + 2:(q + 1) * w // 4 - 2].reshape(-1, image.shape[2]).mean(0) for q in range(4)])


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    """7 frames, 65x49 (odd), NTSC rate, with audio."""
    path = tmp_path_factory.mktemp('input') / 'input.mp4'
    make_video(path, size=(65, 49), frames=7, rate=NTSC, time_base=Fraction(1, 30000),
               pts=[i * 1001 for i in range(7)], audio_seconds=7 * 1001 / 30000, codec='mpeg4')
    return path



def test_cpu_network_runs_alone(tmp_path, clip, monkeypatch):
    """On the CPU, no output is being written while the network runs (streaming.threads.Turns)."""
    writing = []
    write_packed = VideoWriter.write_packed

    def slow_write_packed(self, packed, pts=None):
        writing.append(self)
        time.sleep(0.01)
        write_packed(self, packed, pts)
        writing.remove(self)

    class WatchedStub(StubMatting):
        def forward(self, *args, **kwargs):
            assert not writing, 'a writer is busy while the network runs'
            time.sleep(0.01)
            return super().forward(*args, **kwargs)
    monkeypatch.setattr(VideoWriter, 'write_packed', slow_write_packed)
    count = convert_video(WatchedStub(), str(clip), output_composition=tmp_path / 'com.mp4',
                          output_alpha=tmp_path / 'pha.mp4', progress=False, device='cpu')  # (else CUDA, if any)
    assert count == 7 and probe(tmp_path / 'com.mp4')['frames'] == 7


def test_auto_downsample_ratio():
    assert auto_downsample_ratio(1080, 1920) == pytest.approx(512 / 1920)
    assert auto_downsample_ratio(48, 64) == 1


def test_png_sequence_composition_math(tmp_path, clip):
    stub = StubMatting()
    threads = torch.get_num_threads()
    count = convert_video(stub, str(clip), output_type='png_sequence', output_composition=tmp_path / 'com',
                          output_alpha=tmp_path / 'pha', output_foreground=tmp_path / 'fgr', transparent=False,
                          progress=False)
    assert count == 7
    assert torch.get_num_threads() == threads  # the reader and writer threads' setting is their own
    for name in ('com', 'pha', 'fgr'):
        assert visible(tmp_path / name) == [f'{i:04d}.png' for i in range(7)]
    com = np.asarray(Image.open(tmp_path / 'com' / '0003.png'))
    assert com.shape == (49, 65, 3)
    assert np.abs(quarter_means(com) - expected_composition(GREEN).numpy()).max() <= 1  # float rounding at .5
    pha = np.asarray(Image.open(tmp_path / 'pha' / '0000.png'))
    assert pha.ndim == 2 and np.array_equal(quarter_means(pha[..., None])[:, 0], np.round(np.array(ALPHAS) * 255))
    fgr = np.asarray(Image.open(tmp_path / 'fgr' / '0006.png'))
    assert np.array_equal(fgr[0, 0], np.round(np.array(FGR) * 255))


def test_png_sequence_transparent_by_default(tmp_path, clip):
    convert_video(StubMatting(), str(clip), output_type='png_sequence', output_composition=tmp_path / 'com',
                  progress=False)
    com = np.asarray(Image.open(tmp_path / 'com' / '0000.png'))
    assert com.shape == (49, 65, 4)
    expected = [[0, 0, 0, 0]] + [list(np.round(np.array(FGR) * 255)) + [round(a * 255)] for a in ALPHAS[1:]]
    assert np.array_equal(quarter_means(com), np.array(expected))  # fgr zeroed where alpha is 0


def test_video_outputs_frames_rate_size_audio_and_state(tmp_path, clip):
    """(The clip's frames are solid colours, each a hard cut: the states are carried because resets
    at cuts are turned off; they are on by default, see test_scene_cuts_reset_by_default.)"""
    stub = StubMatting()
    count = convert_video(stub, str(clip), output_composition=tmp_path / 'com.mp4', output_alpha=tmp_path / 'pha.mp4',
                          output_foreground=tmp_path / 'fgr.webm', output_video_mbps=2, seq_chunk=3, progress=False,
                          reset_on_scene_cut=False)
    assert count == 7
    assert stub.calls == [(None, 1, 3), (3, 1, 3), (6, 1, 1)]  # states carried across chunks, auto ratio
    source = probe(clip)
    for name, size, audio in (('com.mp4', (66, 50), 'aac'), ('pha.mp4', (66, 50), 'aac'), ('fgr.webm', (66, 50), 'opus')):
        info = probe(tmp_path / name)
        assert info['frames'] == 7 and info['rate'] == NTSC and info['size'] == size, name
        assert info['times'] == pytest.approx(source['times'], abs=1e-3), name
        assert info['audio'] == audio and info['audio_seconds'] == pytest.approx(source['audio_seconds'], abs=0.05)
    com = decode_rgb(tmp_path / 'com.mp4')[3][:49, :65]
    assert np.abs(quarter_means(com) - expected_composition(GREEN).numpy()).max() < 6
    pha = decode_rgb(tmp_path / 'pha.mp4')[3][:49, :65]
    assert np.abs(quarter_means(pha)[:, 0] - np.array(ALPHAS) * 255).max() < 4


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_cuda_matches_cpu(tmp_path, clip, dtype):
    """The CUDA path (pinned memory, non_blocking copies, events) writes what the CPU path writes."""
    for device in ('cpu', 'cuda'):
        convert_video(StubMatting().to(device), str(clip), output_type='png_sequence', output_composition=tmp_path / device,
                      output_alpha=tmp_path / f'{device}-pha', background='white', seq_chunk=3, device=device,
                      dtype=dtype if device == 'cuda' else torch.float32, progress=False)
    for name in ('', '-pha'):
        for t in range(7):
            cpu = np.asarray(Image.open(tmp_path / f'cpu{name}' / f'{t:04d}.png'), dtype=np.int16)
            cuda = np.asarray(Image.open(tmp_path / f'cuda{name}' / f'{t:04d}.png'), dtype=np.int16)
            assert np.abs(cpu - cuda).max() <= 1


@pytest.mark.parametrize('name', ['com.webm', 'com.mov'])
def test_transparent_video_composition(tmp_path, clip, name):
    convert_video(StubMatting(), str(clip), output_composition=tmp_path / name, output_video_mbps=4, progress=False)
    frames = decode_rgba(tmp_path / name)
    assert len(frames) == 7 and frames[0].shape == (49, 65, 4)
    means = quarter_means(frames[2])
    assert np.abs(means[:, 3] - np.array(ALPHAS) * 255).max() < 4
    assert np.abs(means[3, :3] - np.array(FGR) * 255).max() < 6


def test_background_video_is_looped_and_color_parsed(tmp_path, clip):
    make_video(tmp_path / 'bg.mp4', size=(130, 98), frames=3)
    convert_video(StubMatting(), str(clip), output_type='png_sequence', output_composition=tmp_path / 'com',
                  background=str(tmp_path / 'bg.mp4'), progress=False)
    for t in range(7):
        com = np.asarray(Image.open(tmp_path / 'com' / f'{t:04d}.png'))
        assert com.shape == (49, 65, 3)
        assert np.abs(quarter_means(com)[0] - np.array(frame_color(t % 3))).max() < 4  # alpha 0: the background
    convert_video(StubMatting(), str(clip), output_type='png_sequence', output_composition=tmp_path / 'white',
                  background='white', progress=False)
    white = np.asarray(Image.open(tmp_path / 'white' / '0000.png'))
    assert np.abs(quarter_means(white) - expected_composition((255, 255, 255)).numpy()).max() <= 1
    with pytest.raises(ConversionError, match='not both'):
        convert_video(StubMatting(), str(clip), output_composition=tmp_path / 'c.webm', background='white',
                      transparent=True)


def test_input_resize_and_its_downsample_ratio(tmp_path, clip):
    stub = StubMatting()
    convert_video(stub, str(clip), input_resize=(1024, 40), output_type='png_sequence',
                  output_alpha=tmp_path / 'pha', seq_chunk=4, progress=False, reset_on_scene_cut=False)
    assert [call[1] for call in stub.calls] == [0.5, 0.5]  # a call per chunk (no resets at the clip's cuts)
    assert Image.open(tmp_path / 'pha' / '0006.png').size == (1024, 40)


def test_variable_frame_rate_and_image_sequence_input(tmp_path):
    pts = [0, 40, 80, 200, 210, 400]
    make_video(tmp_path / 'vfr.mkv', frames=6, rate=25, pts=pts, time_base=Fraction(1, 1000))
    convert_video(StubMatting(), str(tmp_path / 'vfr.mkv'), output_alpha=tmp_path / 'pha.mp4', progress=False)
    assert probe(tmp_path / 'pha.mp4')['times'] == pytest.approx([p / 1000 for p in pts], abs=1e-3)

    (tmp_path / 'seq').mkdir()
    for i in (1, 2, 10):
        Image.new('RGB', (32, 24), (i, i, i)).save(tmp_path / 'seq' / f'img{i}.jpg')
    convert_video(StubMatting(), str(tmp_path / 'seq'), output_foreground=tmp_path / 'fgr.mp4', num_workers=2,
                  progress=False)
    info = probe(tmp_path / 'fgr.mp4')
    assert info['frames'] == 3 and info['rate'] == 30 and info['audio'] is None


def test_bad_inputs_fail_before_any_output(tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'text.mp4').write_text('hello\n' * 100)
    cases = [(tmp_path / 'missing.mp4', 'does not exist'), (tmp_path / 'empty', 'has no image files'),
             (tmp_path / 'text.mp4', 'is not a video')]
    for source, message in cases:
        stub = StubMatting()
        with pytest.raises(ConversionError, match=message):
            convert_video(stub, str(source), output_alpha=tmp_path / 'out.mp4', progress=False)
        assert not stub.calls and not (tmp_path / 'out.mp4').exists()
    with pytest.raises(ConversionError, match='no output'):
        convert_video(StubMatting(), str(tmp_path / 'empty'))


def test_refuses_to_overwrite_input_and_unwritable_outputs(tmp_path, clip):
    before = clip.read_bytes()
    with pytest.raises(ConversionError, match='same path as the input'):
        convert_video(StubMatting(), str(clip), output_composition=str(clip), progress=False)
    assert clip.read_bytes() == before
    with pytest.raises(ConversionError, match='same path as output_alpha'):
        convert_video(StubMatting(), str(clip), output_alpha=tmp_path / 'a.mp4', output_foreground=tmp_path / 'a.mp4')
    (tmp_path / 'file').write_text('a file, not a folder')
    stub = StubMatting()
    with pytest.raises(ConversionError, match='cannot write .*file/out.mp4'):
        convert_video(stub, str(clip), output_alpha=tmp_path / 'ok.mp4', output_foreground=tmp_path / 'file' / 'out.mp4')
    assert not stub.calls and not (tmp_path / 'ok.mp4').exists()


@pytest.mark.parametrize('error', [RuntimeError, KeyboardInterrupt])
def test_stopping_midway_leaves_playable_outputs(tmp_path, clip, error):
    with pytest.raises(error):
        convert_video(StubMatting(fail_at=3, error=error), str(clip), output_composition=tmp_path / 'com.mp4',
                      output_alpha=tmp_path / 'pha.mov', output_foreground=tmp_path / 'fgr.webm', seq_chunk=2,
                      progress=False, reset_on_scene_cut=False)  # a call per chunk: the 3rd fails
    for name in ('com.mp4', 'pha.mov', 'fgr.webm'):
        info = probe(tmp_path / name)
        assert info['frames'] == 4, name  # the two chunks before the failure
        assert info['audio_seconds'] == pytest.approx(4 * 1001 / 30000, abs=0.05), name


def test_damaged_input_finishes_outputs(tmp_path):
    make_video(tmp_path / 'in.mkv', frames=30, rate=30, noise=True)
    data = bytearray((tmp_path / 'in.mkv').read_bytes())
    data[len(data) // 2:len(data) // 2 + 2000] = np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (tmp_path / 'bad.mkv').write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match=r'bad.mkv: .*frame \d+'):
        count = convert_video(StubMatting(), str(tmp_path / 'bad.mkv'), output_alpha=tmp_path / 'pha.mp4',
                              progress=False)
    assert 5 < count <= 30
    assert probe(tmp_path / 'pha.mp4')['frames'] == count


def test_frozen_torchscript_model(tmp_path):
    make_video(tmp_path / 'in.mp4', size=(64, 48), frames=3)
    net = MattingNetwork('mobilenetv3', 'fast_guided_filter').eval()
    net.load_state_dict(fill_state_dict(net.state_dict()), strict=False)
    frozen = torch.jit.freeze(torch.jit.script(net))
    with pytest.raises(ConversionError, match='give device and dtype'):
        convert_video(frozen, str(tmp_path / 'in.mp4'), output_alpha=tmp_path / 'pha.mp4', progress=False)
    count = convert_video(frozen, str(tmp_path / 'in.mp4'), output_alpha=tmp_path / 'pha.mp4',
                          downsample_ratio=0.5, seq_chunk=2, device='cpu', dtype=torch.float32, progress=False)
    assert count == 3 and probe(tmp_path / 'pha.mp4')['frames'] == 3


def test_cli_published_weights_and_defaults(tmp_path, monkeypatch, capsys, published_release):
    """No --checkpoint: the published weights come through torch.hub's cache (here from a file:// URL)."""
    make_video(tmp_path / 'in.mp4', size=(64, 48), frames=2)
    prepared = []
    monkeypatch.setattr(Placement, 'prepare',
                        lambda self, model: prepared.append((self.device, self.dtype)) or model.to(self.device, self.dtype).eval())
    main(['--input-source', str(tmp_path / 'in.mp4'), '--output-alpha', str(tmp_path / 'pha'), '--disable-progress'])
    assert (tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'rvm_mobilenetv3.pth').is_file()
    assert prepared == [(torch.device('cpu'), torch.float32)]
    assert visible(tmp_path / 'pha') == ['0000.png', '0001.png']  # type from the path
    assert 'wrote 2 frames' in capsys.readouterr().err


@pytest.mark.parametrize('args, message', [
    (['--input-source', 'missing.mp4', '--output-alpha', 'pha.mp4'], 'input missing.mp4 does not exist'),
    (['--input-source', '{clip}', '--output-alpha', 'pha.mp4', '--output-foreground', 'fgr'], 'mix video files'),
    (['--input-source', '{clip}', '--output-alpha', 'pha.mp4', '--checkpoint', '{clip}'], 'is not a PyTorch checkpoint'),
    (['--input-source', '{clip}', '--output-alpha', 'pha.mp4'], 'could not download the published mobilenetv3 weights from file://'),
])
def test_cli_user_errors_are_one_line(tmp_path, monkeypatch, capsys, clip, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setitem(checkpoint.PUBLISHED_URLS, 'mobilenetv3', (tmp_path / 'offline.pth').as_uri())
    with pytest.raises(SystemExit) as exit_:
        main([a.format(clip=clip) for a in args])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('inference.py: error: ') and message in err
    assert not (tmp_path / 'pha.mp4').exists()


def test_cli_interrupt_and_warnings(tmp_path, monkeypatch, capsys, clip, mbv3_checkpoint):
    def interrupted(*args, **kwargs):
        warnings.warn('input.mp4: could not decode frame 3 (Invalid data); skipped', RuntimeWarning)
        raise KeyboardInterrupt
    monkeypatch.setattr(inference, 'convert', interrupted)
    with pytest.raises(SystemExit) as exit_:
        main(['--input-source', str(clip), '--output-alpha', str(tmp_path / 'pha.mp4'), '--checkpoint', str(mbv3_checkpoint)])
    assert exit_.value.code == 130
    assert capsys.readouterr().err.splitlines() == [
        'inference.py: warning: input.mp4: could not decode frame 3 (Invalid data); skipped',
        'inference.py: interrupted; the outputs are closed and hold the frames written so far']


def test_scene_cuts_reset_by_default(tmp_path, clip):
    """convert_video resets the states at hard cuts unless told not to: each of the clip's solid-colour
    frames is one, so every frame starts without states."""
    stub = StubMatting()
    convert_video(stub, str(clip), output_alpha=tmp_path / 'pha.mp4', seq_chunk=3, progress=False)
    assert [states for states, _, _ in stub.calls] == [None] * 7
