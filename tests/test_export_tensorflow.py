"""SavedModel, TFLite (float32, float16) and TF.js (float32, uint8) against PyTorch over chained
real frames with the real weights, each in its own runtime: TensorFlow and LiteRT in .venv-export,
Node with the wasm backend. The reduced-precision bounds are the measured errors
(`python -m exporters.precision_report`, documentation/inference.md) with headroom."""
import json
import shutil

import pytest
import torch

import export
import exporters.tensorflow
from export_parity import require
from exporters.parity import REAL, max_errors, pytorch_reference, real_frames, real_model
from exporters.metadata import describe, first_frame_state_shapes
from exporters.runtimes import run_tensorflow, run_tfjs
from exporters.tensorflow import convert_static, saved_model_to_tfjs

WIDTH, HEIGHT, RATIO = 320, 180, 0.5  # a size onnx2tf converts correctly (see tensorflow.py)
FLOAT16_BOUND = 2e-2   # TFLite float16 weights, deep guided filter
UINT8_BOUND = 6e-2     # TF.js uint8 weights (the original's web model)


@pytest.fixture(scope='module')
def network():
    return real_model('deep_guided_filter')


@pytest.fixture(scope='module')
def clip():
    return real_frames(4, WIDTH, HEIGHT)


@pytest.fixture(scope='module')
def expected(network, clip):
    return pytorch_reference(network, clip, RATIO)


@pytest.fixture(scope='module')
def converted(tmp_path_factory, network):
    """onnx2tf's SavedModel and TFLite files (one conversion), each with its metadata beside it."""
    require('tensorflow')
    states = first_frame_state_shapes(network, WIDTH, HEIGHT, RATIO)
    folder = convert_static(network, describe('tflite', network, 'float32', None, (WIDTH, HEIGHT), RATIO, states),
                            tmp_path_factory.mktemp('tf'))
    for name, precision in (('saved_model', 'float32'), ('rvm_float32.tflite', 'float32'),
                            ('rvm_float16.tflite', 'float16')):
        describe('tflite', network, precision, None, (WIDTH, HEIGHT), RATIO, states).write(str(folder / name))
    return folder


@pytest.mark.parametrize('name', ['saved_model', 'rvm_float32.tflite'])
def test_float32_matches_pytorch(converted, clip, expected, name):
    fgr_error, pha_error = max_errors(run_tensorflow(str(converted / name), clip), expected)
    assert fgr_error < 1e-4 and pha_error < 1e-4


def test_tflite_float16_within_its_measured_bound(converted, clip, expected):
    fgr_error, pha_error = max_errors(run_tensorflow(str(converted / 'rvm_float16.tflite'), clip), expected)
    assert fgr_error < FLOAT16_BOUND and pha_error < FLOAT16_BOUND
    assert pha_error > 1e-6  # it did run in reduced precision


def test_tfjs_from_the_command_line_matches_pytorch_in_node(tmp_path, monkeypatch, network, converted, clip, expected):
    """The command line end to end, but for onnx2tf's conversion of the static ONNX (minutes), which
    `converted` made already from the same weights, size and ratio: the command line must ask for that."""
    for role in ('tensorflow', 'tfjs', 'node_modules'):
        require(role)

    def reuse_conversion(model, meta, workdir):
        assert (tuple(meta.resolution), meta.downsample_ratio) == ((WIDTH, HEIGHT), RATIO)
        reference = network.state_dict()
        assert all(torch.equal(value, reference[key]) for key, value in model.state_dict().items())
        return shutil.copytree(converted, workdir / 'converted')
    monkeypatch.setattr(exporters.tensorflow, 'convert_static', reuse_conversion)
    output = tmp_path / 'rvm_tfjs'
    export.main(['--format', 'tfjs', '--checkpoint', str(REAL / 'rvm_mobilenetv3_real_dgf.pth'), '--resolution',
                 str(WIDTH), str(HEIGHT), '--downsample-ratio', str(RATIO), '--output', str(output)])
    assert (output / 'model.json').exists()
    meta = json.loads((tmp_path / 'rvm_tfjs.json').read_text())
    assert meta['format'] == 'tfjs' and meta['layout']['src'] == 'NCHW'
    fgr_error, pha_error = max_errors(run_tfjs(str(output), clip), expected)
    assert fgr_error < 1e-4 and pha_error < 1e-4


def test_tfjs_uint8_within_its_measured_bound(converted, tmp_path, network, clip, expected):
    for role in ('tfjs', 'node_modules'):
        require(role)
    output = tmp_path / 'rvm_tfjs_uint8'
    saved_model_to_tfjs(converted / 'saved_model', str(output), 'uint8')
    states = first_frame_state_shapes(network, WIDTH, HEIGHT, RATIO)
    describe('tfjs', network, 'uint8', None, (WIDTH, HEIGHT), RATIO, states).write(str(output))
    fgr_error, pha_error = max_errors(run_tfjs(str(output), clip), expected)
    assert fgr_error < UINT8_BOUND and pha_error < UINT8_BOUND
    assert pha_error > 1e-4
