"""`--ray`: the batch as Ray tasks on a local 2-worker Ray, and a worker killed mid-task (Ray retries it).

Ray is an optional dependency (requirements/ray.txt); CI installs it, so these tests fail, not
skip, without it. One Ray start-up (seconds) serves the whole module.
"""
import os
import signal
import threading
import time

import numpy as np
import pytest
import ray
import torch

from batch_helpers import make_folder
from fill_weights import fill_state_dict
from inference import convert_videos
from media import make_video, probe
from model import MattingNetwork
from streaming.batch.ray_runner import start
from test_batch import alpha_frames, one_thread  # noqa: F401 (a fixture, autouse)


@pytest.fixture(scope='module')
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={'env_vars': {'PYTHONPATH': os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                       'OMP_NUM_THREADS': '1'}})
    start()  # already started: joins it
    yield
    ray.shutdown()


@pytest.fixture(scope='module')
def network():
    model = MattingNetwork('mobilenetv3')
    model.load_state_dict(fill_state_dict(model.state_dict()))
    return model.eval()


def test_ray_with_two_workers_converts_a_folder_to_the_same_outputs(tmp_path, local_ray, network):
    make_folder(tmp_path / 'in')
    options = dict(output_alpha='pha', progress=False, device='cpu', output_type='png_sequence')
    here = convert_videos(network, str(tmp_path / 'in'), str(tmp_path / 'here'), **options)
    there = convert_videos(network, str(tmp_path / 'in'), str(tmp_path / 'ray'), ray=True, ray_cpus=1, **options)
    def outcomes(report):  # Ray reports inputs as they finish
        return sorted((o.input, o.status, o.frames) for o in report.outcomes)
    assert outcomes(there) == outcomes(here)
    assert [status for _, status, _ in outcomes(there)] == ['converted', 'failed', 'converted', 'converted']
    for name in ('a', 'seq', os.path.join('sub', 'deeper', 'b')):
        a, b = alpha_frames(tmp_path / 'here' / name / 'pha'), alpha_frames(tmp_path / 'ray' / name / 'pha')
        assert a.shape == b.shape and np.abs(a.astype(int) - b).max() <= 1
    again = convert_videos(network, str(tmp_path / 'in'), str(tmp_path / 'ray'), ray=True, ray_cpus=1, **options)
    assert [status for _, status, _ in outcomes(again)] == ['skipped', 'failed', 'skipped', 'skipped']


def task_processes():
    """The pids of Ray worker processes now running a segment task (Ray titles them by their task)."""
    pids = []
    for pid in os.listdir('/proc'):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as file:
                if file.read().startswith(b'ray::convert_segment_task'):
                    pids.append(int(pid))
        except (OSError, ValueError):
            continue
    return pids


def test_a_worker_killed_mid_task_is_retried_and_the_batch_completes(tmp_path, local_ray, network):
    frames = 32
    (tmp_path / 'in').mkdir()
    make_video(tmp_path / 'in' / 'long.mp4', frames=frames, noise=True)
    out = tmp_path / 'out'
    result = {}
    thread = threading.Thread(target=lambda: result.update(report=convert_videos(
        network, str(tmp_path / 'in'), str(out), output_alpha='pha.mp4', ray=True, ray_cpus=1, checkpoint_seconds=0,
        progress=False)))
    thread.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        checkpoint = list(out.glob('long/.rvm-*/segment-00000/checkpoint.pt'))
        pids = task_processes()
        if checkpoint and pids:
            midway = not torch.load(checkpoint[0], weights_only=True)['done']
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.05)
    thread.join(300)
    assert killed is not None and midway, 'the task finished before it could be killed'
    report = result['report']
    assert [o.status for o in report.outcomes] == ['converted']
    assert probe(out / 'long' / 'pha.mp4')['frames'] == frames
    assert report.outcomes[0].frames == frames
