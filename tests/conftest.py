"""Fixtures shared by several test files: filled weights, an offline torch.hub, a local 'release', one torch thread."""
import urllib.error
from pathlib import Path

import pytest
import torch

import model.checkpoint
from fill_weights import fill_state_dict
from model import MattingNetwork

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='session')
def mbv3_weights():
    """A MobileNetV3 MattingNetwork state_dict filled by the reference rule."""
    return fill_state_dict(MattingNetwork('mobilenetv3').state_dict())


@pytest.fixture(scope='session')
def mbv3_checkpoint(tmp_path_factory, mbv3_weights):
    """`mbv3_weights` saved as a checkpoint file."""
    path = tmp_path_factory.mktemp('weights') / 'rvm_mobilenetv3.pth'
    torch.save(mbv3_weights, path)
    return path


@pytest.fixture
def offline(monkeypatch):
    """torch.hub downloads fail as they do without a network."""
    def refuse(*args, **kwargs):
        raise urllib.error.URLError('network is unreachable')
    monkeypatch.setattr(torch.hub, 'urlopen', refuse)


@pytest.fixture
def published_release(tmp_path, monkeypatch, mbv3_weights):
    """`mbv3_weights` 'published' at a file:// URL in place of the release URL, with torch.hub's
    cache in `tmp_path / 'torch_home'` (a download lands in `torch_home/hub/checkpoints/`).
    Returns the release file."""
    release = tmp_path / 'release' / 'rvm_mobilenetv3.pth'
    release.parent.mkdir()
    torch.save(mbv3_weights, release)
    monkeypatch.setitem(model.checkpoint.PUBLISHED_URLS, 'mobilenetv3', release.as_uri())
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return release


@pytest.fixture
def one_thread():
    """torch runs this test's work on one thread (restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
