"""ImageNet weights for the encoders, through torchvision's weights API."""
import os
import urllib.error

import torch
from torch import nn
from torchvision.models import WeightsEnum


def load_imagenet_weights(encoder: nn.Module, weights: WeightsEnum) -> None:
    """Load torchvision's ImageNet `weights` into `encoder` (before its classifier is removed).

    The file is cached by torch.hub (`$TORCH_HOME/hub/checkpoints/`); a file already there
    is used without any network access. Offline without the file, a RuntimeError says which
    URL was needed and where to put it.
    """
    filename = os.path.basename(weights.url)
    cached = os.path.join(torch.hub.get_dir(), 'checkpoints', filename)
    try:
        state_dict = weights.get_state_dict(progress=True)
    except (urllib.error.URLError, OSError) as e:
        raise RuntimeError(
            f'could not download the ImageNet backbone weights {weights.url} ({e}). '
            f'Offline, download that file elsewhere and place it at {cached}, '
            f'or build the model with pretrained_backbone=False.') from e
    encoder.load_state_dict(state_dict)
