"""Live matting on this machine: sustained output fps, latency (median, p95) and drop rate for
sources at 30 fps, with and without --target-fps; and (--ratio-switch) what a downsample-ratio
change mid-stream should do to the recurrent states, measured on real weights and clips.

    python benchmarks/benchmark_live.py --checkpoint rvm_mobilenetv3.pth            # random weights without
    python benchmarks/benchmark_live.py --ratio-switch --real ../shared/real

The source is a generated clip played at 30 fps (`--realtime`): what a camera or a stream sends.
The configurations run interleaved, `--rounds` times each; the table has their means. The numbers
are in documentation/live.md.
"""
import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import create_model  # noqa: E402
from engines import build_engine  # noqa: E402
from streaming import ConversionOptions, Matter, make_matter  # noqa: E402
from streaming.live import LiveSession  # noqa: E402

SIZES = {'640x480': ((640, 480), 0.5), '1280x720': ((1280, 720), 0.4)}


def make_clip(path: str, size, seconds: float, rate: int = 30) -> None:
    """A moving noise pattern (decoding and the network cost what they cost on any content)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[1] + rate * 4, size[0] + rate * 4, 3), dtype=np.uint8)
    with av.open(path, 'w') as container:
        stream = container.add_stream('libx264', rate=rate)
        stream.width, stream.height, stream.pix_fmt = *size, 'yuv420p'
        stream.options = {'preset': 'ultrafast', 'crf': '28'}
        for i in range(int(seconds * rate)):
            shift = (i * 4) % (rate * 4)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[shift:shift + size[1], shift:shift + size[0]]),
                                               format='rgb24')
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def run(model, clip: str, ratio: float, target_fps, config=('pytorch', 'float32')) -> dict:
    engine, precision = config
    matter = make_matter(model, ConversionOptions(device='cpu', downsample_ratio=ratio, engine=engine,
                                                  precision=precision, reset_on_scene_cut=False))
    session = LiveSession(matter, clip, realtime=True, target_fps=target_fps, log=lambda _: None)
    for _ in session:
        pass
    summary = session.stats.summary()
    summary['drop_rate'] = summary['dropped'] / max(summary['frames_in'], 1)
    return summary


def benchmark(args) -> None:
    model = create_model(checkpoint=args.checkpoint) if args.checkpoint else create_model()
    print(f'{os.cpu_count()} cores, torch {torch.__version__}, load average before: {os.getloadavg()[0]:.1f}; {args.seconds:g} s per run, {args.rounds} rounds', flush=True)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        clips = {}
        sizes = {name: spec for name, spec in SIZES.items() if not args.sizes or name in args.sizes}
        for name, (size, _) in sizes.items():
            clips[name] = os.path.join(folder, f'{name}.mp4')
            make_clip(clips[name], size, args.seconds)
        configs = [tuple(config.split(':')) for config in args.configs]
        networks = {}  # the engines' modules, built once per thread count (their threads are fixed then)
        for round_ in range(args.rounds):
            for threads in args.threads:
                torch.set_num_threads(threads)
                for config in configs:
                    if (threads, config) not in networks:
                        networks[threads, config] = build_engine(model, *config, threads=threads)
                    network = networks[threads, config]
                    for name, (size, ratio) in sizes.items():
                        for target in (None, args.target_fps) if args.target_fps else (None,):
                            summary = run(network, clips[name], ratio, target, config)
                            results.setdefault((threads, config, name, ratio, target), []).append(summary)
    print(f'load average after: {os.getloadavg()[0]:.1f}\n')
    print('| threads | engine, precision | source (30 fps) | ratio | --target-fps | output fps | latency median | '
          'latency p95 | dropped | ratios used |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for (threads, config, name, ratio, target), runs in results.items():
        def mean(key):
            return statistics.mean(r[key] for r in runs)
        used = sorted({round(x, 3) for r in runs for x in r['downsample_ratios_used']}, reverse=True)
        print(f'| {threads} | {" ".join(config)} | {name} | {ratio} | {target or "-"} | {mean("output_fps"):.1f} | {mean("latency_median_ms"):.0f} ms | '
              f'{mean("latency_p95_ms"):.0f} ms | {100 * mean("drop_rate"):.0f}% | '
              f'{", ".join(map(str, used)) if target else "-"} |')


def ratio_switch(args) -> None:
    """Alpha error (mean, x255) after a ratio change, against the network run at the new ratio from
    the start, when the change resets the states or resizes them (bilinear) to the new size."""
    model = create_model(checkpoint=os.path.join(args.real, 'rvm_mobilenetv3_real_fgf.pth'))
    clips = np.load(os.path.join(args.real, 'clips.npz'))

    def run_clip(frames, ratios, mode):
        matter = Matter(model, 'cpu')
        alphas = []
        for image, ratio in zip(frames, ratios):
            matter.set_ratio(ratio, (image.shape[1], image.shape[0]), resize=mode == 'resize')
            alphas.append(matter(image[None])[1][0, 0].numpy())
        return np.stack(alphas)

    print('| clip (x4, 58 frames) | switch at frame 29 | states | frame 1 | frames 1-5 | frames 6-15 | frames 16+ |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for key in args.clips:
        frames = torch.from_numpy(clips[key]).permute(0, 3, 1, 2).float()
        frames = F.interpolate(frames, scale_factor=4, mode='bicubic').clamp(0, 255).round().byte()
        frames = frames.permute(0, 2, 3, 1).numpy()
        half = len(frames) // 2
        for before, after in ((0.5, 0.25), (0.25, 0.5)):
            reference = run_clip(frames, [after] * len(frames), 'reset')[half:]
            for mode in ('reset', 'resize'):
                alphas = run_clip(frames, [before] * half + [after] * (len(frames) - half), mode)[half:]
                error = np.abs(alphas - reference).mean(axis=(1, 2)) * 255
                print(f'| {key} {frames.shape[2]}x{frames.shape[1]} | {before} -> {after} | {mode} | {error[0]:.2f} | '
                      f'{error[:5].mean():.2f} | {error[5:15].mean():.2f} | {error[15:].mean():.2f} |', flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--checkpoint', help='weights (default: random; the speed does not depend on them)')
    parser.add_argument('--seconds', type=float, default=10, help='length of each run (default 10)')
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--threads', type=int, nargs='+', default=[torch.get_num_threads()],
                        help="the network's threads, each in turn (default: torch's)")
    parser.add_argument('--target-fps', type=float, default=24, help='also run with it (0: only without)')
    parser.add_argument('--configs', nargs='+', default=['pytorch:float32'], metavar='ENGINE:PRECISION',
                        help='CPU engines to compare, interleaved (default pytorch:float32, the default path)')
    parser.add_argument('--sizes', nargs='+', choices=list(SIZES), help='default: all')
    parser.add_argument('--ratio-switch', action='store_true', help='measure ratio changes instead (needs --real)')
    parser.add_argument('--real', default=str(Path(__file__).resolve().parent.parent.parent / 'shared' / 'real'))
    parser.add_argument('--clips', nargs='+', default=['tile0', 'tile5'])
    args = parser.parse_args()
    ratio_switch(args) if args.ratio_switch else benchmark(args)


if __name__ == '__main__':
    main()
