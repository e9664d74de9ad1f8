"""The metadata every export writes beside its model (`PATH.json`): what a runtime needs to feed it.

    {"format": "tflite", "inputs": ["src", "r1i", ...], "outputs": ["fgr", "pha", "r1o", ...],
     "layout": {"src": "NCHW", ...}, "resolution": [W, H] or null, "downsample_ratio": 0.25 or null,
     "first_frame_states": {"r1i": [1, 16, 72, 128], ...}, "precision": "float32",
     "variant": "mobilenetv3", "refiner": "deep_guided_filter",
     "checkpoint": "path or null", "checkpoint_sha256": "...", "weights_sha256": "..."}

null resolution or ratio: read at run time. `first_frame_states` are the zeros to feed on the first
frame (`[1, 1, 1, 1]` where the graph broadcasts them, full size in static graphs).
"""
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from model import MattingNetwork, detect_variant

INPUT_NAMES = ['src', 'r1i', 'r2i', 'r3i', 'r4i']
OUTPUT_NAMES = ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o']


@dataclass
class ExportMetadata:
    format: str
    inputs: List[str]
    outputs: List[str]
    layout: Dict[str, str]
    resolution: Optional[List[int]]
    downsample_ratio: Optional[float]
    first_frame_states: Dict[str, List[int]]
    precision: str
    variant: str
    refiner: str
    checkpoint: Optional[str]
    checkpoint_sha256: Optional[str]
    weights_sha256: str
    notes: List[str] = field(default_factory=list)

    def write(self, model_path: str) -> Path:
        """Write `model_path + '.json'` (beside a file or a folder) and return its path."""
        path = Path(str(model_path).rstrip('/') + '.json')
        path.write_text(json.dumps(asdict(self), indent=2) + '\n')
        return path


def read_metadata(model_path: str) -> ExportMetadata:
    """The metadata written beside `model_path` by an export."""
    return ExportMetadata(**json.loads(Path(str(model_path).rstrip('/') + '.json').read_text()))


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(model: nn.Module) -> str:
    """A hash of the state_dict's keys, dtypes, shapes and values: the same for the same weights
    however they were loaded (published, checkpoint file, state_dict)."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(f'{key}:{value.dtype}:{list(value.shape)}'.encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def first_frame_state_shapes(model: MattingNetwork, width: int, height: int, ratio: float) -> List[List[int]]:
    """Shapes `[1, C, h, w]` of r1..r4 after a `[1, 3, height, width]` frame at `ratio` (the zeros a
    static graph takes on the first frame), from one forward pass of `model` on a downsampled zero frame."""
    param = next(model.parameters())
    src = torch.zeros(1, 3, height, width, dtype=param.dtype, device=param.device)
    with torch.no_grad():
        _, _, *states = model(src, downsample_ratio=ratio)
    return [list(s.shape) for s in states]


def describe(fmt: str, model: MattingNetwork, precision: str, checkpoint: Optional[str],
             resolution: Optional[Sequence[int]], ratio: Optional[float], state_shapes: List[List[int]],
             inputs: Sequence[str] = INPUT_NAMES, outputs: Sequence[str] = OUTPUT_NAMES,
             layout: Optional[Dict[str, str]] = None, notes: Sequence[str] = ()) -> ExportMetadata:
    """The metadata of an export of `model`; `layout` defaults to NCHW for every image and state."""
    variant, refiner = detect_variant(model.state_dict())
    return ExportMetadata(
        format=fmt, inputs=list(inputs), outputs=list(outputs),
        layout=dict(layout or {name: 'NCHW' for name in list(inputs) + list(outputs) if name != 'downsample_ratio'}),
        resolution=list(resolution) if resolution else None, downsample_ratio=ratio,
        first_frame_states={f'r{i}i': list(shape) for i, shape in enumerate(state_shapes, 1)},
        precision=precision, variant=variant, refiner=refiner,
        checkpoint=str(checkpoint) if checkpoint else None,
        checkpoint_sha256=file_sha256(checkpoint) if checkpoint else None,
        weights_sha256=weights_sha256(model), notes=list(notes))

