"""Export RVM to ONNX with a runtime `downsample_ratio` input.

    python export_onnx.py --model-variant mobilenetv3 --checkpoint rvm_mobilenetv3.pth \\
        --precision float32 --output rvm_mobilenetv3_fp32.onnx

The graph has the inputs and outputs of the published ONNX models:

    inputs   src               [B, 3, H, W]   RGB in 0..1 (float32, or float16 for --precision float16)
             r1i, r2i, r3i, r4i                recurrent states; zeros [1, 1, 1, 1] for the first frame
             downsample_ratio  [1] float32    read at run time: one file serves every resolution
    outputs  fgr [B, 3, H, W], pha [B, 1, H, W], r1o, r2o, r3o, r4o (feed them back as r1i..r4i)

B, H and W are dynamic. The refiner always runs, also at `downsample_ratio` 1 (where PyTorch skips
it), so outputs at ratio 1 differ slightly from `MattingNetwork`; at any other ratio they match it.

How: `torch.export` cannot follow a tensor whose size depends on a value in another tensor, so the
network is exported from the downsampled frame onward (`src_sm` is a second image input with its
own dynamic size), and the ONNX `Resize` that computes `src_sm` from `src` and `downsample_ratio`
is then put in front of the graph in place of that input. Without a checkpoint, the published
weights are downloaded through torch.hub's cache.
"""
from typing import List

import onnx
import torch
from onnx import TensorProto, helper
from torch import Tensor, nn

from model import MattingNetwork
from model.checkpoint import model_argument_parser, model_from_arguments

INPUT_NAMES = ['src', 'r1i', 'r2i', 'r3i', 'r4i', 'downsample_ratio']
OUTPUT_NAMES = ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o']
DEFAULT_OPSET = 18


class DownsampledMattingNetwork(nn.Module):
    """`MattingNetwork` on single frames, from the already downsampled frame onward.

    Takes `src` `[B, 3, H, W]`, the states r1..r4 (broadcastable to `[B, C, h_i, w_i]`) and `src_sm`
    `[B, 3, h, w]`, the bilinearly downsampled `src`; returns `[fgr, pha, r1, r2, r3, r4]`, always
    refined to the size of `src`. This is the graph that `export_onnx` completes with a Resize.
    """

    def __init__(self, model: MattingNetwork):
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, r1: Tensor, r2: Tensor, r3: Tensor, r4: Tensor, src_sm: Tensor) -> List[Tensor]:
        m = self.model
        f1, f2, f3, f4 = m.backbone(src_sm)
        hid, r1, r2, r3, r4 = m.decoder(src_sm, f1, f2, f3, m.aspp(f4), r1, r2, r3, r4, 0)
        fgr_residual, pha = m.project_mat(hid).split([3, 1], dim=1)
        fgr_residual, pha = m.refiner(src, src_sm, fgr_residual, pha, hid)
        return [(fgr_residual + src).clamp(0., 1.), pha.clamp(0., 1.), r1, r2, r3, r4]


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


def export_onnx(model: MattingNetwork, output: str, opset: int = DEFAULT_OPSET,
                device: str = 'cpu', dtype: torch.dtype = torch.float32) -> onnx.ModelProto:
    """Export `model` to `output` (see the module docstring for the graph's interface) and return it."""
    core = DownsampledMattingNetwork(model).eval().to(device=device, dtype=dtype)
    src = torch.rand(1, 3, 144, 256, device=device, dtype=dtype)
    states = [torch.zeros(1, 1, 1, 1, device=device, dtype=dtype) for _ in range(4)]  # distinct objects
    src_sm = torch.rand(1, 3, 72, 128, device=device, dtype=dtype)
    batch, height, width = torch.export.Dim('batch'), torch.export.Dim('height'), torch.export.Dim('width')
    small = {0: batch, 2: torch.export.Dim('downsampled_height'), 3: torch.export.Dim('downsampled_width')}
    with torch.no_grad():
        program = torch.onnx.export(
            core, (src, *states, src_sm),
            input_names=INPUT_NAMES[:5] + ['src_sm'], output_names=OUTPUT_NAMES, opset_version=opset,
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
    nodes = resize_by_ratio_nodes('src', 'downsample_ratio', 'src_sm') + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)

    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, output)
    return proto


def main(argv=None):
    parser = model_argument_parser(__doc__)
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    parser.add_argument('--device', default='cpu', help='device to export on; float16 usually needs cuda')
    parser.add_argument('--output', required=True, help='the .onnx file to write')
    args = parser.parse_args(argv)

    model = model_from_arguments(args)
    export_onnx(model, args.output, args.opset, args.device, getattr(torch, args.precision))
    print(f'wrote {args.output} (opset {args.opset}, {args.precision})')


if __name__ == '__main__':
    main()
