"""ONNX and TorchScript export: interfaces, dynamic shapes, and parity with MattingNetwork."""
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import export
from exporters.formats import DEFAULT_OPSET
from exporters.onnx_dynamic import export_onnx
from conftest import ROOT
from exporters.onnx_runner import OnnxMatting
from fill_weights import fill_state_dict
from model import MattingNetwork


def filled(variant='mobilenetv3', refiner='deep_guided_filter'):
    model = MattingNetwork(variant, refiner).eval()
    model.load_state_dict(fill_state_dict(model.state_dict()))
    return model


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp('weights') / 'rvm_mobilenetv3.pth'
    torch.save(filled().state_dict(), path)
    return path


@pytest.fixture(scope='module')
def onnx_file(tmp_path_factory, checkpoint):
    """Exported once through the command line, fp32, default opset, on the device asked for."""
    path = tmp_path_factory.mktemp('onnx') / 'rvm.onnx'
    export.main(['--format', 'onnx', '--checkpoint', str(checkpoint), '--device', 'cpu', '--output', str(path)])
    return path


def frames(*shape, seed=0):
    """A slowly changing clip `[T, B, 3, H, W]`, so that the states matter but stay bounded."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(*shape[1:], generator=g)
    return torch.stack([(base + 0.1 * torch.rand(*shape[1:], generator=g)).clamp(0, 1) for _ in range(shape[0])])


def test_onnx_interface(onnx_file):
    graph = onnx.load(onnx_file)
    assert graph.opset_import[0].version == DEFAULT_OPSET >= 12
    inputs = {i.name: i.type.tensor_type for i in graph.graph.input}
    assert list(inputs) == ['src', 'r1i', 'r2i', 'r3i', 'r4i', 'downsample_ratio']
    assert [o.name for o in graph.graph.output] == ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o']
    assert all(t.elem_type == onnx.TensorProto.FLOAT for t in inputs.values())
    assert [d.dim_value for d in inputs['downsample_ratio'].shape.dim] == [1]
    src_dims = inputs['src'].shape.dim
    assert [d.dim_param for d in src_dims] == ['batch', '', 'height', 'width'] and src_dims[1].dim_value == 3
    # the ratio is read at run time, not baked in: it feeds the Resize of the source
    resize = next(n for n in graph.graph.node if n.op_type == 'Resize' and n.input[0] == 'src')
    assert resize.output[0] == 'src_sm'
    # no ceil_mode pooling: ONNX Runtime's WebGPU AveragePool does not run it (the browser page)
    pools = [n for n in graph.graph.node if n.op_type == 'AveragePool']
    assert len(pools) == 3
    assert all(a.i == 0 for n in pools for a in n.attribute if a.name == 'ceil_mode')


def test_onnx_matches_pytorch_over_chained_frames(onnx_file):
    """One file, two ratios (and 1, where no refiner runs), two chained frames each, batch 2 at a
    size it was not exported at."""
    model = filled()
    session = ort.InferenceSession(str(onnx_file), providers=['CPUExecutionProvider'])
    clip = frames(2, 2, 3, 90, 161)
    for ratio in (0.5, 0.25, 1.0):
        states = [np.zeros([1, 1, 1, 1], np.float32)] * 4
        expected_states = [None] * 4
        for src in clip:
            feeds = dict(src=src.numpy(), downsample_ratio=np.array([ratio], np.float32),
                         **{f'r{i}i': s for i, s in enumerate(states, 1)})
            actual = session.run(None, feeds)
            with torch.no_grad():
                expected = model(src, *expected_states, downsample_ratio=ratio)
            for name, a, e in zip(['fgr', 'pha', 'r1', 'r2', 'r3', 'r4'], actual, expected):
                assert a.shape == tuple(e.shape), name
                np.testing.assert_allclose(a, e.numpy(), rtol=0, atol=1e-4, err_msg=f'{name} at {ratio}')
            states, expected_states = actual[2:], expected[2:]


def test_onnx_runner_iobinding_loop(onnx_file):
    """The documented IO-binding loop gives the same frames as PyTorch, also after reset()."""
    model = filled()
    runner = OnnxMatting(str(onnx_file))
    clip = frames(3, 1, 3, 72, 128, seed=1)
    for _ in range(2):
        rec = [None] * 4
        for src in clip:
            fgr, pha = runner(src.numpy(), downsample_ratio=0.5)
            with torch.no_grad():
                expected_fgr, expected_pha, *rec = model(src, *rec, downsample_ratio=0.5)
            np.testing.assert_allclose(fgr, expected_fgr.numpy(), rtol=0, atol=1e-4)
            np.testing.assert_allclose(pha, expected_pha.numpy(), rtol=0, atol=1e-4)
        runner.reset()


def test_onnx_refuses_an_opset_it_cannot_write(tmp_path, capsys):
    with pytest.raises(SystemExit):
        export.main(['--format', 'onnx', '--opset', '12', '--output', str(tmp_path / 'rvm.onnx')])
    assert '--opset 12: the exporter writes opset 18 or newer' in capsys.readouterr().err
    with pytest.raises(ValueError, match='opset 12 is not supported'):
        export_onnx(filled(), str(tmp_path / 'rvm.onnx'), opset=12)
    assert not (tmp_path / 'rvm.onnx').exists()


def test_onnx_float16_export(tmp_path):
    """float16 graphs type their image inputs and states as float16, the ratio stays float32."""
    path = tmp_path / 'rvm_fp16.onnx'
    export_onnx(filled('mobilenetv3', 'fast_guided_filter'), str(path), dtype=torch.float16)
    graph = onnx.load(path).graph
    types = {i.name: i.type.tensor_type.elem_type for i in list(graph.input) + list(graph.output)}
    assert types.pop('downsample_ratio') == onnx.TensorProto.FLOAT
    assert set(types.values()) == {onnx.TensorProto.FLOAT16}


@pytest.mark.parametrize('precision', ['float32', 'float16'])
def test_torchscript_file(tmp_path, checkpoint, precision):
    path = tmp_path / f'rvm_{precision}.torchscript'
    export.main(['--format', 'torchscript', '--checkpoint', str(checkpoint), '--precision', precision,
                 '--output', str(path)])
    loaded = torch.jit.load(str(path))
    dtype = getattr(torch, precision)
    assert all(p.dtype == dtype for p in loaded.parameters())

    # run it the way a deployment would: frozen, in float32 on the CPU, chunk and single frames
    frozen = torch.jit.freeze(loaded.float().eval())
    model = filled()
    src = frames(2, 1, 3, 64, 96, seed=2).transpose(0, 1)  # [B, T, 3, H, W]
    tolerance = 1e-4 if precision == 'float32' else 2e-2  # float16 weights, float32 arithmetic
    with torch.no_grad():
        expected = model(src, downsample_ratio=0.5)
        actual = frozen(src, downsample_ratio=0.5)
        rec = [None] * 4
        fgr1, pha1, *rec = frozen(src[:, 0], *rec, downsample_ratio=0.5)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, rtol=0, atol=tolerance)
    torch.testing.assert_close(pha1, actual[1][:, 0], rtol=0, atol=1e-5)


def test_torchscript_export_needs_no_onnx_package(tmp_path, checkpoint):
    """requirements_inference.txt (torch, no ONNX or OpenVINO packages) is enough for --format torchscript."""
    blocked = ('onnx', 'onnxscript', 'onnxruntime', 'onnxslim', 'openvino')
    code = f'import sys; sys.modules.update(dict.fromkeys({blocked!r})); import export; export.main(sys.argv[1:])'
    path = tmp_path / 'rvm.torchscript'
    result = subprocess.run([sys.executable, '-c', code, '--format', 'torchscript', '--checkpoint', str(checkpoint),
                             '--output', str(path)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(p.dtype == torch.float32 for p in torch.jit.load(str(path)).parameters())
