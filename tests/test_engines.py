"""The CPU engines (engines/): ONNX Runtime and OpenVINO, float32 and int8, behind a Matter, against
the float32 PyTorch network on the real weights and a held-out real clip; the calibration's
determinism; the 8-bit exports; the options that choose them; the one-line error of a missing runtime.

One float32 export and one quantization (on 4 frames of each calibration clip instead of 24, to
keep the quantization short) into a cache folder of this module; every engine reads them there.
"""
import shutil
import sys

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

import exporters.calibration
import exporters.onnx_dynamic
from engines import build_engine
from engines.runtimes import graph
from exporters.calibration import calibration_feeds, chained_feeds, calibration_frames, shipped_clips
from exporters.int8 import float_nodes, quantize_onnx
from exporters.onnx_runner import OnnxMatting
from exporters.openvino import OpenVinoMatting
from exporters.parity import REAL, pytorch_reference, real_model
from exporters.pipeline import export
from streaming import ConversionError, ConversionOptions, make_matter

CONFIGS = [('onnxruntime', 'float32'), ('openvino', 'float32'), ('onnxruntime', 'int8'), ('openvino', 'int8')]
BOUND = {'pha_mean': 1 / 255, 'pha_p99': 8 / 255, 'iou': 0.99, 'fgr_mean': 1 / 255}  # documentation/inference.md


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    """The engines' cache in a folder of this module, with a 4-frame calibration."""
    patch = pytest.MonkeyPatch()
    patch.setenv('RVM_CACHE_DIR', str(tmp_path_factory.mktemp('cache')))
    patch.setattr(exporters.calibration, 'FRAMES', 4)
    yield
    patch.undo()


@pytest.fixture(scope='module')
def model(cache):
    network = real_model('fast_guided_filter')
    graph(network, 'openvino', 'int8')  # the export, the quantization and the IR, once
    return network


@pytest.fixture(scope='module')
def clip():
    """7 frames of tile1 (landscape: not a calibration clip), x4: `[T, 360, 644, 3]` uint8."""
    frames = torch.from_numpy(np.load(REAL / 'clips.npz')['tile1'][:7]).permute(0, 3, 1, 2).float()
    frames = F.interpolate(frames, scale_factor=4, mode='bicubic', align_corners=False).clamp(0, 255).round()
    return frames.byte().permute(0, 2, 3, 1).numpy()


def run(matter, clip):
    """What a conversion and a live session do to a Matter: chunks with the states carried on, a ratio
    change, a reset. Returns fgr and pha of every frame."""
    size = (clip.shape[2], clip.shape[1])
    outputs = [matter(clip[:2]), matter(clip[2:4])]       # ratio 0.5, two chunks chained
    matter.set_ratio(1.0, size)                            # a higher ratio: states reset
    outputs += [matter(clip[4:5])]
    matter.reset()                                         # a new clip: back to the requested ratio
    outputs += [matter(clip[5:6]), matter(clip[6:])]
    assert matter.downsample_ratio == 0.5 and all(s.shape[0] == 1 for s in matter.states)
    return torch.cat([o[0] for o in outputs]).numpy(), torch.cat([o[1] for o in outputs]).numpy()


@pytest.fixture(scope='module')
def reference(model, clip):
    """The same through the float32 PyTorch network (the default engine)."""
    return run(make_matter(model, ConversionOptions(downsample_ratio=0.5, reset_on_scene_cut=False)), clip)


@pytest.mark.parametrize('engine,precision', CONFIGS)
def test_engine_through_matter_within_the_bound(model, clip, reference, engine, precision):
    options = ConversionOptions(engine=engine, precision=precision, downsample_ratio=0.5, reset_on_scene_cut=False)
    options.check()
    matter = make_matter(model, options)
    assert (matter.model.engine, matter.model.precision) == (engine, precision)
    fgr, pha = run(matter, clip)
    ref_fgr, ref_pha = reference
    error = np.abs(pha - ref_pha)
    iou = ((pha > 0.5) & (ref_pha > 0.5)).sum() / ((pha > 0.5) | (ref_pha > 0.5)).sum()
    fgr_error = np.abs(fgr - ref_fgr)[np.broadcast_to(ref_pha > 0.1, fgr.shape)].mean()
    if precision == 'float32':  # the same graph: rounding only
        assert error.max() < 2e-3 and fgr_error < 1e-4
    assert error.mean() <= BOUND['pha_mean'] and np.percentile(error, 99) <= BOUND['pha_p99']
    assert iou >= BOUND['iou'] and fgr_error <= BOUND['fgr_mean']


def test_int8_graph_quantizes_convolutions_and_keeps_the_refiner_and_head_float(model):
    proto = onnx.load(graph(model, 'onnxruntime', 'int8'))
    quantized = {n.output[0] for n in proto.graph.node if n.op_type == 'DequantizeLinear'}
    convolutions = [n for n in proto.graph.node if n.op_type == 'Conv']
    floats = set(float_nodes(proto))
    int8 = [n for n in convolutions if n.name not in floats]
    assert int8 and all(n.input[0] in quantized and n.input[1] in quantized for n in int8)
    kept = [n for n in convolutions if n.name in floats]
    assert kept and not any(n.input[0] in quantized for n in kept)  # project_mat (and the refiner's, if any)


def test_calibration_is_deterministic(model, tmp_path):
    float_onnx = str(graph(model, 'onnxruntime', 'float32'))
    clips = calibration_frames([shipped_clips()[0][:2]])
    for name in ('a.onnx', 'b.onnx'):
        quantize_onnx(float_onnx, str(tmp_path / name), list(chained_feeds(float_onnx, clips)))
    scales = [{t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(tmp_path / name).graph.initializer
               if t.name.endswith(('_scale', '_zero_point'))} for name in ('a.onnx', 'b.onnx')]
    assert scales[0] and scales[0].keys() == scales[1].keys()
    assert all(np.array_equal(scales[0][k], scales[1][k]) for k in scales[0])
    assert len(calibration_feeds(float_onnx, frames=1)) == 4 * 2  # every clip at both ratios


@pytest.mark.parametrize('values,message', [
    ({'engine': 'pytorch', 'precision': 'int8'}, '--engine pytorch with --precision int8: int8 runs on'),
    ({'engine': 'onnxruntime', 'device': 'cuda'}, '--engine onnxruntime runs on the CPU in --precision float32: '
                                                  '--device cuda is for --engine pytorch'),
    ({'engine': 'openvino', 'bfloat16': True}, '--bfloat16 is for --engine pytorch'),
])
def test_options_refuse_what_an_engine_cannot_run(values, message):
    with pytest.raises(ConversionError, match=message):
        ConversionOptions(**values).check(cli=True)


def test_inference_cli_has_the_engine_flags():
    import inference
    args = inference.parser().parse_args(['--input-source', 'x.mp4', '--engine', 'openvino', '--precision', 'int8'])
    assert (args.engine, args.precision) == ('openvino', 'int8')


def test_a_missing_runtime_is_a_one_line_error_naming_the_requirements(monkeypatch):
    monkeypatch.setitem(sys.modules, 'openvino', None)  # import openvino fails as when it is not installed
    with pytest.raises(ConversionError) as error:
        make_matter(real_model('fast_guided_filter'), ConversionOptions(engine='openvino'))
    assert str(error.value) == ('the openvino engine needs the openvino package: pip install -r '
                                'requirements/engines.txt')


def test_an_engine_module_is_built_once(model):
    network = build_engine(model, 'onnxruntime', 'float32')
    assert build_engine(network, 'onnxruntime', 'float32') is network
    assert make_matter(network, ConversionOptions(engine='onnxruntime')).model is network


@pytest.mark.parametrize('fmt,suffix', [('onnx', '.onnx'), ('openvino', '.xml')])
def test_int8_export_matches_pytorch_within_the_bound(model, clip, tmp_path, monkeypatch, fmt, suffix):
    """export.py --precision int8 writes what the engines run (its float32 export is test_export.py's:
    here the cached one stands in for it), and its runner stays within the bound of PyTorch."""
    cached = graph(model, 'onnxruntime', 'float32')
    monkeypatch.setattr(exporters.onnx_dynamic, 'export_onnx', lambda model, path, *args: shutil.copy(cached, path))
    output = str(tmp_path / f'rvm_int8{suffix}')
    assert export(fmt, model, output, 'int8').precision == 'int8'
    runner = OnnxMatting(output) if fmt == 'onnx' else OpenVinoMatting(output)
    frames = (clip[:3].transpose(0, 3, 1, 2)[:, None] / np.float32(255)).astype(np.float32)
    pha = np.stack([runner(src, 0.5)[1] for src in frames])
    error = np.abs(pha - pytorch_reference(model, frames, 0.5)['pha'])
    assert error.mean() <= BOUND['pha_mean'] and np.percentile(error, 99) <= BOUND['pha_p99']


def test_auto_says_what_it_chose_from_its_cached_measurement(tmp_path, monkeypatch, capsys):
    import json
    from engines import auto
    monkeypatch.setenv('RVM_CACHE_DIR', str(tmp_path))
    measured = {'pytorch float32': 38.0, 'onnxruntime float32': 35.1, 'openvino float32': 39.2}
    monkeypatch.setattr(auto, 'measure', lambda model, threads: measured)
    assert auto.choose(None, threads=2) == ('onnxruntime', 'float32')
    line = capsys.readouterr().err
    assert line.startswith('engine auto: onnxruntime float32, the fastest within the quality bound here (')
    assert '2 threads): 35.1 ms a 640x480 frame at ratio 0.5 against pytorch float32 38.0, openvino float32 39.2 ' \
           '(measured now; ' in line
    monkeypatch.setattr(auto, 'measure', None)  # the second time, from the cache
    assert auto.choose(None, threads=2) == ('onnxruntime', 'float32') and 'measured before' in capsys.readouterr().err
    cached = json.loads(next((tmp_path / 'auto').glob('*.json')).read_text())
    assert cached['ms'] == measured and cached['threads'] == 2 and cached['cpu']
