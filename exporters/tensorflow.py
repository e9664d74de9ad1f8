"""TensorFlow SavedModel, TFLite and TensorFlow.js exports, built natively from the PyTorch weights.

`tf_weights.py` writes the weights (batch norms folded, each convolution's geometry); in .venv-export
`tf_build.py` builds the network in TensorFlow operations (`tf_network.py`) and saves a SavedModel
(dynamic height and width, the ratio an input) or a fixed-size TFLite file; tensorflowjs (in
.venv-tfjs) converts that SavedModel to TF.js. The toolchains have their own environments because
their TensorFlow pins conflict with each other and with the main .venv.

Not through onnx2tf, as before: it guesses every tensor's layout from its shape and, where a decoder
feature map is as wide as it has channels, concatenated along the wrong axis without an error
(640x480 at ratio 0.5 and 1280x720 at 0.25 came out with alpha off by 1); it also needs every shape
fixed. documentation/inference.md has the evidence.
"""
import shutil
import tempfile
from pathlib import Path
from typing import Sequence, Tuple

from model import MattingNetwork

from .metadata import ExportMetadata
from .tf_weights import write_network_arrays
from .toolchains import run_in


def build(model: MattingNetwork, outputs: Sequence[Tuple[str, ExportMetadata]]) -> None:
    """Write each output path as its metadata says (`tf_build.py`: a TFLite file for format tflite,
    else a SavedModel folder), the metadata beside it, all in one TensorFlow process."""
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / 'weights.npz'
        write_network_arrays(model, str(weights))
        for output, meta in outputs:
            meta.write(output)
        run_in('tensorflow', ['-m', 'exporters.tf_build', str(weights), *(str(output) for output, _ in outputs)])


def replace(source: Path, output: str) -> None:
    """Move `source` (a file or folder) to `output`, replacing what is there."""
    target = Path(output)
    if target.is_dir():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(source), str(target))


def export_tensorflow(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    """The SavedModel or (format tflite) the TFLite file of `build`, built in a temporary folder and
    then moved to `output`, so that nothing half-written is left there. TFLite float16: float16
    weights, float32 inputs, outputs and arithmetic; int8: the decoder in 8 bits (`tf_build.save_tflite`)."""
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / Path(output.rstrip('/')).name
        build(model, [(str(built), meta)])
        replace(built, output)


def saved_model_to_tfjs(saved_model: Path, output: str, precision: str) -> None:
    """Convert a SavedModel of `build` to a TF.js graph model folder `output`.
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
        saved_model = Path(tmp) / 'saved_model'
        build(model, [(str(saved_model), meta)])
        saved_model_to_tfjs(saved_model, output, meta.precision)
