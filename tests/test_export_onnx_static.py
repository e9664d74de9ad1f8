"""export.py's ONNX forms: the ratio-baked static graph (fixed size, and the TensorRT-ready dynamic
one), the metadata beside every export, and the command line's refusals."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import export
from exporters.parity import max_errors, pytorch_reference
from exporters.metadata import file_sha256
from exporters.onnx_static import tensorrt_problems
from fill_weights import fill_state_dict
from model import MattingNetwork
from test_export import frames

WIDTH, HEIGHT, RATIO = 160, 96, 0.5


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp('weights') / 'rvm_mobilenetv3.pth'
    torch.save(fill_state_dict(MattingNetwork('mobilenetv3').state_dict()), path)
    return path


@pytest.fixture(scope='module')
def model(checkpoint):
    network = MattingNetwork('mobilenetv3').eval()
    network.load_state_dict(torch.load(checkpoint))
    return network


def run_onnx(path, clip, states):
    """fgr and pha of an ONNX file over `clip` `[T, B, 3, H, W]`, feeding the states back."""
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    fgrs, phas = [], []
    for src in clip:
        fgr, pha, *states = session.run(None, {'src': src, **{f'r{i}i': s for i, s in enumerate(states, 1)}})
        fgrs.append(fgr)
        phas.append(pha)
    return {'fgr': np.stack(fgrs), 'pha': np.stack(phas)}


def test_fixed_size_graph_matches_pytorch(tmp_path, checkpoint, model):
    path = tmp_path / 'rvm_static.onnx'
    export.main(['--format', 'onnx-static', '--checkpoint', str(checkpoint), '--resolution', str(WIDTH),
                 str(HEIGHT), '--downsample-ratio', str(RATIO), '--output', str(path)])
    meta = json.loads((tmp_path / 'rvm_static.onnx.json').read_text())
    graph = onnx.load(path).graph
    shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert list(shapes) == meta['inputs'] == ['src', 'r1i', 'r2i', 'r3i', 'r4i']
    assert shapes['src'] == [1, 3, HEIGHT, WIDTH]
    assert {k: shapes[k] for k in meta['first_frame_states']} == meta['first_frame_states']
    assert meta['first_frame_states']['r1i'] == [1, 16, HEIGHT * RATIO / 2, WIDTH * RATIO / 2]
    assert (meta['resolution'], meta['downsample_ratio'], meta['precision']) == ([WIDTH, HEIGHT], RATIO, 'float32')
    assert meta['checkpoint_sha256'] == file_sha256(checkpoint)
    assert {n.op_type for n in graph.node}.isdisjoint({'If', 'Shape', 'Expand'})  # every shape folded
    assert json.loads(dict((p.key, p.value) for p in onnx.load(path).metadata_props)['downsample_ratio']) == RATIO

    clip = frames(4, 1, 3, HEIGHT, WIDTH, seed=3).numpy()
    zeros = [np.zeros(s, np.float32) for s in meta['first_frame_states'].values()]
    fgr_error, pha_error = max_errors(run_onnx(path, clip, zeros), pytorch_reference(model, clip, RATIO))
    assert fgr_error < 1e-4 and pha_error < 1e-4


@pytest.mark.parametrize('ratio', [0.25, 1.0])
def test_tensorrt_form_is_ratio_baked_with_dynamic_size(tmp_path, checkpoint, model, ratio):
    """No If, no float input reaching a shape (TensorRT's "shape tensor must have type Int32"),
    dynamic batch, height and width, and parity at a size and batch it was not exported at."""
    path = tmp_path / 'rvm_trt.onnx'
    export.main(['--format', 'onnx-static', '--checkpoint', str(checkpoint), '--downsample-ratio', str(ratio),
                 '--output', str(path)])
    proto = onnx.load(path)
    assert tensorrt_problems(proto) == []
    assert [i.name for i in proto.graph.input] == ['src', 'r1i', 'r2i', 'r3i', 'r4i']
    assert [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim] == ['batch', '', 'height', 'width']

    clip = frames(4, 2, 3, 120, 200, seed=4).numpy()
    zeros = [np.zeros([1, 1, 1, 1], np.float32)] * 4
    fgr_error, pha_error = max_errors(run_onnx(path, clip, zeros), pytorch_reference(model, clip, ratio))
    assert fgr_error < 1e-4 and pha_error < 1e-4


def test_published_graph_is_what_tensorrt_rejects(tmp_path, checkpoint):
    """Also at an opset other than the default (test_export.py exports the default): --opset reaches the file."""
    path = tmp_path / 'rvm.onnx'
    export.main(['--format', 'onnx', '--checkpoint', str(checkpoint), '--opset', '19', '--output', str(path)])
    proto = onnx.load(path)
    assert proto.opset_import[0].version == 19
    problems = tensorrt_problems(proto)
    assert any(p.startswith('If node') for p in problems)
    assert 'float input reaches the shape of Resize' in ' '.join(problems)
    meta = json.loads((tmp_path / 'rvm.onnx.json').read_text())
    assert meta['inputs'][-1] == 'downsample_ratio' and meta['downsample_ratio'] is None


@pytest.mark.parametrize('argv, message', [
    (['--format', 'tflite', '--downsample-ratio', '0.5'], 'needs a fixed graph: give --resolution W H'),
    (['--format', 'onnx', '--downsample-ratio', '0.5'], 'reads the ratio at run time'),
    (['--format', 'onnx-static', '--resolution', '64', '64'], 'needs --downsample-ratio'),
    (['--format', 'tensorflow', '--precision', 'float16'], '--precision float16: --format tensorflow exports float32'),
    (['--format', 'coreml', '--precision', 'float16', '--model-refiner', 'fast_guided_filter', '--resolution',
      '64', '64', '--downsample-ratio', '0.5'], 'alpha is off by up to 0.24'),
    (['--format', 'onnx-static', '--downsample-ratio', '1.5'], 'expected 0 < R <= 1'),
    (['--format', 'tfjs', '--resolution', '640', '480'], '--resolution: --format tfjs has dynamic height and width'),
    (['--format', 'torchscript', '--opset', '18'],
     '--opset: --format torchscript writes no ONNX file; onnx, onnx-static, web take it'),
    (['--format', 'web', '--precision', 'uint8'], '--format web writes the weights in float32, float16 and 8 bits'),
    (['--format', 'web', '--downsample-ratio', '0.5'], 'reads the ratio at run time'),
    (['--format', 'onnx-static', '--downsample-ratio', '0.5', '--opset', '17'],
     '--opset 17: the exporter writes opset 18 or newer'),
    (['--format', 'openvino', '--device', 'cuda'], '--device: --format openvino is exported on the CPU'),
])
def test_refuses_what_a_format_cannot_serve(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        export.main(argv + ['--output', str(tmp_path / 'out')])
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_fast_guided_filter_float16_refused_from_the_checkpoint(tmp_path, capsys):
    """The refiner read from the checkpoint (no --model-refiner) is checked too."""
    path = tmp_path / 'fgf.pth'
    torch.save(fill_state_dict(MattingNetwork('mobilenetv3', 'fast_guided_filter').state_dict()), path)
    with pytest.raises(SystemExit):
        export.main(['--format', 'onnx', '--precision', 'float16', '--checkpoint', str(path),
                     '--output', str(tmp_path / 'rvm.onnx')])
    assert 'fast guided filter' in capsys.readouterr().err
