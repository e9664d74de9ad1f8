"""The two measurements behind the batch defaults, on real footage and real weights (documentation/batch.md).

    python benchmarks/measure_batch_quality.py [--real ../shared/real] [--scale 4] [--ratio 0.5]

1. Scene cuts: two real clips spliced (a hard cut with real content on both sides). Alpha error
   after the cut, with and without the reset at cuts, against the second shot matted from its own
   start; and what a reset costs where the detector fires inside a shot.
2. Segment warm-up: a segment that starts at frame `--join` of a real clip, warmed up on W frames
   before it, against a sequential run of the whole clip: the alpha difference after the join by W.

Errors are mean absolute alpha differences in 1/255 units (0..255 scale), and the largest pixel
difference. The clips are upscaled (bicubic) as the clips' README advises.
"""
import argparse
import os
import sys
import time
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from model import create_model  # noqa: E402
from streaming import Matter  # noqa: E402
from streaming.scenes import SceneCutMatter, CutDetector  # noqa: E402

LANDSCAPE = ['tile0', 'tile1', 'tile4', 'tile5', 'tile6', 'tile9']
PAIRS = [('tile0', 'tile4'), ('tile1', 'tile9'), ('tile5', 'tile6'), ('tile2', 'tile3')]


def upscale(clip: np.ndarray, scale: float, size=None) -> np.ndarray:
    """`[T, H, W, 3]` uint8 upscaled bicubically by `scale` (or to `size` (H, W))."""
    x = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=size or (round(clip.shape[1] * scale), round(clip.shape[2] * scale)),
                      mode='bicubic', align_corners=False)
    return x.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()


def alphas(matter: Matter, frames: np.ndarray) -> np.ndarray:
    """Alpha `[T, H, W]` in 0..255 (float) of `frames`, one frame per call, carrying the states."""
    return np.concatenate([matter(frames[t:t + 1])[1][:, 0].float().numpy() * 255 for t in range(len(frames))])


def scene_cuts(model, clips: Dict[str, np.ndarray], args) -> None:
    print('\n## Scene cuts: alpha error after the cut vs the second shot matted from its own start (0..255)')
    print('| cut | reset | frame 0 after | frames 0-4 | frames 0-29 | max px |')
    print('| --- | --- | ---: | ---: | ---: | ---: |')
    for a, b in PAIRS:
        first = upscale(clips[a], args.scale)
        second = upscale(clips[b], args.scale, size=first.shape[1:3])
        spliced = np.concatenate([first, second])
        own = alphas(Matter(model, 'cpu', torch.float32, args.ratio), second)
        for reset in (False, True):
            matter = (SceneCutMatter if reset else Matter)(model, 'cpu', torch.float32, args.ratio)
            after = alphas(matter, spliced)[len(first):]
            error = np.abs(after - own)
            per_frame = error.mean(axis=(1, 2))
            found = f' (cuts found at {matter.cuts})' if reset else ''
            print(f'| {a} -> {b}{found} | {"yes" if reset else "no"} | {per_frame[0]:.2f} | {per_frame[:5].mean():.2f} '
                  f'| {per_frame[:30].mean():.2f} | {error.max():.0f} |')
    print('\nInside one shot (no splice): where the detector fires, and what the reset changes vs no reset')
    for name, clip in clips.items():
        detector = CutDetector()
        frames = torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255
        cuts = detector(frames)
        if not cuts:
            print(f'- {name}: no cut detected')
            continue
        big = upscale(clip, args.scale)
        plain = alphas(Matter(model, 'cpu', torch.float32, args.ratio), big)
        reset = alphas(SceneCutMatter(model, 'cpu', torch.float32, args.ratio), big)
        error = np.abs(plain - reset).mean(axis=(1, 2))
        print(f'- {name}: detected at frames {cuts}; alpha change with the reset, mean over the 10 frames after: '
              f'{error[cuts[0]:cuts[0] + 10].mean():.2f}, largest frame mean {error.max():.2f}')


def warmup(model, clips: Dict[str, np.ndarray], args) -> None:
    print(f'\n## Segment warm-up: a segment starting at frame {args.join} of {", ".join(args.clips)}'
          f'{" (ping-pong)" if args.ping_pong else ""}, vs a sequential run (0..255)')
    print('| warm-up frames | frame 0 after the join | frames 0-4 | frames 0-19 | max px (all frames after) |')
    print('| ---: | ---: | ---: | ---: | ---: |')
    table: Dict[int, List[np.ndarray]] = {w: [] for w in args.warmups}
    for name in args.clips:
        clip = np.concatenate([clips[name], clips[name][-2::-1]]) if args.ping_pong else clips[name]
        big = upscale(clip, args.scale)
        sequential = alphas(Matter(model, 'cpu', torch.float32, args.ratio), big)[args.join:]
        for w in args.warmups:
            segment = alphas(Matter(model, 'cpu', torch.float32, args.ratio), big[args.join - w:])[w:]
            table[w].append(np.abs(segment - sequential))
    for w, errors in table.items():
        per_frame = np.mean([e.mean(axis=(1, 2)) for e in errors], axis=0)
        print(f'| {w} | {per_frame[0]:.2f} | {per_frame[:5].mean():.2f} | {per_frame[:20].mean():.2f} '
              f'| {max(e.max() for e in errors):.0f} |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--real', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'real'))
    parser.add_argument('--scale', type=float, default=4)
    parser.add_argument('--ratio', type=float, default=0.5)
    parser.add_argument('--join', type=int, default=29)
    parser.add_argument('--warmups', type=int, nargs='+', default=[0, 1, 2, 4, 8, 16, 29])
    parser.add_argument('--clips', nargs='+', default=LANDSCAPE, help='the clips of the warm-up measurement')
    parser.add_argument('--ping-pong', action='store_true',
                        help='play each clip forward then backward (115 continuous frames) for longer warm-ups')
    parser.add_argument('--only', choices=('cuts', 'warmup'))
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    torch.set_num_threads(args.threads)
    model = create_model('mobilenetv3', checkpoint=os.path.join(args.real, 'rvm_mobilenetv3_real_fgf.pth'),
                         refiner='fast_guided_filter')
    clips = dict(np.load(os.path.join(args.real, 'clips.npz')))
    print(f'real clips x{args.scale:g} bicubic, downsample ratio {args.ratio:g}, load {os.getloadavg()[0]:.1f}')
    began = time.perf_counter()
    if args.only != 'warmup':
        scene_cuts(model, clips, args)
    if args.only != 'cuts':
        warmup(model, clips, args)
    print(f'\n({time.perf_counter() - began:.0f} s)')


if __name__ == '__main__':
    main()
