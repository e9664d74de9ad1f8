"""Batch throughput: a folder of 8 short clips and one long clip, in this process vs Ray with 1 and 2 workers.

    python benchmarks/benchmark_batch.py                       # real clips if ../shared/real exists
    python benchmarks/benchmark_batch.py --device cuda --size 1280 720 --long-frames 1800

The folder holds 8 short clips and one long one (the real clips of ../shared/real, upscaled and
looped, as H.264 .mp4; else random noise). Each configuration converts the whole folder to an
alpha and a composition .mp4 (`--force`), in turns, `--repeat` times; the best throughput of each
(frames per second, all inputs together) is printed with the load average. The long clip is split
into segments of `--segment-seconds` so that Ray workers share it. Ray starts once, before any
timing (its start-up is seconds); with a GPU each Ray task takes one GPU, so several workers need
several GPUs.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from fractions import Fraction

import av
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from inference import convert_videos  # noqa: E402
from model import create_model  # noqa: E402

REAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'real')


def frames_of(count: int, size, seed: int) -> np.ndarray:
    """`count` frames `[T, H, W, 3]` of a real clip (looped, resized to `size` (W, H)), or noise without them."""
    if os.path.isfile(os.path.join(REAL, 'clips.npz')):
        clips = np.load(os.path.join(REAL, 'clips.npz'))
        clip = clips[sorted(clips.files)[seed % len(clips.files)]]
        clip = np.concatenate([clip, clip[::-1]] * (count // (2 * len(clip)) + 1))[:count]  # ping-pong: no cut
        x = F.interpolate(torch.from_numpy(clip).permute(0, 3, 1, 2).float(), size=(size[1], size[0]),
                          mode='bicubic', align_corners=False)
        return x.clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return np.random.default_rng(seed).integers(0, 256, (count, size[1], size[0], 3), np.uint8)


def write_clip(path: str, frames: np.ndarray) -> None:
    with av.open(path, 'w') as container:
        stream = container.add_stream('libx264', rate=Fraction(30))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = 'yuv420p'
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format='rgb24')))
        container.mux(stream.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, nargs=2, default=(320, 180), metavar=('W', 'H'))
    parser.add_argument('--short-frames', type=int, default=30)
    parser.add_argument('--long-frames', type=int, default=240)
    parser.add_argument('--segment-seconds', type=float, default=2.0)
    parser.add_argument('--downsample-ratio', type=float, default=0.5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeat', type=int, default=1)
    parser.add_argument('--configs', nargs='+', default=['in-process', 'ray-1', 'ray-2'])
    args = parser.parse_args()
    checkpoint = os.path.join(REAL, 'rvm_mobilenetv3_real_fgf.pth')
    model = create_model('mobilenetv3', checkpoint=checkpoint if os.path.isfile(checkpoint) else None,
                         refiner='fast_guided_filter')
    work = tempfile.mkdtemp(prefix='rvm-batch-bench-')
    try:
        os.makedirs(os.path.join(work, 'in', 'short'))
        for i in range(8):
            write_clip(os.path.join(work, 'in', 'short', f'clip{i}.mp4'), frames_of(args.short_frames, args.size, i))
        write_clip(os.path.join(work, 'in', 'long.mp4'), frames_of(args.long_frames, args.size, 0))
        total = 8 * args.short_frames + args.long_frames
        cores = os.cpu_count() or 1
        if any(c.startswith('ray') for c in args.configs):
            import ray
            from streaming.batch.ray_runner import ROOT
            ray.init(include_dashboard=False, log_to_driver=False, runtime_env={'env_vars': {'PYTHONPATH': ROOT}})
        best = {config: 0.0 for config in args.configs}
        print(f'{total} frames ({8} x {args.short_frames} + {args.long_frames}) at {args.size[0]}x{args.size[1]}, '
              f'ratio {args.downsample_ratio:g}, {args.device}, {cores} cores, segments of {args.segment_seconds:g} s; '
              f'load {os.getloadavg()[0]:.1f}')
        for _ in range(args.repeat):
            for config in args.configs:
                out = os.path.join(work, 'out-' + config)
                shutil.rmtree(out, ignore_errors=True)
                ray = False if config == 'in-process' else True
                workers = 1 if config == 'in-process' else int(config.split('-')[1])
                began = time.perf_counter()
                report = convert_videos(model, os.path.join(work, 'in'), out, output_alpha='pha.mp4',
                                        output_composition='com.mp4', segment_seconds=args.segment_seconds,
                                        downsample_ratio=args.downsample_ratio, progress=False, device=args.device,
                                        ray=ray, ray_cpus=max(1, cores // workers))
                seconds = time.perf_counter() - began
                assert report.totals()['converted'] == 9 and report.totals()['frames'] == total, report.summary()
                best[config] = max(best[config], total / seconds)
                print(f'  {config:>10}: {total / seconds:6.2f} fps ({seconds:.1f} s), load {os.getloadavg()[0]:.1f}',
                      flush=True)
        print('| configuration | frames per second (best) |\n| --- | ---: |')
        for config, fps in best.items():
            print(f'| {config} | {fps:.2f} |')
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
