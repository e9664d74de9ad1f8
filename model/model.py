"""MattingNetwork: Robust Video Matting (Lin et al., 2021)."""
from typing import Dict, List, Optional, Tuple, Type

from torch import Tensor, nn
from torch.nn import functional as F

from .decoder import Projection, RecurrentDecoder
from .lraspp import LRASPP
from .mobilenetv3 import MobileNetV3LargeEncoder
from .refiner import DeepGuidedFilterRefiner, FastGuidedFilterRefiner
from .resnet import ResNet50Encoder
from .temporal import fold_time, unfold_time

# Per encoder: its class (which declares its feature `channels`), the LR-ASPP width and the
# decoder's output channels (decode3, decode2, decode1, decode0), as published.
ENCODERS: Dict[str, Tuple[Type[nn.Module], int, List[int]]] = {
    'mobilenetv3': (MobileNetV3LargeEncoder, 128, [80, 40, 32, 16]),
    'resnet50': (ResNet50Encoder, 256, [128, 64, 32, 16]),
}
VARIANTS = tuple(ENCODERS)
REFINERS = ('deep_guided_filter', 'fast_guided_filter')


class MattingNetwork(nn.Module):
    """The RVM network: encoder, LR-ASPP, recurrent decoder, projection heads and refiner.

    Args:
        variant: 'mobilenetv3' or 'resnet50', the encoder.
        refiner: 'deep_guided_filter' or 'fast_guided_filter', used when `downsample_ratio != 1`.
        pretrained_backbone: initialise the encoder with torchvision's ImageNet weights (for training).

    Build one with `model.create_model` (published weights, a checkpoint, or fresh).

    Example::

        model = MattingNetwork('mobilenetv3').eval()
        rec = [None] * 4
        for src in frames:                      # src: [B, 3, H, W] RGB in 0..1
            fgr, pha, *rec = model(src, *rec, downsample_ratio=0.25)
    """

    def __init__(self, variant: str = 'mobilenetv3', refiner: str = 'deep_guided_filter',
                 pretrained_backbone: bool = False):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f'unknown variant {variant!r}: expected one of {VARIANTS}')
        if refiner not in REFINERS:
            raise ValueError(f'unknown refiner {refiner!r}: expected one of {REFINERS}')
        encoder, aspp_channels, decoder_channels = ENCODERS[variant]
        self.backbone = encoder(pretrained_backbone)
        feature_channels = list(self.backbone.channels)
        self.aspp = LRASPP(feature_channels[3], aspp_channels)
        self.decoder = RecurrentDecoder(feature_channels[:3] + [aspp_channels], decoder_channels)
        self.project_mat = Projection(decoder_channels[3], 4)
        self.project_seg = Projection(decoder_channels[3], 1)
        if refiner == 'deep_guided_filter':
            self.refiner = DeepGuidedFilterRefiner()
        else:
            self.refiner = FastGuidedFilterRefiner()

    def forward(self, src: Tensor,
                r1: Optional[Tensor] = None, r2: Optional[Tensor] = None,
                r3: Optional[Tensor] = None, r4: Optional[Tensor] = None,
                downsample_ratio: float = 1.0,
                segmentation_pass: bool = False) -> List[Tensor]:
        """Run one frame `[B, 3, H, W]` or a chunk of frames `[B, T, 3, H, W]`, RGB in 0..1.

        Args:
            r1, r2, r3, r4: recurrent states `[B, C, h, w]` from the previous call, or None at the start.
            downsample_ratio: the network runs on a copy scaled by this factor; the refiner brings
                the result back to full size. Choose it so the downsampled frame is about 256-512 px.
            segmentation_pass: return segmentation logits instead of matting outputs (training).

        Returns:
            `[fgr, pha, r1, r2, r3, r4]`: foreground `[..., 3, H, W]` and alpha `[..., 1, H, W]` in
            0..1 with the input's rank, then the states after the last frame; or, for the
            segmentation pass, `[seg, r1, r2, r3, r4]` with logits `[..., 1, H, W]`.
        """
        src, time_steps = fold_time(src)
        src_sm = self.downsample(src, downsample_ratio)
        hid, r1, r2, r3, r4 = self.hidden(src_sm, r1, r2, r3, r4, time_steps)
        if segmentation_pass:
            return [unfold_time(self.project_seg(hid), time_steps), r1, r2, r3, r4]
        fgr, pha = self.matte(src, src_sm, hid, downsample_ratio != 1)
        return [unfold_time(fgr, time_steps), unfold_time(pha, time_steps), r1, r2, r3, r4]

    def downsample(self, src: Tensor, downsample_ratio: float) -> Tensor:
        """The frames `[N, 3, h, w]` the network runs on: `src` `[N, 3, H, W]` scaled by the ratio (bilinear)."""
        if downsample_ratio == 1:
            return src
        return F.interpolate(src, scale_factor=downsample_ratio, mode='bilinear', align_corners=False,
                             recompute_scale_factor=False)

    def hidden(self, src_sm: Tensor, r1: Optional[Tensor], r2: Optional[Tensor], r3: Optional[Tensor],
               r4: Optional[Tensor], time_steps: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Encoder, LR-ASPP and decoder on the downsampled frames `[N, 3, h, w]` (time folded, see
        `temporal.py`): the hidden map `[N, 16, h, w]` and the states r1..r4 after the last frame."""
        f1, f2, f3, f4 = self.backbone(src_sm)
        return self.decoder(src_sm, f1, f2, f3, self.aspp(f4), r1, r2, r3, r4, time_steps)

    def matte(self, src: Tensor, src_sm: Tensor, hid: Tensor, refine: bool) -> Tuple[Tensor, Tensor]:
        """Foreground `[N, 3, H, W]` and alpha `[N, 1, H, W]` in 0..1 from the hidden map: refined to
        the size of `src` when `refine`, else at the size of `src_sm` (which is then `src`)."""
        fgr_residual, pha = self.project_mat(hid).split([3, 1], dim=1)
        if refine:
            fgr_residual, pha = self.refiner(src, src_sm, fgr_residual, pha, hid)
        else:
            src = src_sm
        return (fgr_residual + src).clamp(0., 1.), pha.clamp(0., 1.)
