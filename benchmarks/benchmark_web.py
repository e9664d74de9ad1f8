"""The in-browser page against the Python paths, on this machine, in one run: fps at 640x480, ratio 0.5.

    python benchmarks/benchmark_web.py --checkpoint ../shared/real/rvm_mobilenetv3_real_fgf.pth \\
        [--page rvm_web] [--frames 12] [--rounds 3] [--webgpu-frames 3] [--webgpu-rounds 1] [--threads 2] [--skip WORD...]

In headless Chromium (Playwright; Debian's chromium-headless-shell, or RVM_CHROMIUM):
  - the page's ONNX Runtime Web on WebAssembly (SIMD, --threads threads, the page cross-origin isolated) on the page's graph
    (export.py --format onnx: dynamic size, ratio an input) and on the ratio-baked fixed-size graph
    (--format onnx-static at 640x480, 0.5);
  - the same on WebGPU (SwiftShader: on the CPU) through both of ONNX Runtime Web's providers, the
    JavaScript one (ort.min.mjs, "JSEP", the page's) on both graphs and the native one
    (ort.webgpu.min.mjs, which computes a convolution wrongly: timed for the record);
  - TensorFlow.js 4.22 on the TF.js export (export.py --format tfjs: dynamic size, ratio an input),
    on its WebAssembly back end (XNNPACK; SIMD, threads when isolated), WebGL and WebGPU (both on
    SwiftShader here); needs the TensorFlow export environments and .node-export (`--skip TF.js`
    leaves it out).
Beside them, in this process: the Python live path's network step (`streaming.Matter`, what
`LiveSession` runs per frame, torch on --threads threads) and native ONNX Runtime on the same graph;
and the web app's Webcam tab (`python app.py` from .venv-app, its camera Chromium's fake one at
640x480), whose fps readout is read after each of its turns.

Everything runs in turns, round after round, so that the shared machine's load hits each alike
(WebGPU and WebGL on SwiftShader take seconds a frame: they join the first --webgpu-rounds only); the
table has the median over all timed frames (the first round's first two frames are warm-up).
"""
import argparse
import base64
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import export  # noqa: E402
from exporters.onnx_static import export_static_onnx  # noqa: E402
from exporters.toolchains import toolchain  # noqa: E402
from exporters.web import runtime_folder  # noqa: E402
from exporters.web_host import serve  # noqa: E402
from exporters.web_run import launch, open_page, write_y4m  # noqa: E402
from model import create_model  # noqa: E402
from streaming import Matter, auto_downsample_ratio  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT, RATIO = 640, 480, 0.5
NATIVE_WEBGPU_FILES = ['ort.webgpu.min.mjs', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm']
# TensorFlow.js from .node-export (exporters/package.json): package -> files of its dist/
TFJS_FILES = {'tfjs': ['tf.min.js'],
              'tfjs-backend-wasm': ['tf-backend-wasm.min.js', 'tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm',
                                    'tfjs-backend-wasm-threaded-simd.wasm'],
              'tfjs-backend-webgpu': ['tf-backend-webgpu.min.js']}

# In the page: a session on `url` with the page's runtime (or `build`), frames fed with chained states;
# returns each frame's milliseconds. Static graphs get full-size zero states and no ratio.
RUN_FRAMES = """async ([url, build, backend, frames, width, height, ratio, staticStates]) => {
  const ort = build ? await import(build) : window.rvm.ort;
  if (build) { ort.env.wasm.wasmPaths = new URL('./ort/', location.href).href; }
  window.benchSessions = window.benchSessions || {};
  const key = url + (build || '');
  const session = window.benchSessions[key] ||
    (window.benchSessions[key] = await ort.InferenceSession.create(url, { executionProviders: [backend] }));
  const planes = frames.map((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const size = width * height, out = new Float32Array(3 * size);
    for (let i = 0; i < size; i++) for (let c = 0; c < 3; c++) out[c * size + i] = bytes[i * 3 + c] / 255;
    return out;
  });
  let states = (staticStates || [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]).map(
    (dims) => new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b)), dims));
  const times = [];
  for (const data of planes) {
    const feeds = { src: new ort.Tensor('float32', data, [1, 3, height, width]) };
    if (!staticStates) feeds.downsample_ratio = new ort.Tensor('float32', new Float32Array([ratio]), [1]);
    states.forEach((s, i) => { feeds[`r${i + 1}i`] = s; });
    const started = performance.now();
    const out = await session.run(feeds);
    await out.pha.getData();
    times.push(performance.now() - started);
    states = [out.r1o, out.r2o, out.r3o, out.r4o];
  }
  return times;
}"""


# In the page: TensorFlow.js (loaded once from tfjs-lib/) on `backend`, the TF.js export in tfjs/, frames
# fed with chained states as exporters/tfjs_run.cjs does; returns each frame's milliseconds.
TFJS_RUN_FRAMES = """async ([backend, frames, width, height, ratio]) => {
  const load = (src) => new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`${src} did not load`));
    document.head.append(script);
  });
  if (!window.tf) {
    for (const file of ['tf.min.js', 'tf-backend-wasm.min.js', 'tf-backend-webgpu.min.js']) await load(`./tfjs-lib/${file}`);
    tf.wasm.setWasmPaths(new URL('./tfjs-lib/', location.href).href);
  }
  if (!await tf.setBackend(backend)) throw new Error(`TF.js back end ${backend} did not start`);
  window.benchTfjs = window.benchTfjs || await tf.loadGraphModel('./tfjs/model.json');
  const model = window.benchTfjs;
  const outputs = ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o'].map((name) => model.signature.outputs[name].name);
  const downsampleRatio = tf.tensor([ratio]);
  let states = [0, 1, 2, 3].map(() => tf.zeros([1, 1, 1, 1]));
  const times = [];
  for (const b64 of frames) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const size = width * height, planes = new Float32Array(3 * size);
    for (let i = 0; i < size; i++) for (let c = 0; c < 3; c++) planes[c * size + i] = bytes[i * 3 + c] / 255;
    const started = performance.now();
    const src = tf.tensor(planes, [1, 3, height, width]);
    const [fgr, pha, ...next] = model.execute({ src, r1i: states[0], r2i: states[1], r3i: states[2],
      r4i: states[3], downsample_ratio: downsampleRatio }, outputs);
    await pha.data();
    times.push(performance.now() - started);
    tf.dispose([src, fgr, pha, ...states]);
    states = next;
  }
  tf.dispose([downsampleRatio, ...states]);
  return [times, tf.getBackend()];
}"""


def clip(frames: int) -> np.ndarray:
    """`tile0` of ../shared/real covering 640x480 (upscaled, centre-cropped): `[frames, 480, 640, 3]`."""
    tile = np.load(ROOT.parent / 'shared' / 'real' / 'clips.npz')['tile0']
    out = []
    for i in range(frames):
        image = Image.fromarray(tile[i % len(tile)])
        scale = max(WIDTH / image.width, HEIGHT / image.height)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
        left, top = (image.width - WIDTH) // 2, (image.height - HEIGHT) // 2
        out.append(np.asarray(image.crop((left, top, left + WIDTH, top + HEIGHT))))
    return np.stack(out)


def prepare_folder(args, work: Path, with_tfjs: bool):
    """The page (exported, or a copy of --page) plus what only the benchmark loads: the static graph,
    ONNX Runtime Web's native WebGPU build, and `with_tfjs` the TF.js export and TensorFlow.js. Returns the folder
    and the static graph's state shapes."""
    page = work / 'page'
    if args.page:
        shutil.copytree(args.page, page)
    else:
        export.main(['--format', 'web', '--checkpoint', args.checkpoint, '--device', 'cpu', '--output', str(page)])
    model = create_model(checkpoint=args.checkpoint)
    with torch.no_grad():
        _, _, *states = model(torch.zeros(1, 3, HEIGHT, WIDTH), downsample_ratio=RATIO)
    export_static_onnx(model, str(page / 'models' / 'static.onnx'), RATIO, (WIDTH, HEIGHT),
                       [list(s.shape) for s in states])
    for name in NATIVE_WEBGPU_FILES:
        shutil.copyfile(runtime_folder() / name, page / 'ort' / name)
    if not with_tfjs:
        return page, [list(s.shape) for s in states]
    export.main(['--format', 'tfjs', '--checkpoint', args.checkpoint, '--output', str(page / 'tfjs')])
    (page / 'tfjs-lib').mkdir()
    for package, files in TFJS_FILES.items():
        for name in files:
            shutil.copyfile(toolchain('node_modules') / '@tensorflow' / package / 'dist' / name, page / 'tfjs-lib' / name)
    return page, [list(s.shape) for s in states]


def page_model(folder: Path) -> str:
    """The page's first model in float32, relative to `folder`."""
    return json.loads((folder / 'models.json').read_text())['models'][0]['weights']['float32']['file']


class BrowserConfig:
    def __init__(self, name, backend, build, graph, static_states=None, url=None, ratio=RATIO):
        self.name, self.backend, self.build, self.graph, self.static_states = name, backend, build, graph, static_states
        self.url, self.ratio = url, ratio  # url default: the isolated host's
        self.page, self.times, self.first, self.error = None, [], None, None

    def run(self, browser, url, encoded, frames_shape, warmup):
        if self.page is None:
            self.page = open_page(browser, self.url or url, backend=self.backend)
            self.model = self.page.evaluate("() => window.rvm.models[0].weights.float32.file")
        graph = self.model if self.graph == 'dynamic' else 'models/static.onnx'
        build = {'page': None, 'native': './ort/ort.webgpu.min.mjs'}[self.build]
        times = self.page.evaluate(RUN_FRAMES, [graph, build, self.backend, encoded, frames_shape[2], frames_shape[1],
                                                self.ratio, self.static_states])
        self.first = times[0] if self.first is None else self.first
        self.times += times[warmup:]


class TfjsConfig:
    """TensorFlow.js on `backend` ('wasm', 'webgl', 'webgpu'), in a page of its own."""

    def __init__(self, name, backend):
        self.name, self.backend, self.page, self.times, self.first, self.error = name, backend, None, [], None, None

    def run(self, browser, url, encoded, frames_shape, warmup):
        if self.page is None:
            self.page = open_page(browser, url, backend='wasm')  # the page's ORT stays idle
        times, used = self.page.evaluate(TFJS_RUN_FRAMES, [self.backend, encoded, frames_shape[2], frames_shape[1], RATIO])
        if used != self.backend:
            raise RuntimeError(f'TF.js ran on {used}, not {self.backend}')
        self.first = times[0] if self.first is None else self.first
        self.times += times[warmup:]


class PythonConfig:
    def __init__(self, name, step):
        self.name, self.step, self.times, self.first, self.error = name, step, [], None, None

    def run(self, frames, warmup):
        for i, frame in enumerate(frames):
            started = time.perf_counter()
            self.step(frame)
            elapsed = (time.perf_counter() - started) * 1000
            self.first = elapsed if self.first is None else self.first
            if i >= warmup:
                self.times.append(elapsed)


def matter_step(checkpoint):
    matter = Matter(create_model(checkpoint=checkpoint), 'cpu', downsample_ratio=RATIO)
    return lambda frame: matter(frame[None])


def onnxruntime_step(path, threads):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')  # as inference_speed_test.py
    session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    states = [np.zeros([1, 1, 1, 1], np.float32)] * 4
    ratio = np.array([RATIO], np.float32)

    def step(frame):
        nonlocal states
        src = (frame.transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)
        out = session.run(None, {'src': src, 'downsample_ratio': ratio, **{f'r{i}i': s for i, s in enumerate(states, 1)}})
        states = out[2:]
    return step


class WebcamTab:
    """The web app's Webcam tab: app.py started once; each turn streams the fake camera for `seconds`
    and reads the tab's fps readout."""

    def __init__(self, checkpoint, work, seconds):
        self.name, self.seconds, self.fps, self.readouts = 'web app Webcam tab (server, Gradio)', seconds, [], []
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        self.url = f'http://127.0.0.1:{port}/'
        self.proc = subprocess.Popen([str(ROOT / '.venv-app' / 'bin' / 'python'), str(ROOT / 'app.py'), '--port', str(port),
                                      '--checkpoint', checkpoint, '--jobs-dir', str(work)], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError('app.py did not start')
                time.sleep(0.5)

    def run(self, browser):
        context = browser.new_context(viewport={'width': 1280, 'height': 900}, permissions=['camera'])
        page = context.new_page()
        page.goto(self.url)
        page.get_by_role('tab', name='Webcam').click()
        page.locator('#camera').get_by_text('Click to Access Webcam').click()
        page.locator('#camera button[aria-label="capture photo"]').click()
        page.wait_for_function('/[1-9][0-9.]* fps/.test(document.querySelector("#webcam-stats").innerText)',
                               timeout=120_000)
        page.wait_for_timeout(self.seconds * 1000)
        readout = page.inner_text('#webcam-stats')
        self.readouts.append(readout)
        self.fps.append(float(re.search(r'([\d.]+) fps', readout).group(1)))
        context.close()

    def close(self):
        self.proc.terminate()
        self.proc.wait(30)


def summary(config):
    if config.error:
        return f'failed: {config.error}'
    times = config.times
    median = statistics.median(times)
    p90 = sorted(times)[int(0.9 * (len(times) - 1))]
    return f'{median:8.1f} {p90:8.1f} {1000 / median:7.2f} {config.first:9.0f}  ({len(times)} frames)'


def main(argv=None):
    cli = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=__doc__.split('\n\n', 1)[1],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument('--checkpoint', required=True)
    cli.add_argument('--page', help='a folder written by export.py --format web (default: export one)')
    cli.add_argument('--frames', type=int, default=12, help='frames per turn of each CPU configuration')
    cli.add_argument('--webgpu-frames', type=int, default=3, help='frames per turn on WebGPU and WebGL (SwiftShader is slow)')
    cli.add_argument('--rounds', type=int, default=3)
    cli.add_argument('--webgpu-rounds', type=int, default=1, help='rounds that include the WebGPU and WebGL configurations')
    cli.add_argument('--threads', type=int, default=2, help='Python threads (the page uses every core)')
    cli.add_argument('--webcam-seconds', type=float, default=15)
    cli.add_argument('--skip', nargs='*', default=[], help='configurations to leave out, by a word of their name')
    args = cli.parse_args(argv)
    torch.set_num_threads(args.threads)
    from playwright.sync_api import Error as PlaywrightError, sync_playwright

    load_before = os.getloadavg()[0]
    skip = lambda name: any(word.lower() in name.lower() for word in args.skip)  # noqa: E731
    frames = clip(args.frames)
    encoded = [base64.b64encode(f.tobytes()).decode() for f in frames]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        page_folder, static_states = prepare_folder(args, work, with_tfjs=not skip('TF.js'))
        server, plain = serve(str(page_folder)), serve(str(page_folder), isolated=False)
        url = f'http://127.0.0.1:{server.server_address[1]}/'
        camera = work / 'camera.y4m'
        write_y4m(camera, frames)
        tab_ratio = auto_downsample_ratio(HEIGHT, WIDTH)  # the Webcam tab's: app.py has no ratio option
        browser_configs = [
            BrowserConfig('ORT Web, WebAssembly, dynamic ONNX (the page)', 'wasm', 'page', 'dynamic'),
            BrowserConfig('ORT Web, WebAssembly, static ONNX 640x480', 'wasm', 'page', 'static', static_states),
            BrowserConfig(f'ORT Web, WebAssembly, dynamic ONNX, ratio {tab_ratio:g} (the Webcam tab\'s)', 'wasm',
                          'page', 'dynamic', ratio=tab_ratio),
            BrowserConfig('ORT Web, WebAssembly 1 thread (not isolated), dynamic ONNX', 'wasm', 'page', 'dynamic',
                          url=f'http://127.0.0.1:{plain.server_address[1]}/'),
            BrowserConfig('ORT Web, WebGPU (JSEP), dynamic ONNX (the page)', 'webgpu', 'page', 'dynamic'),
            BrowserConfig('ORT Web, WebGPU (JSEP), static ONNX 640x480', 'webgpu', 'page', 'static', static_states),
            BrowserConfig('ORT Web, WebGPU (native EP: wrong alpha), dynamic ONNX', 'webgpu', 'native', 'dynamic'),
            TfjsConfig('TF.js, WebAssembly (XNNPACK), TF.js export', 'wasm'),
            TfjsConfig('TF.js, WebGL, TF.js export', 'webgl'),
            TfjsConfig('TF.js, WebGPU, TF.js export', 'webgpu'),
        ]
        python_configs = [
            PythonConfig(f'Python live path (Matter, torch, {args.threads} threads)', matter_step(args.checkpoint)),
            PythonConfig(f'ONNX Runtime native, dynamic ONNX, {args.threads} threads',
                         onnxruntime_step(page_folder / page_model(page_folder), args.threads)),
        ]
        browser_configs = [c for c in browser_configs if not skip(c.name)]
        python_configs = [c for c in python_configs if not skip(c.name)]
        webcam = None if skip('webcam') else WebcamTab(args.checkpoint, work, args.webcam_seconds)
        with sync_playwright() as playwright:
            browser = launch(playwright, camera=camera)
            for round_ in range(args.rounds):
                for config in browser_configs:
                    slow = config.backend in ('webgpu', 'webgl')  # SwiftShader
                    if (slow and round_ >= args.webgpu_rounds) or config.error:
                        continue
                    count = args.webgpu_frames if slow else args.frames
                    try:
                        config.run(browser, url, encoded[:count], frames.shape, 0 if round_ else min(2, count - 1))
                    except PlaywrightError as error:  # a runtime that cannot run the graph: in the table
                        config.error = str(error).splitlines()[0].removeprefix('Page.evaluate: ')
                    print(f'round {round_ + 1}: {config.name}: {summary(config)}', flush=True)
                for config in python_configs:
                    config.run(frames, 0 if round_ else 2)
                    print(f'round {round_ + 1}: {config.name}: {summary(config)}', flush=True)
                if webcam:
                    webcam.run(browser)
                    print(f'round {round_ + 1}: {webcam.name}: {webcam.readouts[-1]}', flush=True)
            browser.close()
        if webcam:
            webcam.close()
        server.shutdown()
        plain.shutdown()
    print(f'\n{WIDTH}x{HEIGHT}, ratio {RATIO} unless named, {args.rounds} rounds; {os.cpu_count()} cores; '
          f'load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after')
    print(f'{"configuration":60s} {"median":>8s} {"p90 ms":>8s} {"fps":>7s} {"first ms":>9s}')
    for config in browser_configs + python_configs:
        print(f'{config.name:60s} {summary(config)}')
    if webcam:
        ratios = sorted({re.search(r'ratio ([\d.]+)', r).group(1) for r in webcam.readouts})
        print(f'{webcam.name:60s} {"":8s} {"":8s} {statistics.median(webcam.fps):7.2f}  '
              f'(its readout, {args.rounds} turns, ratio {", ".join(ratios)})')


if __name__ == '__main__':
    main()
