"""The batch (streaming/batch): folders, skip-complete, failures, resume, segments, scene cuts.

Conversions run a recurrent stub (fast, with a memory, so states matter) or filled weights (the
command line); the segment join tolerance is checked with the real weights on a real clip.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from batch_helpers import RecurrentStub, make_folder, make_image_folder
from inference import convert_videos, main
from media import make_video, probe
from streaming import ConversionError, Matter
from streaming.batch import find_inputs
from streaming.batch.discover import output_paths
from streaming.scenes import CutDetector, SceneCutMatter
from streaming.batch.segments import boundaries

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / 'shared' / 'real'


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these networks are tiny, and on a busy shared machine more threads only spin."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def alpha_frames(folder) -> np.ndarray:
    """The PNG sequence in `folder` as `[T, H, W]` uint8."""
    names = sorted(n for n in os.listdir(folder) if n.endswith('.png'))
    return np.stack([np.asarray(Image.open(os.path.join(folder, n))) for n in names])


def final_files(out: Path):
    """Every file under `out` that is not the batch's own hidden work, nor report.json."""
    return sorted(str(p.relative_to(out)) for p in out.rglob('*')
                  if p.is_file() and not any(part.startswith('.') for part in p.relative_to(out).parts) and p.name != 'report.json')


def test_inputs_are_found_at_any_depth_and_named_by_their_relative_path(tmp_path):
    make_folder(tmp_path / 'in')
    make_image_folder(tmp_path / 'in' / 'sub' / 'frames')
    make_video(tmp_path / 'in' / '.hidden.mp4')
    names = [item.name for item in find_inputs(str(tmp_path / 'in'))]
    assert names == ['a', 'bad', 'seq', os.path.join('sub', 'deeper', 'b'), os.path.join('sub', 'frames')]
    assert [item.name for item in find_inputs(str(tmp_path / 'in' / '**' / '*.mkv'))] == [
        os.path.join('sub', 'deeper', 'b')]
    item = find_inputs(str(tmp_path / 'in'))[3]
    assert output_paths(item, 'out', {'alpha': 'pha.mp4'}) == {
        'alpha': os.path.join('out', 'sub', 'deeper', 'b', 'pha.mp4')}
    with pytest.raises(ConversionError, match='plain name'):
        output_paths(item, 'out', {'alpha': 'x/pha.mp4'})
    (tmp_path / 'in' / 'mattes' / 'a').mkdir(parents=True)  # an output folder inside the inputs: not an input
    make_video(tmp_path / 'in' / 'mattes' / 'a' / 'pha.mp4')
    inside = os.path.join('mattes', 'a', 'pha')
    assert inside in [item.name for item in find_inputs(str(tmp_path / 'in'))]
    assert inside not in [item.name for item in find_inputs(str(tmp_path / 'in'), str(tmp_path / 'in' / 'mattes'))]
    with pytest.raises(ConversionError, match='found no video'):
        find_inputs(str(tmp_path / 'in' / '*.webm'))


def test_a_folder_converts_and_a_corrupt_file_is_reported_with_a_non_zero_exit(tmp_path, mbv3_weights, capsys):
    make_folder(tmp_path / 'in')
    weights = tmp_path / 'w.pth'
    torch.save(mbv3_weights, weights)
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as exit:
        main(['--checkpoint', str(weights), '--device', 'cpu', '--input-source', str(tmp_path / 'in'),
              '--output-dir', str(out), '--output-composition', 'com.mp4', '--output-alpha', 'pha.mp4',
              '--disable-progress'])
    assert exit.value.code == 1
    err = capsys.readouterr().err
    assert f'{tmp_path / "in" / "bad.mp4"}: failed: ' in err and 'converted 3, skipped 0 (complete), failed 1' in err
    for name, frames in (('a', 6), (os.path.join('sub', 'deeper', 'b'), 3), ('seq', 3)):
        for output in ('com.mp4', 'pha.mp4'):
            assert probe(out / name / output)['frames'] == frames
    assert probe(out / 'a' / 'com.mp4')['audio'] == 'aac'
    report = json.loads((out / 'report.json').read_text())
    assert report['summary']['failed'] == 1 and report['summary']['frames'] == 12
    failed = [entry for entry in report['inputs'] if entry['status'] == 'failed']
    assert [entry['input'] for entry in failed] == [str(tmp_path / 'in' / 'bad.mp4')]
    assert 'bad.mp4' in failed[0]['error'] and '\n' not in failed[0]['error']
    assert not (out / 'bad').exists() or final_files(out / 'bad') == []


KILLED_RUN = '''
import sys
sys.path[:0] = {paths!r}
from batch_helpers import RecurrentStub
from inference import convert_videos
convert_videos(RecurrentStub(kill_at={kill_at}), {source!r}, {output_dir!r}, output_alpha={alpha!r},
               checkpoint_seconds=0, progress=False, device='cpu', **{options!r})
'''


def run_killed(source, output_dir, alpha, kill_at, **options):
    """Run convert_videos in a child process that SIGKILLs itself on frame `kill_at` (nothing cleans up)."""
    script = KILLED_RUN.format(paths=[str(ROOT), str(ROOT / 'tests')], kill_at=kill_at, source=str(source),
                               output_dir=output_dir and str(output_dir), alpha=alpha, options=options)
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(script)], capture_output=True, text=True)
    assert result.returncode == -9, result.stderr


def test_a_killed_batch_leaves_no_partial_final_file_and_a_rerun_redoes_only_what_is_not_complete(tmp_path):
    make_folder(tmp_path / 'in', corrupt=False)  # a (6 frames), seq (3), sub/deeper/b (3), in that order
    out = tmp_path / 'out'
    run_killed(tmp_path / 'in', out, 'pha.mp4', kill_at=6 + 2)  # inside seq
    assert final_files(out) == [os.path.join('a', 'pha.mp4')]
    assert probe(out / 'a' / 'pha.mp4')['frames'] == 6
    done = os.stat(out / 'a' / 'pha.mp4').st_mtime_ns
    stub = RecurrentStub()
    report = convert_videos(stub, str(tmp_path / 'in'), str(out), output_alpha='pha.mp4', progress=False)
    assert [o.status for o in report.outcomes] == ['skipped', 'converted', 'converted']
    assert stub.frames == 3 + 3
    assert os.stat(out / 'a' / 'pha.mp4').st_mtime_ns == done
    assert probe(out / 'seq' / 'pha.mp4')['frames'] == 3
    assert probe(out / 'sub' / 'deeper' / 'b' / 'pha.mp4')['frames'] == 3
    assert not list(out.rglob('.rvm-*'))  # the work folders are gone once their outputs are complete
    forced = convert_videos(RecurrentStub(), str(tmp_path / 'in'), str(out), output_alpha='pha.mp4', force=True,
                            progress=False)
    assert [o.status for o in forced.outcomes] == ['converted'] * 3
    assert os.stat(out / 'a' / 'pha.mp4').st_mtime_ns != done


def test_a_resumed_conversion_equals_an_uninterrupted_one(tmp_path):
    frames = 40
    make_video(tmp_path / 'long.mp4', frames=frames, noise=True, audio_seconds=frames / 30)
    # The clip's frames differ so much that every one is a cut: no resets, so that the stub's memory counts.
    options = dict(reset_on_scene_cut=False, progress=False)
    convert_videos(RecurrentStub(), str(tmp_path / 'long.mp4'), output_alpha=str(tmp_path / 'whole'), **options)
    # Killed in its third part (parts: 16 frames, then 16: checkpoint_seconds=0 makes them the shortest).
    run_killed(tmp_path / 'long.mp4', None, str(tmp_path / 'resumed'), kill_at=36, reset_on_scene_cut=False)
    assert not (tmp_path / 'resumed').exists()
    stub = RecurrentStub()
    convert_videos(stub, str(tmp_path / 'long.mp4'), output_alpha=str(tmp_path / 'resumed'), resume=True,
                   checkpoint_seconds=0, **options)
    assert stub.frames == frames - 32  # continued after the last checkpoint, not from the start
    whole, resumed = alpha_frames(tmp_path / 'whole'), alpha_frames(tmp_path / 'resumed')
    assert whole.shape == resumed.shape == (frames, 48, 64)
    assert np.abs(whole.astype(int) - resumed).max() <= 1
    assert whole[-1].max() > 20  # the stub's memory shows in the frames compared

    # A video output: the parts are joined without re-encoding into one file, timed like the input.
    run_killed(tmp_path / 'long.mp4', None, str(tmp_path / 'resumed.mp4'), kill_at=20)
    convert_videos(RecurrentStub(), str(tmp_path / 'long.mp4'), output_alpha=str(tmp_path / 'resumed.mp4'),
                   resume=True, checkpoint_seconds=0, progress=False)
    assert not list(tmp_path.glob('.rvm-*'))
    joined, source = probe(tmp_path / 'resumed.mp4'), probe(tmp_path / 'long.mp4')
    assert joined['frames'] == frames and joined['times'] == source['times']
    assert joined['audio'] == 'aac' and joined['audio_seconds'] == pytest.approx(source['audio_seconds'], abs=0.03)


def test_segment_boundaries_move_to_nearby_cuts():
    assert boundaries(100, 30, []) == [30, 60, 90]
    assert boundaries(100, 30, [26, 70]) == [26, 56, 86]
    assert boundaries(100, 30, [50]) == [30, 60, 90]


def real_clip(name: str, scale: int) -> np.ndarray:
    clip = torch.from_numpy(np.load(REAL / 'clips.npz')[name]).permute(0, 3, 1, 2).float()
    clip = torch.nn.functional.interpolate(clip, scale_factor=scale, mode='bicubic', align_corners=False)
    return clip.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()


def test_segments_join_a_sequential_run_within_the_measured_tolerance(tmp_path):
    from model import create_model
    model = create_model('mobilenetv3', checkpoint=str(REAL / 'rvm_mobilenetv3_real_fgf.pth'),
                         refiner='fast_guided_filter')
    clip = real_clip('tile0', 2)[:50]
    (tmp_path / 'clip').mkdir()
    for i, image in enumerate(clip):
        Image.fromarray(image).save(tmp_path / 'clip' / f'{i:03d}.png')
    options = dict(output_alpha=str(tmp_path / 'sequential'), downsample_ratio=0.5, progress=False, device='cpu')
    convert_videos(model, str(tmp_path / 'clip'), **options)
    errors = {}
    for warmup in (0, 16):
        options['output_alpha'] = str(tmp_path / f'segmented{warmup}')
        # Segments of 36 frames (at 30 fps): one join, at frame 36, warmed up on the frames before it.
        convert_videos(model, str(tmp_path / 'clip'), segment_seconds=1.2, warmup_frames=warmup, **options)
        segmented = alpha_frames(tmp_path / f'segmented{warmup}')
        assert segmented.shape == (50, 180, 320)
        errors[warmup] = np.abs(alpha_frames(tmp_path / 'sequential').astype(float) - segmented).mean(axis=(1, 2))
        assert errors[warmup][:36].max() == 0 and errors[warmup][36] > 0  # the first segment is the sequential run
    # documentation/batch.md, "Segments": 16 frames of warm-up leave about 0.3/255 after a join
    # (clips averaged; up to 1.4/255 on single frames of this one), 1-2/255 without warm-up.
    assert errors[16][36:].mean() < 1.0 and errors[16].max() < 2.0
    assert errors[16][36:39].mean() < errors[0][36:39].mean() / 2


def test_scene_cuts_are_found_on_a_real_splice_and_reset_the_state():
    clips = np.load(REAL / 'clips.npz')
    first, second = clips['tile0'][:, :90, :158], clips['tile4'][:, :90, :158]
    spliced = torch.from_numpy(np.concatenate([first, second])).permute(0, 3, 1, 2) / 255
    detector = CutDetector()
    found = [cut for start in range(0, len(spliced), 7) for cut in
             (start + i for i in detector(spliced[start:start + 7]))]  # across chunk boundaries too
    assert found == [len(first)]

    shot_a = np.full((5, 48, 64, 3), 200, np.uint8)
    shot_b = np.full((6, 48, 64, 3), 30, np.uint8)
    shot_b[..., 2] = 220
    resetting = SceneCutMatter(RecurrentStub(), 'cpu', torch.float32)
    _, pha = resetting(np.concatenate([shot_a, shot_b]))
    _, fresh = Matter(RecurrentStub(), 'cpu', torch.float32)(shot_b)
    _, carried = Matter(RecurrentStub(), 'cpu', torch.float32)(np.concatenate([shot_a, shot_b]))
    assert resetting.cuts == [5]
    assert torch.equal(pha[5:], fresh)
    assert not torch.allclose(carried[5:], fresh, atol=1e-2)
