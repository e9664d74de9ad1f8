"""The inference path for deployment: what convert_video runs by default.

`prepare_for_inference(model, device, dtype)` returns a copy of a `MattingNetwork` rewritten for
speed, with the same forward signature and the same outputs (to float rounding, see
tests/test_deploy.py):

- Batch norm is folded into the preceding convolution (one pass over each feature map less).
- The encoder and decoder run in `channels_last` memory format, which oneDNN (CPU) and cuDNN
  (tensor cores) convolve fastest, while the full-resolution refiner and the downsampling of the
  source stay in the default format: bilinear resizing of 3- and 4-channel images is several
  times slower in `channels_last`.
- On CUDA, `CUDAGraphRunner` can additionally replay the whole frame as one CUDA graph.

No compilation: the prepared model is ready in well under a second, so short clips gain too.
"""
import copy
from typing import List, Optional

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .model import MattingNetwork


class MemoryFormat(nn.Module):
    """Runs `module` with every tensor argument in `memory_format` (a no-op for tensors already in it).

    The wrapped module is called with up to five tensors (and optional tensors) plus an int, which
    covers the encoder `(x)`, the decoder `(s0, f1, f2, f3, f4, r1, r2, r3, r4, time_steps)` and
    the refiner `(fine_src, base_src, base_fgr, base_pha, base_hid)`.
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


def prepare_for_inference(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """Return a module with MattingNetwork's forward signature, ready to run on `device` in `dtype`.

    For a `MattingNetwork` this is an optimised copy (the argument is left untouched): batch norm
    folded, encoder and decoder in `channels_last`. Any other module (e.g. a TorchScript file) is
    only moved to `device` and `dtype` and put in eval mode.
    """
    if not isinstance(model, MattingNetwork):
        return model.eval().to(device=device, dtype=dtype)
    model = fold_batch_norms(copy.deepcopy(model).eval())
    model.to(device=device, dtype=dtype)
    model.backbone = MemoryFormat(model.backbone.to(memory_format=torch.channels_last), torch.channels_last)
    model.aspp.to(memory_format=torch.channels_last)
    model.decoder = MemoryFormat(model.decoder.to(memory_format=torch.channels_last), torch.channels_last)
    model.refiner = MemoryFormat(model.refiner, torch.contiguous_format)
    return model
