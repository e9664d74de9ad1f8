"""OpenVINO: the IR from export.py keeps the runtime ratio and dynamic size, and the runner
computes in f32 (the CPU plugin's default on bf16-capable CPUs is bf16)."""
import json

import numpy as np
import openvino as ov
import openvino.properties.hint as hints
import pytest
import torch

import export
from exporters.parity import max_errors, pytorch_reference
from exporters.openvino import OpenVinoMatting
from test_export import filled, frames


@pytest.fixture(scope='module')
def ir(tmp_path_factory):
    """The IR of the filled fast-guided-filter network (the refiner most sensitive to precision)."""
    folder = tmp_path_factory.mktemp('openvino')
    torch.save(filled('mobilenetv3', 'fast_guided_filter').state_dict(), folder / 'fgf.pth')
    export.main(['--format', 'openvino', '--checkpoint', str(folder / 'fgf.pth'), '--output', str(folder / 'rvm.xml')])
    return folder / 'rvm.xml'


def test_ir_interface_and_metadata(ir):
    model = ov.Core().read_model(ir)
    assert [i.get_any_name() for i in model.inputs] == ['src', 'r1i', 'r2i', 'r3i', 'r4i', 'downsample_ratio']
    assert [o.get_any_name() for o in model.outputs] == ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o']
    assert model.inputs[0].get_partial_shape().is_dynamic
    assert model.inputs[0].get_element_type() == ov.Type.f32  # not compressed to f16 unless asked
    meta = json.loads(ir.with_suffix('.xml.json').read_text())
    assert meta['format'] == 'openvino' and meta['refiner'] == 'fast_guided_filter' and meta['resolution'] is None


def test_runner_asks_for_f32(ir):
    runner = OpenVinoMatting(str(ir))
    assert runner.compiled.get_property(hints.inference_precision) == ov.Type.f32
    with pytest.raises(ValueError, match="inference_precision 'fp32'"):
        OpenVinoMatting(str(ir), inference_precision='fp32')


def test_one_file_two_ratios_two_sizes_match_pytorch(ir):
    model = filled('mobilenetv3', 'fast_guided_filter')
    runner = OpenVinoMatting(str(ir))
    for ratio, (height, width) in ((0.5, (96, 160)), (0.25, (120, 200))):
        clip = frames(4, 1, 3, height, width, seed=5).numpy()
        runner.reset()
        outputs = [runner(src, ratio) for src in clip]
        actual = {'fgr': np.stack([o[0] for o in outputs]), 'pha': np.stack([o[1] for o in outputs])}
        fgr_error, pha_error = max_errors(actual, pytorch_reference(model, clip, ratio))
        assert fgr_error < 1e-4 and pha_error < 1e-4, ratio
