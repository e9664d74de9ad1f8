"""MattingNetwork: checkpoint layout, numerical parity with the published network, both input ranks."""
from pathlib import Path

import numpy as np
import pytest
import torch

from fill_weights import fill_state_dict
from model import MattingNetwork
from model.decoder import HalfSizeAvgPool

FIXTURES = Path(__file__).parent / 'fixtures'
COMBINATIONS = [(v, r) for v in ('mobilenetv3', 'resnet50') for r in ('deep_guided_filter', 'fast_guided_filter')]


def filled(variant, refiner):
    model = MattingNetwork(variant, refiner).eval()
    model.load_state_dict(fill_state_dict(model.state_dict()), strict=True)
    return model


@pytest.mark.parametrize('variant,refiner', COMBINATIONS)
def test_state_dict_matches_published_layout(variant, refiner):
    expected = [line.split() for line in (FIXTURES / f'{variant}_{refiner}.txt').read_text().splitlines()]
    actual = [[k, 'x'.join(map(str, v.shape)) or '-', str(v.dtype).removeprefix('torch.')]
              for k, v in MattingNetwork(variant, refiner).state_dict().items()]
    assert actual == expected


@pytest.mark.parametrize('case', sorted(p.stem for p in FIXTURES.glob('*.npz')))
def test_parity_with_reference_vectors(case):
    data = np.load(FIXTURES / f'{case}.npz')
    model = filled(str(data['variant']), str(data['refiner']))
    rec = [None] * 4
    for i in range(int(data['calls'])):
        segmentation_pass = bool(data[f'call{i}_segmentation_pass'])
        with torch.no_grad():
            out = model(torch.from_numpy(data[f'call{i}_src']), *rec,
                        downsample_ratio=float(data[f'call{i}_downsample_ratio']),
                        segmentation_pass=segmentation_pass)
        names = (['seg'] if segmentation_pass else ['fgr', 'pha']) + ['r1', 'r2', 'r3', 'r4']
        assert len(out) == len(names)
        for name, tensor in zip(names, out):
            expected = torch.from_numpy(data[f'call{i}_{name}'])
            assert tensor.shape == expected.shape, (i, name)
            err = (tensor - expected).abs().max().item()
            assert err <= 1e-4, f'call {i} {name}: max abs difference {err}'
        rec = out[-4:]


@pytest.mark.parametrize('height,width', [(8, 12), (7, 12), (8, 13), (7, 13), (1, 1), (2, 5)])
def test_half_size_pool_equals_ceil_mode_avgpool(height, width):
    """The decoder's pooling of the source equals the published ceil-mode AvgPool on odd and even sides,
    values and gradients, in both memory formats."""
    reference = torch.nn.AvgPool2d(2, 2, count_include_pad=False, ceil_mode=True)
    x = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(4), dtype=torch.float64,
                   requires_grad=True)
    for memory_format in (torch.contiguous_format, torch.channels_last):
        y = x.contiguous(memory_format=memory_format)
        expected, actual = reference(y), HalfSizeAvgPool()(y)
        assert actual.shape == expected.shape == (2, 3, (height + 1) // 2, (width + 1) // 2)
        torch.testing.assert_close(actual, expected, atol=1e-12, rtol=0)
        weights = torch.rand_like(expected)
        grad_expected, = torch.autograd.grad((expected * weights).sum(), x)
        grad_actual, = torch.autograd.grad((actual * weights).sum(), x)
        torch.testing.assert_close(grad_actual, grad_expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize('ratio', [1.0, 0.5])
def test_chunk_equals_frame_by_frame(ratio):
    """A [B, T, C, H, W] chunk gives the same outputs and final states as T chained single frames."""
    model = filled('mobilenetv3', 'deep_guided_filter')
    src = torch.rand(2, 3, 3, 48, 70, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fgr, pha, *rec_chunk = model(src, downsample_ratio=ratio)
        rec = [None] * 4
        for t in range(src.size(1)):
            fgr_t, pha_t, *rec = model(src[:, t], *rec, downsample_ratio=ratio)
            torch.testing.assert_close(fgr[:, t], fgr_t, atol=1e-5, rtol=0)
            torch.testing.assert_close(pha[:, t], pha_t, atol=1e-5, rtol=0)
    assert fgr.shape == (2, 3, 3, 48, 70) and pha.shape == (2, 3, 1, 48, 70)
    for a, b in zip(rec_chunk, rec):
        assert a.dim() == 4
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_outputs_are_clamped_and_states_carry_memory():
    model = filled('mobilenetv3', 'deep_guided_filter')
    src = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fgr, pha, *rec = model(src)
        fgr2, pha2, *_ = model(src, *rec)
    assert fgr.min() >= 0 and fgr.max() <= 1 and pha.min() >= 0 and pha.max() <= 1
    assert not torch.equal(pha, pha2), 'the second frame must see the first frame\'s recurrent state'


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match='unknown variant'):
        MattingNetwork('mobilenetv2')
    with pytest.raises(ValueError, match='unknown refiner'):
        MattingNetwork('mobilenetv3', 'bilinear')
    with pytest.raises(ValueError, match=r'\[B, C, H, W\]'):
        MattingNetwork()(torch.rand(3, 32, 32))


@pytest.mark.parametrize('variant,refiner', [('mobilenetv3', 'deep_guided_filter'), ('resnet50', 'fast_guided_filter')])
def test_torchscript_script_and_freeze(variant, refiner):
    model = filled(variant, refiner)
    frozen = torch.jit.freeze(torch.jit.script(model))
    src = torch.rand(1, 2, 3, 45, 67, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for ratio in (1.0, 0.5):
            expected = model(src, downsample_ratio=ratio)
            actual = frozen(src, downsample_ratio=ratio)
            for a, b in zip(actual, expected):
                torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
        seg_expected = model(src[:, 0], segmentation_pass=True)
        seg_actual = frozen(src[:, 0], segmentation_pass=True)
    for a, b in zip(seg_actual, seg_expected):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_torch_compile_on_cpu():
    model = filled('mobilenetv3', 'deep_guided_filter')
    compiled = torch.compile(model)
    src = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model(src, downsample_ratio=0.5)
        actual = compiled(src, downsample_ratio=0.5)
    for a, b in zip(actual, expected):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
