"""LiteRT.js (Google's web runtime for .tflite files: XNNPACK on WebAssembly with relaxed SIMD and
threads) on the TFLite export, in the same headless Chromium as the page: is it a faster CPU path
than ONNX Runtime Web's? A probe, not part of benchmark_web.py (LiteRT.js is not a dependency).

    mkdir lrt && (cd lrt && npm install @litertjs/core@2.5.3)
    python export.py --format tflite --resolution 640 480 --downsample-ratio 0.5 --checkpoint CKPT --output rvm_640x480.tflite
    .venv/bin/python benchmarks/results/2026-12-07-web/litert_probe.py lrt/node_modules rvm_640x480.tflite [--threads 2] [--frames 20]

Feeds the same synthetic 640x480 frame with the states chained (as web_op_times.py does) and prints
each frame's milliseconds and the median of all but the first two.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from exporters.web_host import serve  # noqa: E402
from exporters.web_run import launch  # noqa: E402

PAGE = """<!doctype html><html><head>
<script type="importmap">{"imports": {"@litertjs/wasm-utils": "./wasm-utils/index.js"}}</script>
</head><body></body></html>"""

RUN = """async ([threads, frames]) => {
  const lrt = await import('./core/index.js');
  await lrt.loadLiteRt(new URL('./wasm/', location.href).href, threads > 1 ? { threads: true } : {});
  const model = await lrt.loadAndCompile('model.tflite', { accelerator: 'wasm', cpuOptions: { numThreads: threads } });
  const inputs = model.getInputDetails().map((d) => [d.name.replace('serving_default_', '').replace(':0', ''), Array.from(d.shape)]);
  const src = new Float32Array(3 * 480 * 640);
  for (let i = 0; i < src.length; i++) src[i] = (i % 251) / 251;
  const states = {};
  const times = [];
  for (let k = 0; k < frames; k++) {
    const feeds = {};
    for (const [name, shape] of inputs) {
      const data = name === 'src' ? src : (states[name] || new Float32Array(shape.reduce((a, b) => a * b, 1)));
      feeds[name] = new lrt.Tensor(data, shape);
    }
    const started = performance.now();
    const out = await model.run(feeds);
    times.push(performance.now() - started);
    for (const [name, tensor] of Object.entries(out)) {
      if (/^r[1-4]o$/.test(name)) states[name.slice(0, -1) + 'i'] = tensor.toTypedArray().slice();
    }
    Object.values(feeds).forEach((t) => t.delete());
    Object.values(out).forEach((t) => t.delete());
  }
  return times;
}"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('node_modules', help='a node_modules folder holding @litertjs/core and @litertjs/wasm-utils')
    parser.add_argument('tflite', help='export.py --format tflite at 640x480, ratio 0.5')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--frames', type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        modules = Path(args.node_modules) / '@litertjs'
        shutil.copytree(modules / 'core' / 'dist', folder / 'core')
        shutil.copytree(modules / 'core' / 'wasm', folder / 'wasm')
        shutil.copytree(modules / 'wasm-utils' / 'dist', folder / 'wasm-utils')
        shutil.copy(args.tflite, folder / 'model.tflite')
        (folder / 'index.html').write_text(PAGE)
        server = serve(str(folder))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        from playwright.sync_api import sync_playwright
        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page()
            page.goto(f'http://127.0.0.1:{server.server_address[1]}/index.html')
            times = page.evaluate(RUN, [args.threads, args.frames])
            browser.close()
        server.shutdown()
    print(f'LiteRT.js, WebAssembly (XNNPACK), {args.threads} threads, 640x480 at 0.5: ' + ' '.join(f'{t:.0f}' for t in times))
    print(f'median of frames 3..{len(times)}: {statistics.median(times[2:]):.1f} ms')


if __name__ == '__main__':
    main()
