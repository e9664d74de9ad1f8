"""MobileNetV3-Large encoder with a dilated last stage (features at 1/2, 1/4, 1/8, 1/16)."""
from typing import List

import torch
from torch import Tensor
from torchvision.models import MobileNet_V3_Large_Weights
from torchvision.models.mobilenetv3 import InvertedResidualConfig, MobileNetV3

from .pretrained import load_imagenet_weights


class MobileNetV3LargeEncoder(MobileNetV3):
    """torchvision's MobileNetV3-Large blocks (`features.0` ... `features.16`), classifier removed.

    The last three inverted residual blocks use dilation 2 instead of stride 2 so the deepest
    features stay at 1/16 of the input. ImageNet normalization is applied inside.

    Input `[N, 3, H, W]` RGB in 0..1. Output `[f1, f2, f3, f4]` with 16, 24, 40, 960 channels
    at 1/2, 1/4, 1/8, 1/16 of the input (sizes rounded up).
    """

    channels = [16, 24, 40, 960]

    def __init__(self, pretrained: bool = False):
        super().__init__(
            inverted_residual_setting=[
                # input, kernel, expanded, output, SE, activation, stride, dilation, width
                InvertedResidualConfig(16, 3, 16, 16, False, 'RE', 1, 1, 1),
                InvertedResidualConfig(16, 3, 64, 24, False, 'RE', 2, 1, 1),    # 1/4
                InvertedResidualConfig(24, 3, 72, 24, False, 'RE', 1, 1, 1),
                InvertedResidualConfig(24, 5, 72, 40, True, 'RE', 2, 1, 1),     # 1/8
                InvertedResidualConfig(40, 5, 120, 40, True, 'RE', 1, 1, 1),
                InvertedResidualConfig(40, 5, 120, 40, True, 'RE', 1, 1, 1),
                InvertedResidualConfig(40, 3, 240, 80, False, 'HS', 2, 1, 1),   # 1/16
                InvertedResidualConfig(80, 3, 200, 80, False, 'HS', 1, 1, 1),
                InvertedResidualConfig(80, 3, 184, 80, False, 'HS', 1, 1, 1),
                InvertedResidualConfig(80, 3, 184, 80, False, 'HS', 1, 1, 1),
                InvertedResidualConfig(80, 3, 480, 112, True, 'HS', 1, 1, 1),
                InvertedResidualConfig(112, 3, 672, 112, True, 'HS', 1, 1, 1),
                InvertedResidualConfig(112, 5, 672, 160, True, 'HS', 2, 2, 1),  # dilated, stays 1/16
                InvertedResidualConfig(160, 5, 960, 160, True, 'HS', 1, 2, 1),
                InvertedResidualConfig(160, 5, 960, 160, True, 'HS', 1, 2, 1),
            ],
            last_channel=1280,
        )
        if pretrained:
            load_imagenet_weights(self, MobileNet_V3_Large_Weights.IMAGENET1K_V1)
        del self.avgpool
        del self.classifier
        # Not in the state_dict (the published layout has no such entries); moved by .to() with the model.
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> List[Tensor]:
        x = (x - self.mean) / self.std
        features: List[Tensor] = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == 1 or i == 3 or i == 6 or i == 16:
                features.append(x)
        return features
