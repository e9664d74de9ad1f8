"""Traced TorchScript to a CoreML ML program with coremltools; runs in .venv-coreml (which sees
the main .venv's torch). `exporters/coreml.py` writes the traced file and calls it.

    .venv-coreml/bin/python -m exporters.coreml_convert TRACED.pt OUTPUT.mlpackage float32|float16|uint8 META.json
    .venv-coreml/bin/python -m exporters.coreml_convert --describe OUTPUT.mlpackage

uint8: the weights stored in 8 bits (coremltools' linear weight quantization, per output channel,
asymmetric), dequantized when the model loads, the arithmetic float32. The second form prints the
spec (names, shapes, types, deployment target, the program's operations) as JSON: what can be
checked on Linux, where CoreML cannot predict.
"""
import json
import sys
from collections import Counter

import coremltools as ct
import numpy as np
import torch
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.frontend.torch.ops import _get_inputs
from coremltools.converters.mil.frontend.torch.torch_op_registry import register_torch_op
from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

INPUTS = ['src', 'r1i', 'r2i', 'r3i', 'r4i']
OUTPUTS = ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o']
TARGET = ct.target.iOS15  # the oldest that runs ML programs (macOS 12)
TARGET_8BIT = ct.target.iOS16  # the oldest with constexpr_affine_dequantize, the 8-bit weights' op (macOS 13)


@register_torch_op
def addcmul(context, node):
    """`input + value * tensor1 * tensor2` (the guided filter's `A * x + b`), which coremltools lacks."""
    base, tensor1, tensor2, value = _get_inputs(context, node, expected=4)
    product = mb.mul(x=tensor1, y=tensor2)
    if value.val is None or value.val != 1:
        product = mb.mul(x=product, y=value)
    context.add(mb.add(x=base, y=product, name=node.name))


def convert(traced_path: str, output: str, precision: str, meta_path: str) -> None:
    meta = json.loads(open(meta_path).read())
    width, height = meta['resolution']
    shapes = {'src': [1, 3, height, width], **meta['first_frame_states']}
    model = ct.convert(
        torch.jit.load(traced_path), convert_to='mlprogram',
        minimum_deployment_target=TARGET_8BIT if precision == 'uint8' else TARGET,
        inputs=[ct.TensorType(name=name, shape=shapes[name]) for name in INPUTS],
        outputs=[ct.TensorType(name=name) for name in OUTPUTS],
        compute_precision=ct.precision.FLOAT16 if precision == 'float16' else ct.precision.FLOAT32)
    if precision == 'uint8':
        model = quantize_weights(model)
    model.user_defined_metadata.update({key: json.dumps(value) for key, value in meta.items()})
    model.save(output)


def quantize_weights(model: ct.models.MLModel) -> ct.models.MLModel:
    """Every weight of 2048 values or more (coremltools' default threshold: the convolutions) in uint8,
    a scale and zero point per output channel."""
    config = OptimizationConfig(global_config=OpLinearQuantizerConfig(mode='linear', dtype='uint8'))
    # channels whose weights are all zero (the released weights have some) divide 0 by 0 in coremltools;
    # they get scale 0, so they stay exactly zero, and the warning says nothing
    with np.errstate(divide='ignore', invalid='ignore'):
        return linear_quantize_weights(model, config)


def describe(path: str) -> dict:
    spec = ct.utils.load_spec(path)
    features = lambda items: {f.name: {'shape': list(f.type.multiArrayType.shape),
                                       'type': ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(
                                           f.type.multiArrayType.dataType)} for f in items}
    blocks = spec.mlProgram.functions['main'].block_specializations.values()
    return {'specification_version': spec.specificationVersion, 'model_type': spec.WhichOneof('Type'),
            'inputs': features(spec.description.input), 'outputs': features(spec.description.output),
            'metadata': dict(spec.description.metadata.userDefined),
            'operations': Counter(op.type for block in blocks for op in block.operations)}


if __name__ == '__main__':
    if sys.argv[1:2] == ['--describe'] and len(sys.argv) == 3:
        print(json.dumps(describe(sys.argv[2])))
    elif len(sys.argv) == 5:
        convert(*sys.argv[1:])
    else:
        sys.exit(__doc__)
