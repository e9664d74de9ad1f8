"""The inference path for deployment: what convert_video runs by default.

`prepare_for_inference(model, device, dtype)` returns a copy of a `MattingNetwork` rewritten for
speed, with the same forward signature and the same outputs (see tests/test_deploy.py):

- Batch norm is folded into the preceding convolution (one pass over each feature map less).
- All convolutions run in `channels_last` memory format, which oneDNN (CPU) and cuDNN (tensor
  cores) convolve fastest; the source and the full-resolution refiner output stay in the default
  format (the refiner upsamples in it, where resizing few-channel maps is several times faster).
- On CPUs with native bfloat16 arithmetic (AVX512-BF16 or AMX, e.g. Xeon Sapphire Rapids and
  later), for float32 models, the dense 3x3 convolutions (the decoder, its ConvGRUs, and the
  ResNet-50 blocks) take bfloat16 inputs and weights, accumulating in float32; everything else,
  including the recurrent states, stays float32. Outputs then differ from float32 by at most
  `BFLOAT16_TOLERANCE` (1e-2, 2.5 levels of an 8-bit video), checked over chained frames by
  tests/test_deploy.py.
- On CUDA the whole frame is then replayed as one CUDA graph (`CUDAGraphRunner`), which removes
  the per-kernel launch cost that dominates a small network at batch 1.

Which of these a device gets is decided in one place, `streaming.device.Placement`.

No compilation: the prepared model is ready in well under a second, so short clips gain too.
"""
import copy
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .model import MattingNetwork


BFLOAT16_TOLERANCE = 1e-2  # max abs difference of fgr and pha from float32 with bfloat16 convolutions


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX-BF16; read on Linux)."""
    try:
        with open('/proc/cpuinfo') as f:
            flags = next((line.split() for line in f if line.startswith('flags')), [])
    except OSError:
        return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags


class BFloat16Conv2d(nn.Module):
    """A float32 -> float32 convolution computed from bfloat16 inputs and weights (float32 accumulation).

    Input `[N, C_in, H, W]` float32, output `[N, C_out, H', W']` float32, memory format kept.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.weight = nn.Parameter(conv.weight.detach().to(torch.bfloat16), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().to(torch.bfloat16), requires_grad=False)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x.to(torch.bfloat16), self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        return x.float()


def bfloat16_dense_convolutions(module: nn.Module) -> nn.Module:
    """Replace every dense (`groups == 1`) 3x3 `Conv2d` in `module` by a `BFloat16Conv2d`; in place."""
    for parent in list(module.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Conv2d) and child.groups == 1 and child.kernel_size == (3, 3):
                setattr(parent, name, BFloat16Conv2d(child))
    return module


class MemoryFormat(nn.Module):
    """Runs `module` with every tensor argument in `memory_format` (a no-op for tensors already in it).

    Used for the encoder `(x)` and the decoder `(s0, f1, f2, f3, f4, r1, r2, r3, r4, time_steps)`,
    which otherwise would receive the downsampled source and the states in the default format.
    """

    def __init__(self, module: nn.Module, memory_format: torch.memory_format):
        super().__init__()
        self.module = module
        self.memory_format = memory_format

    def forward(self, *args):
        return self.module(*[a.contiguous(memory_format=self.memory_format) if isinstance(a, Tensor) else a
                             for a in args])


def fold_batch_norms(module: nn.Module) -> nn.Module:
    """Fold every `BatchNorm2d` that directly follows a `Conv2d` (in registration order, as in
    `nn.Sequential`, torchvision's `Conv2dNormActivation` and ResNet's `conv1`/`bn1` pairs) into
    that convolution, replacing the batch norm by `nn.Identity`. Eval mode only; in place."""
    for parent in module.modules():
        children = list(parent.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(children, children[1:]):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(parent, bn_name, nn.Identity())
    return module


class CUDAGraphRunner(nn.Module):
    """Runs a MattingNetwork-like `model` on CUDA by replaying captured CUDA graphs.

    One graph is captured per (input shape, dtype, downsample_ratio), on first use: a new resolution
    or ratio costs a few eager runs and a capture, later frames only copy their inputs into the
    graph's buffers and replay it. States may be None, the previous call's states, or anything that
    broadcasts to them (zeros `[1, 1, 1, 1]`). The outputs are fresh tensors (copies of the graph's
    buffers), so they stay valid after the next call. Each graph keeps its own memory. Runs in
    inference mode (its buffers are inference tensors, whatever mode the caller is in).
    """

    def __init__(self, model: nn.Module, warmup: int = 3):
        super().__init__()
        self.model = model
        self.warmup = warmup
        self.graphs: Dict[Tuple, Tuple[torch.cuda.CUDAGraph, Tensor, List[Tensor], List[Tensor]]] = {}

    @torch.inference_mode()
    def forward(self, src: Tensor, r1: Optional[Tensor] = None, r2: Optional[Tensor] = None,
                r3: Optional[Tensor] = None, r4: Optional[Tensor] = None,
                downsample_ratio: float = 1.0) -> List[Tensor]:
        key = (tuple(src.shape), src.dtype, float(downsample_ratio))
        if key not in self.graphs:
            self.graphs[key] = self.capture(src, downsample_ratio)
        graph, static_src, static_states, static_outputs = self.graphs[key]
        static_src.copy_(src)
        for static, state in zip(static_states, (r1, r2, r3, r4)):
            if state is None:
                static.zero_()
            else:
                static.copy_(state)
        graph.replay()
        return [output.clone() for output in static_outputs]

    def capture(self, src: Tensor, downsample_ratio: float):
        static_src = src.clone()
        states = self.model(static_src, downsample_ratio=downsample_ratio)[2:]
        static_states = [torch.zeros_like(state) for state in states]
        side = torch.cuda.Stream()  # warm-up on a side stream, as torch.cuda.graph requires
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.model(static_src, *static_states, downsample_ratio=downsample_ratio)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_outputs = self.model(static_src, *static_states, downsample_ratio=downsample_ratio)
        return graph, static_src, static_states, static_outputs


def prepare_for_inference(model: nn.Module, device: Union[str, torch.device], dtype: torch.dtype,
                          bfloat16_convolutions: bool = False, cuda_graphs: bool = False) -> nn.Module:
    """Return a module with MattingNetwork's forward signature, ready to run on `device` in `dtype`.

    For a `MattingNetwork` this is an optimised copy (the argument is left untouched): batch norm
    folded, convolutions in `channels_last`, with `bfloat16_convolutions` the dense 3x3 convolutions
    in bfloat16 (for float32 models, on CPUs with native bfloat16), with `cuda_graphs` wrapped in
    `CUDAGraphRunner`. Which of these a device gets is decided by `streaming.device.Placement`.
    Any other module (e.g. a TorchScript file) is only moved to `device` and `dtype` and put in
    eval mode. A model this function already prepared is returned as it is (convert_video may be
    handed one), and refused for another device or dtype.
    """
    if not isinstance(model, MattingNetwork):
        return model.eval().to(device=device, dtype=dtype)
    device = torch.device(device)
    prepared_for = getattr(model, 'prepared_for', None)
    if prepared_for is not None:
        if prepared_for != (device, dtype):
            raise ValueError(f'this model was prepared for {prepared_for[0]} {prepared_for[1]}; '
                             f'prepare the original MattingNetwork for {device} {dtype} instead')
        return model
    if bfloat16_convolutions and dtype != torch.float32:
        raise ValueError(f'bfloat16 convolutions are for float32 models, not {dtype}')
    model = fold_batch_norms(copy.deepcopy(model).eval())
    model.to(device=device, dtype=dtype)
    if bfloat16_convolutions:
        bfloat16_dense_convolutions(model)
    model.to(memory_format=torch.channels_last)
    model.backbone = MemoryFormat(model.backbone, torch.channels_last)
    model.decoder = MemoryFormat(model.decoder, torch.channels_last)
    model.prepared_for = (device, dtype)
    return CUDAGraphRunner(model) if cuda_graphs else model
