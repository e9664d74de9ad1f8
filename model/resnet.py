"""ResNet-50 encoder with a dilated last stage (features at 1/2, 1/4, 1/8, 1/16)."""
from typing import List

from torch import Tensor
from torchvision.models import ResNet50_Weights
from torchvision.models.resnet import Bottleneck, ResNet

from .pretrained import load_imagenet_weights


class ResNet50Encoder(ResNet):
    """torchvision's ResNet-50 with `replace_stride_with_dilation=[False, False, True]`, fc and avgpool removed.

    Input `[N, 3, H, W]` RGB in 0..1 (no normalization inside, as published). Output
    `[f1, f2, f3, f4]` with 64, 256, 512, 2048 channels at 1/2, 1/4, 1/8, 1/16 of the input.
    """

    channels = [64, 256, 512, 2048]

    def __init__(self, pretrained: bool = False):
        super().__init__(block=Bottleneck, layers=[3, 4, 6, 3], replace_stride_with_dilation=[False, False, True])
        if pretrained:
            load_imagenet_weights(self, ResNet50_Weights.IMAGENET1K_V1)
        del self.avgpool
        del self.fc

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        f1 = x                                  # 1/2
        x = self.layer1(self.maxpool(x))
        f2 = x                                  # 1/4
        x = self.layer2(x)
        f3 = x                                  # 1/8
        x = self.layer4(self.layer3(x))
        f4 = x                                  # 1/16 (layer4 is dilated)
        return [f1, f2, f3, f4]
