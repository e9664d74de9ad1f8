"""One export: the per-format writer, then the metadata beside what it wrote."""
import json
from typing import Callable, Dict, Optional, Sequence, Tuple

import onnx
import torch

from export_onnx import export_onnx
from export_torchscript import export_torchscript
from model import MattingNetwork

from .coreml import export_coreml
from .metadata import INPUT_NAMES, ExportMetadata, describe, first_frame_state_shapes
from .onnx_static import export_static_onnx
from .openvino import export_openvino
from .tensorflow import export_saved_model, export_tfjs, export_tflite

Writer = Callable[[MattingNetwork, str, ExportMetadata], None]


def embed_onnx_metadata(path: str, meta: ExportMetadata) -> None:
    """Also store the metadata in the ONNX file's metadata_props (one JSON string per field)."""
    proto = onnx.load(path)
    onnx.helper.set_model_props(proto, {k: json.dumps(v) for k, v in meta.__dict__.items()})
    onnx.save(proto, path)


def write_onnx(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    export_onnx(model, output, dtype=getattr(torch, meta.precision))
    embed_onnx_metadata(output, meta)


def write_onnx_static(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    resolution = tuple(meta.resolution) if meta.resolution else None
    export_static_onnx(model, output, meta.downsample_ratio, resolution, list(meta.first_frame_states.values()),
                       dtype=getattr(torch, meta.precision))
    embed_onnx_metadata(output, meta)


WRITERS: Dict[str, Writer] = {
    'onnx': write_onnx,
    'onnx-static': write_onnx_static,
    'torchscript': lambda model, output, meta: export_torchscript(model, output, getattr(torch, meta.precision)),
    'openvino': lambda model, output, meta: export_openvino(model, output, meta.precision == 'float16'),
    'tensorflow': export_saved_model,
    'tflite': export_tflite,
    'tfjs': export_tfjs,
    'coreml': export_coreml,
}


def export(fmt: str, model: MattingNetwork, output: str, precision: str = 'float32',
           resolution: Optional[Tuple[int, int]] = None, ratio: Optional[float] = None,
           checkpoint: Optional[str] = None) -> ExportMetadata:
    """Write `model` as `fmt` to `output` and its metadata to `output + '.json'`; returns the metadata.
    Options are assumed valid (`formats.check_request`)."""
    if resolution is not None:
        states = first_frame_state_shapes(model, *resolution, ratio)
    else:
        states = [[1, 1, 1, 1]] * 4  # broadcast by the graph on the first frame
    inputs: Sequence[str] = INPUT_NAMES + (['downsample_ratio'] if ratio is None else [])
    meta = describe(fmt, model, precision, checkpoint, resolution, ratio, states, inputs=inputs)
    WRITERS[fmt](model.eval(), output, meta)
    meta.write(output)
    return meta
