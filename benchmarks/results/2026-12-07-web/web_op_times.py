"""Where the page's time goes: ONNX Runtime Web's per-operator profile on WebAssembly (headless
Chromium) beside native ONNX Runtime's on the same file, threads and input (640x480, ratio 0.5).

    .venv/bin/python benchmarks/results/2026-12-07-web/web_op_times.py PAGE_FOLDER [MODEL] [--threads 2] [--frames 8]

PAGE_FOLDER: written by `export.py --format web`; MODEL: a file under it (default: the float32 model
of models.json's first entry). ONNX Runtime Web prints its profile's events to the console when the
session has `enableProfiling`; both profiles are read the same way. Per node the fastest of the last
five runs (a shared machine's load adds to some runs, never takes away), summed by operator type.
"""
import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from exporters.web_host import serve  # noqa: E402
from exporters.web_run import launch  # noqa: E402

WIDTH, HEIGHT, RATIO = 640, 480, 0.5

RUN = """async ([model, threads, frames, width, height, ratio]) => {
  const ort = await import('./ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href;
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], enableProfiling: true });
  const src = new Float32Array(3 * width * height);
  for (let i = 0; i < src.length; i++) src[i] = (i % 251) / 251;
  let states = [0, 1, 2, 3].map(() => new ort.Tensor('float32', new Float32Array(1), [1, 1, 1, 1]));
  for (let k = 0; k < frames; k++) {
    const feeds = { src: new ort.Tensor('float32', src, [1, 3, height, width]),
                    downsample_ratio: new ort.Tensor('float32', new Float32Array([ratio]), [1]) };
    states.forEach((t, i) => { feeds[`r${i + 1}i`] = t; });
    const out = await session.run(feeds);
    states = [1, 2, 3, 4].map((i) => out[`r${i}o`]);
  }
  session.endProfiling();
}"""


def node_minima(events):
    """`{node: (op type, fastest µs over the last five runs, output shape)}` from a profile's events."""
    runs = [e for e in events if e.get('name') == 'model_run'][-5:]
    nodes = {}
    for run in runs:
        for e in events:
            if (e.get('cat') == 'Node' and e['name'].endswith('_kernel_time')
                    and run['ts'] <= e['ts'] <= run['ts'] + run['dur']):
                name, args = e['name'][:-len('_kernel_time')], e['args']
                shape = list(args['output_type_shape'][0].values())[0] if args.get('output_type_shape') else []
                best = min(nodes[name][1], e['dur']) if name in nodes else e['dur']
                nodes[name] = (args['op_name'], best, shape)
    return nodes


def web_profile(folder: Path, model: str, threads: int, frames: int):
    server = serve(str(folder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lines = []
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.on('console', lambda message: lines.append(message.text))
        # Any file of the folder gives the origin (index.html would start loading its own model).
        page.goto(f'http://127.0.0.1:{server.server_address[1]}/models.json')
        page.evaluate(RUN, [model, threads, frames, WIDTH, HEIGHT, RATIO])
        browser.close()
    server.shutdown()
    events = []
    for line in lines:
        if '"cat"' in line:
            events.append(json.loads(line[line.index('{'):].rstrip().rstrip(',')))
    return node_minima(events)


def native_profile(path: Path, threads: int, frames: int):
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), 'profile')  # not into the working folder
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    src = (np.arange(3 * WIDTH * HEIGHT) % 251 / 251).astype(np.float32).reshape(1, 3, HEIGHT, WIDTH)
    states = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    names = [o.name for o in session.get_outputs()]
    for _ in range(frames):
        out = session.run(None, {'src': src, 'downsample_ratio': np.array([RATIO], np.float32),
                                 **{f'r{i + 1}i': states[i] for i in range(4)}})
        states = [out[names.index(f'r{i + 1}o')] for i in range(4)]
    profile = session.end_profiling()
    with open(profile) as f:
        events = json.load(f)
    shutil.rmtree(os.path.dirname(profile))
    return node_minima(events)


def by_type(nodes):
    totals = collections.Counter()
    for op, us, _ in nodes.values():
        totals[op] += us
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('folder')
    parser.add_argument('model', nargs='?')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--frames', type=int, default=8)
    args = parser.parse_args()
    folder = Path(args.folder)
    model = args.model or json.loads((folder / 'models.json').read_text())['models'][0]['weights']['float32']['file']
    web = web_profile(folder, model, args.threads, args.frames)
    native = native_profile(folder / model, args.threads, args.frames)
    print(f'{model}, {WIDTH}x{HEIGHT} at ratio {RATIO}, {args.threads} threads; per node the fastest of the last 5 of '
          f'{args.frames} runs, ms')
    web_types, native_types = by_type(web), by_type(native)
    # Native ONNX Runtime rewrites convolutions into its blocked layout (NCHWc, with Reorder nodes) and
    # fuses activations differently, so operator types are compared as groups: convolutions, the rest.
    def conv(op):
        return 'Conv' in op or op.startswith('Reorder')
    print(f"{'operators':32s} {'WebAssembly':>12s} {'native':>8s} {'ratio':>6s}")
    for label, keep in (('convolutions (with reorders)', conv), ('everything else', lambda op: not conv(op)),
                        ('all', lambda op: True)):
        w = sum(us for op, us in web_types.items() if keep(op)) / 1000
        n = sum(us for op, us in native_types.items() if keep(op)) / 1000
        print(f'{label:32s} {w:12.1f} {n:8.1f} {w / n:6.1f}')
    print('\nWebAssembly, by operator type')
    for op, us in web_types.most_common(10):
        print(f'  {op:28s} {us / 1000:8.1f}')
    print('\nWebAssembly, the ten slowest nodes (native: the same node where it kept its name)')
    for name in sorted(web, key=lambda n: -web[n][1])[:10]:
        op, us, shape = web[name]
        same = native.get(name)
        print(f'  {name:28s} {op:10s} {str(shape):22s} {us / 1000:7.1f} {same[1] / 1000 if same else float("nan"):7.1f}')


if __name__ == '__main__':
    main()
