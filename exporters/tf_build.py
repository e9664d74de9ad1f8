"""Write SavedModel and TFLite files of `tf_network.Network`; runs in .venv-export (no torch).

    .venv-export/bin/python -m exporters.tf_build WEIGHTS.npz OUTPUT [OUTPUT ...]

WEIGHTS.npz: `tf_weights.write_network_arrays`. Each OUTPUT's metadata `OUTPUT.json` (`metadata.py`)
says what to write there:

- format `tflite`: a .tflite file for `resolution` at the baked `downsample_ratio`, states
  `first_frame_states` in size, float16 weights for precision float16, and for int8 the decoder's and
  the LR-ASPP's convolutions in 8 bits calibrated on real frames (`save_tflite`); inputs and outputs float32;
- any other: a SavedModel folder with dynamic batch, height and width and `downsample_ratio` an
  input `[1]`, the states `[1, 1, 1, 1]` zeros on the first frame (broadcast, as in ONNX).

The signature `serving_default` takes `src, r1i..r4i` (and `downsample_ratio`) and returns
`fgr, pha, r1o..r4o`, all NCHW. Several outputs share one process: TensorFlow takes long to start.
"""
import json
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import numpy as np
import tensorflow as tf

from .calibration import shipped_clips
from .int8 import FLOAT_MODULES
from .tf_network import Network

STATES = ['r1i', 'r2i', 'r3i', 'r4i']


def dynamic_signature(network: Network) -> tf.types.experimental.ConcreteFunction:
    specs = [tf.TensorSpec([None, 3, None, None], tf.float32, 'src')]
    specs += [tf.TensorSpec([None, None, None, None], tf.float32, name) for name in STATES]
    specs += [tf.TensorSpec([1], tf.float32, 'downsample_ratio')]

    @tf.function(input_signature=specs)
    def serve(src, r1i, r2i, r3i, r4i, downsample_ratio):
        return network(src, r1i, r2i, r3i, r4i, tf.reshape(downsample_ratio, []))
    return serve.get_concrete_function()


def fixed_signature(network: Network, meta: dict) -> tf.types.experimental.ConcreteFunction:
    width, height = meta['resolution']
    specs = [tf.TensorSpec([1, 3, height, width], tf.float32, 'src')]
    specs += [tf.TensorSpec(meta['first_frame_states'][name], tf.float32, name) for name in STATES]
    ratio = tf.constant(meta['downsample_ratio'], tf.float32)

    @tf.function(input_signature=specs)
    def serve(src, r1i, r2i, r3i, r4i):
        return network(src, r1i, r2i, r3i, r4i, ratio)
    return serve.get_concrete_function()


def save_saved_model(network: Network, output: str) -> None:
    tf.saved_model.save(network, output, signatures={'serving_default': dynamic_signature(network)})


def representative_inputs(serve: tf.types.experimental.ConcreteFunction, meta: dict) -> Iterator[Dict[str, np.ndarray]]:
    """The int8 calibration: the shipped clips of `calibration.py` resized to the export's size (bicubic,
    rounded to 8-bit levels), each from zero states, every frame with the states that the float32
    network `serve` left from the frame before, as a video meets them."""
    width, height = meta['resolution']
    for clip in shipped_clips():
        frames = tf.round(tf.clip_by_value(tf.image.resize(tf.constant(clip, tf.float32), [height, width], 'bicubic'),
                                           0., 255.)) / 255.
        states = [tf.zeros(meta['first_frame_states'][name]) for name in STATES]
        for frame in frames:
            src = tf.transpose(frame, [2, 0, 1])[None]
            yield {name: x.numpy() for name, x in zip(['src', *STATES], [src, *states])}  # by name: TFLite orders its inputs
            out = serve(src, *states)
            states = [out[f'r{i}o'] for i in range(1, 5)]


def float_in_int8(float_tflite: bytes) -> Tuple[List[str], List[str]]:
    """What the int8 TFLite keeps in float32, as the ONNX int8 does (`int8.py`, measured there): every
    operation type but the convolutions, and every operation in `FLOAT_MODULES` (the encoder, the
    output head, the refiner), whose scopes `tf_network` names after them. Returns the operation types
    and the output tensor names of those operations in `float_tflite`."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=float_tflite)
    names = {tensor['index']: tensor['name'] for tensor in interpreter.get_tensor_details()}
    operations = interpreter._get_ops_details()  # the only listing of the operations and their types
    scopes = tuple(f'{module}/' for module in FLOAT_MODULES)
    # a fused operation is named after each TensorFlow operation it holds, joined by ';'
    nodes = [names[i] for op in operations for i in op['outputs']
             if all(part.startswith(scopes) for part in names[i].split(';') if part)]
    return sorted({op['op_name'] for op in operations} - {'CONV_2D', 'DEPTHWISE_CONV_2D'}), nodes


def save_tflite(network: Network, output: str, meta: dict) -> None:
    """One function converts to the signature `serving_default`, with the names of its inputs and outputs."""
    serve = fixed_signature(network, meta)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve], network)
    if meta['precision'] == 'float16':
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    if meta['precision'] != 'int8':
        Path(output).write_bytes(converter.convert())
        return
    float_ops, float_nodes = float_in_int8(tf.lite.TFLiteConverter.from_concrete_functions([serve], network).convert())
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: representative_inputs(serve, meta)
    # the converter's own way to keep operations out of the quantization
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=float_ops, denylisted_nodes=float_nodes))
    Path(output).write_bytes(debugger.get_nondebug_quantized_model())


def build(weights: str, outputs: list) -> None:
    network = Network(dict(np.load(weights)))
    for output in outputs:
        meta = json.loads(Path(output.rstrip('/') + '.json').read_text())
        if meta['format'] == 'tflite':
            save_tflite(network, output, meta)
        else:
            save_saved_model(network, output)


if __name__ == '__main__':
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build(sys.argv[1], sys.argv[2:])
