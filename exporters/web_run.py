"""The page of `export.py --format web` in headless Chromium (Playwright), for the tests and the
benchmark: open it on a back end, feed it frames through its own matting code, read the alpha back.

Needs the playwright package (requirements/dev.txt) and Chromium's headless shell (Debian's
chromium-headless-shell: the browser without the window, tabs and toolbar that the full
`chromium --headless` still runs, and whose renderer was busy when the suite stalled with it).
RVM_CHROMIUM names another. WebGPU comes from SwiftShader, on the CPU, where the machine has no GPU.
"""
import base64
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

CHROMIUM = os.environ.get('RVM_CHROMIUM', '/usr/bin/chromium-headless-shell')
CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--no-first-run', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader',
                 '--use-fake-ui-for-media-stream']
READY_TIMEOUT_MS = 120_000
MATTE_TIMEOUT_MS = 300_000

# In the page: matte RGBA frames (base64) with a fresh Matting on the page's session; per frame the
# alpha as base64 float32 and the milliseconds the step took. Rejects after `timeoutMs` when a session
# run never answers (Playwright's evaluate has no timeout of its own; WebAssembly's runs block the
# page's thread, so a slow one finishes first).
MATTE_FRAMES = """async ([frames, width, height, ratio, timeoutMs]) => {
  const page = window.rvm;
  const { Matting } = await import('./src/matting.js');
  const matting = new Matting(page.ort, page.matting.session, ratio);
  const decode = (b64) => Uint8ClampedArray.from(atob(b64), (c) => c.charCodeAt(0));
  const encode = (floats) => {
    const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  const run = async () => {
    const results = [];
    for (const frame of frames) {
      const image = new ImageData(decode(frame), width, height);
      const started = performance.now();
      const out = await matting.step(image);
      results.push([encode(out.pha), performance.now() - started]);
    }
    return results;
  };
  const late = new Promise((_, reject) => setTimeout(
    () => reject(new Error(`${frames.length} frames not matted within ${timeoutMs} ms`)), timeoutMs));
  return Promise.race([run(), late]);
}"""


def write_y4m(path: Path, frames: np.ndarray) -> None:
    """`[T, H, W, 3]` RGB frames as a clip for Chromium's fake camera (full-range 4:2:0, 30 fps)."""
    h, w = frames.shape[1:3]
    with open(path, 'wb') as f:
        f.write(f'YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n'.encode())
        for frame in frames:
            y, cb, cr = Image.fromarray(frame).convert('YCbCr').split()
            chroma = [plane.resize((w // 2, h // 2), Image.Resampling.BOX).tobytes() for plane in (cb, cr)]
            f.write(b'FRAME\n' + y.tobytes() + chroma[0] + chroma[1])


def launch(playwright, executable: str = CHROMIUM, camera: Optional[Path] = None, extra: Sequence[str] = ()):
    """Headless Chromium with WebGPU on SwiftShader; with `camera` (a .y4m), its fake camera plays that clip."""
    args = CHROMIUM_ARGS + list(extra)
    if camera is not None:
        args += ['--use-fake-device-for-media-stream', f'--use-file-for-fake-video-capture={camera}']
    return playwright.chromium.launch(executable_path=executable, args=args)


def open_page(browser, url: str, backend: Optional[str] = None, precision: Optional[str] = None,
              query: str = '', requests: Optional[List[str]] = None):
    """The page at `url` (`?backend=` when given), its network loaded (in `precision` when given).
    `requests`: a list that collects every URL the page asks for."""
    context = browser.new_context(viewport={'width': 1400, 'height': 1000}, permissions=['camera'],
                                  accept_downloads=True)
    page = context.new_page()
    if requests is not None:
        page.on('request', lambda request: requests.append(request.url))
    params = '&'.join(p for p in [f'backend={backend}' if backend else '', query] if p)
    page.goto(url + ('?' + params if params else ''))
    wait_ready(page)
    if precision:
        page.select_option('#precision', precision)
        wait_ready(page)
    return page


def wait_ready(page) -> None:
    """Until the page's network is loaded (or it says why not: raises with the page's message)."""
    page.wait_for_function("() => window.rvm && window.rvm.matting && !document.querySelector('#status')"
                           ".textContent.startsWith('Loading') || document.querySelector('#status.error')",
                           timeout=READY_TIMEOUT_MS)
    page.evaluate('() => window.rvm.loading')
    status = page.inner_text('#status')
    if status.startswith('Error'):
        raise RuntimeError(f'the page failed: {status}')


def matte(page, frames: np.ndarray, ratio: float, timeout_ms: int = MATTE_TIMEOUT_MS) -> Tuple[np.ndarray, List[float]]:
    """Feed `frames` `[T, H, W, 3]` uint8 through the page's matting (states chained, from zeros);
    returns alpha `[T, H, W]` float32 and each frame's milliseconds in the page. Raises
    playwright's Error when a session run has not answered within `timeout_ms` of the start."""
    t, h, w = frames.shape[:3]
    rgba = np.concatenate([frames, np.full((t, h, w, 1), 255, np.uint8)], axis=3)
    encoded = [base64.b64encode(frame.tobytes()).decode() for frame in rgba]
    results = page.evaluate(MATTE_FRAMES, [encoded, w, h, ratio, timeout_ms])
    alphas = np.stack([np.frombuffer(base64.b64decode(a), np.float32).reshape(h, w) for a, _ in results])
    return alphas, [ms for _, ms in results]
