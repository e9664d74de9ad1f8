"""Training losses of RVM (Lin et al. 2021, Sec. 3.3): matting and segmentation."""
from typing import Dict, List

import torch
from torch import Tensor
from torch.nn import functional as F


def matting_loss(pred_fgr: Tensor, pred_pha: Tensor, true_fgr: Tensor, true_pha: Tensor) -> Dict[str, Tensor]:
    """The matting losses on clips.

    Args:
        pred_fgr, true_fgr: `[B, T, 3, H, W]` foregrounds in 0..1.
        pred_pha, true_pha: `[B, T, 1, H, W]` alphas in 0..1.

    Returns scalars `pha_l1`, `pha_laplacian`, `pha_coherence` (MSE of temporal differences x5),
    `fgr_l1` and `fgr_coherence` (on foregrounds masked by `true_pha > 0`), and their sum `total`.
    """
    loss = {}
    loss['pha_l1'] = F.l1_loss(pred_pha, true_pha)
    loss['pha_laplacian'] = laplacian_loss(pred_pha.flatten(0, 1), true_pha.flatten(0, 1))
    loss['pha_coherence'] = coherence_loss(pred_pha, true_pha)
    true_msk = true_pha.gt(0)
    pred_fgr = pred_fgr * true_msk
    true_fgr = true_fgr * true_msk
    loss['fgr_l1'] = F.l1_loss(pred_fgr, true_fgr)
    loss['fgr_coherence'] = coherence_loss(pred_fgr, true_fgr)
    loss['total'] = loss['pha_l1'] + loss['pha_coherence'] + loss['pha_laplacian'] \
        + loss['fgr_l1'] + loss['fgr_coherence']
    return loss


def segmentation_loss(pred_seg: Tensor, true_seg: Tensor) -> Tensor:
    """Binary cross-entropy of logits `pred_seg` `[B, T, 1, H, W]` against masks `true_seg` in 0..1."""
    return F.binary_cross_entropy_with_logits(pred_seg, true_seg)


def coherence_loss(pred: Tensor, true: Tensor) -> Tensor:
    """5 x MSE between the frame-to-frame differences of `pred` and `true`, both `[B, T, C, H, W]`."""
    return F.mse_loss(pred[:, 1:] - pred[:, :-1], true[:, 1:] - true[:, :-1]) * 5


def laplacian_loss(pred: Tensor, true: Tensor, max_levels: int = 5) -> Tensor:
    """L1 between Laplacian pyramids of `pred` and `true` `[N, C, H, W]`, level l weighted 2^l, averaged over levels.

    Every level must still be 4 px or larger for the 5x5 reflect-padded blur: H, W >= 2^(max_levels + 1).
    """
    min_size = 2 ** (max_levels + 1)
    if min(pred.shape[-2:]) < min_size:
        raise ValueError(f'laplacian_loss with {max_levels} levels needs H and W of at least {min_size}, '
                         f'got {tuple(pred.shape[-2:])}')
    kernel = gauss_kernel(device=pred.device, dtype=pred.dtype)
    pred_pyramid = laplacian_pyramid(pred, kernel, max_levels)
    true_pyramid = laplacian_pyramid(true, kernel, max_levels)
    loss = sum((2 ** level) * F.l1_loss(p, t) for level, (p, t) in enumerate(zip(pred_pyramid, true_pyramid)))
    return loss / max_levels


def laplacian_pyramid(img: Tensor, kernel: Tensor, max_levels: int) -> List[Tensor]:
    """`max_levels` band-pass images of `img` `[N, C, H, W]`: each level minus its blurred down-up copy.

    Odd sizes are cropped to even at each level, so level l is `[N, C, ~H/2^l, ~W/2^l]`.
    """
    current = img
    pyramid = []
    for _ in range(max_levels):
        current = crop_to_even_size(current)
        down = downsample(current, kernel)
        up = upsample(down, kernel)
        pyramid.append(current - up)
        current = down
    return pyramid


def gauss_kernel(device='cpu', dtype=torch.float32) -> Tensor:
    """The 5x5 binomial kernel `[1, 1, 5, 5]` (outer product of [1, 4, 6, 4, 1], divided by 256)."""
    row = torch.tensor([1., 4., 6., 4., 1.], device=device, dtype=dtype)
    return (row[:, None] * row[None, :] / 256)[None, None]


def gauss_convolution(img: Tensor, kernel: Tensor) -> Tensor:
    """Blur each channel of `img` `[N, C, H, W]` by `kernel`, with reflect padding; same shape out."""
    N, C, H, W = img.shape
    img = img.reshape(N * C, 1, H, W)
    img = F.pad(img, (2, 2, 2, 2), mode='reflect')
    img = F.conv2d(img, kernel)
    return img.reshape(N, C, H, W)


def downsample(img: Tensor, kernel: Tensor) -> Tensor:
    """Blur, then keep every other pixel: `[N, C, H, W]` -> `[N, C, H/2, W/2]` (H, W even)."""
    return gauss_convolution(img, kernel)[:, :, ::2, ::2]


def upsample(img: Tensor, kernel: Tensor) -> Tensor:
    """Insert zeros between pixels (values x4, keeping the mean), then blur: `[N, C, H, W]` -> `[N, C, 2H, 2W]`."""
    N, C, H, W = img.shape
    out = torch.zeros((N, C, H * 2, W * 2), device=img.device, dtype=img.dtype)
    out[:, :, ::2, ::2] = img * 4
    return gauss_convolution(out, kernel)


def crop_to_even_size(img: Tensor) -> Tensor:
    """Drop the last row and/or column of `img` `[N, C, H, W]` where H or W is odd."""
    H, W = img.shape[2:]
    return img[:, :, :H - H % 2, :W - W % 2]
