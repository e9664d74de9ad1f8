"""Conversion speed: the network alone vs. convert_video end to end, on the same 1280x720 clip.

    python benchmarks/benchmark_conversion.py                      # makes a 720p clip, CPU or CUDA
    python benchmarks/benchmark_conversion.py --input my.mp4 --checkpoint rvm_mobilenetv3.pth --seq-chunk 4

Model-only runs the prepared network (`streaming.device.Placement.prepare`) on frames already
decoded and on the device as uint8, chunk after chunk with its recurrent state, exactly as
convert_video calls it (uint8 to float on the device included). End-to-end runs convert_video with all three outputs (composition, alpha, foreground
as H.264 .mp4 at the default constant quality, CRF 18, audio copied): decoding, inference and
encoding together; with --compare-mbps M, also at M Mbps (1: the original default), to show what
the quality default costs. With --configs, each CPU
engine and precision (`--engine`, `--precision`) runs model-only and end-to-end, interleaved, beside
the others. Pipeline-only runs
convert_video the same way with a network that costs nothing (its foreground is its input): the
cost of decoding, composing and encoding alone, the most end-to-end could reach. The three alternate
`--repeat` times and the best of each is printed, with the load average before and after (other
processes on the machine slow both). The weights are random unless --checkpoint is given: speed
does not depend on them, but encoding noise-like mattes costs a little more than real ones.
"""
import argparse
import os
import sys
import tempfile
import threading
import time
from fractions import Fraction
from typing import List

import av
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from inference import auto_downsample_ratio, convert_video  # noqa: E402
from inference_utils import VideoReader  # noqa: E402
from engines import build_engine  # noqa: E402
from model import create_model  # noqa: E402
from streaming.device import Placement, default_device  # noqa: E402


def make_clip(path: str, frames: int, size=(1280, 720), rate=Fraction(30000, 1001)) -> None:
    """A clip with video-like content: a drifting gradient, a textured moving figure, and a tone."""
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = np.random.default_rng(0).integers(0, 40, (height, width, 1), dtype=np.uint8)
    with av.open(path, 'w') as container:
        video = container.add_stream('libx264', rate=rate)
        video.width, video.height, video.pix_fmt, video.bit_rate = width, height, 'yuv420p', 4_000_000
        video.options = {'preset': 'veryfast'}
        audio = container.add_stream('aac', rate=48000)
        audio.layout = 'stereo'
        for i in range(frames):
            image = np.stack([(xx / width * 180 + i) % 256, yy / height * 200, np.full_like(xx, 90)], -1)
            figure = ((xx - width * (0.3 + 0.4 * i / frames)) / 180) ** 2 + ((yy - height * 0.55) / 300) ** 2 < 1
            image[figure] = (210, 160, 130)
            frame = av.VideoFrame.from_ndarray(image.astype(np.uint8) + texture, format='rgb24')
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        samples = int(frames / rate * 48000)
        tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(samples) / 48000)).astype(np.float32)
        tone_frame = av.AudioFrame.from_ndarray(np.repeat(tone[None], 2, 0), format='fltp', layout='stereo')
        tone_frame.sample_rate, tone_frame.pts = 48000, 0
        container.mux(audio.encode(tone_frame))
        container.mux(audio.encode())


class Timer:
    """Wall-clock and process CPU seconds (all threads) of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def model_only(model, chunks: List[torch.Tensor], downsample_ratio: float, dtype: torch.dtype) -> Timer:
    """Time the network alone over `chunks` (`[T, H, W, 3]` uint8 on the device)."""
    rec = [None] * 4
    synchronize = torch.cuda.synchronize if chunks[0].is_cuda else (lambda: None)
    with torch.inference_mode(), Timer() as timer:
        for images in chunks:
            src = images.permute(0, 3, 1, 2).to(dtype).div(255)
            fgr, pha, *rec = model(src[None], *rec, downsample_ratio)
        synchronize()
    return timer


class MemorySampler:
    """The process's resident memory, sampled on a thread while a block runs (MiB).

    `summary()`: after the first tenth of the run (set-up: codecs, network buffers), at half of
    it and at its end, and the peak: flat when the pipeline keeps nothing per frame.
    """

    def __enter__(self):
        self.samples, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        page = os.sysconf('SC_PAGE_SIZE')
        while not self.stop.wait(0.2):
            with open('/proc/self/statm') as statm:
                self.samples.append(int(statm.read().split()[1]) * page / 2 ** 20)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def summary(self) -> str:
        if not self.samples:
            return 'resident memory not sampled'
        tenth, half, end = (self.samples[len(self.samples) * k // 10] for k in (1, 5, 9))
        return (f'resident memory {tenth:.0f} / {half:.0f} / {end:.0f} MiB at 10 / 50 / 90% of the run, '
                f'peak {max(self.samples):.0f} MiB')


class Passthrough(torch.nn.Module):
    """MattingNetwork's signature at almost no cost: the foreground is the input, the alpha its red channel.

    Like the network's, its outputs are new contiguous `[B, T, C, H, W]` tensors (the input is
    channels-last in memory, and mixed layouts would make the composition slower than it is).
    """

    def forward(self, src, r1=None, r2=None, r3=None, r4=None, downsample_ratio: float = 1.0):
        return [src.contiguous(), src[:, :, :1].contiguous(), r1, r2, r3, r4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--input', help='a video to convert (default: make a 1280x720 clip)')
    parser.add_argument('--frames', type=int, default=90, help='frames of the generated clip')
    parser.add_argument('--checkpoint', help='mobilenetv3 weights (default: random)')
    parser.add_argument('--device', default=str(default_device()))
    parser.add_argument('--dtype', default='float32', choices=('float32', 'float16', 'bfloat16'))
    parser.add_argument('--seq-chunk', type=int, default=1)
    parser.add_argument('--repeat', type=int, default=2)
    parser.add_argument('--threads', type=int, help="the network's intra-op threads (default: torch's, one per core)")
    parser.add_argument('--compare-mbps', type=float,
                        help='also convert at this bit rate, interleaved (1: the original default)')
    parser.add_argument('--pipeline-only', action='store_true',
                        help='only the pipeline with a free network: quick, for long clips and memory')
    parser.add_argument('--configs', nargs='+', default=['pytorch:float32'], metavar='ENGINE:PRECISION',
                        help='CPU engines to compare, interleaved (default pytorch:float32, the default path); '
                             'e.g. pytorch:float32 openvino:int8')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    net = create_model('mobilenetv3', checkpoint=args.checkpoint)
    configs = [tuple(config.split(':')) for config in args.configs]
    models = {config: Placement(device, dtype).prepare(net) if config[0] == 'pytorch'
              else build_engine(net, *config) for config in configs}
    suffix = {config: '' if configs == [('pytorch', 'float32')] else f' {config[0]} {config[1]}' for config in configs}
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.input or os.path.join(tmp, 'clip.mp4')
        if not args.input:
            make_clip(clip, args.frames)
        reader = VideoReader(clip)
        images = [] if args.pipeline_only else [torch.from_numpy(frame.image) for frame in reader.frames()]
        ratio = auto_downsample_ratio(reader.height, reader.width)
        chunks = [torch.stack(images[i:i + args.seq_chunk]).to(device) for i in range(0, len(images), args.seq_chunk)]
        del images
        print(f'{clip}: {len(reader)} frames {reader.width}x{reader.height} at {float(reader.frame_rate):.3f} fps; '
              f'mobilenetv3 on {device} {args.dtype}, downsample_ratio {ratio:.3f}, seq_chunk {args.seq_chunk}, '
              f'torch threads {torch.get_num_threads()}')
        for model in models.values() if chunks else ():
            model_only(model, chunks[:2], ratio, dtype)  # warm up
        print(f'load average before: {os.getloadavg()}')
        frames = len(reader)
        outputs = {f'output_{kind}': os.path.join(tmp, f'{kind}.mp4') for kind in ('composition', 'alpha', 'foreground')}
        conversions = ['pipeline-only'] if args.pipeline_only else \
            [f'end-to-end{suffix[config]}' for config in configs] + ['pipeline-only']
        if args.compare_mbps:
            conversions += [f'{name} {args.compare_mbps:g} Mbps' for name in conversions]
        model_names = [] if args.pipeline_only else [f'model-only{suffix[config]}' for config in configs]
        results = {name: [] for name in model_names + conversions}
        for run in range(args.repeat):  # (fps, CPU ms per frame) per run
            for name, model in zip(model_names, models.values()):
                timer = model_only(model, chunks, ratio, dtype)
                results[name].append((frames / timer.wall, 1000 * timer.cpu / frames))
            for name in conversions:
                config = next((c for c in configs if name.startswith(f'end-to-end{suffix[c]}')), None)
                network = models[config] if config else Passthrough()
                mbps = args.compare_mbps if name.endswith(' Mbps') else None
                engine = {} if config is None or config[0] == 'pytorch' else {'engine': config[0], 'precision': config[1]}
                with MemorySampler() as memory, Timer() as timer:
                    count = convert_video(network, clip, seq_chunk=args.seq_chunk, progress=False,
                                          device=None if engine else device, dtype=None if engine else dtype,
                                          output_video_mbps=mbps, **engine, **outputs)
                sizes = sum(os.path.getsize(path) for path in outputs.values()) / 2 ** 20
                results[name].append((count / timer.wall, 1000 * timer.cpu / count, sizes))
                if name == conversions[0]:
                    memory_summary = f'{name} {memory.summary()}'
            print(f'run {run}: ' + ', '.join(f'{name} {runs[-1][0]:.2f} fps ({runs[-1][1]:.0f} CPU ms/frame'
                                              + (f', outputs {runs[-1][2]:.1f} MiB)' if len(runs[-1]) > 2 else ')')
                                              for name, runs in results.items()) + f'; {memory_summary}', flush=True)
        print(f'load average after: {os.getloadavg()}')
    best = {name: max(fps for fps, *_ in runs) for name, runs in results.items()}
    ratio_note = '' if args.pipeline_only else '; ' + ', '.join(
        f'end-to-end{suffix[c]} is {100 * best[f"end-to-end{suffix[c]}"] / best[f"model-only{suffix[c]}"]:.0f}% '
        f'of model-only' for c in configs)
    print(f'best of {args.repeat}: ' + ', '.join(f'{name} {fps:.2f} fps' for name, fps in best.items()) + ratio_note)


if __name__ == '__main__':
    main()
