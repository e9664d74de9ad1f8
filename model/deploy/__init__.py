"""The inference path for deployment: what convert_video runs by default.

`prepare_for_inference(model, device, dtype, ...)` returns a copy of a `MattingNetwork` rewritten
for speed, with the same forward signature and the same outputs (see tests/test_deploy.py):

- Batch norm is folded into the preceding convolution (`fusion.fold_batch_norms`).
- One memory format, channels_last (which oneDNN and cuDNN convolve fastest), from the first
  convolution to the refiner: the downsampled frame is converted once (`network.py`).
- With `onednn_fusions` (CPUs), every convolution runs with its activation, and in the encoder's
  inverted residual blocks with the residual add, as one oneDNN kernel (`fusion.py`).
- The decoder runs without concatenating its outputs, with its ConvGRUs' weights split so the
  input halves run once per chunk (`decoder.py`); the refiner's full-resolution tail takes three
  passes instead of eight (`network.refine_and_clamp`).
- With `bfloat16_convolutions` (opt-in; float32 models on CPUs with native bfloat16 arithmetic:
  `cpu_has_native_bfloat16`), the decoder blocks of `BFLOAT16_BLOCKS` convolve in bfloat16 with
  float32 accumulation and keep their feature maps in bfloat16; the recurrent states, the gates'
  arithmetic, the encoder, the other decoder blocks and the refiner stay float32. Outputs then
  differ from float32 by at most `BFLOAT16_TOLERANCE` (tests/test_deploy.py). Why it is opt-in
  and why those blocks: documentation/inference.md, "The deployment path".
- With `cuda_graphs` the whole frame is replayed as one CUDA graph (`cuda_graphs.CUDAGraphRunner`).

Which of these a device gets is decided in one place, `streaming.device.Placement`; this package
does what it is told. No compilation: the prepared model is ready in well under a second.
"""
import copy
from typing import Union

import torch
from torch import nn
from torchvision.models.mobilenetv3 import InvertedResidual

from ..model import MattingNetwork
from .cuda_graphs import CUDAGraphRunner
from .decoder import SplitRecurrentDecoder
from .fusion import FusedConv2d, FusedInvertedResidual, fold_batch_norms, fuse_convolutions
from .network import DeployedMattingNetwork

__all__ = ['BFLOAT16_BLOCKS', 'BFLOAT16_TOLERANCE', 'CUDAGraphRunner', 'DeployedMattingNetwork', 'FusedConv2d',
           'cpu_has_native_bfloat16', 'fold_batch_norms', 'onednn_convolves_bfloat16', 'prepare_for_inference']

BFLOAT16_TOLERANCE = 4e-2  # max abs difference of fgr and pha from float32 with bfloat16 convolutions (above)
BFLOAT16_BLOCKS = ('decode4', 'decode3', 'decode0')  # the decoder blocks that may convolve in bfloat16 (above)


def onednn_convolves_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 convolutions on this CPU at all: it needs AVX512BW, VL and DQ, or
    AVX-NE-CONVERT, and refuses otherwise (PyTorch's own check, the one its error message names)."""
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def cpu_has_native_bfloat16() -> bool:
    """Whether the opt-in bfloat16 convolutions are worth running here: oneDNN takes them
    (`onednn_convolves_bfloat16`) and the CPU computes bfloat16 in hardware (AVX512-BF16 or AMX)
    instead of emulating it with float32 arithmetic, which is slower than float32 itself."""
    return onednn_convolves_bfloat16() and (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def prepare_for_inference(model: nn.Module, device: Union[str, torch.device], dtype: torch.dtype,
                          bfloat16_convolutions: bool = False, cuda_graphs: bool = False,
                          onednn_fusions: bool = False) -> nn.Module:
    """Return a module with MattingNetwork's forward signature, ready to run on `device` in `dtype`.

    For a `MattingNetwork` this is a rewritten copy (the argument is left untouched, see the
    package docstring): `bfloat16_convolutions` for float32 models on CPUs with native bfloat16,
    `cuda_graphs` on CUDA, `onednn_fusions` where oneDNN runs the convolutions (the CPU). Which of
    these a device gets is decided by `streaming.device.Placement`. Any other module (e.g. a
    TorchScript file) is only moved to `device` and `dtype` and put in eval mode. A model this
    function already prepared is returned as it is (convert_video may be handed one), and refused
    for another device or dtype.
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
    if onednn_fusions and not torch.backends.mkldnn.is_available():
        raise ValueError('onednn_fusions needs a PyTorch built with oneDNN (mkldnn)')
    if bfloat16_convolutions and onednn_fusions and not onednn_convolves_bfloat16():
        raise ValueError('bfloat16 convolutions with onednn_fusions need a CPU that oneDNN convolves bfloat16 on '
                         '(AVX512BW, VL and DQ, or AVX-NE-CONVERT); this one has neither')
    model = fold_batch_norms(copy.deepcopy(model).eval())
    model.to(device=device, dtype=dtype)
    model.decoder = SplitRecurrentDecoder(model.decoder, onednn_fusions,
                                          BFLOAT16_BLOCKS if bfloat16_convolutions else ())
    for part in (model.backbone, model.aspp, model.project_mat, model.project_seg, model.refiner):
        fuse_convolutions(part, onednn_fusions)
    for parent in list(model.backbone.modules()):
        for name, child in parent.named_children():
            if isinstance(child, InvertedResidual):
                setattr(parent, name, FusedInvertedResidual(child))
    model.to(memory_format=torch.channels_last)
    model.__class__ = DeployedMattingNetwork
    model.prepared_for = (device, dtype)
    return CUDAGraphRunner(model) if cuda_graphs else model
