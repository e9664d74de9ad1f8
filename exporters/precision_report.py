"""Measure each export's error against PyTorch on real frames with the real weights: the numbers
quoted in documentation/inference.md and the reduced-precision bounds of the tests.

    python -m exporters.precision_report --resolution 320 180 --downsample-ratio 0.5 --frames 8

For both refiners (../shared/real/): OpenVINO f32 and bf16 (when the CPU has bf16), SavedModel,
TFLite float32, float16 and int8, TF.js float32, float16 and uint8, over chained frames of several real
clips. Prints one markdown row per export: max |fgr| and |pha| differences.
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np

from .metadata import INPUT_NAMES, describe, first_frame_state_shapes
from .openvino import OpenVinoMatting, export_openvino
from .parity import max_errors, pytorch_reference, real_frames, real_model
from .runtimes import run_tensorflow, run_tfjs
from .tensorflow import build, saved_model_to_tfjs


def run_openvino(path: str, clip: np.ndarray, ratio: float, precision: str):
    runner = OpenVinoMatting(path, inference_precision=precision)
    outputs = [runner(src, ratio) for src in clip]
    return {'fgr': np.stack([o[0] for o in outputs]), 'pha': np.stack([o[1] for o in outputs])}


def worst(rows, errors):
    return [max(a, b) for a, b in zip(rows, errors)] if rows else list(errors)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--resolution', type=int, nargs=2, default=[320, 180], metavar=('W', 'H'))
    parser.add_argument('--downsample-ratio', type=float, default=0.5)
    parser.add_argument('--frames', type=int, default=8)
    parser.add_argument('--clips', nargs='+', default=['tile0', 'tile4', 'tile5'])
    parser.add_argument('--refiners', nargs='+', default=['deep_guided_filter', 'fast_guided_filter'])
    args = parser.parse_args(argv)
    (width, height), ratio = args.resolution, args.downsample_ratio
    clips = [real_frames(args.frames, width, height, name) for name in args.clips]
    print(f'{width}x{height}, ratio {ratio}, {args.frames} chained frames of {", ".join(args.clips)}\n')
    print('| refiner | export | max fgr error | max pha error |\n| --- | --- | --- | --- |')
    for refiner in args.refiners:
        model = real_model(refiner)
        expected = [pytorch_reference(model, clip, ratio) for clip in clips]
        states = first_frame_state_shapes(model, width, height, ratio)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            export_openvino(model, str(tmp / 'rvm.xml'))
            runs = {f'OpenVINO {p}': (lambda clip, p=p: run_openvino(str(tmp / 'rvm.xml'), clip, ratio, p))
                    for p in ('f32', 'bf16')}
            dynamic = dict(resolution=None, ratio=None, state_shapes=[[1, 1, 1, 1]] * 4,
                           inputs=INPUT_NAMES + ['downsample_ratio'])
            saved_model = str(tmp / 'saved_model')
            build(model, [(saved_model, describe('tensorflow', model, 'float32', None, **dynamic))] + [
                (str(tmp / f'rvm_{p}.tflite'), describe('tflite', model, p, None, (width, height), ratio, states))
                for p in ('float32', 'float16', 'int8')])
            runs['SavedModel'] = lambda clip: run_tensorflow([(saved_model, clip, ratio)])[0]
            for precision in ('float32', 'float16', 'int8'):
                runs[f'TFLite {precision}'] = lambda clip, p=precision: run_tensorflow(
                    [(str(tmp / f'rvm_{p}.tflite'), clip, None)])[0]
            for precision in ('float32', 'float16', 'uint8'):
                target = tmp / f'tfjs_{precision}'
                saved_model_to_tfjs(Path(saved_model), str(target), precision)
                describe('tfjs', model, precision, None, **dynamic).write(str(target))
                runs[f'TF.js {precision}'] = lambda clip, path=str(target): run_tfjs(path, [(clip, ratio)])[0]
            for label, run in runs.items():
                errors = []
                for clip, reference in zip(clips, expected):
                    errors = worst(errors, max_errors(run(clip), reference))
                print(f'| {refiner} | {label} | {errors[0]:.2g} | {errors[1]:.2g} |', flush=True)


if __name__ == '__main__':
    main()
