"""inference_speed_test.py: its backends run, and its ONNX Runtime and OpenVINO set-ups are fair to
the backends timed after them (no spinning threads) and compute in float32."""
import pytest
import torch
from onnx import TensorProto, helper, save

import inference_speed_test


@pytest.fixture
def tiny_onnx(tmp_path):
    """An ONNX file with a float32 input `src` [1, 3, 4, 4] (all the runners look at) and one output."""
    graph = helper.make_graph([helper.make_node('Relu', ['src'], ['fgr'])], 'tiny',
                              [helper.make_tensor_value_info('src', TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info('fgr', TensorProto.FLOAT, [1, 3, 4, 4])])
    path = tmp_path / 'tiny.onnx'
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)]), path)
    return str(path)


def test_runs_every_cheap_backend_in_the_order_given(capsys):
    times = inference_speed_test.main(['--device', 'cpu', '--resolution', '96', '64', '--downsample-ratio', '0.5',
                                       '--backend', 'eager', 'deploy', 'script', '--frames', '3', '--warmup', '1'])
    assert {name: len(t) for name, t in times.items()} == {'eager': 3, 'deploy': 3, 'script': 3}
    report = capsys.readouterr().out
    assert report.startswith('MobileNetV3LargeEncoder DeepGuidedFilterRefiner, 96x64 at 0.5') and 'load average' in report
    assert [line.split()[0] for line in report.splitlines()[2:]] == ['eager', 'deploy', 'script']


def test_onnxruntime_threads_do_not_spin_after_a_run(tiny_onnx):
    """Spinning intra-op threads slowed the backend timed after ONNX Runtime from 21.6 to 13.2 fps."""
    runner = inference_speed_test.onnxruntime_runner(tiny_onnx, 'cpu', threads=2)
    options = runner.session.get_session_options()
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry('session.intra_op.allow_spinning') == '0'
    assert options.get_session_config_entry('session.inter_op.allow_spinning') == '0'


def test_openvino_computes_in_float32_with_unpinned_threads(tiny_onnx):
    ov = pytest.importorskip('openvino')
    compiled = inference_speed_test.openvino_compiled_model(tiny_onnx, threads=1)
    assert compiled.get_property('INFERENCE_PRECISION_HINT') == ov.Type.f32
    assert compiled.get_property('ENABLE_CPU_PINNING') is False
    assert compiled.get_property('INFERENCE_NUM_THREADS') == 1


def test_cpu_time_is_reported_as_such(capsys):
    threads = torch.get_num_threads()
    try:
        inference_speed_test.main(['--device', 'cpu', '--resolution', '96', '64', '--backend', 'eager', '--frames', '1',
                                   '--warmup', '0', '--threads', '1', '--cpu-time'])
    finally:
        torch.set_num_threads(threads)  # the speed test sets it for the process
    assert '1 threads, CPU time; load average' in capsys.readouterr().out


def test_bfloat16_backend_says_when_it_runs_as_deploy(capsys, monkeypatch):
    """Asked for on a CPU without native bfloat16 (real here, or made so), deploy-bfloat16 says it runs float32."""
    monkeypatch.setattr('streaming.device.cpu_has_native_bfloat16', lambda: False)
    times = inference_speed_test.main(['--device', 'cpu', '--resolution', '96', '64', '--backend', 'deploy-bfloat16',
                                       '--frames', '1', '--warmup', '0'])
    assert len(times['deploy-bfloat16']) == 1
    assert 'deploy-bfloat16: this CPU has no native bfloat16' in capsys.readouterr().err
