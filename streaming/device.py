"""Every device decision of inference, in one place: where the network runs, in what precision,
and what follows from it (CUDA graphs, bfloat16 convolutions, pinned staging, the CPU taking turns).

`Placement.choose(model, device, dtype)` resolves the user's choice once; the rest of the streaming
core and every entry point (conversion, live, speed tests) ask the Placement, never `device.type`.
"""
from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import Tensor, nn

from model.deploy import cpu_has_native_bfloat16, prepare_for_inference

from .color import from_images
from .formats import ConversionError


def default_device() -> torch.device:
    """CUDA when PyTorch sees a GPU, else the CPU."""
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


@dataclass(frozen=True)
class Placement:
    """Where and in what precision the network runs, and what that decides.

    `bfloat16`: opt in to bfloat16 decoder convolutions where the CPU has native bfloat16 (faster, but
    not exact: `model.deploy`; documentation/inference.md has the numbers).
    """
    device: torch.device
    dtype: torch.dtype
    bfloat16: bool = False

    @classmethod
    def choose(cls, model: nn.Module, device: Optional[Union[str, torch.device]] = None,
               dtype: Optional[torch.dtype] = None, bfloat16: bool = False) -> 'Placement':
        """`device`, or the model's when it was moved off the CPU, else `default_device()` (a model
        built on the CPU, as `create_model` builds it, runs on CUDA when there is a GPU); `dtype`, or
        the model's parameters'."""
        param = next(model.parameters(), None)
        if param is None and (device is None or dtype is None):
            raise ConversionError('give device and dtype for a model without parameters (e.g. a frozen TorchScript module)')
        if device is None:
            device = param.device if param.device.type != 'cpu' else default_device()
        return cls(torch.device(device), dtype or param.dtype, bfloat16)

    @property
    def cuda(self) -> bool:
        return self.device.type == 'cuda'

    @property
    def take_turns(self) -> bool:
        """Whether the reader and writer threads wait while the network runs (see `threads.Turns`):
        a CPU network keeps every core busy, a GPU one leaves the CPU to them."""
        return self.device.type == 'cpu'

    @property
    def bfloat16_convolutions(self) -> bool:
        """Decoder convolutions in bfloat16 (float32 accumulation; `model.deploy.BFLOAT16_BLOCKS`):
        when asked for (`bfloat16`), for float32 models on CPUs with native bfloat16."""
        return (self.bfloat16 and self.device.type == 'cpu' and self.dtype == torch.float32
                and cpu_has_native_bfloat16())

    @property
    def bfloat16_declined(self) -> Optional[str]:
        """Why the bfloat16 convolutions asked for (`bfloat16`) do not run here, or None when they run
        or were not asked for: then the model runs exactly as without them."""
        if not self.bfloat16 or self.bfloat16_convolutions:
            return None
        if self.device.type != 'cpu' or self.dtype != torch.float32:
            return f'bfloat16 convolutions are for float32 models on the CPU, not {self.dtype} on {self.device}'
        return 'this CPU has no native bfloat16 (AVX512-BF16 or AMX): the decoder convolves in float32'

    @property
    def onednn_fusions(self) -> bool:
        """Convolutions run with their activations (and residual adds) as single oneDNN kernels:
        on the CPU, where PyTorch convolves with oneDNN."""
        return self.device.type == 'cpu' and torch.backends.mkldnn.is_available()

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model ready to run here: a MattingNetwork through `model.deploy.prepare_for_inference`
        (CUDA graphs on CUDA, oneDNN fusions on the CPU), any other module (TorchScript) moved and
        put in eval mode."""
        return prepare_for_inference(model, self.device, self.dtype, self.bfloat16_convolutions,
                                     cuda_graphs=self.cuda, onednn_fusions=self.onednn_fusions)

    def stage(self, images: Tensor) -> Tensor:
        """uint8 frames on the host as they should travel to the network: pinned for a GPU, else as they are."""
        return images.pin_memory() if self.cuda else images

    def network_input(self, images: Tensor) -> Tensor:
        """`[T, H, W, 3]` uint8 (or uint16, for more than 8-bit input) -> `[T, 3, H, W]` in 0..1 on the
        device (the integers cross: 4x or 2x less to copy than floats)."""
        return from_images(images.to(self.device, non_blocking=True), self.dtype)
