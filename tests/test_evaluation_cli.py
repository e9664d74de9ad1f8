"""The test-set generators and the LR/HR evaluators, end to end through their command lines, on a tiny
VideoMatte / ImageMatte / background set made here."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from openpyxl import load_workbook
from PIL import Image

from evaluation import evaluate_hr, evaluate_lr, generate_videomatte_with_background_image, metrics
from evaluation.common import run_cli
from evaluation.evaluator import find_clips

ROOT = Path(__file__).resolve().parent.parent
ALL_METRICS = list(metrics.METRIC_NAMES)


def blob_alpha(rng, height, width):
    """A soft ellipse with noise, uint8 `[H, W]`: alpha 0 outside, 255 inside, a ramp between."""
    yy, xx = np.mgrid[:height, :width]
    cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
    distance = np.hypot((yy - cy) / (0.3 * height), (xx - cx) / (0.3 * width))
    alpha = np.clip((1.2 - distance) / 0.4, 0, 1) + rng.normal(0, 0.03, (height, width)) * (distance < 1.2)
    return np.rint(np.clip(alpha, 0, 1) * 255).astype(np.uint8)


def rgb(rng, height, width):
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    """VideoMatte (2 clips x 7 frames, 40x30 JPEG), ImageMatte (2 stills), 3 background images, and
    2 background videos (a folder of 3 frames, an MP4 of 4 frames: both shorter than a sample)."""
    root = tmp_path_factory.mktemp('sources')
    rng = np.random.default_rng(0)
    for clip in ('clipA', 'clipB'):
        for kind in ('fgr', 'pha'):
            (root / 'videomatte' / kind / clip).mkdir(parents=True)
        for t in range(7):
            Image.fromarray(rgb(rng, 30, 40)).save(root / 'videomatte' / 'fgr' / clip / f'{t:05d}.jpg')
            Image.fromarray(blob_alpha(rng, 30, 40)).save(root / 'videomatte' / 'pha' / clip / f'{t:05d}.jpg')
    for kind in ('fgr', 'pha'):
        (root / 'imagematte' / kind).mkdir(parents=True)
    for name in ('a.png', 'b.png'):
        Image.fromarray(rgb(rng, 36, 24)).save(root / 'imagematte' / 'fgr' / name)
        Image.fromarray(blob_alpha(rng, 36, 24)).save(root / 'imagematte' / 'pha' / name)
    (root / 'backgrounds').mkdir()
    for i in range(3):
        Image.fromarray(rgb(rng, 50, 70)).save(root / 'backgrounds' / f'{i}.jpg')
    (root / 'background_videos' / 'frames').mkdir(parents=True)
    for t in range(3):
        Image.fromarray(rgb(rng, 48, 64)).save(root / 'background_videos' / 'frames' / f'{t:04d}.png')
    with av.open(str(root / 'background_videos' / 'clip.mp4'), 'w') as container:
        stream = container.add_stream('libx264', rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, 'yuv420p'
        for _ in range(4):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb(rng, 48, 64), format='rgb24')))
        container.mux(stream.encode())
    return root


def run_script(script, *args, module=False):
    entry = ['-m', f'evaluation.{script}'] if module else [f'evaluation/{script}.py']
    command = [sys.executable, *entry, *map(str, args)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def true_dir(sources, tmp_path_factory):
    """The four generated test sets as the datasets of one ground-truth folder."""
    root = tmp_path_factory.mktemp('true')
    common = ['--num-frames', 5, '--seed', 3]
    runs = [
        ('generate_videomatte_with_background_image', '--videomatte-dir', sources / 'videomatte', '--num-samples', 3,
         '--resize', 32, 24, '--background-dir', sources / 'backgrounds', '--out-dir', root / 'vm_static',
         '--num-workers', 2),
        ('generate_videomatte_with_background_video', '--videomatte-dir', sources / 'videomatte', '--num-samples', 3,
         '--background-dir', sources / 'background_videos', '--out-dir', root / 'vm_motion', '--num-workers', 0),
        ('generate_imagematte_with_background_image', '--imagematte-dir', sources / 'imagematte', '--resolution', 32,
         '--background-dir', sources / 'backgrounds', '--out-dir', root / 'im_static'),
        ('generate_imagematte_with_background_video', '--imagematte-dir', sources / 'imagematte', '--resolution', 32,
         '--background-dir', sources / 'background_videos', '--out-dir', root / 'im_motion'),
    ]
    for i, (script, *args) in enumerate(runs):
        result = run_script(script, *args, *common, module=i == 3)
        assert result.returncode == 0, result.stderr
    return root


def read(path, mode):
    with Image.open(path) as image:
        return np.asarray(image.convert(mode), dtype=np.float64)


@pytest.mark.parametrize('dataset, samples, size, static', [
    ('vm_static', 3, (24, 32), True), ('vm_motion', 3, (30, 40), False),
    ('im_static', 4, (32, 32), True), ('im_motion', 4, (32, 32), False)])
def test_generated_layout_and_composite(true_dir, dataset, samples, size, static):
    clips = sorted(p.name for p in (true_dir / dataset).iterdir())
    assert clips == [f'{i:04d}' for i in range(samples)]
    for clip in clips:
        for kind in ('fgr', 'pha', 'bgr', 'com'):
            names = sorted(p.name for p in (true_dir / dataset / clip / kind).iterdir())
            assert names == [f'{t:04d}.png' for t in range(5)]
        for t in range(5):
            name = f'{t:04d}.png'
            fgr, pha, bgr, com = (read(true_dir / dataset / clip / kind / name, 'L' if kind == 'pha' else 'RGB')
                                  for kind in ('fgr', 'pha', 'bgr', 'com'))
            assert pha.shape == size and fgr.shape == bgr.shape == com.shape == (*size, 3)
            expected = fgr * pha[..., None] / 255 + bgr * (1 - pha[..., None] / 255)
            assert np.abs(com - expected).max() <= 0.5 + 1e-6
            assert (true_dir / dataset / clip / 'bgr' / name).is_symlink() == (static and t > 0)


def test_videomatte_mirrors_every_second_pass_and_imagematte_moves(true_dir, sources):
    # 2 clips, 3 samples: sample 2 is clip A again, mirrored; with the same seed-drawn start frame it
    # would be the exact mirror, so compare against the source frames instead: each output frame is a
    # resized (mirrored for sample 2) source frame.
    def matches_some_source(alpha, mirrored):
        for path in sorted((sources / 'videomatte' / 'pha' / 'clipA').iterdir()):
            source = Image.open(path).convert('L').resize((32, 24), Image.Resampling.BILINEAR)
            source = np.asarray(source, dtype=np.float64)
            if np.array_equal(source[:, ::-1] if mirrored else source, alpha):
                return True
        return False
    assert matches_some_source(read(true_dir / 'vm_static' / '0000' / 'pha' / '0000.png', 'L'), mirrored=False)
    assert matches_some_source(read(true_dir / 'vm_static' / '0002' / 'pha' / '0000.png', 'L'), mirrored=True)
    assert not matches_some_source(read(true_dir / 'vm_static' / '0002' / 'pha' / '0000.png', 'L'), mirrored=False)
    # the image-matte still moves over time (training's eased affine), unless the curve is a late step
    phas = [read(true_dir / 'im_static' / '0000' / 'pha' / f'{t:04d}.png', 'L') for t in range(5)]
    assert any(not np.array_equal(phas[0], p) for p in phas[1:])


def test_generation_is_deterministic_whatever_the_workers(true_dir, sources, tmp_path):
    out = tmp_path / 'again'
    argv = ['--videomatte-dir', sources / 'videomatte', '--num-samples', 3, '--resize', 32, 24,
            '--background-dir', sources / 'backgrounds', '--out-dir', out, '--num-frames', 5, '--seed', 3,
            '--num-workers', 0]
    assert run_cli(generate_videomatte_with_background_image.main, list(map(str, argv))) == 0
    for path in sorted(out.rglob('*.png')):
        twin = true_dir / 'vm_static' / path.relative_to(out)
        assert path.read_bytes() == twin.read_bytes(), path
    assert len(list(out.rglob("*.png"))) == len(list((true_dir / "vm_static").rglob("*.png")))
    # an existing output folder is refused
    assert run_cli(generate_videomatte_with_background_image.main, list(map(str, argv))) == 2


@pytest.fixture(scope='module')
def pred_dir(true_dir, tmp_path_factory):
    """Predictions for every generated frame: noisy alpha and foreground, except dataset vm_static clip
    0000, predicted perfectly."""
    root = tmp_path_factory.mktemp('pred')
    rng = np.random.default_rng(1)
    for path in sorted(true_dir.glob('*/*/pha/*.png')) + sorted(true_dir.glob('*/*/fgr/*.png')):
        target = root / path.relative_to(true_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.relative_to(true_dir).parts[:2] == ('vm_static', '0000'):
            shutil.copyfile(path, target)
            continue
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float64)
        image = cv2.GaussianBlur(image, (3, 3), 0.8) + rng.normal(0, 8, image.shape)
        cv2.imwrite(str(target), np.rint(np.clip(image, 0, 255)).astype(np.uint8))
    return root


@pytest.fixture(scope='module')
def lr_hr_results(true_dir, pred_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp('results')
    lr = run_script('evaluate_lr', '--pred-dir', pred_dir, '--true-dir', true_dir, '--num-workers', 2,
                    '--output', out / 'lr')
    hr = run_script('evaluate_hr', '--pred-dir', pred_dir, '--true-dir', true_dir, '--num-workers', 2,
                    '--device', 'cpu', '--metrics', *ALL_METRICS, '--output', out / 'hr', module=True)
    assert lr.returncode == 0, lr.stderr
    assert hr.returncode == 0, hr.stderr
    return out, lr, hr


def frame_values(document):
    return {(c['dataset'], c['clip'], frame): values
            for c in document['clips'] for frame, values in c['frames'].items()}


def test_lr_and_hr_agree(lr_hr_results):
    out, _, _ = lr_hr_results
    lr, hr = (frame_values(json.loads((out / f'{name}.json').read_text())) for name in ('lr', 'hr'))
    assert len(lr) == 3 * 5 + 3 * 5 + 4 * 5 + 4 * 5 and lr.keys() == hr.keys()
    for key, values in lr.items():
        assert list(values) == ALL_METRICS
        for metric, value in values.items():
            assert hr[key][metric] == pytest.approx(value, rel=1e-4, abs=1e-6), (key, metric)
    assert any(v['pha_grad'] > 0 and v['pha_conn'] > 0 and v['pha_dtssd'] > 0 for v in lr.values())


def test_evaluator_values_are_the_metrics_of_the_files(lr_hr_results, true_dir, pred_dir):
    out, _, _ = lr_hr_results
    values = frame_values(json.loads((out / 'lr.json').read_text()))
    # the perfect clip scores 0 everywhere
    for t in range(5):
        assert all(v == 0 for v in values[('vm_static', '0000', f'{t:04d}.png')].values())

    def load(root, kind, t, flags):
        return cv2.imread(str(root / 'im_motion' / '0001' / kind / f'{t:04d}.png'), flags).astype(np.float32) / 255
    pred, true = (load(root, 'pha', 3, cv2.IMREAD_GRAYSCALE) for root in (pred_dir, true_dir))
    pred_prev, true_prev = (load(root, 'pha', 2, cv2.IMREAD_GRAYSCALE) for root in (pred_dir, true_dir))
    pred_fgr, true_fgr = (load(root, 'fgr', 3, cv2.IMREAD_COLOR) for root in (pred_dir, true_dir))
    expected = {name: metrics.METRICS[name](pred, true) for name in metrics.ALPHA_METRICS}
    expected['pha_dtssd'] = metrics.pha_dtssd(pred, pred_prev, true, true_prev)
    expected.update({name: metrics.METRICS[name](pred_fgr, true_fgr, true) for name in metrics.FOREGROUND_METRICS})
    got = values[('im_motion', '0001', '0003.png')]
    for name in ALL_METRICS:
        assert got[name] == pytest.approx(float(expected[name]), rel=1e-6), name
    # dtSSD of a clip's first frame is 0 by definition
    assert values[('im_motion', '0001', '0000.png')]['pha_dtssd'] == 0


def test_result_files_and_printed_summary(lr_hr_results):
    out, lr, _ = lr_hr_results
    summary = json.loads((out / 'lr.json').read_text())['summary']
    assert list(summary) == ['im_motion', 'im_static', 'vm_motion', 'vm_static', 'all']
    assert summary['all']['frames'] == 70 and summary['all']['clips'] == 14
    table = lr.stdout.splitlines()
    assert table[0].split() == ['dataset', 'clips', 'frames', *ALL_METRICS]
    assert table[5].split()[:3] == ['all', '14', '70']
    assert float(table[5].split()[3]) == pytest.approx(summary['all']['pha_mad'], abs=1e-4)

    book = load_workbook(out / 'lr.xlsx', read_only=True)
    assert book.sheetnames == ['summary', 'clips', *ALL_METRICS]
    rows = list(book['pha_mad'].values)
    assert rows[0] == ('dataset', 'clip', 'mean', 0, 1, 2, 3, 4)
    assert rows[1][0] == 'all' and rows[1][2] == pytest.approx(summary['all']['pha_mad'])
    assert len(rows) == 2 + 14
    assert rows[-1][:2] == ('vm_static', '0002')
    assert list(book['summary'].values)[-1][:3] == ('all', 14, 70)
    frames_csv = (out / 'lr_frames.csv').read_text().splitlines()
    assert frames_csv[0] == 'dataset,clip,frame,' + ','.join(ALL_METRICS) and len(frames_csv) == 71
    assert len((out / 'lr_clips.csv').read_text().splitlines()) == 15


def test_lr_is_the_same_with_and_without_worker_processes(true_dir, pred_dir, lr_hr_results, tmp_path, capsys):
    out, _, _ = lr_hr_results
    argv = ['--pred-dir', pred_dir, '--true-dir', true_dir, '--num-workers', 0, '--output', tmp_path / 'serial',
            '--disable-progress', '--metrics', 'fgr_mse', 'pha_mad', 'pha_dtssd', 'pha_mad']
    assert run_cli(evaluate_lr.main, list(map(str, argv))) == 0
    document = json.loads((tmp_path / 'serial.json').read_text())
    assert document['metrics'] == ['pha_mad', 'pha_dtssd', 'fgr_mse']  # once each, in the canonical order
    serial = frame_values(document)
    parallel = frame_values(json.loads((out / 'lr.json').read_text()))
    assert serial == {key: {m: parallel[key][m] for m in ('pha_mad', 'pha_dtssd', 'fgr_mse')} for key in parallel}


def copy_tree(src, dst):
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.mark.parametrize('evaluator', [evaluate_lr, evaluate_hr])
def test_bad_input_names_clip_and_frame(evaluator, true_dir, pred_dir, tmp_path, capsys):
    def errors(pred, *extra):
        code = run_cli(evaluator.main, ['--pred-dir', str(pred), '--true-dir', str(true_dir), '--num-workers', '0',
                                        '--disable-progress', '--output', str(tmp_path / 'out'), *extra])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        return err

    pred = copy_tree(pred_dir, tmp_path / 'missing')
    (pred / 'im_static' / '0002' / 'pha' / '0003.png').unlink()
    message = errors(pred)
    assert 'im_static/0002 frame 0003.png' in message and 'missing' in message

    pred = copy_tree(pred_dir, tmp_path / 'size')
    cv2.imwrite(str(pred / 'vm_motion' / '0001' / 'pha' / '0002.png'), np.zeros((10, 12), np.uint8))
    message = errors(pred)
    assert 'vm_motion/0001 frame 0002.png' in message and '12x10' in message and '40x30' in message

    pred = copy_tree(pred_dir, tmp_path / 'unreadable')
    (pred / 'vm_static' / '0001' / 'fgr' / '0004.png').write_bytes(b'not a png')
    message = errors(pred, '--metrics', 'fgr_mse')
    assert 'vm_static/0001 frame 0004.png' in message and 'cannot read' in message
    assert not (tmp_path / 'out.json').exists()

    message = errors(true_dir / 'vm_static')
    assert 'pass the folder above the datasets' in message

    # hidden folders and files (notebook checkpoints, macOS resource forks) are not clips or frames
    pred, true = copy_tree(pred_dir, tmp_path / 'hidden'), copy_tree(true_dir, tmp_path / 'hidden_true')
    (pred / 'vm_static' / '.ipynb_checkpoints').mkdir()
    (true / 'vm_static' / '0000' / 'pha' / '._0000.png').write_bytes(b'')
    assert run_cli(evaluator.main, ['--pred-dir', str(pred), '--true-dir', str(true), '--num-workers', '0',
                                    '--disable-progress', '--output', str(tmp_path / 'out')]) == 0
    assert json.loads((tmp_path / 'out.json').read_text())['summary']['all']['frames'] == 70


def test_cli_error_is_one_line_without_traceback(true_dir, pred_dir, tmp_path):
    pred = copy_tree(pred_dir, tmp_path / 'pred')
    (pred / 'vm_static' / '0000' / 'pha' / '0001.png').write_bytes(b'')
    result = run_script('evaluate_lr', '--pred-dir', pred, '--true-dir', true_dir, '--num-workers', 2,
                        '--output', tmp_path / 'out')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith('error: vm_static/0000 frame 0001.png: cannot read')
    assert 'Traceback' not in result.stderr


def test_hr_device_errors(true_dir, pred_dir, tmp_path, capsys, monkeypatch):
    argv = ['--pred-dir', str(pred_dir), '--true-dir', str(true_dir), '--output', str(tmp_path / 'out')]
    monkeypatch.setattr(evaluate_hr.torch.cuda, 'is_available', lambda: False)
    assert run_cli(evaluate_hr.main, [*argv, '--device', 'cuda']) == 2
    assert 'CUDA is not available' in capsys.readouterr().err
    assert run_cli(evaluate_hr.main, [*argv, '--device', 'no-such-device']) == 2
    assert capsys.readouterr().err.startswith('error: --device no-such-device')


def test_clips_and_frames_are_evaluated_in_natural_order(tmp_path):
    for side in ('pred', 'true'):
        for clip in ('clip10', 'clip2'):
            folder = tmp_path / side / 'set' / clip / 'pha'
            folder.mkdir(parents=True)
            for name in ('frame10.png', 'frame2.png'):
                Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / name)
    clips = find_clips(tmp_path / 'pred', tmp_path / 'true', ['pha'])
    assert [(clip.name, clip.frames) for clip in clips] == [('clip2', ('frame2.png', 'frame10.png')),
                                                            ('clip10', ('frame2.png', 'frame10.png'))]
