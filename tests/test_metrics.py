"""The paper's matting metrics against hand-computed values, and the torch backend against numpy."""
import math

import numpy as np
import pytest
import torch

from evaluation import metrics, metrics_torch
from evaluation.metrics import (fgr_mad, fgr_mse, gaussian_derivative_filters, pha_conn, pha_dtssd, pha_grad,
                                pha_mad, pha_mse, round_down_levels)


def edge(shift=0, size=16):
    """`[size, size]` float32 alpha: 0 left of column size/2 + shift, 1 from it on."""
    alpha = np.zeros((size, size), np.float32)
    alpha[:, size // 2 + shift:] = 1
    return alpha


def soft_alpha(seed, shape=(24, 32)):
    """A random 8-bit-quantized alpha with a soft edge, float32 in 0..1."""
    rng = np.random.default_rng(seed)
    ramp = np.clip((np.arange(shape[1]) - shape[1] / 3) / 6, 0, 1)[None].repeat(shape[0], 0)
    return (np.rint(np.clip(ramp + rng.normal(0, 0.1, shape), 0, 1) * 255) / 255).astype(np.float32)


def test_perfect_prediction_scores_zero():
    alpha, fgr = soft_alpha(0), np.random.default_rng(1).random((24, 32, 3), dtype=np.float32)
    for metric in (pha_mad, pha_mse, pha_grad, pha_conn):
        assert metric(alpha, alpha) == 0
    assert pha_dtssd(alpha, soft_alpha(2), alpha, soft_alpha(2)) == 0
    assert fgr_mad(fgr, fgr, alpha) == 0 and fgr_mse(fgr, fgr, alpha) == 0


def test_constant_offset_gives_known_mad_and_mse():
    true = np.full((8, 8), 0.25, np.float32)
    assert pha_mad(true + 0.1, true) == pytest.approx(100, rel=1e-5)  # 0.1 x 1e3
    assert pha_mse(true + 0.1, true) == pytest.approx(10, rel=1e-5)  # 0.01 x 1e3
    assert pha_mad(true - 0.5, true) == pytest.approx(500, rel=1e-6)
    assert pha_mse(true - 0.5, true) == pytest.approx(250, rel=1e-6)


def test_foreground_metrics_only_where_true_alpha_is_positive():
    true_pha = np.zeros((4, 4), np.float32)
    true_pha[:2] = 0.5  # 8 of 16 pixels
    true_fgr = np.full((4, 4, 3), 0.5, np.float32)
    pred_fgr = true_fgr.copy()
    pred_fgr[:2] += 0.2  # error where alpha > 0 ...
    pred_fgr[2:] = 0  # ... and a larger one where it is 0, which must not count
    assert fgr_mad(pred_fgr, true_fgr, true_pha) == pytest.approx(200, rel=1e-5)
    assert fgr_mse(pred_fgr, true_fgr, true_pha) == pytest.approx(40, rel=1e-5)
    # no foreground pixel at all: undefined
    assert math.isnan(fgr_mad(pred_fgr, true_fgr, np.zeros((4, 4), np.float32)))


def test_gaussian_derivative_filters_follow_the_definition():
    sigma = 1.4
    # half-size ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) * 1.4 * 0.01))) = ceil(3.62) = 4
    filter_x, filter_y = gaussian_derivative_filters(sigma)
    assert filter_x.shape == (9, 9)
    assert np.sum(filter_x ** 2) == pytest.approx(1)
    np.testing.assert_array_equal(filter_y, filter_x.T)
    offsets = np.arange(-4, 5)
    gaussian = np.exp(-offsets ** 2 / (2 * sigma ** 2))
    unnormalized = gaussian[:, None] * (-offsets * gaussian)[None, :]
    np.testing.assert_allclose(filter_x, unnormalized / np.linalg.norm(unnormalized), rtol=1e-12)
    assert filter_x[4, 5] < 0 < filter_x[4, 3]  # derivative along x (columns)


def reference_grad(pred, true, sigma=1.4):
    """pha_grad written out: min-max normalize, correlate with replicate border, magnitude, SSD / 1000."""
    filter_x, filter_y = gaussian_derivative_filters(sigma)
    half = filter_x.shape[0] // 2

    def magnitude(alpha):
        alpha = alpha.astype(np.float64)
        alpha = (alpha - alpha.min()) / (alpha.max() - alpha.min())
        padded = np.pad(alpha, half, mode='edge')
        h, w = alpha.shape
        gx, gy = np.zeros((h, w)), np.zeros((h, w))
        for i in range(h):
            for j in range(w):
                window = padded[i:i + 2 * half + 1, j:j + 2 * half + 1]
                gx[i, j], gy[i, j] = (window * filter_x).sum(), (window * filter_y).sum()
        return np.sqrt(gx ** 2 + gy ** 2)
    return ((magnitude(true) - magnitude(pred)) ** 2).sum() / 1000


def test_one_pixel_shifted_edge_gives_the_reference_grad():
    true, pred = edge(0), edge(1)
    value = pha_grad(pred, true)
    assert value > 0
    assert value == pytest.approx(reference_grad(pred, true), rel=1e-5)
    # a soft random alpha, and a vertical edge through the transposes, agree with it too
    soft_pred, soft_true = soft_alpha(3), soft_alpha(4)
    assert pha_grad(soft_pred, soft_true) == pytest.approx(reference_grad(soft_pred, soft_true), rel=1e-4)
    assert pha_grad(pred.T.copy(), true.T.copy()) == pytest.approx(value, rel=1e-5)


def test_grad_normalizes_both_alphas():
    true, pred = edge(0), edge(1)
    # min-max normalization makes the value independent of the alpha range
    assert pha_grad(pred * 0.5, true) == pytest.approx(pha_grad(pred, true), rel=1e-6)
    assert pha_grad(pred * 0.6 + 0.2, true * 0.3) == pytest.approx(pha_grad(pred, true), rel=1e-5)
    # a constant prediction normalizes to 0: the error is the whole gradient energy of the truth
    assert pha_grad(np.full_like(true, 0.7), true) == pytest.approx(pha_grad(np.zeros_like(true), true), rel=1e-6)
    assert pha_grad(np.full_like(true, 0.7), true) > pha_grad(pred, true)


def test_conn_on_a_case_worked_by_hand():
    # Thresholds 0.1 ... 1 over (true >= t) & (pred >= t):
    #  t=0.1: {(0,0), (0,1)} and {(1,2)} (only diagonal to (0,1): separate under 4-connectivity);
    #         (1,2) and the zeros leave the largest component -> level 0
    #  t=0.6: pred (0,1) = 0.5 < 0.6, it leaves -> level 0.5
    #  t=0.9: (0,0) = 0.8 leaves -> level 0.8 (0.8 >= 0.8 counts)
    true = np.array([[0.8, 0.8, 0.0], [0.0, 0.0, 0.9]], np.float32)
    pred = np.array([[0.8, 0.5, 0.0], [0.0, 0.0, 0.12]], np.float32)
    np.testing.assert_allclose(round_down_levels(pred, true), [[0.8, 0.5, 0], [0, 0, 0]], atol=1e-7)
    # phi(true) = 1 - d: d = 0.3 at (0,1) and 0.9 at (1,2) -> 0.7 and 0.1, else 1
    # phi(pred): d = 0.12 at (1,2) is below 0.15 -> 1 everywhere
    # sum |phi(true) - phi(pred)| = 0.3 + 0.9 = 1.2 -> 1.2 / 1000
    assert pha_conn(pred, true) == pytest.approx(1.2e-3, rel=1e-5)


def test_conn_pixels_that_never_leave_round_down_to_one():
    true = np.ones((3, 3), np.float32)
    pred = np.full((3, 3), 0.95, np.float32)
    np.testing.assert_array_equal(round_down_levels(true, true), np.ones((3, 3)))
    # pred < 1 everywhere: at t = 1 the intersection is empty and all leave at 0.9; d(pred) = 0.05 < 0.15
    np.testing.assert_allclose(round_down_levels(pred, true), np.full((3, 3), 0.9), atol=1e-7)
    assert pha_conn(pred, true) == 0


def test_dtssd_measures_flicker_not_constant_error():
    true = soft_alpha(5)
    # a constant error does not change over time
    assert pha_dtssd(true + 0.1, true + 0.1, true, true) == pytest.approx(0, abs=1e-5)
    # a prediction flickering by 0.1 on a static truth: sqrt(mean(0.1^2)) x 1e2 = 10
    assert pha_dtssd(true + 0.1, true, true, true) == pytest.approx(10, rel=1e-4)
    # flicker on half the pixels: sqrt(0.5 * 0.2^2) x 1e2
    flicker = true.copy()
    flicker[:12] += 0.2
    assert pha_dtssd(flicker, true, true, true) == pytest.approx(math.sqrt(0.5 * 0.04) * 100, rel=1e-4)
    # following the truth's own motion is no error
    moved = soft_alpha(6)
    assert pha_dtssd(moved, true, moved, true) == 0


@pytest.mark.parametrize('name', metrics.ALPHA_METRICS)
def test_torch_backend_matches_numpy(name):
    pred, true = soft_alpha(7), soft_alpha(8)
    expected = float(metrics.METRICS[name](pred, true))
    got = float(metrics_torch.METRICS[name](torch.from_numpy(pred), torch.from_numpy(true)))
    assert got == pytest.approx(expected, rel=1e-5)


def test_torch_backend_matches_numpy_on_temporal_and_foreground_metrics():
    pred_t, pred_tm1, true_t, true_tm1 = (soft_alpha(s) for s in range(9, 13))
    t = [torch.from_numpy(a) for a in (pred_t, pred_tm1, true_t, true_tm1)]
    expected = float(pha_dtssd(pred_t, pred_tm1, true_t, true_tm1))
    assert float(metrics_torch.pha_dtssd(*t)) == pytest.approx(expected, rel=1e-5)
    rng = np.random.default_rng(13)
    pred_fgr, true_fgr = rng.random((2, 24, 32, 3), dtype=np.float32)
    for name in metrics.FOREGROUND_METRICS:
        expected = metrics.METRICS[name](pred_fgr, true_fgr, true_t)
        got = metrics_torch.METRICS[name](*map(torch.from_numpy, (pred_fgr, true_fgr, true_t)))
        assert float(got) == pytest.approx(float(expected), rel=1e-5)
