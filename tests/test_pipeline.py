"""One conversion pipeline, one options record: the command line, convert_video, convert_videos and
the web app write byte-identical outputs for the same options; what the record decides (scene
cuts, pixels of any bit depth, option checks, the shared flags) holds for every entry point."""
import argparse
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import app
import export
import inference
import live
from inference import convert_video, convert_videos
from model import create_model
from streaming import ConversionError, ConversionOptions, VideoReader
from streaming.batch.segments import find_cuts
from streaming.scenes import SceneCutMatter
from streaming.writers import VideoWriter
from stubs import StubMatting
from webapp.convert import Request, plan_job, run
from webapp.jobs import Jobs
from webapp.models import Models

REAL = Path(__file__).resolve().parent.parent.parent / 'shared' / 'real'
WEIGHTS = REAL / 'rvm_mobilenetv3_real_fgf.pth'
needs_real = pytest.mark.skipif(not WEIGHTS.exists(), reason='needs ../shared/real (real weights and clips)')
CUT = 8  # the spliced clip's first frame of its second shot


def write_clip(path: Path, frames: torch.Tensor, bits: int) -> Path:
    """`[T, 3, H, W]` frames in 0..1 as an H.265 clip of `bits` bits (8 or 10)."""
    writer = VideoWriter(path, 30, codec='h265', bit_depth=bits)
    writer.write(frames)
    writer.close()
    return path


@pytest.fixture(scope='module')
def spliced(tmp_path_factory):
    """Real footage with a hard cut: tile1 then tile6 of ../shared/real (x2 bicubic, 320x180), 8 frames
    each, as a 10-bit and an 8-bit H.265 clip: `{10: path, 8: path}`."""
    clips = np.load(REAL / 'clips.npz')
    frames = torch.from_numpy(np.concatenate([clips['tile1'][:CUT, :90], clips['tile6'][:CUT, :90]])).permute(0, 3, 1, 2)
    frames = F.interpolate(frames.float() / 255, scale_factor=2, mode='bicubic', align_corners=False).clamp(0, 1)
    folder = tmp_path_factory.mktemp('spliced')
    return {bits: write_clip(folder / f'spliced{bits}.mkv', frames, bits) for bits in (10, 8)}


def png_bytes(folder: Path):
    names = sorted(os.listdir(folder))
    assert names == [f'{t:04d}.png' for t in range(2 * CUT)], names
    return [(folder / name).read_bytes() for name in names]


@needs_real
def test_every_entry_point_writes_the_same_alpha(tmp_path, spliced):
    """A 10-bit clip with a hard cut, real weights, the same options (ratio 0.5 on the CPU, the
    default reset at cuts): the CLI, convert_video, convert_videos and the web app's conversion
    write the same alpha PNGs, byte for byte, and the reset at the cut is in them."""
    source, options = str(spliced[10]), {'downsample_ratio': 0.5, 'device': 'cpu'}
    inference.main(['--checkpoint', str(WEIGHTS), '--device', 'cpu', '--input-source', source,
                    '--output-alpha', str(tmp_path / 'cli'), '--downsample-ratio', '0.5', '--disable-progress'])
    model = create_model(checkpoint=WEIGHTS)
    convert_video(model, source, output_alpha=tmp_path / 'api', progress=False, **options)
    convert_videos(model, source, output_alpha=str(tmp_path / 'batch'), progress=False, **options)
    models = Models([str(WEIGHTS)], options=ConversionOptions(device='cpu'))
    job = Jobs(60, str(tmp_path)).create()
    job.model_name = WEIGHTS.name
    job.plan = plan_job(job, Request(source, WEIGHTS.name, 0.5, None, 'PNG sequence (.zip)', ['alpha']), 60,
                        models.options)
    run(job, models, lambda *_: None)
    cli = png_bytes(tmp_path / 'cli')
    for other in (tmp_path / 'api', tmp_path / 'batch', job.folder / 'out' / 'alpha'):
        assert png_bytes(other) == cli, other
    convert_video(model, source, output_alpha=tmp_path / 'kept', progress=False, reset_on_scene_cut=False, **options)
    kept = png_bytes(tmp_path / 'kept')
    assert kept[:CUT] == cli[:CUT] and kept[CUT] != cli[CUT]  # the states were forgotten at the cut


@needs_real
def test_ten_bit_clip_resets_where_the_eight_bit_one_does(spliced):
    """The cut detector sees the 10-bit clip's samples as the 8-bit one's (not saturated): the
    conversion's Matter and the segment planner find the same cut in both."""
    for bits, path in spliced.items():
        frames = np.stack([frame.image for frame in VideoReader(path).frames()])
        assert frames.dtype == (np.uint16 if bits == 10 else np.uint8)
        matter = SceneCutMatter(StubMatting(), 'cpu', torch.float32, 0.5)
        matter(frames)
        assert matter.cuts == [CUT], bits
        assert find_cuts(str(path)) == [CUT], bits


def test_ten_bit_background_behind_ten_bit_input_is_not_clipped(tmp_path):
    """A mid-grey 10-bit background video stays mid-grey behind a 10-bit input (it went above 1 and
    clipped to white when backgrounds were divided by 255)."""
    grey = torch.full((3, 3, 48, 64), 0.502)  # (x265 corrupts its heap on 48-wide frames 16 or 32 high)
    background = write_clip(tmp_path / 'grey10.mkv', grey, 10)
    source = write_clip(tmp_path / 'in10.mkv', torch.rand(3, 3, 48, 64), 10)
    convert_video(StubMatting(), str(source), output_composition=tmp_path / 'com.mkv', background=str(background),
                  bit_depth=10, progress=False)
    composition = np.stack([frame.image for frame in VideoReader(tmp_path / 'com.mkv').frames()]) / 65535
    behind = composition[:, :, 2:64 // 4 - 2]  # the stub's first quarter has alpha 0: the background alone
    assert np.abs(behind - 0.502).max() < 0.01, behind.max()


@pytest.mark.parametrize('option, value, message', [
    ('warmup_frames', -5, 'warmup_frames must be 0 or more, got -5'),
    ('segment_seconds', 0, 'segment_seconds must be above 0, got 0'),
    ('checkpoint_seconds', -1, 'checkpoint_seconds must be 0 or more, got -1'),
    ('ray_cpus', 0, 'ray_cpus must be 1 or more, got 0'),
    ('downsample_ratio', 2, 'downsample_ratio must be in (0, 1], got 2'),
])
def test_batch_options_fail_before_any_output_as_on_the_command_line(tmp_path, capsys, option, value, message):
    """convert_videos checks its options as the command line does, with the same one-line message
    (the flag's name there), before any output exists."""
    (tmp_path / 'in').mkdir()
    write_clip(tmp_path / 'in' / 'a.mkv', torch.rand(2, 3, 16, 16), 8)  # never read: the options fail first
    with pytest.raises(ConversionError) as error:
        convert_videos(StubMatting(), str(tmp_path / 'in'), str(tmp_path / 'out'), output_alpha='pha.mp4',
                       progress=False, **{option: value})
    assert str(error.value) == message
    with pytest.raises(SystemExit) as exit:
        inference.main(['--input-source', str(tmp_path / 'in'), '--output-dir', str(tmp_path / 'out'),
                        '--output-alpha', 'pha.mp4', '--checkpoint', 'unread.pth',
                        '--' + option.replace('_', '-'), str(value)])
    assert exit.value.code == 1
    flag = '--' + option.replace('_', '-')
    assert capsys.readouterr().err == f'inference.py: error: {message.replace(option, flag, 1)}\n'
    assert not (tmp_path / 'out').exists()


def test_unknown_keyword_is_a_type_error_naming_the_function(tmp_path):
    with pytest.raises(TypeError, match=r"convert_video\(\) got an unexpected keyword argument 'backgroud'"):
        convert_video(StubMatting(), str(tmp_path / 'in.mp4'), output_alpha=tmp_path / 'a.mp4', backgroud='white')
    with pytest.raises(TypeError, match=r"convert_videos\(\) got an unexpected keyword argument 'resum'"):
        convert_videos(StubMatting(), str(tmp_path / 'in.mp4'), output_alpha=str(tmp_path / 'a.mp4'), resum=True)


def test_live_checks_its_outputs_before_opening_its_source(tmp_path, mbv3_checkpoint, monkeypatch, capsys):
    """A recording under a regular file fails at once, naming the path; the source (a silent UDP
    stream, which would be waited for) is never opened."""
    def no_source(*args, **kwargs):
        raise AssertionError('the source was opened before the outputs were checked')
    monkeypatch.setattr('streaming.live.session.open_source', no_source)
    (tmp_path / 'afile').write_text('a file, not a folder')
    with pytest.raises(SystemExit) as exit:
        live.main(['--input-source', 'udp://127.0.0.1:9', '--output', str(tmp_path / 'afile' / 'rec.mkv'),
                   '--checkpoint', str(mbv3_checkpoint), '--device', 'cpu', '--quiet'])
    assert exit.value.code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith('live.py: error: cannot write') and str(tmp_path / 'afile' / 'rec.mkv') in err[-1]


def actions(parser: argparse.ArgumentParser):
    return {action.dest: action for action in parser._actions}


def test_model_and_device_flags_mean_the_same_everywhere():
    """--variant, --checkpoint and --device: one definition (model.factory.add_model_arguments) in
    every tool; the web app's may be repeated (it offers several models)."""
    tools = {'inference.py': inference.parser(), 'live.py': live.parser(), 'app.py': app.parser(),
             'export.py': export.parser()}
    reference = actions(tools['inference.py'])
    for name, parser in tools.items():
        found = actions(parser)
        for dest in ('model_variant', 'checkpoint', 'device'):
            assert found[dest].option_strings == reference[dest].option_strings, (name, dest)
            assert found[dest].help == reference[dest].help, (name, dest)
            assert found[dest].choices == reference[dest].choices, (name, dest)
    assert app.parse_args(['--checkpoint', 'a.pth', '--checkpoint', 'b.pth']).checkpoint == ['a.pth', 'b.pth']
    assert inference.parser().parse_args(['--model-variant', 'resnet50', '--input-source', 'x']).model_variant == \
        'resnet50'  # the original export scripts' spelling


def test_listings_share_one_natural_order_and_one_list_of_input_extensions(tmp_path):
    """Batches and the web app's media folder list the same inputs, clip2 before clip10, .ts included."""
    from streaming.batch import find_inputs
    from webapp.inputs import media_choices
    for name in ('clip10.mp4', 'clip2.ts', 'clip1.mkv', 'notes.txt'):
        (tmp_path / name).write_bytes(b'')
    assert [item.name for item in find_inputs(str(tmp_path))] == ['clip1', 'clip2', 'clip10']
    assert media_choices(str(tmp_path)) == ['clip1.mkv', 'clip2.ts', 'clip10.mp4']


def test_device_and_dtype_defaults_are_decided_in_one_place(monkeypatch):
    """Placement.choose: a model left on the CPU (as create_model builds it) runs on the default device
    (CUDA when available), one moved elsewhere stays there, an explicit device wins; dtype: the model's."""
    from streaming.device import Placement
    monkeypatch.setattr('streaming.device.default_device', lambda: torch.device('meta'))
    assert Placement.choose(StubMatting()).device == torch.device('meta')
    assert Placement.choose(StubMatting(), 'cpu').device == torch.device('cpu')
    monkeypatch.setattr('streaming.device.default_device', lambda: torch.device('cpu'))
    moved = StubMatting().to('meta', torch.float64)
    assert Placement.choose(moved) == Placement(torch.device('meta'), torch.float64)
