"""What keeping only the people chosen costs on this CPU: the selection stage (following people,
`streaming.selection.Selector`) beside the network, per frame, at 640x480 (live) and 1920x1080
(conversion), on real footage and the real weights (documentation/selection.md).

    python benchmarks/benchmark_selection.py --real ../shared/real [--frames 30] [--threads 2]

Two real clips, resized to each size: `pair` (two people apart: the usual case, regions followed by
overlap) and `tile0` (two people who touch in every frame: the heaviest case, optical flow and a
split every frame). Each frame is matted (the network, at the default ratio: the longer side to
512 px), then the stage runs on what the network gave, one person kept; both are timed on the same
frame, so that load on a shared machine falls on both alike. Wall time and the process's CPU time
(every thread) are reported as medians; the budget is 20% of the network's time.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from model import create_model  # noqa: E402
from streaming import Matter  # noqa: E402
from streaming.selection import Selection, Selector  # noqa: E402

SIZES = {'640x480 (live)': (640, 480), '1920x1080 (conversion)': (1920, 1080)}


def cpu_model() -> str:
    """`lscpu`'s model name and its vector flags that matter to the network."""
    info = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
    name = next((line.split(':', 1)[1].strip() for line in info.splitlines() if line.startswith('Model name')), '?')
    flags = next((line.split(':', 1)[1].split() for line in info.splitlines() if line.startswith('Flags')), [])
    vector = [f for f in flags if f.startswith(('avx', 'amx', 'fma', 'sse4'))]
    return f'{name}, {os.cpu_count()} cores, flags: {" ".join(vector)}'


def clips(real: str) -> dict:
    tiles = np.load(os.path.join(real, 'clips.npz'))
    return {'pair': np.concatenate([tiles['tile1'][:, :90, :158], tiles['tile4'][:, :90, :158]], axis=2),
            'tile0': tiles['tile0']}


def resized(clip: np.ndarray, size) -> torch.Tensor:
    """`[T, H, W, 3]` uint8 -> `[T, H', W', 3]` uint8 at `size` (W', H'), bicubic."""
    x = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size[1], size[0]), mode='bicubic', align_corners=False)
    return x.clamp(0, 255).round().byte().permute(0, 2, 3, 1)


def measure(model, frames: torch.Tensor, keep: Selection) -> dict:
    """Median wall and CPU milliseconds per frame of the network and of the stage, on each frame in turn."""
    matter = Matter(model, 'cpu')
    selector = Selector(keep=[keep])
    times = {'network wall': [], 'network cpu': [], 'stage wall': [], 'stage cpu': []}
    for t in range(len(frames)):
        src = matter.stage(frames[t:t + 1])
        wall, cpu = time.perf_counter(), time.process_time()
        _, pha = matter(src)
        times['network wall'].append(time.perf_counter() - wall)
        times['network cpu'].append(time.process_time() - cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        selector(src, pha)
        times['stage wall'].append(time.perf_counter() - wall)
        times['stage cpu'].append(time.process_time() - cpu)
    return {key: statistics.median(values[2:]) * 1000 for key, values in times.items()}  # the first two warm up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--real', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'real'))
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = create_model(checkpoint=os.path.join(args.real, 'rvm_mobilenetv3_real_fgf.pth'))
    print(f'CPU: {cpu_model()}; torch {torch.__version__}, {args.threads} threads; '
          f'load average at the start {os.getloadavg()[0]:.1f}')
    print('| size | clip | network ms (wall / cpu) | stage ms (wall / cpu) | stage / network (wall / cpu) |')
    print('| --- | --- | ---: | ---: | ---: |')
    for label, size in SIZES.items():
        for name, clip in clips(args.real).items():
            frames = resized(clip[:args.frames], size)
            x, y = round(size[0] * 0.25), round(size[1] * 0.66)  # on the left person of both clips
            keep = Selection(x, y, x, y)
            ms = measure(model, frames, keep)
            print(f'| {label} | {name} | {ms["network wall"]:.0f} / {ms["network cpu"]:.0f} | '
                  f'{ms["stage wall"]:.1f} / {ms["stage cpu"]:.1f} | '
                  f'{ms["stage wall"] / ms["network wall"]:.1%} / {ms["stage cpu"] / ms["network cpu"]:.1%} |',
                  flush=True)
    print(f'load average at the end {os.getloadavg()[0]:.1f}')


if __name__ == '__main__':
    main()
