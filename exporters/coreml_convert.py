"""Traced TorchScript to a CoreML ML program with coremltools; runs in .venv-coreml (which sees
the main .venv's torch). `exporters/coreml.py` writes the traced file and calls it.

    .venv-coreml/bin/python -m exporters.coreml_convert TRACED.pt OUTPUT.mlpackage float32|float16 META.json
    .venv-coreml/bin/python -m exporters.coreml_convert --describe OUTPUT.mlpackage

The second form prints the spec (names, shapes, types, deployment target) as JSON: what can be
checked on Linux, where CoreML cannot predict.
"""
import json
import sys

import coremltools as ct
import torch
from coremltools.converters.mil import Builder as mb
from coremltools.converters.mil.frontend.torch.ops import _get_inputs
from coremltools.converters.mil.frontend.torch.torch_op_registry import register_torch_op

INPUTS = ['src', 'r1i', 'r2i', 'r3i', 'r4i']
OUTPUTS = ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o']
TARGET = ct.target.iOS15  # the oldest that runs ML programs (macOS 12)


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
        torch.jit.load(traced_path), convert_to='mlprogram', minimum_deployment_target=TARGET,
        inputs=[ct.TensorType(name=name, shape=shapes[name]) for name in INPUTS],
        outputs=[ct.TensorType(name=name) for name in OUTPUTS],
        compute_precision=ct.precision.FLOAT16 if precision == 'float16' else ct.precision.FLOAT32)
    model.user_defined_metadata.update({key: json.dumps(value) for key, value in meta.items()})
    model.save(output)


def describe(path: str) -> dict:
    spec = ct.utils.load_spec(path)
    features = lambda items: {f.name: {'shape': list(f.type.multiArrayType.shape),
                                       'type': ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(
                                           f.type.multiArrayType.dataType)} for f in items}
    return {'specification_version': spec.specificationVersion, 'model_type': spec.WhichOneof('Type'),
            'inputs': features(spec.description.input), 'outputs': features(spec.description.output),
            'metadata': dict(spec.description.metadata.userDefined)}


if __name__ == '__main__':
    if sys.argv[1:2] == ['--describe'] and len(sys.argv) == 3:
        print(json.dumps(describe(sys.argv[2])))
    elif len(sys.argv) == 5:
        convert(*sys.argv[1:])
    else:
        sys.exit(__doc__)
