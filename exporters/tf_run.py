"""Run SavedModel and TFLite exports over chained frames, feeding the states back; runs in
.venv-export (TensorFlow, ai-edge-litert). The parity tests call it; the loop is the documented one.

    .venv-export/bin/python -m exporters.tf_run MODEL FRAMES.npz OUT.npz [MODEL FRAMES.npz OUT.npz ...]

MODEL: a SavedModel folder or a .tflite file, with its metadata `MODEL.json`. FRAMES.npz holds
`src` `[T, 1, 3, H, W]` float32, and `downsample_ratio` for a model that takes it; OUT.npz gets
`fgr` `[T, 1, 3, H, W]` and `pha` `[T, 1, 1, H, W]`. Several runs share one process (and each model
is loaded once): TensorFlow takes long to start.
"""
import json
import sys
from functools import lru_cache
from typing import Callable, Dict, Optional

import numpy as np

Step = Callable[[Dict[str, np.ndarray]], Dict[str, np.ndarray]]


def saved_model_step(path: str) -> Step:
    import tensorflow as tf
    serve = tf.saved_model.load(path).signatures['serving_default']
    return lambda feeds: {k: v.numpy() for k, v in serve(**{k: tf.constant(v) for k, v in feeds.items()}).items()}


def tflite_step(path: str) -> Step:
    from ai_edge_litert.interpreter import Interpreter
    runner = Interpreter(model_path=path).get_signature_runner('serving_default')
    return lambda feeds: runner(**feeds)


@lru_cache(maxsize=None)
def load(path: str) -> Step:
    return tflite_step(path) if path.endswith('.tflite') else saved_model_step(path)


def run(path: str, frames: np.ndarray, ratio: Optional[float] = None) -> Dict[str, np.ndarray]:
    """fgr and pha for each frame of `frames` `[T, 1, 3, H, W]`, states fed back from the first
    frame's zeros (as `MODEL.json` lists them), `ratio` fed where the model takes it."""
    meta = json.loads(open(path.rstrip('/') + '.json').read())
    step = load(path)
    states = {name: np.zeros(shape, np.float32) for name, shape in meta['first_frame_states'].items()}
    extra = {'downsample_ratio': np.array([ratio], np.float32)} if 'downsample_ratio' in meta['inputs'] else {}
    fgrs, phas = [], []
    for src in frames:
        out = step({'src': src, **states, **extra})
        states = {f'r{i}i': out[f'r{i}o'] for i in range(1, 5)}
        fgrs.append(out['fgr'])
        phas.append(out['pha'])
    return {'fgr': np.stack(fgrs), 'pha': np.stack(phas)}


if __name__ == '__main__':
    if len(sys.argv) < 4 or len(sys.argv) % 3 != 1:
        sys.exit(__doc__)
    for model, inputs, outputs in zip(*[iter(sys.argv[1:])] * 3):
        data = np.load(inputs)
        ratio = float(data['downsample_ratio']) if 'downsample_ratio' in data else None
        np.savez(outputs, **run(model, data['src'], ratio))
