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
import streaming.device
from model.deploy import (BFLOAT16_TOLERANCE, FusedConv2d, cpu_has_native_bfloat16, fold_batch_norms,
                          onednn_convolves_bfloat16, prepare_for_inference)
from streaming.device import Placement

CPU = torch.device('cpu')
REAL = Path(__file__).resolve().parent.parent.parent / 'shared' / 'real'
# (variant, refiner, onednn_fusions); without oneDNN fusions the rewrites run as on CUDA
CASES = [('mobilenetv3', 'deep_guided_filter', True), ('mobilenetv3', 'deep_guided_filter', False),
         ('resnet50', 'fast_guided_filter', True)]
needs_onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason='needs a PyTorch built with oneDNN')
# oneDNN refuses bfloat16 convolutions on CPUs without AVX512BW/VL/DQ or AVX-NE-CONVERT (most AVX2-only
# laptops and cloud machines); there the forced-on bfloat16 path is tested without oneDNN's kernels.
needs_onednn_bfloat16 = pytest.mark.skipif(
    not onednn_convolves_bfloat16(), reason='oneDNN convolves bfloat16 only on CPUs with AVX512BW, VL and DQ, or '
                                            f'AVX-NE-CONVERT; this one ({torch.backends.cpu.get_cpu_capability()}) '
                                            'has neither')


def onednn_case(variant, refiner, onednn, bfloat16=False):
    """A CASES entry, skipped (with its reason) where this CPU or PyTorch build cannot run it."""
    marks = ([needs_onednn] if onednn else []) + ([needs_onednn_bfloat16] if onednn and bfloat16 else [])
    return pytest.param(variant, refiner, onednn, marks=marks)


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


@pytest.mark.parametrize('variant,refiner,onednn', [onednn_case(*case) for case in CASES])
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


@needs_onednn
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


@pytest.mark.parametrize('variant,refiner,onednn', [onednn_case(*case, bfloat16=True) for case in CASES])
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
    fast = prepare_for_inference(model, CPU, torch.float32, bfloat16_convolutions=True,
                                 onednn_fusions=onednn_convolves_bfloat16())
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


needs_real = pytest.mark.skipif(not (REAL / 'clips.npz').exists(), reason='needs ../shared/real (real weights and clips)')


@needs_real
@pytest.mark.parametrize('refiner,bfloat16', [
    ('fast_guided_filter', False), ('deep_guided_filter', False),
    pytest.param('fast_guided_filter', True, marks=needs_onednn_bfloat16),
    pytest.param('deep_guided_filter', True, marks=needs_onednn_bfloat16)])
def test_parity_on_real_footage_with_real_weights(refiner, bfloat16):
    """Real mattes (alpha near 0 and 1, sharp edges, states that matter) within the same bounds: the
    default path to 1e-4, the opt-in bfloat16 one to BFLOAT16_TOLERANCE, at both ratios, on tile9
    (where bfloat16 moved the foreground most) as well as tile0."""
    model = load_matting_network(REAL / f'rvm_mobilenetv3_real_{refiner[0]}gf.pth', refiner=refiner)
    if bfloat16:
        tolerance = BFLOAT16_TOLERANCE
        fast = prepare_for_inference(model, CPU, torch.float32, bfloat16_convolutions=True, onednn_fusions=True)
    else:
        tolerance, fast = 1e-4, Placement(CPU, torch.float32).prepare(model)
    for name in ('tile0', 'tile9'):
        src = real_clip(name, 8)
        for ratio in (0.5, 1.0):
            rec, rec_fast = [None] * 4, [None] * 4
            with torch.inference_mode():
                for t in range(src.size(1)):
                    fgr, pha, *rec = model(src[:, t], *rec, downsample_ratio=ratio)
                    assert 0.05 < pha.mean() < 0.95  # a real matte, not an empty one
                    fgr_fast, pha_fast, *rec_fast = fast(src[:, t], *rec_fast, downsample_ratio=ratio)
                    torch.testing.assert_close(pha_fast, pha, rtol=0, atol=tolerance)
                    torch.testing.assert_close(fgr_fast, fgr, rtol=0, atol=tolerance)


def test_bfloat16_is_opt_in():
    """convert_video and the live path run float32 (exact); bfloat16 only where asked for and native."""
    assert not Placement(CPU, torch.float32).bfloat16_convolutions
    assert Placement(CPU, torch.float32, bfloat16=True).bfloat16_convolutions == cpu_has_native_bfloat16()
    assert not Placement(CPU, torch.bfloat16, bfloat16=True).bfloat16_convolutions  # float32 models only
    assert not bfloat16_convolutions(Placement(CPU, torch.float32).prepare(filled('mobilenetv3', 'deep_guided_filter')))


def test_without_native_bfloat16_asking_for_it_gives_the_float32_path_exactly(monkeypatch):
    """On a CPU without native bfloat16 (real here, or made so), Placement(bfloat16=True) prepares the
    float32 model bit for bit, and says why."""
    monkeypatch.setattr(streaming.device, 'cpu_has_native_bfloat16', lambda: False)
    model = filled('mobilenetv3', 'deep_guided_filter')
    asked = Placement(CPU, torch.float32, bfloat16=True)
    assert not asked.bfloat16_convolutions and 'no native bfloat16' in asked.bfloat16_declined
    assert Placement(CPU, torch.float32).bfloat16_declined is None
    fast, plain = asked.prepare(model), Placement(CPU, torch.float32).prepare(model)
    assert not bfloat16_convolutions(fast)
    src = clip(1, 3, 3, 48, 80, seed=5)
    rec, rec_plain = [None] * 4, [None] * 4
    with torch.inference_mode():
        for t in range(src.size(1)):
            fgr, pha, *rec = fast(src[:, t], *rec, downsample_ratio=0.5)
            fgr_plain, pha_plain, *rec_plain = plain(src[:, t], *rec_plain, downsample_ratio=0.5)
            assert torch.equal(fgr, fgr_plain) and torch.equal(pha, pha_plain)


def test_native_bfloat16_implies_what_onednn_accepts():
    """The opt-in path is offered only where oneDNN runs it (its refusal names AVX512BW/VL/DQ or
    AVX-NE-CONVERT, which AVX512-BF16 and AMX CPUs have)."""
    assert not cpu_has_native_bfloat16() or onednn_convolves_bfloat16()


def test_bfloat16_with_onednn_is_refused_where_onednn_cannot(monkeypatch):
    """Forced on a CPU where oneDNN refuses bfloat16, preparing fails at once with the reason, not on the
    first frame inside a kernel."""
    monkeypatch.setattr('model.deploy.onednn_convolves_bfloat16', lambda: False)
    with pytest.raises(ValueError, match='AVX512BW, VL and DQ, or AVX-NE-CONVERT'):
        prepare_for_inference(filled('mobilenetv3', 'deep_guided_filter'), CPU, torch.float32,
                              bfloat16_convolutions=True, onednn_fusions=True)


@needs_onednn_bfloat16
def test_bfloat16_runs_where_native(monkeypatch):
    """Where the CPU has native bfloat16 (or, forced, wherever oneDNN takes it), asking for it convolves
    the decoder blocks in bfloat16."""
    monkeypatch.setattr(streaming.device, 'cpu_has_native_bfloat16', lambda: True)
    fast = Placement(CPU, torch.float32, bfloat16=True).prepare(filled('mobilenetv3', 'deep_guided_filter'))
    assert bfloat16_convolutions(fast)
    with torch.inference_mode():
        fgr, pha, *_ = fast(clip(1, 1, 3, 48, 64)[:, 0], downsample_ratio=0.5)
    assert fgr.dtype == pha.dtype == torch.float32
