"""A ratio-baked ONNX graph: the `downsample_ratio` input and the `If` gone, shapes folded by onnxslim.

Two forms, the same inputs `src, r1i..r4i` and outputs `fgr, pha, r1o..r4o`:

- dynamic height and width (`resolution=None`): for TensorRT, which rejects the published graph
  ("network input that is shape tensor must have type Int32") because the float `downsample_ratio`
  feeds the `Resize` scales. Here the scales are constants; states `[1, 1, 1, 1]` broadcast on the
  first frame as before.
- fixed size (`resolution=(W, H)`), batch 1: for NPUs, CoreML and the TensorFlow converters, which
  need every shape known. The states are full-size zeros on the first frame (`first_frame_states`).

Built from `onnx_dynamic.export_onnx`, so the network is the published graph's; the ratio picks the
refined outputs (ratio != 1) or the unrefined ones (ratio 1), as MattingNetwork does.
"""
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import onnx
import onnxslim
import torch
from onnx import TensorProto, helper, numpy_helper

from model import MattingNetwork

from .formats import DEFAULT_OPSET
from .onnx_dynamic import export_onnx


def bake_ratio(proto: onnx.ModelProto, ratio: float) -> onnx.ModelProto:
    """`proto` (`export_onnx`'s graph) with `downsample_ratio` a constant and its `If` replaced by the
    branch that `ratio` takes. Edits and returns `proto`."""
    graph = proto.graph
    ratio_input = next(i for i in graph.input if i.name == 'downsample_ratio')
    graph.input.remove(ratio_input)
    graph.initializer.append(numpy_helper.from_array(torch.tensor([ratio]).numpy(), 'downsample_ratio'))
    choice = next(n for n in graph.node if n.op_type == 'If')
    branch = next(a.g for a in choice.attribute if a.name == ('then_branch' if ratio == 1 else 'else_branch'))
    sources = [node.input[0] for node in branch.node]  # the branch is one Identity per output
    position = list(graph.node).index(choice)
    graph.node.remove(choice)
    for offset, (source, output) in enumerate(zip(sources, choice.output)):
        graph.node.insert(position + offset, helper.make_node('Identity', [source], [output]))
    return proto


def fix_shapes(proto: onnx.ModelProto, width: int, height: int, state_shapes: Sequence[Sequence[int]]) -> onnx.ModelProto:
    """Give `src` the shape `[1, 3, height, width]` and r1i..r4i their full first-frame shapes,
    and drop the output shapes for onnxslim to infer. Edits and returns `proto`."""
    shapes = {'src': [1, 3, height, width], **{f'r{i}i': s for i, s in enumerate(state_shapes, 1)}}
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(dims, shapes[value.name]):
            dim.Clear()
            dim.dim_value = size
    for value in proto.graph.output:
        value.type.tensor_type.ClearField('shape')
    return proto


def export_static_onnx(model: MattingNetwork, output: str, ratio: float,
                       resolution: Optional[Tuple[int, int]] = None,
                       state_shapes: Optional[Sequence[Sequence[int]]] = None,
                       dtype: torch.dtype = torch.float32, opset: int = DEFAULT_OPSET,
                       device: str = 'cpu') -> onnx.ModelProto:
    """Export `model` with `ratio` baked in to `output`: at `resolution` (W, H) with full-size
    `state_shapes` (`metadata.first_frame_state_shapes`), or with dynamic batch, height and width.
    `opset` and `device` are `export_onnx`'s."""
    with tempfile.TemporaryDirectory() as tmp:
        proto = export_onnx(model, str(Path(tmp) / 'dynamic.onnx'), opset, device, dtype)
    bake_ratio(proto, ratio)
    if resolution is not None:
        fix_shapes(proto, *resolution, state_shapes)
    proto = onnxslim.slim(proto)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, output)
    return proto


def tensorrt_problems(proto: onnx.ModelProto) -> List[str]:
    """What TensorRT would reject or fail to fold: `If` nodes, float graph inputs that reach a shape
    computation (Resize scales or sizes, Reshape, Expand, ...). Empty when the graph is ready."""
    problems = [f'If node {n.name!r}' for n in proto.graph.node if n.op_type == 'If']
    shape_slots = {'Resize': (1, 2, 3), 'Reshape': (1,), 'Expand': (1,), 'Tile': (1,), 'Slice': (1, 2, 3, 4),
                   'ConstantOfShape': (0,), 'Range': (0, 1, 2), 'Upsample': (1,)}
    float_inputs = {i.name for i in proto.graph.input if i.type.tensor_type.elem_type in
                    (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16)}
    reached = set(float_inputs) - {'src', 'r1i', 'r2i', 'r3i', 'r4i'}  # the image and states are data
    for node in proto.graph.node:  # nodes are topologically sorted
        if any(name in reached for name in node.input):
            if node.op_type in shape_slots and any(
                    slot < len(node.input) and node.input[slot] in reached for slot in shape_slots[node.op_type]):
                problems.append(f'float input reaches the shape of {node.op_type} {node.name!r}')
            reached.update(node.output)
    return problems
