"""Run the TensorFlow-family exports in their own runtimes from the main environment: SavedModel
and TFLite in .venv-export (`tf_run.py`), TF.js in Node on the wasm backend (`tfjs_run.cjs`).
Frames go in and mattes come back through files; each call runs clips of chained frames, all in one
process (a runtime takes seconds to start, a model to load)."""
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .toolchains import ROOT, run_in, toolchain

Mattes = Dict[str, np.ndarray]  # fgr [T, 1, 3, H, W], pha [T, 1, 1, H, W]


def run_tensorflow(runs: Sequence[Tuple[str, np.ndarray, Optional[float]]]) -> List[Mattes]:
    """For each (SavedModel folder or .tflite file, frames `[T, 1, 3, H, W]` float32, ratio or None
    where it is baked in): fgr and pha, states fed back from the metadata's first-frame zeros."""
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for i, (model_path, frames, ratio) in enumerate(runs):
            inputs = Path(tmp) / f'frames{i}.npz'
            np.savez(inputs, src=frames.astype(np.float32),
                     **({} if ratio is None else {'downsample_ratio': np.float32(ratio)}))
            args += [str(model_path), str(inputs), str(Path(tmp) / f'out{i}.npz')]
        run_in('tensorflow', ['-m', 'exporters.tf_run', *args])
        return [dict(np.load(Path(tmp) / f'out{i}.npz')) for i in range(len(runs))]


def run_tfjs(model_dir: str, runs: Sequence[Tuple[np.ndarray, float]]) -> List[Mattes]:
    """As `run_tensorflow`, for a TF.js folder and (frames, ratio) pairs, in Node with
    @tensorflow/tfjs-backend-wasm."""
    with tempfile.TemporaryDirectory() as tmp:
        args = []
        for i, (frames, ratio) in enumerate(runs):
            steps, _, _, height, width = frames.shape
            frames.astype(np.float32).tofile(Path(tmp) / f'frames{i}.bin')
            args += [str(Path(tmp) / f'frames{i}.bin'), str(steps), str(height), str(width), str(ratio),
                     str(Path(tmp) / f'out{i}')]
        env = {**os.environ, 'NODE_PATH': str(toolchain('node_modules'))}
        result = subprocess.run(['node', str(ROOT / 'exporters' / 'tfjs_run.cjs'), str(model_dir), *args],
                                env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f'node tfjs_run.cjs {model_dir} failed:\n{result.stderr[-2000:]}')

        def read(i: int, name: str, channels: int) -> np.ndarray:
            steps, _, _, height, width = runs[i][0].shape
            return np.fromfile(Path(tmp) / f'out{i}.{name}.bin', np.float32).reshape(steps, 1, channels, height, width)
        return [{'fgr': read(i, 'fgr', 3), 'pha': read(i, 'pha', 1)} for i in range(len(runs))]
