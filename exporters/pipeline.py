"""One export: the per-format writer, then the metadata beside what it wrote.

Each writer imports its format's module when it runs, so that a format needs only its own packages:
torchscript torch alone (requirements_inference.txt), the ONNX formats onnx and onnxscript, openvino
OpenVINO, web also ONNX Runtime Web (.node-web).
"""
import json
import os
import tempfile
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from model import MattingNetwork

from streaming.device import default_device

from .formats import DEFAULT_OPSET, FORMATS
from .metadata import INPUT_NAMES, ExportMetadata, describe, first_frame_state_shapes

Writer = Callable[..., None]  # (model, output, metadata), and opset=, device= for the ONNX formats


def embed_onnx_metadata(path: str, meta: ExportMetadata) -> None:
    """Also store the metadata in the ONNX file's metadata_props (one JSON string per field)."""
    import onnx
    proto = onnx.load(path)
    onnx.helper.set_model_props(proto, {k: json.dumps(v) for k, v in meta.__dict__.items()})
    onnx.save(proto, path)


def write_onnx(model: MattingNetwork, output: str, meta: ExportMetadata, opset: int, device: str) -> None:
    from .onnx_dynamic import export_onnx
    if meta.precision == 'int8':
        write_int8_onnx(model, output, opset)
    else:
        export_onnx(model, output, opset, device, getattr(torch, meta.precision))
    embed_onnx_metadata(output, meta)


def write_int8_onnx(model: MattingNetwork, output: str, opset: int = DEFAULT_OPSET) -> None:
    """The float32 graph exported on the CPU, then quantized (`int8.py`) on the shipped calibration frames."""
    from .calibration import calibration_feeds
    from .int8 import quantize_onnx
    from .onnx_dynamic import export_onnx
    with tempfile.TemporaryDirectory() as tmp:
        float_onnx = os.path.join(tmp, 'float32.onnx')
        export_onnx(model.cpu().float(), float_onnx, opset)
        quantize_onnx(float_onnx, output, calibration_feeds(float_onnx))


def write_onnx_static(model: MattingNetwork, output: str, meta: ExportMetadata, opset: int, device: str) -> None:
    from .onnx_static import export_static_onnx
    resolution = tuple(meta.resolution) if meta.resolution else None
    export_static_onnx(model, output, meta.downsample_ratio, resolution, list(meta.first_frame_states.values()),
                       getattr(torch, meta.precision), opset, device)
    embed_onnx_metadata(output, meta)


def write_torchscript(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    from .torchscript import export_torchscript
    export_torchscript(model, output, getattr(torch, meta.precision))


def write_openvino(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    from .openvino import export_openvino, ir_from_onnx
    if meta.precision == 'int8':
        with tempfile.TemporaryDirectory() as tmp:
            write_int8_onnx(model, os.path.join(tmp, 'int8.onnx'))
            ir_from_onnx(os.path.join(tmp, 'int8.onnx'), output)
    else:
        export_openvino(model, output, meta.precision == 'float16')


def write_tensorflow(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    from .tensorflow import export_tensorflow
    export_tensorflow(model, output, meta)


def write_tfjs(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    from .tensorflow import export_tfjs
    export_tfjs(model, output, meta)


def write_coreml(model: MattingNetwork, output: str, meta: ExportMetadata) -> None:
    from .coreml import export_coreml
    export_coreml(model, output, meta)


def write_web(model: MattingNetwork, output: str, meta: ExportMetadata, opset: int, device: str) -> None:
    from .web import export_web
    export_web(model, output, meta.checkpoint, opset, device)


WRITERS: Dict[str, Writer] = {
    'onnx': write_onnx,
    'onnx-static': write_onnx_static,
    'torchscript': write_torchscript,
    'openvino': write_openvino,
    'tensorflow': write_tensorflow,
    'tflite': write_tensorflow,
    'tfjs': write_tfjs,
    'coreml': write_coreml,
    'web': write_web,
}


def export(fmt: str, model: MattingNetwork, output: str, precision: str = 'float32',
           resolution: Optional[Tuple[int, int]] = None, ratio: Optional[float] = None,
           checkpoint: Optional[str] = None, opset: Optional[int] = None,
           device: Optional[str] = None) -> ExportMetadata:
    """Write `model` as `fmt` to `output` and its metadata to `output + '.json'`; returns the metadata.
    `opset` and `device` (default `DEFAULT_OPSET`, and CUDA when available, else the CPU, as for every
    tool's --device) are for the formats that write ONNX.
    Options are assumed valid (`formats.check_request`)."""
    if resolution is not None:
        states = first_frame_state_shapes(model, *resolution, ratio)
    else:
        states = [[1, 1, 1, 1]] * 4  # broadcast by the graph on the first frame
    inputs: Sequence[str] = INPUT_NAMES + (['downsample_ratio'] if ratio is None else [])
    meta = describe(fmt, model, precision, checkpoint, resolution, ratio, states, inputs=inputs)
    onnx_options = {'opset': opset or DEFAULT_OPSET, 'device': device or str(default_device())} \
        if FORMATS[fmt].onnx else {}
    WRITERS[fmt](model.eval(), output, meta, **onnx_options)
    meta.write(output)
    return meta
