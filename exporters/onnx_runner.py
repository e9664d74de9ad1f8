"""Run an RVM ONNX model (`export.py --format onnx`) in ONNX Runtime, keeping the recurrent states on
the device between frames with IO binding.

    runner = OnnxMatting('rvm_mobilenetv3_fp32.onnx', device='cpu')   # or 'cuda'
    for src in frames:                         # src: numpy [B, 3, H, W], RGB in 0..1
        fgr, pha = runner(src, downsample_ratio=0.25)
    runner.reset()                             # before the next, unrelated clip

`session.run(None, feeds)` works too, but copies the four states out to numpy and back in for
every frame; with IO binding they stay where ONNX Runtime computed them (on the GPU for CUDA).
Needs only numpy and onnxruntime (not torch), as `exporters/__init__.py` imports nothing.
"""
from typing import Optional, Tuple

import numpy as np
import onnxruntime as ort

PROVIDERS = {'cpu': ['CPUExecutionProvider'], 'cuda': ['CUDAExecutionProvider']}


class OnnxMatting:
    """One ONNX Runtime session and the recurrent state of the clip being matted.

    Args:
        path: an .onnx file of `export.py --format onnx` (float32 or float16).
        device: 'cpu' or 'cuda' (needs the onnxruntime-gpu package).
        threads: ONNX Runtime's intra-op threads; 0 lets it choose (one per physical core).
        options: the session's options instead (then `threads` is theirs to set).
    """

    def __init__(self, path: str, device: str = 'cpu', threads: int = 0,
                 options: Optional[ort.SessionOptions] = None):
        if options is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, options, providers=PROVIDERS[device])
        self.device = device
        self.dtype = np.float16 if self.session.get_inputs()[0].type == 'tensor(float16)' else np.float32
        self.binding = self.session.io_binding()
        self.reset()

    def reset(self) -> None:
        """Start a new clip: the states become zeros [1, 1, 1, 1], which the graph broadcasts."""
        zeros = np.zeros([1, 1, 1, 1], dtype=self.dtype)
        self.states = [ort.OrtValue.ortvalue_from_numpy(zeros, self.device) for _ in range(4)]

    def __call__(self, src: np.ndarray, downsample_ratio: float) -> Tuple[np.ndarray, np.ndarray]:
        """Matte one frame `[B, 3, H, W]` (the model's dtype); returns fgr `[B, 3, H, W]` and pha `[B, 1, H, W]`."""
        io = self.binding
        io.bind_cpu_input('src', src)
        for i, state in enumerate(self.states, 1):
            io.bind_ortvalue_input(f'r{i}i', state)
        io.bind_cpu_input('downsample_ratio', np.array([downsample_ratio], dtype=np.float32))
        for name in ('fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o'):
            io.bind_output(name, self.device)
        self.session.run_with_iobinding(io)
        fgr, pha, *self.states = io.get_outputs()
        return fgr.numpy(), pha.numpy()
