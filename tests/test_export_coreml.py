"""CoreML: converts with coremltools (in .venv-coreml) from the traced ratio-baked wrapper. CoreML
cannot predict on Linux, so this checks the spec and the traced wrapper's parity; the prediction
check is documented for macOS (documentation/inference.md)."""
import json

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


@pytest.mark.parametrize('precision', ['float32', 'float16'])
def test_spec_names_shapes_types_and_target(tmp_path, precision):
    require('coreml')
    torch.save(filled().state_dict(), tmp_path / 'rvm.pth')
    output = tmp_path / 'rvm.mlpackage'
    export.main(['--format', 'coreml', '--checkpoint', str(tmp_path / 'rvm.pth'), '--precision', precision,
                 '--resolution', str(WIDTH), str(HEIGHT), '--downsample-ratio', str(RATIO), '--output', str(output)])
    meta = json.loads((tmp_path / 'rvm.mlpackage.json').read_text())
    spec = describe_coreml(str(output))
    assert spec['model_type'] == 'mlProgram' and spec['specification_version'] >= 6  # iOS 15 / macOS 12
    assert list(spec['inputs']) == meta['inputs'] and list(spec['outputs']) == meta['outputs']
    assert spec['inputs']['src']['shape'] == [1, 3, HEIGHT, WIDTH]
    for i in range(1, 5):
        assert spec['inputs'][f'r{i}i']['shape'] == spec['outputs'][f'r{i}o']['shape'] == meta['first_frame_states'][f'r{i}i']
    assert spec['outputs']['pha']['shape'] == [1, 1, HEIGHT, WIDTH]
    assert {f['type'] for f in list(spec['inputs'].values()) + list(spec['outputs'].values())} == {'FLOAT32'}
    assert json.loads(spec['metadata']['precision']) == precision


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
