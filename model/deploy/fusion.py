"""Convolutions as single kernels: batch norm folded in, the activation (and a residual add) fused.

`FusedConv2d` runs a convolution and its activation as one oneDNN call on the CPU
(`torch.ops.mkldnn._convolution_pointwise`, the kernels inductor uses), so the activation costs no
extra pass over the feature map; elsewhere (CUDA) the same module runs `F.conv2d` and the activation.
Optionally the convolution computes in bfloat16 (float32 accumulation).
"""
from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.ops.misc import SqueezeExcitation

# activation modules that oneDNN can fuse into a convolution, by its name for them
ACTIVATIONS: Dict[type, str] = {nn.ReLU: 'relu', nn.Hardswish: 'hardswish', nn.Hardsigmoid: 'hardsigmoid',
                                nn.Sigmoid: 'sigmoid', nn.Tanh: 'tanh'}
FALLBACK: Dict[str, Callable[[Tensor], Tensor]] = {
    'none': lambda x: x, 'relu': F.relu, 'hardswish': F.hardswish, 'hardsigmoid': F.hardsigmoid,
    'sigmoid': torch.sigmoid, 'tanh': torch.tanh}


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


class FusedConv2d(nn.Module):
    """`activation(conv(x) [+ other])` in one kernel (oneDNN) when `onednn`, else in two.

    Args:
        conv: the convolution (zero padding); `weight`/`bias` override its tensors (split weights).
        activation: 'none' or a key of FALLBACK. With `other` only 'none' and 'relu' fuse.
        dtype: the compute dtype (weights are stored in it; default theirs); inputs are cast to it,
            outputs are in it.

    Input `[N, C_in, H, W]`, `other` (added before the activation) `[N, C_out, H', W']`; output
    `[N, C_out, H', W']`, channels_last when the input is.
    """

    def __init__(self, conv: nn.Conv2d, activation: str = 'none', dtype: Optional[torch.dtype] = None,
                 onednn: bool = False,
                 weight: Optional[Tensor] = None, bias: Optional[Tensor] = None, use_bias: bool = True):
        super().__init__()
        if conv.padding_mode != 'zeros' or isinstance(conv.padding, str):
            raise ValueError('FusedConv2d needs numeric zero padding')
        weight = conv.weight if weight is None else weight
        bias = (conv.bias if bias is None else bias) if use_bias else None
        dtype = dtype or weight.dtype
        self.weight = nn.Parameter(weight.detach().to(dtype).contiguous(memory_format=torch.channels_last),
                                   requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().to(dtype), requires_grad=False)
        self.stride, self.padding, self.dilation = list(conv.stride), list(conv.padding), list(conv.dilation)
        self.groups, self.activation, self.onednn = conv.groups, activation, onednn

    def forward(self, x: Tensor, other: Optional[Tensor] = None) -> Tensor:
        x = x.to(self.weight.dtype)
        if self.onednn and other is None:
            y = torch.ops.mkldnn._convolution_pointwise(x, self.weight, self.bias, self.padding, self.stride,
                                                        self.dilation, self.groups, self.activation, [], '')
        elif self.onednn and self.activation in ('none', 'relu'):
            y = torch.ops.mkldnn._convolution_pointwise.binary(
                x, other.to(x.dtype), self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups,
                'add', None, None if self.activation == 'none' else 'relu', [], '')
        else:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
            y = FALLBACK[self.activation](y if other is None else y + other)
        return y


def fuse_convolutions(module: nn.Module, onednn: bool) -> nn.Module:
    """Replace every `Conv2d` in `module` (batch norms already folded) by a `FusedConv2d`, taking in
    the activation that follows it in an `nn.Sequential` (past folded batch norms) or in a
    squeeze-excitation block. In place."""
    for parent in list(module.modules()):
        if isinstance(parent, SqueezeExcitation):
            parent.fc1 = FusedConv2d(parent.fc1, ACTIVATIONS[type(parent.activation)], onednn=onednn)
            parent.fc2 = FusedConv2d(parent.fc2, ACTIVATIONS[type(parent.scale_activation)], onednn=onednn)
            parent.activation, parent.scale_activation = nn.Identity(), nn.Identity()
            continue
        children = list(parent.named_children())
        for i, (name, child) in enumerate(children):
            if not isinstance(child, nn.Conv2d):
                continue
            activation = 'none'
            if isinstance(parent, nn.Sequential):
                following = list(children[i + 1:])
                while following and isinstance(following[0][1], nn.Identity):
                    following.pop(0)
                if following and type(following[0][1]) in ACTIVATIONS:
                    activation = ACTIVATIONS[type(following[0][1])]
                    setattr(parent, following[0][0], nn.Identity())
            setattr(parent, name, FusedConv2d(child, activation, onednn=onednn))
    return module


class FusedInvertedResidual(nn.Module):
    """torchvision's `InvertedResidual` with its residual added inside the projecting convolution.

    Takes the block after `fuse_convolutions`: its last layer is a `FusedConv2d` (no activation)
    followed by folded batch norms. Input and output `[N, C, H, W]` (spatial size per its stride).
    """

    def __init__(self, block: nn.Module):
        super().__init__()
        *self.layers, last = list(block.block)
        self.layers = nn.Sequential(*self.layers)
        self.project, *rest = list(last)
        if not isinstance(self.project, FusedConv2d) or self.project.activation != 'none' \
                or not all(isinstance(m, nn.Identity) for m in rest):
            raise ValueError('expected the projection to be a FusedConv2d without activation')
        self.residual = block.use_res_connect

    def forward(self, x: Tensor) -> Tensor:
        return self.project(self.layers(x), x if self.residual else None)
