"""One export: the per-format writer, then the metadata beside what it wrote."""
import json
from typing import Callable, Dict, Optional, Sequence, Tuple

import onnx
import torch

from model import MattingNetwork

from .coreml import export_coreml
from .formats import FORMATS
from .metadata import INPUT_NAMES, ExportMetadata, describe, first_frame_state_shapes
from .onnx_dynamic import DEFAULT_OPSET, export_onnx
from .onnx_static import export_static_onnx
from .openvino import export_openvino
from .tensorflow import export_saved_model, export_tfjs, export_tflite
from .torchscript import export_torchscript

Writer = Callable[..., None]  # (model, output, metadata), and opset=, device= for the ONNX formats


def embed_onnx_metadata(path: str, meta: ExportMetadata) -> None:
    """Also store the metadata in the ONNX file's metadata_props (one JSON string per field)."""
    proto = onnx.load(path)
    onnx.helper.set_model_props(proto, {k: json.dumps(v) for k, v in meta.__dict__.items()})
    onnx.save(proto, path)


def write_onnx(model: MattingNetwork, output: str, meta: ExportMetadata, opset: int, device: str) -> None:
    export_onnx(model, output, opset, device, getattr(torch, meta.precision))
    embed_onnx_metadata(output, meta)


def write_onnx_static(model: MattingNetwork, output: str, meta: ExportMetadata, opset: int, device: str) -> None:
    resolution = tuple(meta.resolution) if meta.resolution else None
    export_static_onnx(model, output, meta.downsample_ratio, resolution, list(meta.first_frame_states.values()),
                       getattr(torch, meta.precision), opset, device)
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
           checkpoint: Optional[str] = None, opset: Optional[int] = None,
           device: Optional[str] = None) -> ExportMetadata:
    """Write `model` as `fmt` to `output` and its metadata to `output + '.json'`; returns the metadata.
    `opset` and `device` (default `DEFAULT_OPSET` and the CPU) are for the formats that write ONNX.
    Options are assumed valid (`formats.check_request`)."""
    if resolution is not None:
        states = first_frame_state_shapes(model, *resolution, ratio)
    else:
        states = [[1, 1, 1, 1]] * 4  # broadcast by the graph on the first frame
    inputs: Sequence[str] = INPUT_NAMES + (['downsample_ratio'] if ratio is None else [])
    meta = describe(fmt, model, precision, checkpoint, resolution, ratio, states, inputs=inputs)
    onnx_options = {'opset': opset or DEFAULT_OPSET, 'device': device or 'cpu'} if FORMATS[fmt].onnx else {}
    WRITERS[fmt](model.eval(), output, meta, **onnx_options)
    meta.write(output)
    return meta
