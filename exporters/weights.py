"""Smaller ONNX files for the browser: the convolution weights stored in float16 or 8 bits, turned back
into float32 by constant nodes that ONNX Runtime folds when it loads the file, so every back end
computes in float32 and only the download shrinks (as the original TF.js release stored uint8 weights).

8 bits: per tensor, affine, `w = q * scale + low` with q in 0..255, the tensor's minimum and maximum
mapped to 0 and 255, as the original release quantised (its weights, ../shared/real's, already lie on
such a grid). The convolution weights are 99.5% of the MobileNetV3 graph's numbers; biases and the
rest stay float32.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

WEIGHT_PRECISIONS = ('float32', 'float16', 'uint8')


def conv_weight_names(proto: onnx.ModelProto) -> list:
    """The initializers that are a convolution's weight (input 1), in graph order, each once."""
    initializers = {i.name for i in proto.graph.initializer}
    names = [node.input[1] for node in proto.graph.node if node.op_type == 'Conv' and node.input[1] in initializers]
    return list(dict.fromkeys(names))


def quantize_uint8(weight: np.ndarray):
    """(q uint8, scale, low), the last two float32 scalars, with `q * scale + low` ~ weight."""
    low, high = np.float32(weight.min()), np.float32(weight.max())
    scale = np.float32((high - low) / 255 if high > low else 1)
    q = np.clip(np.round((weight - low) / scale), 0, 255).astype(np.uint8)
    return q, np.array(scale, np.float32), np.array(low, np.float32)


def store_weights(proto: onnx.ModelProto, precision: str) -> onnx.ModelProto:
    """`proto` with its convolution weights stored in `precision` and restored to float32 by constant
    nodes in front of the graph. Edits and returns `proto`."""
    if precision == 'float32':
        return proto
    graph = proto.graph
    initializers = {i.name: i for i in graph.initializer}
    restore = []
    for name in conv_weight_names(proto):
        weight = numpy_helper.to_array(initializers[name])
        graph.initializer.remove(initializers[name])
        if precision == 'float16':
            graph.initializer.append(numpy_helper.from_array(weight.astype(np.float16), f'{name}_f16'))
            restore.append(helper.make_node('Cast', [f'{name}_f16'], [name], to=TensorProto.FLOAT))
        else:
            q, scale, low = quantize_uint8(weight)
            graph.initializer.extend([numpy_helper.from_array(q, f'{name}_u8'),
                                      numpy_helper.from_array(scale, f'{name}_scale'),
                                      numpy_helper.from_array(low, f'{name}_low')])
            restore += [helper.make_node('Cast', [f'{name}_u8'], [f'{name}_u8f'], to=TensorProto.FLOAT),
                        helper.make_node('Mul', [f'{name}_u8f', f'{name}_scale'], [f'{name}_scaled']),
                        helper.make_node('Add', [f'{name}_scaled', f'{name}_low'], [name])]
    nodes = restore + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(proto, full_check=True)
    return proto
