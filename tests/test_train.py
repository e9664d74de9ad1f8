"""train.py through its command line on a tiny synthetic data set: steps, logs, checkpoints, resume,
a non-finite loss, a two-process torchrun on the CPU (gloo), and the --stage presets."""
import os
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from dataset.synthetic import generate
from dataset.training import random_crop
from model import MattingNetwork, load_matting_network
from model.checkpoint import atomic_save
from train_config import STAGES, build_parser, parse_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    # VideoMatte train: 2 clips x 3 frames at sequence length 2 = 4 samples; batch 2 = 2 steps per epoch.
    root = tmp_path_factory.mktemp('data')
    generate(str(root), clips=2, frames=3, size=48, seed=0, progress=False)
    return str(root)


def _args(data_root, run_dir, *extra):
    return ['--model-variant', 'mobilenetv3', '--dataset', 'videomatte', '--resolution-lr', '128',
            '--seq-length-lr', '2', '--batch-size-per-gpu', '2', '--learning-rate-backbone', '1e-4',
            '--learning-rate-aspp', '2e-4', '--learning-rate-decoder', '2e-4', '--learning-rate-refiner', '0',
            '--checkpoint-dir', str(run_dir / 'ckpt'), '--log-dir', str(run_dir / 'log'),
            '--num-workers', '0', '--no-pretrained-backbone', '--data-root', data_root,
            '--log-train-loss-interval', '1', '--log-train-images-interval', '1', '--disable-progress-bar', *extra]


def _run(args, launcher=(sys.executable, 'train.py')):
    # One thread per process: on a shared 2-core CI machine more threads only spin against each other.
    env = {k: v for k, v in os.environ.items() if k not in ('WORLD_SIZE', 'LOCAL_RANK', 'RANK')}
    env['OMP_NUM_THREADS'] = '1'
    result = subprocess.run([*launcher, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _scalars(log_dir, tag):
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {e.step: e.value for e in events.Scalars(tag)} if tag in events.Tags()['scalars'] else {}


@pytest.fixture(scope='module')
def first_run(data_root, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp('run')
    output = _run(_args(data_root, run_dir, '--epoch-start', '0', '--epoch-end', '1'))
    return run_dir, output


def test_train_runs_logs_and_writes_a_loadable_checkpoint(first_run):
    run_dir, output = first_run
    assert 'Validation at step 0' in output and 'Validation at step 2' in output
    assert set(_scalars(run_dir / 'log', 'train_lr_total')) == {0, 1}
    assert set(_scalars(run_dir / 'log', 'valid_loss')) == {0, 2}
    assert set(_scalars(run_dir / 'log', 'seg_video_loss')) == {0} and set(_scalars(run_dir / 'log', 'seg_image_loss')) == {1}
    events = EventAccumulator(str(run_dir / 'log'))
    events.Reload()
    assert {'train_lr_pred_pha', 'train_lr_true_src', 'seg_video_pred_seg'} <= set(events.Tags()['images'])

    path = run_dir / 'ckpt' / 'epoch-0.pth'
    model = load_matting_network(path)
    MattingNetwork('mobilenetv3').load_state_dict(torch.load(path, weights_only=True))   # a plain state_dict
    assert not torch.equal(model.state_dict()['project_mat.conv.weight'],
                           MattingNetwork('mobilenetv3').state_dict()['project_mat.conv.weight'])
    assert sorted(os.listdir(run_dir / 'ckpt')) == ['epoch-0.pth', 'resume.pth']      # no temporary files left
    resume = torch.load(run_dir / 'ckpt' / 'resume.pth', weights_only=True)
    assert (resume['epoch'], resume['step']) == (1, 2)


def test_resume_continues_at_the_next_epoch_with_the_optimizer_state(first_run, data_root):
    run_dir, _ = first_run
    output = _run(_args(data_root, run_dir, '--epoch-end', '2', '--resume'))
    assert 'Resuming from' in output and 'at epoch 1, step 2' in output
    assert set(_scalars(run_dir / 'log', 'train_lr_total')) == {0, 1, 2, 3}
    resume = torch.load(run_dir / 'ckpt' / 'resume.pth', weights_only=True)
    assert (resume['epoch'], resume['step']) == (2, 4)
    # The backbone learns in both passes of each step: 2 Adam updates per step over 4 steps.
    # A fresh optimizer after the resume would count only the 4 updates since.
    assert resume['optimizer']['state'][0]['step'].item() == 8
    load_matting_network(run_dir / 'ckpt' / 'epoch-1.pth')


def test_non_finite_loss_stops_saves_and_resumes_mid_epoch(data_root, tmp_path, monkeypatch, capsys, one_thread):
    calls = []

    def failing_loss(*args):
        loss = train_matting_loss(*args)
        calls.append(1)
        if len(calls) == 2:                       # the second training step, step 1
            loss['total'] = loss['total'] * float('nan')
        return loss

    train_matting_loss = train.matting_loss
    monkeypatch.setattr(train, 'matting_loss', failing_loss)
    argv = _args(data_root, tmp_path, '--epoch-end', '1', '--disable-validation')
    with pytest.raises(SystemExit) as stop:
        train.main(argv)
    assert stop.value.code == 1
    err = capsys.readouterr().err
    assert 'loss became nan at step 1' in err and 'saved the last good state' in err
    resume = torch.load(tmp_path / 'ckpt' / 'resume.pth', weights_only=True)
    assert (resume['epoch'], resume['step']) == (0, 1)
    assert all(torch.isfinite(v).all() for v in resume['model'].values())

    monkeypatch.setattr(train, 'matting_loss', train_matting_loss)
    train.main([*argv, '--resume'])
    assert 'at epoch 0, step 1' in capsys.readouterr().out
    steps = _scalars(tmp_path / 'log', 'train_lr_total')
    assert set(steps) == {0, 1}                   # step 1 ran once, after the resume
    resume = torch.load(tmp_path / 'ckpt' / 'resume.pth', weights_only=True)
    assert (resume['epoch'], resume['step']) == (1, 2)


def test_atomic_save_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / 'epoch-0.pth'
    atomic_save({'w': torch.ones(2)}, str(path))

    def interrupted_save(obj, f):
        f.write(b'partial')
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({'w': torch.zeros(2)}, str(path))
    assert torch.equal(torch.load(path, weights_only=True)['w'], torch.ones(2))
    assert os.listdir(tmp_path) == ['epoch-0.pth']


def test_random_crop_cuts_every_clip_alike():
    clip = torch.arange(2 * 2 * 1 * 64 * 64, dtype=torch.float32).reshape(2, 2, 1, 64, 64)
    a, b = random_crop(clip, clip.clone())
    assert a.shape[:3] == (2, 2, 1) and 32 <= a.shape[-1] < 64 and 32 <= a.shape[-2] < 64
    assert torch.equal(a, b)


def test_bad_arguments_and_checkpoints_are_reported(data_root, tmp_path):
    args = _args(data_root, tmp_path, '--resolution-lr', '96')
    result = subprocess.run([sys.executable, 'train.py', *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and '--resolution-lr must be at least 128' in result.stderr
    bad = tmp_path / 'bad.pth'
    bad.write_bytes(b'not a checkpoint')
    result = subprocess.run([sys.executable, 'train.py', *_args(data_root, tmp_path, '--checkpoint', str(bad))],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and f'error: {bad} is not a PyTorch checkpoint' in result.stderr


def test_torchrun_two_cpu_processes_with_gloo(data_root, tmp_path):
    # 4 samples over 2 processes with batch 1: 2 steps per epoch, gradients averaged by DDP.
    args = _args(data_root, tmp_path, '--epoch-end', '1', '--batch-size-per-gpu', '1')
    output = _run(args, launcher=(sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', '2',
                                  'train.py'))
    assert 'Processes: 2, device: cpu' in output
    assert set(_scalars(tmp_path / 'log', 'train_lr_total')) == {0, 1}
    load_matting_network(tmp_path / 'ckpt' / 'epoch-0.pth')


REQUIRED_WITHOUT_RECIPE = ['--model-variant', 'mobilenetv3', '--checkpoint-dir', 'ckpt', '--log-dir', 'log']


def test_a_stage_preset_fills_the_published_flags():
    args = parse_args(['--stage', '3', *REQUIRED_WITHOUT_RECIPE])
    assert (args.dataset, args.train_hr, args.resolution_lr, args.resolution_hr) == ('videomatte', True, 512, 2048)
    assert (args.seq_length_lr, args.seq_length_hr, args.epoch_start, args.epoch_end) == (40, 6, 22, 23)
    assert (args.learning_rate_backbone, args.learning_rate_aspp, args.learning_rate_decoder,
            args.learning_rate_refiner) == (0.00001, 0.00001, 0.00001, 0.0002)
    args = parse_args(['--stage', '4', *REQUIRED_WITHOUT_RECIPE])
    assert (args.dataset, args.learning_rate_decoder, args.epoch_start, args.epoch_end) == ('imagematte', 0.00005, 23, 28)


def test_an_explicit_flag_beats_the_preset():
    args = parse_args(['--stage', '3', *REQUIRED_WITHOUT_RECIPE, '--seq-length-lr', '8', '--no-train-hr',
                       '--learning-rate-refiner', '0', '--epoch-end', '30', '--dataset', 'imagematte'])
    assert (args.seq_length_lr, args.train_hr, args.learning_rate_refiner, args.epoch_end) == (8, False, 0, 30)
    assert (args.dataset, args.seq_length_hr, args.learning_rate_backbone) == ('imagematte', 6, 0.00001)  # the rest stays


def test_every_preset_names_real_flags():
    flags = set(vars(build_parser({}).parse_args([*REQUIRED_WITHOUT_RECIPE, '--dataset', 'videomatte',
                                                  '--seq-length-lr', '2', '--learning-rate-backbone', '0',
                                                  '--learning-rate-aspp', '0', '--learning-rate-decoder', '0',
                                                  '--learning-rate-refiner', '0'])))
    for stage, preset in STAGES.items():
        assert set(preset) <= flags, f'stage {stage}: {set(preset) - flags}'


def test_without_a_stage_the_recipe_flags_are_required(capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args(REQUIRED_WITHOUT_RECIPE)
    assert stop.value.code == 2
    assert ('the following arguments are required: --dataset, --learning-rate-backbone, --learning-rate-aspp, '
            '--learning-rate-decoder, --learning-rate-refiner, --seq-length-lr') in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(['--stage', '1', '--checkpoint-dir', 'ckpt', '--log-dir', 'log'])    # a stage leaves the variant open
    assert 'required: --model-variant' in capsys.readouterr().err


def test_stage_3_trains_the_high_resolution_pass_with_its_learning_rates(data_root, tmp_path):
    _run(['--stage', '3', '--model-variant', 'mobilenetv3', '--resolution-lr', '128', '--resolution-hr', '128',
          '--seq-length-lr', '2', '--seq-length-hr', '2', '--batch-size-per-gpu', '2', '--epoch-start', '0',
          '--epoch-end', '1', '--checkpoint-dir', str(tmp_path / 'ckpt'), '--log-dir', str(tmp_path / 'log'),
          '--num-workers', '0', '--no-pretrained-backbone', '--data-root', data_root,
          '--log-train-loss-interval', '1', '--disable-progress-bar', '--disable-validation'])
    assert set(_scalars(tmp_path / 'log', 'train_hr_total')) == {0, 1}
    groups = torch.load(tmp_path / 'ckpt' / 'resume.pth', weights_only=True)['optimizer']['param_groups']
    assert [group['lr'] for group in groups] == [0.00001] * 5 + [0.0002]   # backbone ... refiner, from STAGES[3]
