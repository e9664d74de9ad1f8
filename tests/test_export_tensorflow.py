"""SavedModel, TFLite and TF.js against PyTorch over 4 chained real frames with the real weights,
each in its own runtime (TensorFlow and LiteRT in .venv-export, Node with the wasm backend), at the
sizes people use and an odd one, for both refiners.

One dynamic SavedModel and one TF.js folder per refiner serve the whole grid; TFLite is built per
size. The slow part (the builds, one process per runtime for all the runs) happens once, in module
fixtures; the tests compare what came back. The reduced-precision bounds are the measured errors
(`python -m exporters.precision_report`, documentation/inference.md) with headroom.
"""
import json
from pathlib import Path

import numpy as np
import pytest

import export
from export_parity import require
from exporters.metadata import describe, first_frame_state_shapes
from exporters.parity import REAL, max_errors, pytorch_reference, real_frames, real_model
from exporters.runtimes import run_tensorflow, run_tfjs
from exporters.tensorflow import build, saved_model_to_tfjs
from test_export import filled

# (width, height, ratio): the webcam, 720p at three ratios, 1080p, an odd size, and ratio 1 (no refiner)
GRID = [(640, 480, 0.5), (1280, 720, 0.25), (1280, 720, 0.375), (1280, 720, 0.4), (1920, 1080, 0.25),
        (853, 481, 0.3), (512, 288, 1.0)]
REFINERS = {'deep_guided_filter': 'dgf', 'fast_guided_filter': 'fgf'}
RUNTIMES = ['saved_model', 'tflite', 'tfjs']
# The fast guided filter's `cov / (var + eps)` (eps 1e-5) amplifies float32 rounding: on these frames
# PyTorch float32 is itself up to 5.7e-4 off from PyTorch float64, the exports up to 7.9e-4, and they
# differ from PyTorch float32 by up to 1.1e-3 (documentation/inference.md). Its bound is that, with
# headroom.
FLOAT32_BOUND = {'deep_guided_filter': 1e-4, 'fast_guided_filter': 2e-3}
FLOAT16_BOUND = 2e-2   # float16 weights (TFLite, TF.js; float32 arithmetic), either refiner
UINT8_BOUND = 6e-2     # TF.js uint8 weights (the original's web model)
# TFLite int8 (the decoder's and LR-ASPP's convolutions; measured max 0.29 in alpha, mean 0.002): either refiner
INT8_BOUND, INT8_MEAN_BOUND = 0.35, 5e-3
SMALL = (320, 180, 0.5)  # where the reduced-precision exports are checked
TFJS_REDUCED = [('deep_guided_filter', 'uint8'), ('fast_guided_filter', 'float16')]  # made from the SavedModel


def dynamic_meta(model, fmt: str, precision: str = 'float32'):
    return describe(fmt, model, precision, None, None, None, [[1, 1, 1, 1]] * 4,
                    inputs=['src', 'r1i', 'r2i', 'r3i', 'r4i', 'downsample_ratio'])


def tflite_meta(model, width: int, height: int, ratio: float, precision: str = 'float32'):
    return describe('tflite', model, precision, None, (width, height), ratio,
                    first_frame_state_shapes(model, width, height, ratio))


@pytest.fixture(scope='module')
def clips():
    return {case: real_frames(4, case[0], case[1]) for case in GRID + [SMALL]}


@pytest.fixture(scope='module')
def references(clips):
    """(refiner, case): PyTorch's fgr and pha."""
    models = {refiner: real_model(refiner) for refiner in REFINERS}
    return {(refiner, case): pytorch_reference(models[refiner], clip, case[2])
            for refiner in REFINERS for case, clip in clips.items()}


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
    """Per refiner: the dynamic SavedModel, a TFLite file per grid size and one in float16 and int8
    (one process), and TF.js from the command line end to end; TF.js uint8 (deep guided filter) and float16
    (fast guided filter) from the SavedModel."""
    for role in ('tensorflow', 'tfjs', 'node_modules'):
        require(role)
    folder = tmp_path_factory.mktemp('tf')
    paths = {}
    for refiner, short in REFINERS.items():
        model = real_model(refiner)
        outputs = [(str(folder / f'{short}_saved_model'), dynamic_meta(model, 'tensorflow'))]
        outputs += [(str(folder / f'{short}_{w}x{h}_{r}.tflite'), tflite_meta(model, w, h, r)) for w, h, r in GRID]
        outputs += [(str(folder / f'{short}_{p}.tflite'), tflite_meta(model, *SMALL, p)) for p in ('float16', 'int8')]
        build(model, outputs)
        paths[refiner, 'saved_model'], paths[refiner, 'float16'], paths[refiner, 'int8'] = \
            outputs[0][0], outputs[-2][0], outputs[-1][0]
        paths.update({(refiner, 'tflite', case): path for case, (path, _) in zip(GRID, outputs[1:])})
        export.main(['--format', 'tfjs', '--checkpoint', str(REAL / f'rvm_mobilenetv3_real_{short}.pth'),
                     '--output', str(folder / f'{short}_tfjs')])
        paths[refiner, 'tfjs'] = str(folder / f'{short}_tfjs')
    for refiner, precision in TFJS_REDUCED:
        path = str(folder / f'{REFINERS[refiner]}_tfjs_{precision}')
        saved_model_to_tfjs(Path(paths[refiner, 'saved_model']), path, precision)
        dynamic_meta(real_model(refiner), 'tfjs', precision).write(path)
        paths[refiner, 'tfjs', precision] = path
    return paths


@pytest.fixture(scope='module')
def results(exports, clips):
    """(runtime, refiner, case): fgr and pha of every export over the grid, one process per runtime."""
    runs = [((refiner, 'saved_model', case), (exports[refiner, 'saved_model'], clips[case], case[2]))
            for refiner in REFINERS for case in GRID]
    runs += [((refiner, 'tflite', case), (exports[refiner, 'tflite', case], clips[case], None))
             for refiner in REFINERS for case in GRID]
    runs += [((refiner, f'tflite-{precision}', SMALL), (exports[refiner, precision], clips[SMALL], None))
             for refiner in REFINERS for precision in ('float16', 'int8')]
    found = dict(zip([key for key, _ in runs], run_tensorflow([run for _, run in runs])))
    for refiner in REFINERS:
        mattes = run_tfjs(exports[refiner, 'tfjs'], [(clips[case], case[2]) for case in GRID])
        found.update({(refiner, 'tfjs', case): m for case, m in zip(GRID, mattes)})
    for refiner, precision in TFJS_REDUCED:
        found[refiner, f'tfjs-{precision}', SMALL] = run_tfjs(exports[refiner, 'tfjs', precision],
                                                               [(clips[SMALL], SMALL[2])])[0]
    return found


@pytest.mark.parametrize('case', GRID, ids=[f'{w}x{h}-{r}' for w, h, r in GRID])
@pytest.mark.parametrize('runtime', RUNTIMES)
@pytest.mark.parametrize('refiner', REFINERS)
def test_float32_matches_pytorch(results, references, refiner, runtime, case):
    fgr_error, pha_error = max_errors(results[refiner, runtime, case], references[refiner, case])
    assert fgr_error < FLOAT32_BOUND[refiner] and pha_error < FLOAT32_BOUND[refiner]


@pytest.mark.parametrize('refiner, precision', [('deep_guided_filter', 'tflite-float16'),
                                               ('fast_guided_filter', 'tflite-float16'),
                                               ('fast_guided_filter', 'tfjs-float16')])
def test_float16_weights_within_their_measured_bound(results, references, refiner, precision):
    """TFLite (and, for the fast guided filter, which export.py refuses in float16 elsewhere, TF.js) with
    float16 weights: the arithmetic stays float32, so its `cov / (var + eps)` keeps within the bound."""
    fgr_error, pha_error = max_errors(results[refiner, precision, SMALL], references[refiner, SMALL])
    assert fgr_error < FLOAT16_BOUND and pha_error < FLOAT16_BOUND
    assert pha_error > 1e-6  # it did run with reduced-precision weights


@pytest.mark.parametrize('refiner', REFINERS)
def test_tflite_int8_within_its_measured_bound(results, references, refiner):
    """8-bit decoder, float32 encoder, head and refiner (as the ONNX int8), calibrated on other clips."""
    mattes, expected = results[refiner, 'tflite-int8', SMALL], references[refiner, SMALL]
    fgr_error, pha_error = max_errors(mattes, expected)
    assert fgr_error < INT8_BOUND and pha_error < INT8_BOUND
    assert np.abs(mattes['pha'] - expected['pha']).mean() < INT8_MEAN_BOUND
    assert pha_error > 1e-3  # it did run in 8 bits


def test_tfjs_uint8_within_its_measured_bound(results, references):
    fgr_error, pha_error = max_errors(results['deep_guided_filter', 'tfjs-uint8', SMALL],
                                      references['deep_guided_filter', SMALL])
    assert fgr_error < UINT8_BOUND and pha_error < UINT8_BOUND
    assert pha_error > 1e-4


def test_dynamic_exports_take_the_ratio_and_broadcast_states(exports):
    meta = json.loads(Path(exports['deep_guided_filter', 'tfjs'] + '.json').read_text())
    assert meta['format'] == 'tfjs' and meta['resolution'] is None and meta['downsample_ratio'] is None
    assert meta['inputs'][-1] == 'downsample_ratio' and meta['layout']['src'] == 'NCHW'
    assert meta['first_frame_states'] == {f'r{i}i': [1, 1, 1, 1] for i in range(1, 5)}
    signature = json.loads((Path(exports['deep_guided_filter', 'tfjs']) / 'model.json').read_text())['signature']
    assert signature['inputs']['src']['tensorShape']['dim'][2:] == [{'size': '-1'}, {'size': '-1'}]


def test_resnet50_matches_pytorch(tmp_path):
    """The ResNet-50 encoder (filled weights), dynamic SavedModel and fixed TFLite, at an odd size."""
    require('tensorflow')
    model = filled('resnet50', 'deep_guided_filter')
    width, height, ratio = 171, 97, 0.6
    outputs = [(str(tmp_path / 'saved_model'), dynamic_meta(model, 'tensorflow')),
               (str(tmp_path / 'rvm.tflite'), tflite_meta(model, width, height, ratio))]
    build(model, outputs)
    clip = real_frames(4, width, height)
    expected = pytorch_reference(model, clip, ratio)
    for mattes in run_tensorflow([(outputs[0][0], clip, ratio), (outputs[1][0], clip, None)]):
        fgr_error, pha_error = max_errors(mattes, expected)
        assert fgr_error < FLOAT32_BOUND['deep_guided_filter'] and pha_error < FLOAT32_BOUND['deep_guided_filter']

