"""The matting metrics of the RVM paper, on numpy arrays (the LR evaluator's backend).

Shapes and ranges: an alpha matte is a float array `[H, W]` in 0..1, a foreground `[H, W, 3]` in
0..1 (channel order does not matter as long as prediction and truth agree). The evaluators read
8-bit images, divide by 255 and compute in float32, as the original did.

Definitions (one frame, N = H * W pixels):
- `pha_mad`   = mean |pred - true| * 1e3
- `pha_mse`   = mean (pred - true)^2 * 1e3
- `pha_grad`  = sum (|grad true| - |grad pred|)^2 / 1e3, the gradient magnitude taken by first-order
  Gaussian-derivative filters (sigma 1.4) on alphas min-max normalized to 0..1 (replicate border)
- `pha_conn`  = sum |phi(true) - phi(pred)| / 1e3, the connectivity error (see `pha_conn`)
- `pha_dtssd` = sqrt(sum ((pred_t - pred_t-1) - (true_t - true_t-1))^2 / N) * 1e2
- `fgr_mad`, `fgr_mse` = `pha_mad`, `pha_mse` over the foreground values of the pixels where true
  alpha > 0 (NaN for a frame with no such pixel).

`pha_mad`, `pha_mse`, `pha_dtssd`, `fgr_mad`, `fgr_mse` and `gradient_error` use only operations that
numpy arrays and torch tensors share, so `evaluation/metrics_torch.py` runs the same code on the GPU.
They return a 0-d value of the input's kind (a numpy scalar here); `float()` it.
"""
import math

import cv2
import numpy as np

ALPHA_METRICS = ('pha_mad', 'pha_mse', 'pha_grad', 'pha_conn')
TEMPORAL_METRICS = ('pha_dtssd',)
FOREGROUND_METRICS = ('fgr_mad', 'fgr_mse')
METRIC_NAMES = ALPHA_METRICS + TEMPORAL_METRICS + FOREGROUND_METRICS

GRAD_SIGMA = 1.4
# 0, 0.1, ..., 1 as the doubles nearest to k / 10 (np.arange(0, 1.1, 0.1) would give 0.30000000000000004).
CONN_THRESHOLDS = np.arange(11) / 10
CONN_MIN_DISTANCE = 0.15


def pha_mad(pred, true):
    """Mean absolute difference x 1e3 of two arrays of the same shape."""
    return abs(pred - true).mean() * 1e3


def pha_mse(pred, true):
    """Mean squared difference x 1e3 of two arrays of the same shape."""
    return ((pred - true) ** 2).mean() * 1e3


def pha_dtssd(pred_t, pred_tm1, true_t, true_tm1):
    """Temporal-derivative error of frame t against frame t - 1 (all `[H, W]`), x 1e2.

    The evaluators report 0 for the first frame of a clip, which has no predecessor.
    """
    return (((pred_t - pred_tm1) - (true_t - true_tm1)) ** 2).mean() ** 0.5 * 1e2


def _masked(metric, pred_fgr, true_fgr, true_pha):
    mask = true_pha > 0
    if not mask.any():
        return math.nan
    return metric(pred_fgr[mask], true_fgr[mask])


def fgr_mad(pred_fgr, true_fgr, true_pha):
    """`pha_mad` of foregrounds `[H, W, C]` over the pixels where `true_pha` `[H, W]` > 0."""
    return _masked(pha_mad, pred_fgr, true_fgr, true_pha)


def fgr_mse(pred_fgr, true_fgr, true_pha):
    """`pha_mse` of foregrounds `[H, W, C]` over the pixels where `true_pha` `[H, W]` > 0."""
    return _masked(pha_mse, pred_fgr, true_fgr, true_pha)


def gaussian_derivative_filters(sigma=GRAD_SIGMA, epsilon=1e-2):
    """The `[K, K]` x- and y-derivative-of-Gaussian filters of `pha_grad`, float64, unit L2 norm.

    K = 2 * ceil(sigma * sqrt(-2 ln(sqrt(2 pi) sigma epsilon))) + 1 (9 for sigma 1.4). The x filter
    is G(row) * G'(column), the y filter its transpose; both are applied as a correlation.
    """
    half_size = math.ceil(sigma * math.sqrt(-2 * math.log(math.sqrt(2 * math.pi) * sigma * epsilon)))
    offsets = np.arange(-half_size, half_size + 1, dtype=np.float64)
    gaussian = np.exp(-offsets ** 2 / (2 * sigma ** 2)) / (sigma * math.sqrt(2 * math.pi))
    derivative = -offsets * gaussian / sigma ** 2
    filter_x = np.outer(gaussian, derivative)
    filter_x /= np.sqrt((filter_x ** 2).sum())
    return filter_x, filter_x.T.copy()


def minmax_normalize(alpha):
    """Stretch `alpha` linearly to 0..1; a constant image becomes all zeros (as cv2.NORM_MINMAX does)."""
    low, high = alpha.min(), alpha.max()
    if high > low:
        return (alpha - low) / (high - low)
    return alpha - low


def gradient_error(pred, true, derivatives):
    """`pha_grad` given `derivatives(alpha) -> (d/dx, d/dy)`, the backend's Gaussian-derivative filtering."""
    def magnitude(alpha):
        dx, dy = derivatives(minmax_normalize(alpha))
        return (dx ** 2 + dy ** 2) ** 0.5
    return ((magnitude(true) - magnitude(pred)) ** 2).sum() / 1000


_FILTER_X, _FILTER_Y = gaussian_derivative_filters()


def _gaussian_derivatives(alpha):
    return (cv2.filter2D(alpha, -1, _FILTER_X, borderType=cv2.BORDER_REPLICATE),
            cv2.filter2D(alpha, -1, _FILTER_Y, borderType=cv2.BORDER_REPLICATE))


def pha_grad(pred, true):
    """Gradient error of two alphas `[H, W]` (float32 or float64): see the module docstring."""
    return gradient_error(pred, true, _gaussian_derivatives)


def largest_component(mask):
    """The largest 4-connected component of a boolean `[H, W]` mask (all False if the mask is empty)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    if count < 2:
        return np.zeros_like(mask)
    return labels == 1 + np.argmax(stats[1:, cv2.CC_STAT_AREA])


def round_down_levels(pred, true):
    """Each pixel's round-down level: the last threshold before it left the largest connected component
    of (true >= t) & (pred >= t) as t rises through `CONN_THRESHOLDS`; 1 if it never left. `[H, W]`.

    At t = 0 the component is the whole image, so the walk starts at the second threshold.
    """
    levels = np.ones_like(true)
    left = np.zeros(true.shape, dtype=bool)
    for previous, threshold in zip(CONN_THRESHOLDS[:-1].tolist(), CONN_THRESHOLDS[1:].tolist()):
        # Python floats compare in the alphas' own precision, so an alpha of exactly k/10 counts as >= k/10.
        leaving = ~left & ~largest_component((true >= threshold) & (pred >= threshold))
        levels[leaving] = previous
        left |= leaving
    return levels


def pha_conn(pred, true):
    """Connectivity error of two alphas `[H, W]`.

    With l the round-down level (`round_down_levels`) and d = alpha - l, phi = 1 - d * (d >= 0.15);
    the error is sum |phi(true) - phi(pred)| / 1e3.
    """
    levels = round_down_levels(pred, true)

    def phi(alpha):
        distance = alpha - levels
        return 1 - distance * (distance >= CONN_MIN_DISTANCE)
    return np.abs(phi(true) - phi(pred)).sum() / 1000


# Metric name -> function; the evaluators dispatch on ALPHA_METRICS (pred, true), TEMPORAL_METRICS
# (pred_t, pred_tm1, true_t, true_tm1) and FOREGROUND_METRICS (pred_fgr, true_fgr, true_pha).
METRICS = {
    'pha_mad': pha_mad, 'pha_mse': pha_mse, 'pha_grad': pha_grad, 'pha_conn': pha_conn,
    'pha_dtssd': pha_dtssd, 'fgr_mad': fgr_mad, 'fgr_mse': fgr_mse,
}
