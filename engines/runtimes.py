"""The network in ONNX Runtime or OpenVINO, as a module with MattingNetwork's forward signature.

    network = runtime_network(model, 'onnxruntime', 'int8')
    fgr, pha, *rec = network(src, *rec, downsample_ratio=0.5)      # torch tensors in and out

The graphs are built once per weights and cached (`cache.py`): the float32 ONNX of `export.py
--format onnx`, its 8-bit form (`exporters.int8`, calibrated on the shipped real frames), and each
converted to OpenVINO's IR. The states travel as torch tensors, owned by the caller (a `Matter`),
so resetting, changing the ratio and snapshots work as with PyTorch.
"""
import copy
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from . import REQUIREMENTS
from .cache import build_once, cache_root, digest, versions

Arrays = List[np.ndarray]
Run = Callable[[np.ndarray, Arrays, float], Tuple[np.ndarray, np.ndarray, Arrays]]
OUTPUTS = ('fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o')


class EngineMissing(ImportError):
    """A runtime that an engine needs is not installed."""


def require(engine: str) -> None:
    """EngineMissing (one line, naming the requirements file) when `engine`'s packages are missing."""
    modules = {'onnxruntime': ('onnx', 'onnxscript', 'onnxruntime'),
               'openvino': ('onnx', 'onnxscript', 'onnxruntime', 'openvino')}[engine]
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            raise EngineMissing(f'the {engine} engine needs the {module} package: pip install -r {REQUIREMENTS}') \
                from None


def graph(model: nn.Module, engine: str, precision: str) -> Path:
    """The file `engine` runs for `model` in `precision`, built (and cached) on first use: one folder per
    weights and versions, the int8 files named by the recipe and the calibration data."""
    from exporters import calibration, int8
    from exporters.metadata import weights_sha256
    from exporters.onnx_dynamic import export_onnx
    folder = cache_root() / 'engines' / digest(weights_sha256(model), versions())
    onnx_float = build_once(folder / 'float32.onnx', lambda path: export_onnx(model, path))
    name = 'float32' if precision == 'float32' else f'int8-{digest(int8.RECIPE, calibration.data_sha256())}'
    onnx_file = onnx_float if precision == 'float32' else build_once(
        folder / f'{name}.onnx',
        lambda path: int8.quantize_onnx(str(onnx_float), path, calibration.calibration_feeds(str(onnx_float))))
    if engine == 'onnxruntime':
        return onnx_file
    from exporters.openvino import ir_from_onnx
    return build_once(folder / f'{name}.xml', lambda path: ir_from_onnx(str(onnx_file), path))


def onnxruntime_run(path: Path, threads: int) -> Run:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # idle threads must not spin after a frame: the reader and writer threads run then (streaming.threads.Turns)
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])

    def run(src: np.ndarray, states: Arrays, ratio: float):
        fgr, pha, *states = session.run(None, feeds(src, states, ratio))
        return fgr, pha, states
    return run


def openvino_run(path: Path, threads: int) -> Run:
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints
    # f32 where the graph is float: the CPU plugin's default on CPUs with bfloat16 moves alpha by up to 1.0
    # (exporters/openvino.py); threads unpinned, as the reader and writer threads share the cores
    config = {hints.inference_precision: ov.Type.f32, hints.performance_mode: hints.PerformanceMode.LATENCY,
              hints.enable_cpu_pinning: False}
    if threads:
        config[props.inference_num_threads] = threads
    request = ov.Core().compile_model(str(path), 'CPU', config).create_infer_request()

    def run(src: np.ndarray, states: Arrays, ratio: float):
        out = request.infer(feeds(src, states, ratio), share_inputs=True)  # outputs copied: the next frame reuses them
        fgr, pha, *states = (out[name] for name in OUTPUTS)
        return fgr, pha, states
    return run


def feeds(src: np.ndarray, states: Arrays, ratio: float) -> dict:
    return {'src': src, **{f'r{i}i': state for i, state in enumerate(states, 1)},
            'downsample_ratio': np.array([ratio], np.float32)}


class RuntimeNetwork(nn.Module):
    """A network run by another runtime, with MattingNetwork's forward: `src` `[B, 3, H, W]` or a chunk
    `[B, T, 3, H, W]` float32 on the CPU, states r1..r4 (None at a clip's start), `downsample_ratio`;
    returns `[fgr, pha, r1, r2, r3, r4]`, new torch tensors (float32, CPU)."""

    def __init__(self, run: Run, engine: str, precision: str):
        super().__init__()
        self.run, self.engine, self.precision = run, engine, precision

    def forward(self, src: Tensor, r1: Optional[Tensor] = None, r2: Optional[Tensor] = None,
                r3: Optional[Tensor] = None, r4: Optional[Tensor] = None,
                downsample_ratio: float = 1.0) -> List[Tensor]:
        states = [np.zeros([1, 1, 1, 1], np.float32) if r is None else r.float().contiguous().numpy()
                  for r in (r1, r2, r3, r4)]
        frames: Sequence[Tensor] = src.unbind(1) if src.dim() == 5 else [src]
        fgrs, phas = [], []
        for frame in frames:
            fgr, pha, states = self.run(np.ascontiguousarray(frame.float().numpy()), states, float(downsample_ratio))
            fgrs.append(torch.from_numpy(fgr))
            phas.append(torch.from_numpy(pha))
        if src.dim() == 5:
            fgr, pha = torch.stack(fgrs, 1), torch.stack(phas, 1)
        else:
            fgr, pha = fgrs[0], phas[0]
        return [fgr, pha, *(torch.from_numpy(state) for state in states)]

    def extra_repr(self) -> str:
        return f'{self.engine}, {self.precision}'


def runtime_network(model: nn.Module, engine: str, precision: str, threads: int = 0) -> RuntimeNetwork:
    """`model` (a MattingNetwork) in `engine` ('onnxruntime' or 'openvino') in `precision`, with
    `threads` threads (0: torch's)."""
    from model import MattingNetwork
    if not isinstance(model, MattingNetwork):
        raise ValueError(f'the {engine} engine exports a MattingNetwork, not a {type(model).__name__}')
    require(engine)
    threads = threads or torch.get_num_threads()
    param = next(model.parameters())
    if param.device.type != 'cpu' or param.dtype != torch.float32:  # exported on the CPU in float32; the caller's stays
        model = copy.deepcopy(model).to('cpu', torch.float32)
    path = graph(model.eval(), engine, precision)
    run = onnxruntime_run(path, threads) if engine == 'onnxruntime' else openvino_run(path, threads)
    return RuntimeNetwork(run, engine, precision)
