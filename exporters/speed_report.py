"""Time the exports that run in the main environment, interleaved frame by frame so that a
changing machine load hits them alike: ONNX Runtime on the dynamic and the two static ONNX forms,
and OpenVINO (f32). Random weights: the timings do not depend on them.

    python -m exporters.speed_report --resolution 1280 720 --downsample-ratio 0.25 --frames 20

Prints a markdown table of median and p90 milliseconds per frame.
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from model import create_model

from .metadata import first_frame_state_shapes
from .onnx_dynamic import export_onnx
from .onnx_runner import OnnxMatting
from .onnx_static import export_static_onnx
from .openvino import OpenVinoMatting, export_openvino


class StaticOnnx:
    """ONNX Runtime on a ratio-baked graph, states fed back through numpy."""

    def __init__(self, path: str, state_shapes):
        self.session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
        self.states = [np.zeros(s, np.float32) for s in state_shapes]

    def __call__(self, src: np.ndarray, downsample_ratio: float):
        fgr, pha, *self.states = self.session.run(None, {'src': src, **{f'r{i}i': s for i, s in
                                                                      enumerate(self.states, 1)}})
        return fgr, pha


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--resolution', type=int, nargs=2, default=[1280, 720], metavar=('W', 'H'))
    parser.add_argument('--downsample-ratio', type=float, default=0.25)
    parser.add_argument('--frames', type=int, default=20)
    args = parser.parse_args(argv)
    (width, height), ratio = args.resolution, args.downsample_ratio
    model = create_model('mobilenetv3')
    states = first_frame_state_shapes(model, width, height, ratio)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        export_onnx(model, str(tmp / 'dynamic.onnx'))
        export_static_onnx(model, str(tmp / 'fixed.onnx'), ratio, (width, height), states)
        export_static_onnx(model, str(tmp / 'trt.onnx'), ratio)
        export_openvino(model, str(tmp / 'rvm.xml'))
        runners = {'onnxruntime, onnx': OnnxMatting(str(tmp / 'dynamic.onnx')),
                   'onnxruntime, onnx-static fixed': StaticOnnx(str(tmp / 'fixed.onnx'), states),
                   'onnxruntime, onnx-static dynamic': StaticOnnx(str(tmp / 'trt.onnx'), [[1, 1, 1, 1]] * 4),
                   'openvino f32': OpenVinoMatting(str(tmp / 'rvm.xml'))}
        src = np.random.default_rng(0).random((1, 3, height, width), np.float32)
        times = {name: [] for name in runners}
        for step in range(args.frames + 2):  # two warm-up frames
            for name, runner in runners.items():
                start = time.perf_counter()
                runner(src, ratio)
                if step >= 2:
                    times[name].append(1000 * (time.perf_counter() - start))
    print(f'{width}x{height}, ratio {ratio}, {args.frames} frames each, interleaved\n')
    print('| backend | median ms | p90 ms |\n| --- | --- | --- |')
    for name, values in times.items():
        print(f'| {name} | {np.median(values):.1f} | {np.percentile(values, 90):.1f} |')


if __name__ == '__main__':
    main()
