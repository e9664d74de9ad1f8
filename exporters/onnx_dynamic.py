"""Export RVM to ONNX with a runtime `downsample_ratio` input: `export.py --format onnx`.

    python export.py --format onnx --checkpoint rvm_mobilenetv3.pth --precision float32 \\
        --output rvm_mobilenetv3_fp32.onnx

Named for its dynamic ratio (against `onnx_static.py`), and not `onnx.py`, which would read as the
`onnx` package it imports. The graph has the inputs and outputs of the published ONNX models:

    inputs   src               [B, 3, H, W]   RGB in 0..1 (float32, or float16 for --precision float16)
             r1i, r2i, r3i, r4i                recurrent states; zeros [1, 1, 1, 1] for the first frame
             downsample_ratio  [1] float32    read at run time: one file serves every resolution
    outputs  fgr [B, 3, H, W], pha [B, 1, H, W], r1o, r2o, r3o, r4o (feed them back as r1i..r4i)

B, H and W are dynamic. As in `MattingNetwork`, outputs at `downsample_ratio` 1 are not refined
(an `If` node picks them; the refiner is still computed there, at full resolution).

How: `torch.export` cannot follow a tensor whose size depends on a value in another tensor, so the
network is exported from the downsampled frame onward (`src_sm` is a second image input with its
own dynamic size), and the ONNX `Resize` that computes `src_sm` from `src` and `downsample_ratio`
is then put in front of the graph in place of that input. `onnx_runner.OnnxMatting` runs it.
"""
from typing import List

import onnx
import torch
from onnx import TensorProto, helper
from torch import Tensor, nn

from model import MattingNetwork

from .formats import DEFAULT_OPSET, MIN_OPSET

INPUT_NAMES = ['src', 'r1i', 'r2i', 'r3i', 'r4i', 'downsample_ratio']
OUTPUT_NAMES = ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o']


class DownsampledMattingNetwork(nn.Module):
    """`MattingNetwork` on single frames, from the already downsampled frame onward.

    Takes `src` `[B, 3, H, W]`, the states r1..r4 (broadcastable to `[B, C, h_i, w_i]`) and `src_sm`
    `[B, 3, h, w]`, the bilinearly downsampled `src`. Returns `[fgr, pha, r1, r2, r3, r4]` refined to
    the size of `src`, followed by the unrefined `fgr` `[B, 3, h, w]` and `pha` `[B, 1, h, w]` (what
    MattingNetwork returns at ratio 1). This is the graph that `export_onnx` completes.
    """

    def __init__(self, model: MattingNetwork):
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, r1: Tensor, r2: Tensor, r3: Tensor, r4: Tensor, src_sm: Tensor) -> List[Tensor]:
        hid, r1, r2, r3, r4 = self.model.hidden(src_sm, r1, r2, r3, r4, 0)
        fgr, pha = self.model.matte(src, src_sm, hid, True)
        fgr_sm, pha_sm = self.model.matte(src_sm, src_sm, hid, False)
        return [fgr, pha, r1, r2, r3, r4, fgr_sm, pha_sm]


def resize_by_ratio_nodes(src: str, ratio: str, output: str) -> List[onnx.NodeProto]:
    """ONNX nodes for `output = F.interpolate(src, scale_factor=ratio, mode='bilinear',
    align_corners=False, recompute_scale_factor=False)`, with `ratio` a float32 tensor [1]."""
    return [
        helper.make_node('Constant', [], ['rvm_batch_channel_scales'],
                         value=helper.make_tensor('value', TensorProto.FLOAT, [2], [1.0, 1.0])),
        helper.make_node('Concat', ['rvm_batch_channel_scales', ratio, ratio], ['rvm_scales'], axis=0),
        helper.make_node('Resize', [src, '', 'rvm_scales'], [output], mode='linear',
                         coordinate_transformation_mode='half_pixel'),
    ]


def skip_refiner_at_ratio_one_nodes(ratio: str, refined: List[str], unrefined: List[str],
                                    outputs: List[str], elem_type: int) -> List[onnx.NodeProto]:
    """ONNX nodes for `outputs = unrefined if ratio == 1 else refined`, as MattingNetwork does."""
    def branch(name, sources):
        results = [f'rvm_{name}_{output}' for output in outputs]
        return helper.make_graph([helper.make_node('Identity', [s], [r]) for s, r in zip(sources, results)], name, [],
                                 [helper.make_tensor_value_info(r, elem_type, None) for r in results])
    return [
        helper.make_node('Constant', [], ['rvm_one'], value=helper.make_tensor('value', TensorProto.FLOAT, [1], [1.0])),
        helper.make_node('Equal', [ratio, 'rvm_one'], ['rvm_ratio_is_one']),
        helper.make_node('If', ['rvm_ratio_is_one'], outputs, then_branch=branch('unrefined', unrefined),
                         else_branch=branch('refined', refined)),
    ]


def export_onnx(model: MattingNetwork, output: str, opset: int = DEFAULT_OPSET,
                device: str = 'cpu', dtype: torch.dtype = torch.float32) -> onnx.ModelProto:
    """Export `model` to `output` (see the module docstring for the graph's interface) and return it."""
    if opset < MIN_OPSET:
        raise ValueError(f'opset {opset} is not supported: torch {torch.__version__} exports opset {MIN_OPSET} '
                         f'or newer (ONNX Runtime reads it from version 1.14)')
    core = DownsampledMattingNetwork(model).eval().to(device=device, dtype=dtype)
    src = torch.rand(1, 3, 144, 256, device=device, dtype=dtype)
    states = [torch.zeros(1, 1, 1, 1, device=device, dtype=dtype) for _ in range(4)]  # distinct objects
    src_sm = torch.rand(1, 3, 72, 128, device=device, dtype=dtype)
    batch, height, width = torch.export.Dim('batch'), torch.export.Dim('height'), torch.export.Dim('width')
    small = {0: batch, 2: torch.export.Dim('downsampled_height'), 3: torch.export.Dim('downsampled_width')}
    with torch.no_grad():
        program = torch.onnx.export(
            core, (src, *states, src_sm),
            input_names=INPUT_NAMES[:5] + ['src_sm'], opset_version=opset,
            output_names=['fgr_refined', 'pha_refined'] + OUTPUT_NAMES[2:] + ['fgr_unrefined', 'pha_unrefined'],
            dynamic_shapes=({0: batch, 2: height, 3: width}, None, None, None, None, small))
    proto = program.model_proto  # a fresh copy on every access: edit this one
    graph = proto.graph
    for state in graph.input[1:5]:  # traced with zeros [1, 1, 1, 1], fed back as [B, C, h, w]
        for axis, dim in enumerate(state.type.tensor_type.shape.dim):
            dim.dim_param = f'{state.name}_{"bchw"[axis]}'
    src_sm_input = next(i for i in graph.input if i.name == 'src_sm')
    ratio_input = helper.make_tensor_value_info('downsample_ratio', TensorProto.FLOAT, [1])
    graph.input.remove(src_sm_input)
    graph.input.append(ratio_input)
    # fgr and pha: the refined outputs, or the unrefined ones at ratio 1
    outputs = [onnx.ValueInfoProto() for _ in OUTPUT_NAMES]
    for value, traced in zip(outputs, graph.output):
        value.CopyFrom(traced)
    refined, unrefined = [v.name for v in graph.output[:2]], [v.name for v in graph.output[6:]]
    for value, name in zip(outputs, OUTPUT_NAMES):
        value.name = name
    del graph.output[:]
    graph.output.extend(outputs)
    nodes = (resize_by_ratio_nodes('src', 'downsample_ratio', 'src_sm') + list(graph.node)
             + skip_refiner_at_ratio_one_nodes('downsample_ratio', refined, unrefined, OUTPUT_NAMES[:2],
                                               outputs[0].type.tensor_type.elem_type))
    del graph.node[:]
    graph.node.extend(nodes)

    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, output)
    return proto
