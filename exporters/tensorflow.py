"""TensorFlow SavedModel, TFLite and TensorFlow.js exports, all from the fixed-size static ONNX.

onnx2tf (in .venv-export, `tf_convert.py`) writes the SavedModel and the TFLite files, keeping
NCHW inputs and outputs; tensorflowjs (in .venv-tfjs) converts the SavedModel. Both run in their
own environments because their TensorFlow pins conflict with each other and with the main .venv.
"""
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from model import MattingNetwork

from .metadata import ExportMetadata
from .onnx_static import export_static_onnx
from .runtimes import run_tensorflow
from .toolchains import run_in

# onnx2tf guesses layouts from shapes, and at some sizes guesses wrong without an error: 160x96 at
# ratio 0.5 gave alpha off by 0.64 with the real weights (320x180 matched to 5e-6). Every
# conversion is therefore checked against ONNX Runtime on the graph it was given.
CONVERSION_TOLERANCE = 1e-3


def convert_static(model: MattingNetwork, meta: ExportMetadata, workdir: Path) -> Path:
    """Run onnx2tf on the static ONNX at `meta`'s size and ratio; returns the folder holding
    `saved_model/`, `rvm_float32.tflite` and `rvm_float16.tflite`."""
    static = workdir / 'rvm_static.onnx'
    export_static_onnx(model, str(static), meta.downsample_ratio, tuple(meta.resolution),
                       list(meta.first_frame_states.values()))
    converted = workdir / 'converted'
    run_in('tensorflow', ['-m', 'exporters.tf_convert', str(static), str(converted)])
    check_conversion(str(static), converted / 'rvm_float32.tflite', meta)
    return converted


def check_conversion(static_onnx: str, tflite: Path, meta: ExportMetadata, steps: int = 2) -> None:
    """Raise if the float32 TFLite file differs from ONNX Runtime on `static_onnx` by more than
    CONVERSION_TOLERANCE over `steps` chained frames (smooth random images)."""
    width, height = meta.resolution
    rng = np.random.default_rng(0)
    base = rng.random((1, 3, height, width), np.float32)
    frames = np.stack([np.clip(base + 0.1 * rng.random(base.shape, np.float32), 0, 1) for _ in range(steps)])
    session = ort.InferenceSession(static_onnx, providers=['CPUExecutionProvider'])
    states = [np.zeros(s, np.float32) for s in meta.first_frame_states.values()]
    expected = []
    for src in frames:
        _, pha, *states = session.run(None, {'src': src, **{f'r{i}i': s for i, s in enumerate(states, 1)}})
        expected.append(pha)
    meta.write(str(tflite))
    error = float(np.abs(run_tensorflow(str(tflite), frames)['pha'] - np.stack(expected)).max())
    if error > CONVERSION_TOLERANCE:
        raise RuntimeError(f'onnx2tf converted {width}x{height} at ratio {meta.downsample_ratio} wrongly: alpha off '
                           f'by {error:.3g} from ONNX Runtime (expected < {CONVERSION_TOLERANCE}); try another '
                           f'--resolution')


def replace(source: Path, output: str) -> None:
    """Move `source` (a file or folder) to `output`, replacing what is there."""
    target = Path(output)
    if target.is_dir():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))


def export_saved_model(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        replace(convert_static(model, meta, Path(tmp)) / 'saved_model', output)


def export_tflite(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    """float16: float16 weights, float32 inputs and outputs (onnx2tf's `_float16.tflite`)."""
    with tempfile.TemporaryDirectory() as tmp:
        replace(convert_static(model, meta, Path(tmp)) / f'rvm_{meta.precision}.tflite', output)


def saved_model_to_tfjs(saved_model: Path, output: str, precision: str) -> None:
    """Convert a SavedModel of `convert_static` to a TF.js graph model folder `output`.
    float16 / uint8: weights quantised (the original web model was uint8), arithmetic float32."""
    quantise = {'float32': [], 'float16': ['--quantize_float16=*'], 'uint8': ['--quantize_uint8=*']}
    with tempfile.TemporaryDirectory() as tmp:
        converted = Path(tmp) / 'tfjs'
        # oneDNN fuses hard-swish into an op that tensorflowjs cannot convert
        run_in('tfjs', ['-m', 'tensorflowjs.converters.converter', '--input_format=tf_saved_model',
                        '--output_format=tfjs_graph_model', '--signature_name=serving_default',
                        *quantise[precision], str(saved_model), str(converted)],
               env={'TF_ENABLE_ONEDNN_OPTS': '0'})
        replace(converted, output)


def export_tfjs(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        saved_model_to_tfjs(convert_static(model, meta, Path(tmp)) / 'saved_model', output, meta.precision)
