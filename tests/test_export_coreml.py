"""CoreML: converts with coremltools (in .venv-coreml) from the traced ratio-baked wrapper. CoreML
cannot predict on Linux, so this checks the spec and the traced wrapper's parity; the prediction
check is documented for macOS (documentation/inference.md)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import export
from export_parity import require
from exporters.parity import max_errors, pytorch_reference
from exporters.coreml import describe_coreml, trace_static
from exporters.metadata import first_frame_state_shapes
from test_export import filled, frames

WIDTH, HEIGHT, RATIO = 160, 96, 0.5


PRECISIONS = ['float32', 'float16', 'uint8']


@pytest.fixture(scope='module')
def packages(tmp_path_factory):
    """precision: the package export.py wrote from filled weights, and its metadata."""
    require('coreml')
    folder = tmp_path_factory.mktemp('coreml')
    torch.save(filled().state_dict(), folder / 'rvm.pth')
    found = {}
    for precision in PRECISIONS:
        output = folder / f'rvm_{precision}.mlpackage'
        export.main(['--format', 'coreml', '--checkpoint', str(folder / 'rvm.pth'), '--precision', precision,
                     '--resolution', str(WIDTH), str(HEIGHT), '--downsample-ratio', str(RATIO), '--output', str(output)])
        found[precision] = output, json.loads((folder / f'rvm_{precision}.mlpackage.json').read_text())
    return found


def package_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob('*') if f.is_file())


@pytest.mark.parametrize('precision', PRECISIONS)
def test_spec_names_shapes_types_and_target(packages, precision):
    output, meta = packages[precision]
    spec = describe_coreml(str(output))
    assert spec['model_type'] == 'mlProgram' and spec['specification_version'] >= 6  # iOS 15 / macOS 12
    assert list(spec['inputs']) == meta['inputs'] and list(spec['outputs']) == meta['outputs']
    assert spec['inputs']['src']['shape'] == [1, 3, HEIGHT, WIDTH]
    for i in range(1, 5):
        assert spec['inputs'][f'r{i}i']['shape'] == spec['outputs'][f'r{i}o']['shape'] == meta['first_frame_states'][f'r{i}i']
    assert spec['outputs']['pha']['shape'] == [1, 1, HEIGHT, WIDTH]
    assert {f['type'] for f in list(spec['inputs'].values()) + list(spec['outputs'].values())} == {'FLOAT32'}
    assert json.loads(spec['metadata']['precision']) == precision


def test_uint8_stores_the_weights_in_8_bits(packages):
    """Weight-only quantization: the convolutions' weights are constexpr_affine_dequantize ops (iOS 16 /
    macOS 13), the rest of the program as in float32, and the package about a quarter of float32's."""
    float32 = describe_coreml(str(packages['float32'][0]))
    uint8 = describe_coreml(str(packages['uint8'][0]))
    assert uint8['specification_version'] >= 7 and 'constexpr_affine_dequantize' not in float32['operations']
    quantized = uint8['operations']['constexpr_affine_dequantize']
    assert quantized >= 50 and uint8['operations']['const'] == float32['operations']['const'] - quantized
    assert package_bytes(packages['uint8'][0]) < 0.35 * package_bytes(packages['float32'][0])


def test_traced_wrapper_matches_pytorch_over_chained_frames():
    """What coremltools converts: the wrapper traced at one size, with full-size zero states."""
    model = filled()
    states = first_frame_state_shapes(model, WIDTH, HEIGHT, RATIO)
    traced, _ = trace_static(model, RATIO, WIDTH, HEIGHT, states)
    clip = frames(4, 1, 3, HEIGHT, WIDTH, seed=6).numpy()
    rec = [torch.zeros(*s) for s in states]
    fgrs, phas = [], []
    with torch.no_grad():
        for src in clip:
            fgr, pha, *rec = traced(torch.from_numpy(src), *rec)
            fgrs.append(fgr.numpy())
            phas.append(pha.numpy())
    fgr_error, pha_error = max_errors({'fgr': np.stack(fgrs), 'pha': np.stack(phas)},
                                      pytorch_reference(model, clip, RATIO))
    assert fgr_error < 1e-4 and pha_error < 1e-4
