"""The shared checkpoint loader and ImageNet backbone loading, all offline."""
from pathlib import Path

import pytest
import torch
from torchvision.models import mobilenet_v3_large

from model import MattingNetwork, detect_variant, load_matting_network
from model.checkpoint import CheckpointError, published_state_dict


def test_detect_variant():
    assert detect_variant(MattingNetwork('mobilenetv3').state_dict()) == ('mobilenetv3', 'deep_guided_filter')
    assert detect_variant(MattingNetwork('resnet50', 'fast_guided_filter').state_dict()) == ('resnet50', 'fast_guided_filter')


def test_loads_published_layout_strictly(tmp_path, mbv3_weights):
    path = tmp_path / 'rvm_mobilenetv3.pth'
    torch.save(mbv3_weights, path)
    net = load_matting_network(path)
    assert not net.training
    for key, value in net.state_dict().items():
        assert torch.equal(value, mbv3_weights[key]), key
    # the same file, run with the parameter-free refiner
    assert isinstance(load_matting_network(path, refiner='fast_guided_filter').refiner, torch.nn.Module)


def test_wrong_variant_is_one_line(tmp_path, mbv3_weights):
    path = tmp_path / 'rvm_mobilenetv3.pth'
    torch.save(mbv3_weights, path)
    with pytest.raises(CheckpointError) as err:
        load_matting_network(path, variant='resnet50')
    assert str(err.value) == f"{path} is a mobilenetv3 checkpoint, but variant 'resnet50' was asked for"


def test_not_a_checkpoint(tmp_path):
    garbage = tmp_path / 'video.mp4'
    garbage.write_bytes(b'\x00\x00\x00\x18ftypmp42' + bytes(100))
    with pytest.raises(CheckpointError, match='is not a PyTorch checkpoint') as err:
        load_matting_network(garbage)
    assert '\n' not in str(err.value)

    other = tmp_path / 'resnet.pth'
    torch.save(mobilenet_v3_large().state_dict(), other)
    with pytest.raises(CheckpointError, match='is not an RVM checkpoint') as err:
        load_matting_network(other)
    assert '\n' not in str(err.value)

    with pytest.raises(CheckpointError, match='does not exist'):
        load_matting_network(tmp_path / 'missing.pth')


def test_truncated_state_dict_is_summarised(mbv3_weights):
    partial = {k: v for k, v in mbv3_weights.items() if not k.startswith('decoder.')}
    with pytest.raises(CheckpointError, match=r'missing keys') as err:
        load_matting_network(partial)
    assert len(str(err.value)) < 400


def test_published_weights_through_hub_cache(tmp_path, published_release):
    state_dict = published_state_dict('mobilenetv3', progress=False)
    assert (tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'rvm_mobilenetv3.pth').is_file()
    assert detect_variant(state_dict) == ('mobilenetv3', 'deep_guided_filter')


def test_published_weights_offline_names_url(tmp_path, monkeypatch, offline):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(CheckpointError, match=r'rvm_resnet50\.pth.*--checkpoint'):
        published_state_dict('resnet50')


def test_pretrained_backbone_from_local_cache(tmp_path, monkeypatch, offline):
    reference = mobilenet_v3_large()
    torch.nn.init.normal_(reference.features[0][0].weight)
    cache = tmp_path / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    torch.save(reference.state_dict(), cache / 'mobilenet_v3_large-8738ca79.pth')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    net = MattingNetwork('mobilenetv3', pretrained_backbone=True)
    for key, value in net.backbone.state_dict().items():
        assert torch.equal(value, reference.state_dict()[key]), key


def test_pretrained_backbone_offline_is_clear(tmp_path, monkeypatch, offline):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    with pytest.raises(RuntimeError, match=r'resnet50-0676ba61\.pth.*pretrained_backbone=False') as err:
        MattingNetwork('resnet50', pretrained_backbone=True)
    assert str(Path(tmp_path) / 'hub' / 'checkpoints') in str(err.value)


def test_create_model_every_source(tmp_path, published_release, mbv3_weights):
    """Published weights, a checkpoint path, a state_dict and fresh weights: one function, the same network."""
    from model import create_model
    path = tmp_path / 'own.pth'
    torch.save(mbv3_weights, path)
    for net in (create_model(pretrained=True, progress=False), create_model(checkpoint=path),
                create_model('mobilenetv3', checkpoint=mbv3_weights)):
        assert not net.training
        assert torch.equal(net.state_dict()['project_mat.conv.weight'], mbv3_weights['project_mat.conv.weight'])
    fresh = create_model('resnet50', refiner='fast_guided_filter')
    assert detect_variant(fresh.state_dict()) == ('resnet50', 'fast_guided_filter')
    assert not torch.equal(fresh.state_dict()['project_mat.conv.weight'].flatten()[:16],
                           mbv3_weights['project_mat.conv.weight'].flatten()[:16])
    with pytest.raises(CheckpointError, match='not both'):
        create_model(pretrained=True, checkpoint=path)
    with pytest.raises(CheckpointError, match='resnet50'):
        create_model('resnet50', checkpoint=path)


def test_network_reads_the_encoders_declared_channels(monkeypatch):
    import model.model

    class Encoder(torch.nn.Module):
        channels = [8, 12, 20, 64]

        def __init__(self, pretrained):
            super().__init__()

    monkeypatch.setitem(model.model.ENCODERS, 'mobilenetv3', (Encoder, 128, [80, 40, 32, 16]))
    net = MattingNetwork('mobilenetv3')
    assert net.aspp.aspp1[0].in_channels == 64
    assert net.decoder.decode3.conv[0].in_channels == 128 + 20 + 3
    assert net.decoder.decode1.conv[0].in_channels == 40 + 8 + 3
