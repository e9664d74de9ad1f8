"""What the parity tests and the precision report compare against: PyTorch over chained frames,
with the real weights and clips in ../shared/real (see its README.md)."""
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch
from torch.nn import functional as F

from model import MattingNetwork, create_model

REAL = Path(__file__).resolve().parent.parent.parent / 'shared' / 'real'  # beside the clone, as in CI


def real_model(refiner: str = 'deep_guided_filter') -> MattingNetwork:
    """The real MobileNetV3 weights (see ../shared/real/README.md)."""
    name = {'deep_guided_filter': 'dgf', 'fast_guided_filter': 'fgf'}[refiner]
    return create_model(checkpoint=REAL / f'rvm_mobilenetv3_real_{name}.pth')


def real_frames(steps: int, width: int, height: int, clip: str = 'tile0') -> np.ndarray:
    """`steps` consecutive frames of a real clip, resized to `[steps, 1, 3, height, width]` float32 in 0..1."""
    frames = torch.from_numpy(np.load(REAL / 'clips.npz')[clip][:steps]).permute(0, 3, 1, 2).float() / 255
    resized = F.interpolate(frames, size=(height, width), mode='bicubic', align_corners=False).clamp(0, 1)
    return resized.unsqueeze(1).numpy()


def pytorch_reference(model: MattingNetwork, frames: np.ndarray, ratio: float) -> Dict[str, np.ndarray]:
    """fgr `[T, B, 3, H, W]` and pha `[T, B, 1, H, W]` of `model` over the chained `frames`."""
    rec = [None] * 4
    fgrs, phas = [], []
    with torch.no_grad():
        for src in frames:
            fgr, pha, *rec = model(torch.from_numpy(src), *rec, downsample_ratio=ratio)
            fgrs.append(fgr.numpy())
            phas.append(pha.numpy())
    return {'fgr': np.stack(fgrs), 'pha': np.stack(phas)}


def max_errors(actual: Dict[str, np.ndarray], expected: Dict[str, np.ndarray]) -> Tuple[float, float]:
    """Max absolute (fgr, pha) differences, after checking the shapes agree."""
    for name in ('fgr', 'pha'):
        assert actual[name].shape == expected[name].shape, name
    return tuple(float(np.abs(actual[n] - expected[n]).max()) for n in ('fgr', 'pha'))
