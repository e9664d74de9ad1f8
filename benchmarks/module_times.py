"""Per-module CPU time of the deployment path: encoder, LR-ASPP, decoder, refiner (with the output tail).

    python benchmarks/module_times.py --resolution 1280 720 --downsample-ratio 0.4 --frames 30

Each module of each variant (the plain model, the deployment path as convert_video runs it, and with
the opt-in bfloat16 convolutions where the CPU has native bfloat16) runs on the inputs the previous module gave it,
frame after frame with the recurrent states carried; the variants' frames are interleaved, so that a
change of machine load hits them alike. Prints the median ms per module and the load average.
The weights are random (speed does not depend on them). Under a changing load, `--threads 1
--cpu-time` gives the steadiest comparison (the thread's CPU time leaves out the time others took).
"""
import argparse
import os
import statistics
import sys
import time
from typing import Callable, Dict, List

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from model import MattingNetwork  # noqa: E402
from streaming.device import Placement  # noqa: E402

MODULES = ('encoder', 'aspp', 'decoder', 'refiner')


def frame_by_module(model: nn.Module, src: torch.Tensor, ratio: float, states: List,
                    timer: Callable[[], float]) -> Dict[str, float]:
    """Run one frame `[1, 3, H, W]` through `model`'s parts as `forward` would (for the prepared
    model: its `hidden` split into encoder, ASPP and decoder); returns seconds per part, by `timer`,
    and updates `states`. The downsampling of the frame is not timed."""
    src_sm = nn.functional.interpolate(src, scale_factor=ratio, mode='bilinear', align_corners=False,
                                       recompute_scale_factor=False)
    if hasattr(model, 'prepared_for'):  # as DeployedMattingNetwork.hidden does
        src_sm = src_sm.contiguous(memory_format=torch.channels_last)
    times, clock = {}, timer()

    def lap(name):
        nonlocal clock
        now = timer()
        times[name], clock = now - clock, now
    f1, f2, f3, f4 = model.backbone(src_sm)
    lap('encoder')
    f4 = model.aspp(f4)
    lap('aspp')
    hid, *states[:] = model.decoder(src_sm, f1, f2, f3, f4, *states, 0)
    lap('decoder')
    model.matte(src, src_sm, hid, True)
    lap('refiner')
    return times


def main(argv=None) -> Dict[str, Dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model-variant', default='mobilenetv3', choices=['mobilenetv3', 'resnet50'])
    parser.add_argument('--model-refiner', default='deep_guided_filter')
    parser.add_argument('--resolution', type=int, nargs=2, default=[1280, 720], metavar=('WIDTH', 'HEIGHT'))
    parser.add_argument('--downsample-ratio', type=float, default=0.4)
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, help='PyTorch threads; default: one per core')
    parser.add_argument('--cpu-time', action='store_true',
                        help="time each module by the thread's CPU time instead of the wall clock: with "
                             "--threads 1, numbers that other processes on the machine hardly change")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    plain = MattingNetwork(args.model_variant, args.model_refiner).eval()
    variants = {'plain': plain, 'deploy': Placement(torch.device('cpu'), torch.float32).prepare(plain)}
    bfloat16 = Placement(torch.device('cpu'), torch.float32, bfloat16=True)
    if bfloat16.bfloat16_convolutions:
        variants['deploy-bfloat16'] = bfloat16.prepare(plain)
    width, height = args.resolution
    src = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    timer = time.thread_time if args.cpu_time else time.perf_counter
    states = {name: [None] * 4 for name in variants}
    times = {name: {m: [] for m in MODULES} for name in variants}
    with torch.inference_mode():
        for frame in range(args.warmup + args.frames):
            for name, model in variants.items():
                lap = frame_by_module(model, src, args.downsample_ratio, states[name], timer)
                if frame >= args.warmup:
                    for m in MODULES:
                        times[name][m].append(lap[m])
    load = os.getloadavg()
    print(f'{args.model_variant} {args.model_refiner}, {width}x{height} at {args.downsample_ratio}, '
          f'{torch.get_num_threads()} threads, {"CPU" if args.cpu_time else "wall"} time; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}')
    print(f'{"median ms":15s}' + ''.join(f'{m:>9s}' for m in MODULES) + f'{"sum":>9s}')
    medians = {name: {m: statistics.median(t[m]) * 1e3 for m in MODULES} for name, t in times.items()}
    for name, row in medians.items():
        print(f'{name:15s}' + ''.join(f'{row[m]:9.1f}' for m in MODULES) + f'{sum(row.values()):9.1f}')
    return medians


if __name__ == '__main__':
    main()
