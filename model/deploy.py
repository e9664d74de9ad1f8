"""The inference path for deployment: what convert_video runs by default."""
import torch
from torch import nn


def prepare_for_inference(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """Return a module with MattingNetwork's forward signature, ready to run on `device` in `dtype`."""
    return model.eval().to(device=device, dtype=dtype)
