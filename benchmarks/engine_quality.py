"""The quality table of the CPU engines (documentation/inference.md, "8-bit"): each engine and
precision against the float32 PyTorch network on the real clips, states chained.

    python benchmarks/engine_quality.py                      # every landscape clip, ratios 0.5 and 1, 300 frames
    python benchmarks/engine_quality.py --configs onnxruntime:int8 --clips tile1 --frames 60

The clips of ../shared/real are upscaled x4 (bicubic) and looped back and forth (58 frames forward,
then backward: no jump, so the states run on as in one long shot) to `--frames` frames, matted
through a `Matter` as every entry point does, and compared frame by frame with the float32
PyTorch network (the deployment path) over the same frames. The bound (`BOUND`): alpha mean
absolute difference at most 1/255, its 99th percentile at most 8/255, mask IoU (alpha > 0.5) at
least 0.99; the foreground's mean where alpha > 0.1 at most 1/255. Each row says which limits it
misses and by how much. The calibration frames are the portrait clips (exporters/calibration.py),
so every landscape clip here is held out.
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engines import build_engine  # noqa: E402
from exporters.parity import REAL, real_model  # noqa: E402
from streaming import Matter  # noqa: E402

LANDSCAPE = ('tile0', 'tile1', 'tile4', 'tile5', 'tile6', 'tile9')
CONFIGS = ('onnxruntime:float32', 'openvino:float32', 'onnxruntime:int8', 'openvino:int8')
BOUND = {'pha_mean': 1 / 255, 'pha_p99': 8 / 255, 'iou': 0.99, 'fgr_mean': 1 / 255}


def looped(name: str, frames: int) -> np.ndarray:
    """Clip `name` upscaled x4, looped back and forth to `frames` frames `[T, H, W, 3]` uint8."""
    clip = torch.from_numpy(np.load(REAL / 'clips.npz')[name]).permute(0, 3, 1, 2).float()
    clip = F.interpolate(clip, scale_factor=4, mode='bicubic', align_corners=False).clamp(0, 255).round().byte()
    clip = clip.permute(0, 2, 3, 1).numpy()
    order = np.concatenate([np.arange(len(clip)), np.arange(len(clip) - 2, 0, -1)])
    return clip[np.resize(order, frames)]


def matte(network, frames: np.ndarray, ratio: float, chunk: int = 10):
    """fgr `[T, 3, H, W]` and pha `[T, 1, H, W]` (float32, numpy) of `network` through a Matter, states chained."""
    matter = Matter(network, 'cpu', torch.float32, ratio)
    outputs = [matter(frames[i:i + chunk]) for i in range(0, len(frames), chunk)]
    return torch.cat([o[0] for o in outputs]).numpy(), torch.cat([o[1] for o in outputs]).numpy()


def compare(fgr, pha, ref_fgr, ref_pha) -> dict:
    error = np.abs(pha - ref_pha)
    mask, ref_mask = pha > 0.5, ref_pha > 0.5
    where = np.broadcast_to(ref_pha > 0.1, ref_fgr.shape)
    return {'pha_mean': float(error.mean()), 'pha_p99': float(np.percentile(error, 99)),
            'iou': float((mask & ref_mask).sum() / max((mask | ref_mask).sum(), 1)),
            'fgr_mean': float(np.abs(fgr - ref_fgr)[where].mean())}


def misses(result: dict) -> str:
    """The limits `result` misses, with the amount ('' when within the bound)."""
    found = [f'{key} {result[key] / BOUND[key]:.1f}x' for key in ('pha_mean', 'pha_p99', 'fgr_mean')
             if result[key] > BOUND[key]]
    if result['iou'] < BOUND['iou']:
        found.append(f'iou {BOUND["iou"] - result["iou"]:.4f} short')
    return ', '.join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--configs', nargs='+', default=list(CONFIGS), help='engine:precision pairs')
    parser.add_argument('--clips', nargs='+', default=list(LANDSCAPE))
    parser.add_argument('--ratios', type=float, nargs='+', default=[0.5, 1.0])
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--refiner', default='fast_guided_filter', choices=('fast_guided_filter', 'deep_guided_filter'))
    args = parser.parse_args()
    model = real_model(args.refiner)
    networks = {config: build_engine(model, *config.split(':')) for config in args.configs}
    print(f'{args.refiner}, {args.frames} chained frames per clip (x4, looped), torch threads {torch.get_num_threads()}, '
          f'load average {os.getloadavg()[0]:.1f}\n')
    print('| engine, precision | clip | ratio | alpha mean (/255) | alpha p99 (/255) | mask IoU | fgr mean (/255) | '
          'misses |\n| --- | --- | --- | --- | --- | --- | --- | --- |', flush=True)
    for name in args.clips:
        frames = looped(name, args.frames)
        for ratio in args.ratios:
            reference = matte(model, frames, ratio)
            for config, network in networks.items():
                result = compare(*matte(network, frames, ratio), *reference)
                print(f'| {config.replace(":", " ")} | {name} | {ratio:g} | {255 * result["pha_mean"]:.2f} | '
                      f'{255 * result["pha_p99"]:.1f} | {result["iou"]:.4f} | {255 * result["fgr_mean"]:.2f} | '
                      f'{misses(result) or "-"} |', flush=True)


if __name__ == '__main__':
    main()
