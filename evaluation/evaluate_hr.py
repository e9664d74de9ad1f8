"""HR (high-resolution) evaluation with torch, on CUDA when available, else on the CPU.

numpy is slow at 1920x1080 and above, so the metrics run as tensor operations on the device (the same
definitions and mostly the same code as evaluate_lr.py; both give the same numbers). Defaults to the
original's HR metrics (pha_mad, pha_mse, pha_grad, pha_dtssd, fgr_mse); pha_conn and fgr_mad can be
asked for with --metrics (pha_conn then runs on the host, see evaluation/metrics_torch.py).

    python evaluation/evaluate_hr.py \\
        --pred-dir PREDICTIONS/videomatte_1920x1080 \\
        --true-dir TESTSETS/videomatte_1920x1080

Workers are threads that read and evaluate runs of frames concurrently, sharing the device.
"""
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ''):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from evaluation import metrics_torch
from evaluation.common import InputError, run_cli
from evaluation.evaluator import Backend, build_parser, run

DEFAULT_METRICS = ('pha_mad', 'pha_mse', 'pha_grad', 'pha_dtssd', 'fgr_mse')


@dataclass(frozen=True)
class ToDevice:
    """float32 numpy image -> tensor of the same shape on `device`."""
    device: torch.device

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(image).to(self.device)


def main(argv=None):
    parser = build_parser(__doc__.splitlines()[0], DEFAULT_METRICS)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu',
                        help='torch device for the metrics')
    args = parser.parse_args(argv)
    try:
        device = torch.device(args.device)
    except RuntimeError as e:
        raise InputError(f'--device {args.device}: {e}') from e
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise InputError(f'--device {args.device}: CUDA is not available here; use --device cpu')
    return run(args, Backend(metrics_torch.METRICS, ToDevice(device)), ThreadPoolExecutor)


if __name__ == '__main__':
    sys.exit(run_cli(main))
