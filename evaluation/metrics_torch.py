"""The matting metrics on torch tensors (the HR evaluator's backend, CUDA or CPU).

Same definitions, shapes and ranges as `evaluation/metrics.py` (alpha `[H, W]`, foreground
`[H, W, C]`, float in 0..1), and the same code wherever numpy and torch share the operations:
only the Gaussian-derivative filtering of `pha_grad` is torch's own (a `conv2d` with replicate
padding). Connected-component labelling has no torch primitive, so `pha_conn` copies the two alphas
to the host and runs the OpenCV implementation.
"""
import numpy as np
import torch
import torch.nn.functional as F

from evaluation import metrics
from evaluation.metrics import fgr_mad, fgr_mse, pha_dtssd, pha_mad, pha_mse

_FILTERS = torch.from_numpy(np.stack(metrics.gaussian_derivative_filters()))[:, None]  # [2, 1, K, K]

__all__ = ['pha_mad', 'pha_mse', 'pha_grad', 'pha_conn', 'pha_dtssd', 'fgr_mad', 'fgr_mse', 'METRICS']


def _gaussian_derivatives(alpha):
    """Correlate `alpha` `[H, W]` with both filters, replicating the border; returns (d/dx, d/dy)."""
    pad = _FILTERS.shape[-1] // 2
    padded = F.pad(alpha[None, None], (pad, pad, pad, pad), mode='replicate')
    dx, dy = F.conv2d(padded, _FILTERS.to(alpha))[0]
    return dx, dy


def pha_grad(pred, true):
    """Gradient error of two alphas `[H, W]` (see `evaluation.metrics.pha_grad`)."""
    return metrics.gradient_error(pred, true, _gaussian_derivatives)


def pha_conn(pred, true):
    """Connectivity error of two alphas `[H, W]`, computed on the host (see `evaluation.metrics.pha_conn`)."""
    return metrics.pha_conn(pred.cpu().numpy(), true.cpu().numpy())


METRICS = {**metrics.METRICS, 'pha_grad': pha_grad, 'pha_conn': pha_conn}
