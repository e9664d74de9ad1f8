"""`engine auto`: the fastest engine and precision on this machine among those within the quality
bound, measured once and cached, and said on stderr each time it is used.

The candidates are the combinations that met the bound on the real clips (`WITHIN_BOUND`; the
table is in documentation/inference.md, "8-bit"). Each is timed on the same random frames at
640x480 and ratio 0.5, their frames interleaved round-robin so that a change of load hits them
alike; the fastest median wins. The measurement is kept in the cache (`cache.py`) under a key of
this CPU (its model name and flags), the threads, the packages' versions and the quantization
recipe, so another machine, thread count or version measures again.
"""
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

import torch
from torch import nn

from .cache import cache_root, digest, versions

# (engine, precision) within the bound on every landscape real clip at ratios 0.5 and 1 (documentation/inference.md,
# "Quality"): int8 missed the 99th percentile of alpha on some, so auto does not offer it
WITHIN_BOUND = (('pytorch', 'float32'), ('onnxruntime', 'float32'), ('openvino', 'float32'))
SIZE, RATIO, FRAMES = (640, 480), 0.5, 12


def cpu_description() -> str:
    """The CPU's model name and flags (Linux), else what Python's platform module says."""
    try:
        lines = Path('/proc/cpuinfo').read_text().splitlines()
        model = next(line for line in lines if line.startswith('model name')).split(':', 1)[1].strip()
        flags = next(line for line in lines if line.startswith('flags')).split(':', 1)[1].strip()
        return f'{model} [{flags}]'
    except (OSError, StopIteration):
        import platform
        return platform.processor() or platform.machine()


def measure(model: nn.Module, threads: int) -> Dict[str, float]:
    """Median ms per frame of each candidate, interleaved (see the module docstring)."""
    from . import build_engine
    networks = {f'{engine} {precision}': build_engine(model, engine, precision, threads)
                for engine, precision in WITHIN_BOUND}
    pytorch = networks['pytorch float32']
    from streaming.device import Placement
    networks['pytorch float32'] = Placement(torch.device('cpu'), torch.float32).prepare(pytorch)
    src = torch.rand(1, 3, SIZE[1], SIZE[0], generator=torch.Generator().manual_seed(0))
    states = {name: [None] * 4 for name in networks}
    times: Dict[str, List[float]] = {name: [] for name in networks}
    with torch.inference_mode():
        for step in range(FRAMES + 2):  # two warm-up frames
            for name, network in networks.items():
                start = time.perf_counter()
                states[name] = network(src, *states[name], RATIO)[2:]
                if step >= 2:
                    times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def choose(model: nn.Module, threads: int = 0) -> Tuple[str, str]:
    """(engine, precision) for `auto`: the cached measurement for this machine, else a new one."""
    threads = threads or torch.get_num_threads()
    cpu = cpu_description()
    path = cache_root() / 'auto' / f'{digest(cpu, threads, versions(), sorted(WITHIN_BOUND))}.json'
    fresh = not path.exists()
    if fresh:
        timings = measure(model, threads)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({'cpu': cpu, 'threads': threads, 'versions': versions(), 'ms': timings}, indent=2))
    timings = json.loads(path.read_text())['ms']
    best = min(timings, key=timings.get)
    others = ', '.join(f'{name} {ms:.1f}' for name, ms in sorted(timings.items(), key=lambda item: item[1])
                       if name != best)
    print(f'engine auto: {best}, the fastest within the quality bound here ({cpu.split(" [")[0]}, {threads} threads): '
          f'{timings[best]:.1f} ms a {SIZE[0]}x{SIZE[1]} frame at ratio {RATIO} against {others} '
          f'({"measured now" if fresh else "measured before"}; {path})', file=sys.stderr)
    engine, precision = best.split()
    return engine, precision
