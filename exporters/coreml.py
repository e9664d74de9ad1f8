"""CoreML export: a fixed-size, ratio-baked wrapper traced with torch.jit.trace, converted by
coremltools in .venv-coreml (`coreml_convert.py`).

CoreML predicts only on macOS. On Linux what can be checked is the traced wrapper's parity with
MattingNetwork (it is exactly what coremltools converts) and the converted spec: names, shapes,
types and deployment target (`describe_coreml`). On a Mac:

    import coremltools as ct, numpy as np
    model = ct.models.MLModel('rvm.mlpackage')
    states = {k: np.zeros(s, np.float32) for k, s in meta['first_frame_states'].items()}
    for src in frames:                                   # [1, 3, H, W] float32 at the baked size
        out = model.predict({'src': src, **states})
        states = {f'r{i}i': out[f'r{i}o'] for i in range(1, 5)}
"""
import json
import tempfile
from pathlib import Path
from typing import List, Sequence, Tuple

import torch
from torch import Tensor, nn

from model import MattingNetwork

from .metadata import ExportMetadata
from .toolchains import run_in


class StaticMattingNetwork(nn.Module):
    """MattingNetwork on one frame `[1, 3, H, W]` with the ratio baked in; states are full-size
    tensors (zeros on the first frame), since CoreML needs every shape fixed."""

    def __init__(self, model: MattingNetwork, ratio: float):
        super().__init__()
        self.model = model
        self.ratio = ratio

    def forward(self, src: Tensor, r1: Tensor, r2: Tensor, r3: Tensor, r4: Tensor) -> List[Tensor]:
        return self.model(src, r1, r2, r3, r4, downsample_ratio=self.ratio)


def trace_static(model: MattingNetwork, ratio: float, width: int, height: int,
                 state_shapes: Sequence[Sequence[int]]) -> Tuple[torch.jit.ScriptModule, List[Tensor]]:
    """The traced wrapper and the example inputs it was traced with (a frame and zero states)."""
    example = [torch.rand(1, 3, height, width)] + [torch.zeros(*s) for s in state_shapes]
    with torch.no_grad():
        traced = torch.jit.trace(StaticMattingNetwork(model.float().eval(), ratio), example)
    return traced, example


def export_coreml(model: MattingNetwork, output: str, meta: ExportMetadata) -> torch.jit.ScriptModule:
    """Write the ML program `output` (.mlpackage) at `meta.resolution` and `meta.downsample_ratio`,
    in `meta.precision`; returns the traced wrapper that was converted."""
    if not str(output).endswith('.mlpackage'):
        raise ValueError(f'--output {output}: a CoreML ML program is saved as a .mlpackage folder')
    traced, _ = trace_static(model, meta.downsample_ratio, *meta.resolution, list(meta.first_frame_states.values()))
    with tempfile.TemporaryDirectory() as tmp:
        traced_path, meta_path = Path(tmp) / 'traced.pt', Path(tmp) / 'meta.json'
        traced.save(str(traced_path))
        meta_path.write_text(json.dumps(meta.__dict__))
        run_in('coreml', ['-m', 'exporters.coreml_convert', str(traced_path), str(output), meta.precision,
                          str(meta_path)])
    return traced


def describe_coreml(path: str) -> dict:
    """The converted spec (see coreml_convert.describe), read in .venv-coreml."""
    return json.loads(run_in('coreml', ['-m', 'exporters.coreml_convert', '--describe', str(path)]).splitlines()[-1])
