"""train_loss against values worked out by hand (and one independent loop implementation)."""
import math

import numpy as np
import pytest
import torch

from train_loss import gauss_kernel, laplacian_loss, laplacian_pyramid, matting_loss, segmentation_loss


def test_gauss_kernel_is_the_binomial_5x5_over_256():
    k = gauss_kernel()
    assert k.shape == (1, 1, 5, 5)
    assert k[0, 0, 2, 2].item() == 36 / 256 and k[0, 0, 0, 0].item() == 1 / 256 and k[0, 0, 1, 2].item() == 24 / 256
    assert k.sum().item() == pytest.approx(1.0)


def test_laplacian_pyramid_of_an_impulse():
    # 1D: an impulse at 8 blurs to [1, 4, 6, 4, 1]/16 around 8; keeping even pixels leaves 1/16, 6/16,
    # 1/16 at 6, 8, 10; zero insertion (x2 per axis, x4 in 2D) and the blur give at 8
    # (2*1 + 12*6 + 2*1) / 256 = 76/256, at 7 and 9 (2*4 + 12*4) / 256 = 56/256. The kernel is separable.
    img = torch.zeros(1, 1, 64, 64)
    img[0, 0, 8, 8] = 1
    level0 = laplacian_pyramid(img, gauss_kernel(), 5)[0][0, 0]
    assert level0[8, 8].item() == pytest.approx(1 - (76 / 256) ** 2)
    assert level0[8, 7].item() == pytest.approx(-(76 / 256) * (56 / 256))
    assert level0[0, 0].item() == 0
    assert level0.sum().item() == pytest.approx(0, abs=1e-6)   # up(down(x)) keeps the mass of x


def test_laplacian_pyramid_shapes_crop_odd_sizes():
    pyramid = laplacian_pyramid(torch.rand(2, 1, 131, 70), gauss_kernel(), 5)
    assert [tuple(p.shape[-2:]) for p in pyramid] == [(130, 70), (64, 34), (32, 16), (16, 8), (8, 4)]


def test_laplacian_loss_ignores_a_constant_offset():
    # A constant image is reproduced exactly by down-up with reflect padding: every band is 0.
    pred, true = torch.full((1, 1, 64, 64), 0.7), torch.full((1, 1, 64, 64), 0.2)
    assert laplacian_loss(pred, true).item() == pytest.approx(0, abs=1e-6)


def _reference_laplacian_loss(pred, true, levels=5):
    """The definition written out with numpy loops, independent of train_loss's convolution code."""
    k1 = np.array([1, 4, 6, 4, 1], np.float64)
    kernel = np.outer(k1, k1) / 256

    def blur(x):
        p = np.pad(x, 2, mode='reflect')
        out = np.zeros_like(x)
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i, j] = (p[i:i + 5, j:j + 5] * kernel).sum()
        return out

    def bands(x):
        result = []
        for _ in range(levels):
            x = x[:x.shape[0] // 2 * 2, :x.shape[1] // 2 * 2]
            down = blur(x)[::2, ::2]
            zeros = np.zeros_like(x)
            zeros[::2, ::2] = down * 4
            result.append(x - blur(zeros))
            x = down
        return result

    return sum(2 ** level * np.abs(p - t).mean()
               for level, (p, t) in enumerate(zip(bands(pred), bands(true)))) / levels


def test_laplacian_loss_matches_the_written_out_definition():
    rng = np.random.default_rng(0)
    pred, true = rng.random((67, 65)), rng.random((67, 65))
    got = laplacian_loss(torch.tensor(pred)[None, None], torch.tensor(true)[None, None]).item()
    assert got == pytest.approx(_reference_laplacian_loss(pred, true), rel=1e-9)


def test_laplacian_loss_rejects_too_small_images():
    with pytest.raises(ValueError, match='at least 64'):
        laplacian_loss(torch.rand(1, 1, 48, 64), torch.rand(1, 1, 48, 64))


def test_matting_loss_hand_computed():
    B, T, H, W = 1, 2, 64, 64
    true_pha = torch.zeros(B, T, 1, H, W)
    true_pha[..., :, :W // 2] = 1                  # left half foreground
    pred_pha = true_pha.clone()
    pred_pha[:, 1] += 0.5                          # frame 1 off by 0.5 everywhere (beyond 1 on purpose)
    true_fgr = torch.full((B, T, 3, H, W), 0.5)
    pred_fgr = true_fgr + 0.2                      # +0.2 everywhere, only the masked left half counts
    pred_fgr[:, 1, :, :, :W // 2] += 0.1           # frame 1's foreground moves by 0.1 more

    loss = matting_loss(pred_fgr, pred_pha, true_fgr, true_pha)
    assert loss['pha_l1'].item() == pytest.approx(0.25)                    # half the frames off by 0.5
    assert loss['pha_laplacian'].item() == pytest.approx(0, abs=1e-6)      # a constant offset
    assert loss['pha_coherence'].item() == pytest.approx(0.5 ** 2 * 5)     # every difference off by 0.5
    # Masked fgr errors: frame 0 has 0.2 on half the pixels, frame 1 has 0.3 on half the pixels.
    assert loss['fgr_l1'].item() == pytest.approx((0.2 + 0.3) / 2 / 2)
    # Temporal difference errors: 0.1 on half the pixels, 0 elsewhere.
    assert loss['fgr_coherence'].item() == pytest.approx(0.1 ** 2 / 2 * 5)
    parts = sum(v for k, v in loss.items() if k != 'total')
    assert loss['total'].item() == pytest.approx(parts.item())


def test_matting_loss_is_zero_for_a_perfect_prediction_and_differentiable():
    fgr = torch.rand(2, 3, 3, 64, 64)
    pha = torch.rand(2, 3, 1, 64, 64)
    assert matting_loss(fgr, pha, fgr, pha)['total'].item() == 0
    pred = pha.clone().requires_grad_()
    matting_loss(fgr, pred, fgr, 1 - pha)['total'].backward()
    assert pred.grad.abs().sum() > 0


def test_segmentation_loss_is_bce_with_logits():
    pred = torch.tensor([0., 2., -1.]).view(1, 3, 1, 1, 1)
    true = torch.tensor([1., 1., 0.]).view(1, 3, 1, 1, 1)
    expected = (math.log(2) + math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))) / 3
    assert segmentation_loss(pred, true).item() == pytest.approx(expected)
