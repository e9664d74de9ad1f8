"""OpenVINO IR from the dynamic ONNX graph, and a runner that keeps float32 precision.

    export_openvino(model, 'rvm_openvino.xml')        # + rvm_openvino.bin, rvm_openvino.xml.json
    runner = OpenVinoMatting('rvm_openvino.xml')      # CPU, f32 inference precision
    for src in frames:                                # numpy [B, 3, H, W], RGB in 0..1
        fgr, pha = runner(src, downsample_ratio=0.25)
    runner.reset()                                    # before the next, unrelated clip

The IR keeps what only OpenVINO keeps among the static runtimes: the runtime `downsample_ratio` and
dynamic batch, height and width (`openvino.convert_model` of `export_onnx`'s graph, `If` included).

Precision: OpenVINO's CPU plugin runs bfloat16 by default on CPUs that have it (AMX, AVX512-BF16),
which moved alpha by up to 0.19 (deep guided filter) and 1.0 (fast guided filter) on real frames
(`python -m exporters.precision_report`).
The runner asks for f32 unless told otherwise; pass `inference_precision='bf16'` only after
measuring. A float16 export (`compress_to_fp16`) halves the file; the CPU still computes in f32.
"""
import tempfile
from pathlib import Path
from typing import Tuple

import numpy as np
import openvino as ov
import openvino.properties.hint as hints
import torch

from model import MattingNetwork

from .onnx_dynamic import export_onnx

PRECISIONS = {'f32': ov.Type.f32, 'bf16': ov.Type.bf16, 'f16': ov.Type.f16}


def export_openvino(model: MattingNetwork, output: str, compress_to_fp16: bool = False) -> ov.Model:
    """Convert `model` (through export_onnx) to the IR `output` (.xml, its weights in .bin beside it)."""
    if not str(output).endswith('.xml'):
        raise ValueError(f'--output {output}: an OpenVINO IR path ends in .xml (the weights go to .bin beside it)')
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = str(Path(tmp) / 'rvm.onnx')
        export_onnx(model, onnx_path, dtype=torch.float32)
        converted = ov.convert_model(onnx_path)
    ov.save_model(converted, output, compress_to_fp16=compress_to_fp16)  # its default is True
    return converted


def ir_from_onnx(onnx_file: str, output: str) -> ov.Model:
    """The IR of a file of `export_onnx`, float32 or 8-bit (`int8.quantize_onnx`: OpenVINO turns its QDQ
    pairs into its own int8 operations, so both runtimes run one calibration), weights uncompressed."""
    if not str(output).endswith('.xml'):
        raise ValueError(f'--output {output}: an OpenVINO IR path ends in .xml (the weights go to .bin beside it)')
    converted = ov.convert_model(onnx_file)
    ov.save_model(converted, output, compress_to_fp16=False)
    return converted


class OpenVinoMatting:
    """One compiled OpenVINO model and the recurrent state of the clip being matted.

    Args:
        path: an .xml IR from `export_openvino` (or an .onnx file of `export.py --format onnx`).
        device: an OpenVINO device name: 'CPU', 'GPU', 'NPU', 'AUTO'.
        inference_precision: 'f32' (default, see the module docstring), 'bf16' or 'f16'.
        threads: inference threads; 0 lets OpenVINO choose.
    """

    def __init__(self, path: str, device: str = 'CPU', inference_precision: str = 'f32', threads: int = 0):
        if inference_precision not in PRECISIONS:
            raise ValueError(f'inference_precision {inference_precision!r}: expected one of {list(PRECISIONS)}')
        config = {hints.inference_precision: PRECISIONS[inference_precision]}
        if threads:
            config['INFERENCE_NUM_THREADS'] = threads
        self.compiled = ov.Core().compile_model(path, device, config)
        self.request = self.compiled.create_infer_request()
        self.reset()

    def reset(self) -> None:
        """Start a new clip: the states become zeros [1, 1, 1, 1], which the graph broadcasts."""
        self.states = [np.zeros([1, 1, 1, 1], np.float32) for _ in range(4)]

    def __call__(self, src: np.ndarray, downsample_ratio: float) -> Tuple[np.ndarray, np.ndarray]:
        """Matte one frame `[B, 3, H, W]` float32; returns fgr `[B, 3, H, W]` and pha `[B, 1, H, W]`."""
        feeds = {'src': src, 'downsample_ratio': np.array([downsample_ratio], np.float32),
                 **{f'r{i}i': state for i, state in enumerate(self.states, 1)}}
        out = self.request.infer(feeds)
        # infer() returns views of the request's buffers, which the next frame overwrites
        self.states = [out[f'r{i}o'].copy() for i in range(1, 5)]
        return out['fgr'].copy(), out['pha'].copy()
