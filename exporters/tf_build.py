"""Write SavedModel and TFLite files of `tf_network.Network`; runs in .venv-export (no torch).

    .venv-export/bin/python -m exporters.tf_build WEIGHTS.npz OUTPUT [OUTPUT ...]

WEIGHTS.npz: `tf_weights.write_network_arrays`. Each OUTPUT's metadata `OUTPUT.json` (`metadata.py`)
says what to write there:

- format `tflite`: a .tflite file for `resolution` at the baked `downsample_ratio`, states
  `first_frame_states` in size, float16 weights for precision float16 (inputs and outputs float32);
- any other: a SavedModel folder with dynamic batch, height and width and `downsample_ratio` an
  input `[1]`, the states `[1, 1, 1, 1]` zeros on the first frame (broadcast, as in ONNX).

The signature `serving_default` takes `src, r1i..r4i` (and `downsample_ratio`) and returns
`fgr, pha, r1o..r4o`, all NCHW. Several outputs share one process: TensorFlow takes long to start.
"""
import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

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


def save_tflite(network: Network, output: str, meta: dict) -> None:
    """One function converts to the signature `serving_default`, with the names of its inputs and outputs."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fixed_signature(network, meta)], network)
    if meta['precision'] == 'float16':
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    Path(output).write_bytes(converter.convert())


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
