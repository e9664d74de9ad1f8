"""Speed test: frame time, fps and peak memory of RVM per backend, measured in the same run.

    python inference_speed_test.py --resolution 1280 720 --downsample-ratio 0.4 \\
        --backend eager deploy script onnxruntime --frames 50

Backends (several may be given; their timed frames are interleaved round-robin, so that a machine
whose load changes during the run slows them all alike):

    eager        MattingNetwork as it is
    deploy       model.deploy.prepare_for_inference as streaming.device.Placement calls it: what
                 convert_video uses (oneDNN fusions on the CPU, CUDA graphs on CUDA; exact to 1e-4)
    deploy-bfloat16  the same with the opt-in bfloat16 decoder convolutions (CPUs with native
                 bfloat16; elsewhere the same as deploy)
    script       torch.jit.script + torch.jit.freeze, the plain TorchScript-frozen model
    compile      torch.compile (mode 'reduce-overhead' on CUDA: CUDA graphs; 'default' on the CPU)
    onnxruntime  the graph of export.py --format onnx in ONNX Runtime, run with OnnxMatting's IO binding
    openvino     the same ONNX file converted by openvino.convert_model, in float32 on OpenVINO's CPU plugin
    onnxruntime-int8, openvino-int8
                 the engines of `--engine onnxruntime|openvino --precision int8` (engines/): that graph
                 quantized to 8 bits (calibrated on real frames), built once per weights and cached, so
                 give --checkpoint (random weights are new each run, and so calibrated anew)

ONNX Runtime and OpenVINO time the same exported file (exported once per run; with --checkpoint, in
float32 on the CPU, the engines' cached file, whose quantized form the int8 backends run). Their thread pools
are set not to spin after a run (ONNX Runtime's `allow_spinning` 0; OpenVINO's threads unpinned:
its TBB workers' brief wait has no switch), else their idle threads would slow whichever backend is
timed next, and the order of --backend would change the numbers. OpenVINO is told to compute in
float32: its CPU plugin defaults to bfloat16 on CPUs with native bfloat16, which moves alpha by up
to 0.19 on real frames.

Every backend carries the recurrent states from frame to frame, as in a video. The weights are
random unless --checkpoint is given (speed does not depend on their values). --disable-refiner
times the network alone: it is fed the already downsampled frame with downsample_ratio 1 (the
ONNX graph still runs its refiner there, see documentation/inference.md).
On CUDA each frame is timed between two synchronizations. With --cpu-time (CPU only) a frame's
time is the process's CPU time during it (all threads): with --threads 1 it leaves out the time
other processes took from the machine, which the wall clock counts. Peak memory is the CUDA
memory that PyTorch allocated, or on the CPU the process's peak resident memory, during a backend's set-up
and warm-up (process-wide, so it includes what earlier backends still hold).
"""
import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

from model import MattingNetwork
from model.factory import model_argument_parser, model_from_arguments
from streaming.device import Placement

BACKENDS = ('eager', 'deploy', 'deploy-bfloat16', 'script', 'compile', 'onnxruntime', 'openvino', 'onnxruntime-int8',
            'openvino-int8')
ENGINE_BACKENDS = ('onnxruntime-int8', 'openvino-int8')
ONNX_BACKENDS = ('onnxruntime', 'openvino')


def build_backend(name: str, model: MattingNetwork, args: argparse.Namespace,
                  device: torch.device, dtype: torch.dtype, onnx_path: str = '') -> Callable[[torch.Tensor], None]:
    """Return `step(src)`, which runs one frame `[B, 3, H, W]` and keeps the states for the next.
    `onnx_path`: the file from `exporters.onnx_dynamic.export_onnx`, for the ONNX backends."""
    if name == 'onnxruntime':
        return onnxruntime_backend(onnx_path, args, device)
    if name == 'openvino':
        return openvino_backend(onnx_path, args)
    if name in ENGINE_BACKENDS:
        from engines.runtimes import runtime_network
        model = runtime_network(model, *name.split('-'), threads=args.threads or 0)
    model = model.to(device=device, dtype=dtype)
    if name in ('deploy', 'deploy-bfloat16'):
        placement = Placement(device, dtype, bfloat16=name == 'deploy-bfloat16')
        if placement.bfloat16_declined:
            print(f'{name}: {placement.bfloat16_declined}; it runs as deploy', file=sys.stderr)
        model = placement.prepare(model)
    elif name == 'script':
        model = torch.jit.freeze(torch.jit.script(model))
    elif name == 'compile':
        model = torch.compile(model, mode='reduce-overhead' if device.type == 'cuda' else 'default')
    states: List[Optional[torch.Tensor]] = [None] * 4

    def step(src: torch.Tensor) -> None:
        nonlocal states
        with torch.inference_mode():
            states = model(src, *states, downsample_ratio=args.downsample_ratio)[2:]
    return step


def onnxruntime_session_options(threads: int) -> Any:
    """ONNX Runtime session options with `threads` intra-op threads (0: its choice) that do not spin
    once a run is over (their spinning would slow the next backend)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    options.add_session_config_entry('session.inter_op.allow_spinning', '0')
    return options


def onnxruntime_runner(path: str, device: str, threads: int) -> Any:
    """`exporters.onnx_runner.OnnxMatting` for `path` whose session has `onnxruntime_session_options(threads)`."""
    from exporters.onnx_runner import OnnxMatting

    return OnnxMatting(path, device, options=onnxruntime_session_options(threads))


def onnxruntime_backend(path: str, args: argparse.Namespace, device: torch.device) -> Callable[[torch.Tensor], None]:
    runner = onnxruntime_runner(path, device.type, args.threads or 0)

    def step(src: torch.Tensor) -> None:
        runner(src.cpu().numpy(), args.downsample_ratio)
    return step


def openvino_compiled_model(path: str, threads: int) -> Any:
    """The ONNX file at `path` compiled for OpenVINO's CPU plugin: float32 (its default on CPUs with
    native bfloat16 is bfloat16), latency mode, `threads` threads (0: its choice), threads unpinned."""
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints
    config = {hints.inference_precision: ov.Type.f32, hints.performance_mode: hints.PerformanceMode.LATENCY,
              hints.enable_cpu_pinning: False}
    if threads:
        config[props.inference_num_threads] = threads
    return ov.Core().compile_model(ov.convert_model(path), 'CPU', config)


def openvino_backend(path: str, args: argparse.Namespace) -> Callable[[torch.Tensor], None]:
    request = openvino_compiled_model(path, args.threads or 0).create_infer_request()
    states = [np.zeros([1, 1, 1, 1], dtype=np.float32)] * 4
    ratio = np.array([args.downsample_ratio], dtype=np.float32)

    def step(src: torch.Tensor) -> None:
        nonlocal states
        outputs = request.infer({'src': src.cpu().numpy(), 'r1i': states[0], 'r2i': states[1], 'r3i': states[2],
                                 'r4i': states[3], 'downsample_ratio': ratio})
        states = [outputs[name] for name in ('r1o', 'r2o', 'r3o', 'r4o')]
    return step


def peak_memory_reset(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    elif os.path.exists('/proc/self/clear_refs'):  # Linux: reset VmHWM, the peak resident set
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')


def peak_memory_mib(device: torch.device) -> float:
    if device.type == 'cuda':
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    if os.path.exists('/proc/self/status'):
        with open('/proc/self/status') as f:
            return int(next(line for line in f if line.startswith('VmHWM:')).split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # macOS: bytes, never reset


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def main(argv=None) -> Dict[str, List[float]]:
    parser = model_argument_parser(__doc__, random_weights=True)
    parser.add_argument('--resolution', type=int, nargs=2, metavar=('WIDTH', 'HEIGHT'), default=[1920, 1080])
    parser.add_argument('--downsample-ratio', type=float, default=0.25)
    parser.add_argument('--disable-refiner', action='store_true',
                        help='time the network alone, on the downsampled frame')
    parser.add_argument('--backend', choices=BACKENDS, nargs='+', default=['deploy'])
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--frames', type=int, default=50, help='timed frames per backend')
    parser.add_argument('--warmup', type=int, default=5, help='untimed frames per backend first')
    parser.add_argument('--threads', type=int, help='CPU threads for PyTorch, ONNX Runtime and OpenVINO; default: theirs')
    parser.add_argument('--pause', type=float, default=0.02,
                        help="seconds to wait, untimed, after each backend's frame, so that threads still waiting "
                             "actively after it (OpenVINO's TBB workers) are not timed as the next backend's")
    parser.add_argument('--cpu-time', action='store_true',
                        help="time frames by the process's CPU time (all its threads) instead of the wall clock: "
                             "with --threads 1 on a CPU that other processes keep busy, numbers their load hardly changes")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    model = model_from_arguments(args)
    placement = Placement.choose(model, args.device, getattr(torch, args.precision))
    device, dtype = placement.device, placement.dtype
    width, height = args.resolution
    if args.disable_refiner:
        width, height = int(width * args.downsample_ratio), int(height * args.downsample_ratio)
        args.downsample_ratio = 1.0
    src = torch.rand(args.batch_size, 3, height, width, generator=torch.Generator().manual_seed(0))
    src = src.to(device=device, dtype=dtype)

    if set(args.backend) & {'openvino', *ENGINE_BACKENDS} and (device.type != 'cpu' or dtype != torch.float32):
        parser.error('--backend openvino, onnxruntime-int8 and openvino-int8 run on the CPU, float32 in and out')
    steps, memory, setup = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = os.path.join(tmp, 'rvm.onnx')
        for name in args.backend:
            peak_memory_reset(device)
            start = time.perf_counter()
            if name in ONNX_BACKENDS and not os.path.exists(onnx_path):  # set-up of the first one includes the export
                if args.checkpoint and device.type == 'cpu' and dtype == torch.float32:  # the engines' cached file
                    from engines.runtimes import graph
                    onnx_path = str(graph(model, 'onnxruntime', 'float32'))
                else:
                    from exporters.onnx_dynamic import export_onnx
                    export_onnx(model, onnx_path, device=str(device), dtype=dtype)
            steps[name] = build_backend(name, model, args, device, dtype, onnx_path)
            for _ in range(args.warmup):
                steps[name](src)
            synchronize(device)
            setup[name] = time.perf_counter() - start
            memory[name] = peak_memory_mib(device)

    if args.cpu_time and device.type != 'cpu':
        parser.error('--cpu-time is for the CPU')
    clock = time.process_time if args.cpu_time else time.perf_counter
    times: Dict[str, List[float]] = {name: [] for name in args.backend}
    for _ in range(args.frames):
        for name, step in steps.items():
            synchronize(device)
            start = clock()
            step(src)
            synchronize(device)
            times[name].append(clock() - start)
            time.sleep(args.pause)

    load = os.getloadavg()
    print(f'{type(model.backbone).__name__} {type(model.refiner).__name__}, {args.resolution[0]}x{args.resolution[1]} at '
          f'{args.downsample_ratio}{" (network only)" if args.disable_refiner else ""}, batch {args.batch_size}, '
          f'{args.precision} on {torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}, '
          f'{torch.get_num_threads()} threads{", CPU time" if args.cpu_time else ""}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}')
    print(f'{"backend":15s} {"median ms":>10s} {"p90 ms":>8s} {"fps":>7s} {"peak MiB":>9s} {"set-up s":>9s}')
    for name, frame_times in times.items():
        median = statistics.median(frame_times)
        p90 = float(np.percentile(frame_times, 90))
        print(f'{name:15s} {median * 1e3:10.1f} {p90 * 1e3:8.1f} {1 / median:7.2f} {memory[name]:9.0f} {setup[name]:9.1f}')
    return times


if __name__ == '__main__':
    main()
