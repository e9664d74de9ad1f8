"""The in-browser page (`export.py --format web`) in Debian's Chromium through Playwright: the page
written for the real weights of ../shared/real, served by a plain static host with the isolation
headers, the fake camera fed from a real clip (upscaled).

RVM_APP_SCREENSHOTS=documentation/images refreshes documentation/web.md's screenshot (as for
tests/test_app.py). WebGPU is SwiftShader's (on the CPU). Its shaders compile on the first frame, which takes minutes
on this 2-core machine, so the WebGPU checks share one page; WebAssembly carries the rest.
"""
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from playwright.sync_api import Error as PlaywrightError, sync_playwright

import export
from conftest import ROOT
from export_parity import require
from exporters.web_host import serve
from exporters.web_run import CHROMIUM, launch, matte, open_page, write_y4m
from model import create_model
from test_app import screenshot, write_clip

REAL = ROOT.parent / 'shared' / 'real'
CHECKPOINT = REAL / 'rvm_mobilenetv3_real_fgf.pth'
RATIO = 0.5
# The largest and the mean alpha difference from PyTorch allowed per weight precision
# (documentation/web.md): float32 is the same arithmetic; float16 and 8-bit weights, the largest
# measured on 8 frames of three real clips (the fast guided filter amplifies the weights' rounding
# at a few edge pixels: 0.27 and 0.12), while the mean stays near 1e-3.
ALPHA_BOUND = {'float32': (1e-3, 1e-5), 'float16': (0.3, 2e-3), 'uint8': (0.13, 2e-3)}
FIRST_FRAME_TIMEOUT_MS = 400_000  # WebGPU's first frame compiles its shaders on SwiftShader

pytestmark = pytest.mark.skipif(not CHECKPOINT.exists(), reason='needs ../shared/real (real weights and clips)')


def real_clip(scale: int, frames: int) -> np.ndarray:
    """`tile0` of the real clips, upscaled `scale` times (bicubic): `[frames, 90 * scale, 160 * scale, 3]`."""
    tile = np.load(REAL / 'clips.npz')['tile0'][:frames]
    size = (tile.shape[2] * scale, tile.shape[1] * scale)
    return np.stack([np.asarray(Image.fromarray(f).resize(size, Image.Resampling.BICUBIC)) for f in tile])


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp('web')


@pytest.fixture(scope='module')
def folder(workdir):
    require('web_modules')  # ONNX Runtime Web, which the page copies
    path = workdir / 'page'
    export.main(['--format', 'web', '--checkpoint', str(CHECKPOINT), '--device', 'cpu', '--output', str(path)])
    return path


@pytest.fixture(scope='module')
def url(folder):
    server = serve(str(folder))
    yield f'http://127.0.0.1:{server.server_address[1]}/'
    server.shutdown()


@pytest.fixture(scope='module')
def browser(workdir):
    if not os.path.exists(CHROMIUM):
        assert os.environ.get('CI') != 'true', f'{CHROMIUM} is missing: .ci/setup installs chromium-headless-shell'
        pytest.skip(f'{CHROMIUM} is missing (apt-get install chromium-headless-shell; bash .ci/setup does)')
    camera = workdir / 'camera.y4m'
    write_y4m(camera, real_clip(2, 30))
    with sync_playwright() as playwright:
        browser = launch(playwright, camera=camera)
        yield browser
        browser.close()


@pytest.fixture(scope='module')
def expected_alpha():
    """PyTorch's alpha on the first 3 frames of the clip at 320x180, states chained."""
    frames = real_clip(2, 3)
    model = create_model(checkpoint=str(CHECKPOINT))
    rec, alphas = [None] * 4, []
    with torch.no_grad():
        for frame in frames:
            src = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
            _, pha, *rec = model(src, *rec, downsample_ratio=RATIO)
            alphas.append(pha[0, 0].numpy())
    return frames, np.stack(alphas)


def test_export_writes_a_static_page(folder):
    models = json.loads((folder / 'models.json').read_text())['models']
    assert [m['name'] for m in models] == ['mobilenetv3 (rvm_mobilenetv3_real_fgf.pth)']
    weights = models[0]['weights']
    assert list(weights) == ['float32', 'float16', 'uint8']
    sizes = {p: (folder / w['file']).stat().st_size for p, w in weights.items()}
    assert sizes == {p: w['bytes'] for p, w in weights.items()}
    assert sizes['uint8'] < sizes['float16'] < 0.55 * sizes['float32']
    for name in ['index.html', 'src/main.js', 'ort/ort.wasm.min.mjs', 'ort/ort.min.mjs']:
        assert (folder / name).is_file(), name
    meta = json.loads(Path(f'{folder}.json').read_text())
    assert meta['format'] == 'web' and meta['inputs'][-1] == 'downsample_ratio'
    # nothing in the page names another origin
    for path in [folder / 'index.html', *(folder / 'src').glob('*.js')]:
        assert not re.search(r'https?://', path.read_text()), path


@pytest.mark.parametrize('precision,threads', [('float32', None), ('float16', None), ('uint8', 1)])
def test_wasm_alpha_equals_pytorch(browser, url, expected_alpha, precision, threads):
    """Every core's thread by default; `?threads=1` (8-bit weights) runs on one."""
    frames, expected = expected_alpha
    page = open_page(browser, url, backend='wasm', precision=precision, query=f'threads={threads}' if threads else '')
    assert page.evaluate('crossOriginIsolated')
    shown = rf'{threads} thread' if threads else r'\d+ threads'
    assert re.fullmatch(rf'back end: WebAssembly \(SIMD, {shown}\)', page.inner_text('#backend'))
    if threads:
        assert page.evaluate('window.rvm.ort.env.wasm.numThreads') == threads
    alpha, _ = matte(page, frames, RATIO)
    error = np.abs(alpha - expected)
    assert error.max() <= ALPHA_BOUND[precision][0], f'{precision}: alpha off by up to {error.max()}'
    assert error.mean() <= ALPHA_BOUND[precision][1], f'{precision}: alpha off by {error.mean()} on average'
    page.context.close()


def test_a_session_that_never_answers_fails_instead_of_hanging(browser, url, expected_alpha):
    frames, _ = expected_alpha
    page = open_page(browser, url, backend='wasm')
    page.evaluate('() => { window.rvm.matting.session.run = () => new Promise(() => {}); }')
    with pytest.raises(PlaywrightError, match='3 frames not matted within 2000 ms'):
        matte(page, frames, RATIO, timeout_ms=2000)
    page.context.close()


def wait_frames(page, frames: int, timeout: float) -> None:
    """Until the page has shown `frames` frames of its current source."""
    page.wait_for_function(f'() => window.rvm.shown >= {frames}', timeout=timeout)


def state_pixels(page) -> list:
    return page.evaluate("() => [1, 2, 3, 4].map((i) => document.getElementById(`state-r${i}`).toDataURL())")


def camera_is_matted(page, more: int, timeout: float) -> None:
    """Frames keep arriving (`more` after the first), the fps readout is above zero, the four state
    canvases change."""
    wait_frames(page, 1, timeout)
    before = state_pixels(page)
    wait_frames(page, 1 + more, timeout)
    fps = float(re.search(r'([\d.]+) fps', page.inner_text('#fps')).group(1))
    assert fps > 0
    after = state_pixels(page)
    assert all(a != b for a, b in zip(before, after)), 'every recurrent state moves on'
    assert all(page.evaluate(f"document.getElementById('state-r{i}').width") > 1 for i in range(1, 5))


def test_wasm_mattes_the_camera_and_records(browser, url, workdir):
    page = open_page(browser, url, backend='wasm', query='autostart=1')
    camera_is_matted(page, 4, 60_000)
    screenshot(page, 'web_page.png')  # with RVM_APP_SCREENSHOTS=documentation/images
    page.click('#record')
    page.wait_for_timeout(1500)
    page.click('#record')
    page.wait_for_selector('#download:not([hidden])')
    with page.expect_download() as info:
        page.click('#download')
    path = workdir / 'matted.webm'
    info.value.save_as(path)
    assert path.read_bytes()[:4] == b'\x1a\x45\xdf\xa3', 'a WebM (Matroska) file'
    page.context.close()


def test_webgpu_mattes_the_camera_and_equals_pytorch(browser, url, expected_alpha):
    frames, expected = expected_alpha
    page = open_page(browser, url, backend='webgpu')
    assert page.inner_text('#backend') == 'back end: WebGPU'
    alpha, _ = matte(page, frames[:2], RATIO, FIRST_FRAME_TIMEOUT_MS)  # compiles the shaders
    error = np.abs(alpha - expected[:2]).max()
    assert error <= ALPHA_BOUND['float32'][0], f'WebGPU float32: alpha off by up to {error}'
    page.select_option('#ratio', '0.5')  # SwiftShader takes tens of seconds a frame: the smaller network
    page.click('#start-camera')
    camera_is_matted(page, 1, FIRST_FRAME_TIMEOUT_MS)
    page.context.close()


def test_local_video_is_matted_without_upload_and_a_bad_file_is_refused(browser, url, workdir):
    requests = []
    page = open_page(browser, url, backend='wasm', requests=requests)
    fake = workdir / 'notes.mp4'
    fake.write_text('this is a text file, not a video\n')
    page.set_input_files('#file', str(fake))
    page.wait_for_selector('#status.error')
    message = page.inner_text('#status')
    assert re.fullmatch(r'Error: notes\.mp4 is not a video this browser can play( \(.*\))?', message), message
    clip = workdir / 'clip.webm'
    write_clip(clip, real_clip(2, 20), 'libvpx')  # VP8 WebM: a codec every Chromium build decodes
    page.set_input_files('#file', str(clip))  # the page still answers
    wait_frames(page, 3, 60_000)
    assert not page.locator('#status.error').count()
    origin = url.rstrip('/')
    outside = [r for r in requests if not (r.startswith(origin + '/') or r.startswith(f'blob:{origin}/')
                                          or r.startswith('data:'))]
    assert not outside, outside
    page.context.close()
