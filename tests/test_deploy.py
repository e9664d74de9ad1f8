"""The deployment path (model.deploy.prepare_for_inference) gives the plain model's outputs, on
filled weights and random frames, and on the real weights and real clips of ../shared/real."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from fill_weights import fill_state_dict
from model import MattingNetwork, load_matting_network
from model.deploy import (BFLOAT16_TOLERANCE, FusedConv2d, cpu_has_native_bfloat16, fold_batch_norms,
                          prepare_for_inference)
from streaming.device import Placement

CPU = torch.device('cpu')
REAL = Path(__file__).resolve().parent.parent.parent / 'shared' / 'real'
# (variant, refiner, onednn_fusions); without oneDNN fusions the rewrites run as on CUDA
CASES = [('mobilenetv3', 'deep_guided_filter', True), ('mobilenetv3', 'deep_guided_filter', False),
         ('resnet50', 'fast_guided_filter', True)]


def filled(variant, refiner):
    model = MattingNetwork(variant, refiner).eval()
    model.load_state_dict(fill_state_dict(model.state_dict()))
    return model


def clip(*shape, seed=0):
    """Slowly changing frames `[B, T, 3, H, W]`: the states matter, the values stay natural."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(shape[0], 1, *shape[2:], generator=g)
    return (base + 0.1 * torch.rand(*shape, generator=g)).clamp(0, 1)


def bfloat16_convolutions(model):
    return [m for m in model.modules() if isinstance(m, FusedConv2d) and m.weight.dtype == torch.bfloat16]


@pytest.mark.parametrize('variant,refiner,onednn', CASES)
def test_parity_with_plain_model_over_chained_frames(variant, refiner, onednn):
    model = filled(variant, refiner)
    fast = prepare_for_inference(model, CPU, torch.float32, bfloat16_convolutions=False, onednn_fusions=onednn)
    src = clip(1, 3, 3, 64, 97)
    for ratio in (0.5, 1.0):
        rec, rec_fast = [None] * 4, [None] * 4
        with torch.inference_mode():
            for t in range(src.size(1)):
                expected = model(src[:, t], *rec, downsample_ratio=ratio)
                actual = fast(src[:, t], *rec_fast, downsample_ratio=ratio)
                for a, e in zip(actual, expected):
                    assert a.shape == e.shape and a.dtype == e.dtype
                    torch.testing.assert_close(a, e, rtol=0, atol=1e-4)
                rec, rec_fast = expected[2:], actual[2:]
            # a [B, T, 3, H, W] chunk through the same prepared model
            for a, e in zip(fast(src, downsample_ratio=ratio), model(src, downsample_ratio=ratio)):
                torch.testing.assert_close(a, e, rtol=0, atol=1e-4)


def test_leaves_the_argument_alone_and_folds_every_batch_norm_and_activation():
    model = filled('mobilenetv3', 'deep_guided_filter')
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = prepare_for_inference(model, CPU, torch.float32, onednn_fusions=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert not any(isinstance(m, (nn.Conv2d, nn.ReLU, nn.Hardswish, nn.Hardsigmoid)) for m in fast.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_fold_batch_norms_is_exact_for_conv_bn_pairs():
    block = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    block.load_state_dict(fill_state_dict(block.state_dict()))
    block.eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        expected = block(x)
        folded = fold_batch_norms(block)
        assert isinstance(folded[1], nn.Identity)
        torch.testing.assert_close(folded(x), expected, rtol=0, atol=1e-5)


def test_other_modules_are_only_moved():
    scripted = torch.jit.script(filled('mobilenetv3', 'fast_guided_filter'))
    prepared = prepare_for_inference(scripted, CPU, torch.float64)
    assert prepared is scripted and all(p.dtype == torch.float64 for p in prepared.parameters())


@pytest.mark.parametrize('variant,refiner,onednn', CASES)
def test_bfloat16_convolutions_stay_within_tolerance(variant, refiner, onednn):
    """Forced on (on CPUs without native bfloat16 it is slow, but computes the same)."""
    model = filled(variant, refiner)
    fast = prepare_for_inference(model, CPU, torch.float32, bfloat16_convolutions=True, onednn_fusions=onednn)
    assert bfloat16_convolutions(fast)
    src = clip(1, 4, 3, 96, 160, seed=3)
    rec, rec_fast = [None] * 4, [None] * 4
    with torch.inference_mode():
        for t in range(src.size(1)):  # the states must not drift apart over the frames
            expected = model(src[:, t], *rec, downsample_ratio=0.5)
            actual = fast(src[:, t], *rec_fast, downsample_ratio=0.5)
            for a, e in zip(actual[:2], expected[:2]):
                assert a.dtype == torch.float32
                torch.testing.assert_close(a, e, rtol=0, atol=BFLOAT16_TOLERANCE)
                assert (a - e).abs().mean() < BFLOAT16_TOLERANCE / 10
            rec, rec_fast = expected[2:], actual[2:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_graph_runner_matches_plain_model():
    cuda = torch.device('cuda')
    model = filled('mobilenetv3', 'deep_guided_filter')
    fast = prepare_for_inference(model, cuda, torch.float16, cuda_graphs=True)
    plain = model.to(device=cuda, dtype=torch.float16)
    src = clip(1, 3, 3, 144, 256).to(device=cuda, dtype=torch.float16)
    for ratio in (0.5, 0.25):  # a graph per ratio
        rec, rec_fast, previous = [None] * 4, [None] * 4, None
        with torch.inference_mode():
            for t in range(src.size(1)):
                expected = plain(src[:, t], *rec, downsample_ratio=ratio)
                actual = fast(src[:, t], *rec_fast, downsample_ratio=ratio)
                for a, e in zip(actual, expected):
                    torch.testing.assert_close(a, e, rtol=0, atol=1e-2)
                if previous is not None:  # the previous call's outputs were not overwritten by this one
                    assert not torch.equal(previous, actual[1])
                previous, rec, rec_fast = actual[1], expected[2:], actual[2:]


def test_preparing_a_prepared_model_returns_it_unchanged():
    """convert_video prepares every MattingNetwork it gets, including one the caller prepared already."""
    model = filled('mobilenetv3', 'deep_guided_filter')
    fast = prepare_for_inference(model, CPU, torch.float32, bfloat16_convolutions=True, onednn_fusions=True)
    assert prepare_for_inference(fast, CPU, torch.float32) is fast
    assert bfloat16_convolutions(fast)
    with torch.inference_mode():
        fgr, pha, *_ = fast(clip(1, 1, 3, 48, 64)[:, 0], downsample_ratio=0.5)
    assert fgr.dtype == pha.dtype == torch.float32
    with pytest.raises(ValueError, match='prepared for cpu torch.float32'):
        prepare_for_inference(fast, CPU, torch.bfloat16)


def real_clip(name, frames):
    """A real clip (people, about 160x90), upscaled x4: `[1, frames, 3, H, W]` in 0..1."""
    clip = torch.from_numpy(np.load(REAL / 'clips.npz')[name][:frames]).permute(0, 3, 1, 2).float() / 255
    return F.interpolate(clip, scale_factor=4, mode='bicubic', align_corners=False).clamp(0, 1)[None]


@pytest.mark.skipif(not (REAL / 'clips.npz').exists(), reason='needs ../shared/real (real weights and clips)')
@pytest.mark.parametrize('refiner', ['fast_guided_filter', 'deep_guided_filter'])
def test_parity_on_real_footage_with_real_weights(refiner):
    """Real mattes (alpha near 0 and 1, sharp edges, states that matter) within the same bounds: the
    default path to 1e-4, the opt-in bfloat16 one to BFLOAT16_TOLERANCE, at both ratios, on tile9
    (where bfloat16 moved the foreground most) as well as tile0."""
    model = load_matting_network(REAL / f'rvm_mobilenetv3_real_{refiner[0]}gf.pth', refiner=refiner)
    fast = {1e-4: Placement(CPU, torch.float32).prepare(model),
            BFLOAT16_TOLERANCE: prepare_for_inference(model, CPU, torch.float32, bfloat16_convolutions=True,
                                                      onednn_fusions=True)}
    for name in ('tile0', 'tile9'):
        src = real_clip(name, 8)
        for ratio in (0.5, 1.0):
            rec = {None: [None] * 4, **{tolerance: [None] * 4 for tolerance in fast}}
            with torch.inference_mode():
                for t in range(src.size(1)):
                    fgr, pha, *rec[None] = model(src[:, t], *rec[None], downsample_ratio=ratio)
                    assert 0.05 < pha.mean() < 0.95  # a real matte, not an empty one
                    for tolerance, prepared in fast.items():
                        fgr_fast, pha_fast, *rec[tolerance] = prepared(src[:, t], *rec[tolerance],
                                                                       downsample_ratio=ratio)
                        torch.testing.assert_close(pha_fast, pha, rtol=0, atol=tolerance)
                        torch.testing.assert_close(fgr_fast, fgr, rtol=0, atol=tolerance)


def test_bfloat16_is_opt_in():
    """convert_video and the live path run float32 (exact); bfloat16 only where asked for and native."""
    assert not Placement(CPU, torch.float32).bfloat16_convolutions
    assert Placement(CPU, torch.float32, bfloat16=True).bfloat16_convolutions == cpu_has_native_bfloat16()
    assert not Placement(CPU, torch.bfloat16, bfloat16=True).bfloat16_convolutions  # float32 models only
    assert not bfloat16_convolutions(Placement(CPU, torch.float32).prepare(filled('mobilenetv3', 'deep_guided_filter')))
