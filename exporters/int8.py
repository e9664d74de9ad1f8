"""8-bit post-training quantization of the dynamic ONNX graph (`onnx_dynamic.export_onnx`), for CPUs.

    quantize_onnx('rvm_fp32.onnx', 'rvm_int8.onnx', calibration.calibration_feeds('rvm_fp32.onnx'))
    export_openvino_int8('rvm_int8.onnx', 'rvm_int8.xml')

ONNX Runtime's static quantization in QDQ form: the decoder's and the LR-ASPP's convolutions, their
weights per channel (int8), their inputs per tensor (uint8, asymmetric), scales from the min and
max each tensor reaches over the chained calibration frames (`calibration.py`). The same file runs in ONNX Runtime and, converted,
in OpenVINO (which turns the QDQ pairs into its own int8 kernels): one calibration for both
runtimes. What stays float and why (measured on the real clips; documentation/inference.md, "8-bit"):
every operation other than a convolution (the ConvGRU's gates and state update, the resizes,
the additions and multiplications), and the modules in `FLOAT_MODULES`.
"""
import ast
from typing import TYPE_CHECKING, Iterable, List

from .calibration import Feed

if TYPE_CHECKING:  # onnx only where a graph is quantized: tf_build.py reads FLOAT_MODULES in .venv-export, without it
    import onnx

# Modules kept in float32 (documentation/inference.md, "8-bit": measured on a held-out real clip):
# the encoder (quantized, it moved alpha's 99th percentile by 20/255; its first convolution alone by
# half of that; and its depthwise convolutions ran no faster in 8 bits on an AVX2 CPU), the refiner
# (the guided filter's `cov / (var + eps)` amplifies any change of its inputs) and the output head
# (the foreground residual and alpha themselves). The decoder and the LR-ASPP are quantized.
FLOAT_MODULES = ('backbone', 'refiner', 'project_mat', 'project_seg')
RECIPE = 'qdq-conv-u8s8-perchannel-minmax-decoder-v1'  # part of the cache key: change it when the recipe changes


def module_path(node: 'onnx.NodeProto') -> List[str]:
    """The module scopes `torch.onnx.export` recorded for `node` ('model.decoder.decode1', ...), or []."""
    for prop in node.metadata_props:
        if prop.key == 'pkg.torch.onnx.name_scopes':
            return [scope for scope in ast.literal_eval(prop.value) if scope]
    return []


def float_nodes(proto: 'onnx.ModelProto', modules: Iterable[str] = FLOAT_MODULES) -> List[str]:
    """The names of the nodes of `proto` inside `modules` (children of the exported network)."""
    modules = set(modules)
    return [node.name for node in proto.graph.node
            if any(len(parts) > 1 and parts[1] in modules for parts in (s.split('.') for s in module_path(node)))]


class _Feeds:
    """ONNX Runtime's CalibrationDataReader over a list of feeds."""

    def __init__(self, feeds: List[Feed]):
        self.feeds = iter(feeds)

    def get_next(self):
        return next(self.feeds, None)


def quantize_onnx(float_onnx: str, output: str, feeds: List[Feed]) -> None:
    """Write the 8-bit (QDQ) form of `float_onnx` to `output`, calibrated on `feeds` (`calibration.py`)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, \
        quantize_static

    class Reader(_Feeds, CalibrationDataReader):
        pass

    quantize_static(float_onnx, output, Reader(feeds), quant_format=QuantFormat.QDQ, op_types_to_quantize=['Conv'],
                    per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    nodes_to_exclude=float_nodes(onnx.load(float_onnx)), calibrate_method=CalibrationMethod.MinMax)
