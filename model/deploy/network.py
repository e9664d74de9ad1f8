"""The prepared network: one memory format from the first convolution to the refiner, and the
refiner's full-resolution tail in fewer passes."""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import functional as F

from ..model import MattingNetwork
from ..refiner import GuidedFilterRefiner


class DeployedMattingNetwork(MattingNetwork):
    """A MattingNetwork whose modules `prepare_for_inference` rewrote; the same forward and outputs.

    `downsample` works in channels_last (the same values as the plain model; the encoder and
    decoder want that format); `hidden` converts a frame that is not yet in it;
    `matte` refines and clamps with `refine_and_clamp`. Instances are made by changing the class
    of a rewritten copy (no constructor of its own).
    """

    def downsample(self, src: Tensor, downsample_ratio: float) -> Tensor:
        # Bit for bit the plain model's downsampling: the fast guided filter's A = cov / (var + 1e-5)
        # turns a 1e-7 change of the small frame (e.g. resizing plane by plane, 5x faster) into 3e-4
        # of alpha on real footage.
        if downsample_ratio == 1:
            return src
        return F.interpolate(src.contiguous(memory_format=torch.channels_last), scale_factor=downsample_ratio,
                             mode='bilinear', align_corners=False, recompute_scale_factor=False)

    def hidden(self, src_sm: Tensor, r1: Optional[Tensor], r2: Optional[Tensor], r3: Optional[Tensor],
               r4: Optional[Tensor], time_steps: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        src_sm = src_sm.contiguous(memory_format=torch.channels_last)
        f1, f2, f3, f4 = self.backbone(src_sm)
        return self.decoder(src_sm, f1, f2, f3, self.aspp(f4), r1, r2, r3, r4, time_steps)

    def matte(self, src: Tensor, src_sm: Tensor, hid: Tensor, refine: bool) -> Tuple[Tensor, Tensor]:
        fgr_residual, pha = self.project_mat(hid).split([3, 1], dim=1)
        if not refine:
            return (fgr_residual + src_sm).clamp(0., 1.), pha.clamp(0., 1.)
        return refine_and_clamp(self.refiner, src, src_sm, fgr_residual, pha, hid)


def refine_and_clamp(refiner: GuidedFilterRefiner, fine_src: Tensor, base_src: Tensor, base_fgr: Tensor,
                     base_pha: Tensor, base_hid: Tensor) -> Tuple[Tensor, Tensor]:
    """`GuidedFilterRefiner.forward` followed by `MattingNetwork.matte`'s `(fgr + src).clamp(0, 1)` and
    `pha.clamp(0, 1)`, with three passes over the full-resolution maps instead of eight: the `+ src`
    is added to A before upsampling (bilinear weights sum to 1: up(A + 1) = up(A) + 1), and the
    guide `[rgb, mean(rgb)]` is never concatenated at full resolution. Shapes as in `model.refiner`;
    returns fgr `[N, 3, H, W]` and pha `[N, 1, H, W]` in 0..1.
    """
    A, b = refiner.linear_model(base_src, base_fgr, base_pha, base_hid)
    plus_src = torch.tensor([1., 1., 1., 0.], dtype=A.dtype, device=A.device).view(1, 4, 1, 1)
    up = F.interpolate(torch.cat([A + plus_src, b], dim=1).contiguous(), (fine_src.size(2), fine_src.size(3)),
                       mode='bilinear', align_corners=False)
    fgr = torch.addcmul(up[:, 4:7], up[:, :3], fine_src).clamp_(0., 1.)
    pha = torch.addcmul(up[:, 7:], up[:, 3:4], mean_rgb(fine_src)).clamp_(0., 1.)
    return fgr, pha


def mean_rgb(x: Tensor) -> Tensor:
    """`x.mean(1, keepdim=True)` for `[N, 3, H, W]`, as sums of planes (4x faster on the CPU than
    a reduction over the channel dimension, equal to rounding)."""
    return (x[:, 0:1] + x[:, 1:2]).add_(x[:, 2:3]).div_(3)
