"""Run the TensorFlow-family exports in their own runtimes from the main environment: SavedModel
and TFLite in .venv-export (`tf_run.py`), TF.js in Node on the wasm backend (`tfjs_run.cjs`).
Frames go in and mattes come back through files; each call runs a clip of chained frames."""
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Dict

import numpy as np

from .toolchains import ROOT, run_in, toolchain


def run_tensorflow(model_path: str, frames: np.ndarray) -> Dict[str, np.ndarray]:
    """fgr `[T, 1, 3, H, W]` and pha `[T, 1, 1, H, W]` of a SavedModel folder or .tflite file over
    `frames` `[T, 1, 3, H, W]` float32, states fed back from the metadata's first-frame zeros."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs, outputs = Path(tmp) / 'frames.npz', Path(tmp) / 'out.npz'
        np.savez(inputs, src=frames.astype(np.float32))
        run_in('tensorflow', ['-m', 'exporters.tf_run', str(model_path), str(inputs), str(outputs)])
        return dict(np.load(outputs))


def run_tfjs(model_dir: str, frames: np.ndarray) -> Dict[str, np.ndarray]:
    """As `run_tensorflow`, for a TF.js folder, in Node with @tensorflow/tfjs-backend-wasm."""
    steps, _, _, height, width = frames.shape
    with tempfile.TemporaryDirectory() as tmp:
        frames.astype(np.float32).tofile(Path(tmp) / 'frames.bin')
        env = {**os.environ, 'NODE_PATH': str(toolchain('node_modules'))}
        result = subprocess.run(['node', str(ROOT / 'exporters' / 'tfjs_run.cjs'), str(model_dir),
                                 str(Path(tmp) / 'frames.bin'), str(steps), str(Path(tmp) / 'out')],
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f'node tfjs_run.cjs {model_dir} failed:\n{result.stderr[-2000:]}')
        read = lambda name, channels: np.fromfile(Path(tmp) / f'out.{name}.bin', np.float32).reshape(
            steps, 1, channels, height, width)
        return {'fgr': read('fgr', 3), 'pha': read('pha', 1)}
