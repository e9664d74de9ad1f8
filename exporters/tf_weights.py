"""What the TensorFlow graph (`tf_network.py`) is built from: a MattingNetwork's weights as numpy
arrays, written to one .npz for .venv-export (which has no torch).

Every convolution comes with its batch norm folded in and the activation that follows it, found as
the deploy copy finds them (`model.deploy.fusion`), and with its geometry, so that TensorFlow
convolves exactly as PyTorch does without a second copy of the layer settings:

    NAME.weight      OIHW float32               NAME.bias        [O] (when there is one)
    NAME.geometry    [stride h, w, padding h, w, dilation h, w, groups]
    NAME.activation  'none', 'relu', 'hardswish', 'hardsigmoid', 'sigmoid' or 'tanh'

NAME is the PyTorch module's (`backbone.features.0.0`). Also the encoder's buffers
(`backbone.mean`, `backbone.std`, MobileNetV3 only) and the fast guided filter's `refiner.radius`
and `refiner.eps`.
"""
import copy
from typing import Dict

import numpy as np

from model import MattingNetwork
from model.deploy.fusion import FusedConv2d, fold_batch_norms, fuse_convolutions
from model.refiner import FastGuidedFilterRefiner


def network_arrays(model: MattingNetwork) -> Dict[str, np.ndarray]:
    """The arrays above for `model` (float32, on the CPU); raises if a weight is not a convolution's,
    which the TensorFlow graph would leave out."""
    folded = fuse_convolutions(fold_batch_norms(copy.deepcopy(model).cpu().float().eval()), onednn=False)
    arrays: Dict[str, np.ndarray] = {}
    for name, module in folded.named_modules():
        if isinstance(module, FusedConv2d):
            arrays[f'{name}.weight'] = module.weight.detach().contiguous().numpy()
            if module.bias is not None:
                arrays[f'{name}.bias'] = module.bias.detach().numpy()
            arrays[f'{name}.geometry'] = np.array([*module.stride, *module.padding, *module.dilation, module.groups])
            arrays[f'{name}.activation'] = np.array(module.activation)
    left = [name for name, module in folded.named_modules()
            if not isinstance(module, FusedConv2d) and any(True for _ in module.parameters(recurse=False))]
    if left:
        raise ValueError(f'the TensorFlow graph has no layer for {", ".join(left)}')
    arrays.update({name: buffer.numpy() for name, buffer in folded.named_buffers()})
    if isinstance(model.refiner, FastGuidedFilterRefiner):
        arrays['refiner.radius'] = np.array(model.refiner.radius)
        arrays['refiner.eps'] = np.array(model.refiner.eps, np.float32)
    return arrays


def write_network_arrays(model: MattingNetwork, path: str) -> None:
    np.savez(path, **network_arrays(model))
