"""torch.hub entry points, offline: built without weights, and loaded from a file:// 'release'."""

import pytest
import torch

import model.checkpoint as checkpoint
from conftest import ROOT
from model import MattingNetwork


def hub_load(name, **kwargs):
    return torch.hub.load(str(ROOT), name, source='local', **kwargs)


@pytest.mark.parametrize('name', ['mobilenetv3', 'resnet50'])
def test_without_weights(name):
    model = hub_load(name, pretrained=False)
    assert isinstance(model, MattingNetwork) and not model.training
    assert type(model.backbone).__name__ == {'mobilenetv3': 'MobileNetV3LargeEncoder', 'resnet50': 'ResNet50Encoder'}[name]
    with torch.no_grad():
        fgr, pha, *rec = model(torch.rand(1, 3, 64, 64), downsample_ratio=0.5)
    assert fgr.shape == (1, 3, 64, 64) and pha.shape == (1, 1, 64, 64) and len(rec) == 4


def test_pretrained_from_published_url(tmp_path, published_release, mbv3_weights):
    weights, release = mbv3_weights, published_release

    model = hub_load('mobilenetv3', progress=False)
    assert (tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'rvm_mobilenetv3.pth').is_file()
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key

    # the second load reads the cache: the 'release' may be gone
    release.unlink()
    again = hub_load('mobilenetv3', progress=False)
    assert torch.equal(again.project_mat.conv.weight, weights['project_mat.conv.weight'])


def test_pretrained_offline_names_url(tmp_path, monkeypatch, offline):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(checkpoint.CheckpointError, match=r'releases/download/v1\.0\.0/rvm_resnet50\.pth'):
        hub_load('resnet50')


def test_converter_is_convert_video():
    import inference
    assert hub_load('converter') is inference.convert_video
