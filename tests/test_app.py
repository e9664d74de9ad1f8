"""The web app in a real browser: headless Chromium (Debian's package) driven by Playwright, against
`python app.py` started on 127.0.0.1 with filled weights, a fake camera fed from a generated .y4m.

The server runs in the app's own environment (.venv-app: Gradio's pins conflict with the test
venv's packages; .ci/setup makes it, RVM_APP_PYTHON points elsewhere). Missing Chromium or that
environment fails these tests: CI installs both.

The server runs the real weights of ../shared/real when they are there (filled weights otherwise,
and the test of a click on the preview, which needs real people in the matte, is skipped).
Set RVM_APP_SCREENSHOTS=documentation/images to refresh the screenshots of documentation/app.md:
then the server mattes one of the real clips (the camera too), so that the pictures show real
mattes; the checks are the same.
"""
import io
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from playwright.sync_api import sync_playwright

from exporters.web_host import ISOLATION_HEADERS
from exporters.web_run import CHROMIUM, write_y4m
from inference import convert_video
from media import make_video, probe
from model import create_model

ROOT = Path(__file__).resolve().parent.parent
APP_PYTHON = os.environ.get('RVM_APP_PYTHON', str(ROOT / '.venv-app' / 'bin' / 'python'))
SCREENSHOTS = os.environ.get('RVM_APP_SCREENSHOTS')
START_TIMEOUT_S = 120
JOB_TIMEOUT_MS = 60_000
LONG_FRAMES = 900
MAX_UPLOAD_MB = 2
REAL = ROOT.parent / 'shared' / 'real'
REAL_WEIGHTS = REAL / 'rvm_mobilenetv3_real_fgf.pth'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def camera_frames(size=(160, 120), frames=30) -> np.ndarray:
    """`[T, H, W, 3]` uint8: a bright disc moving over a gradient."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    clip = np.empty((frames, h, w, 3), np.uint8)
    for i in range(frames):
        clip[i] = ((xx + 4 * i) % w * 255 // w)[..., None]
        clip[i][(yy - h // 2) ** 2 + (xx - w // 2 - i) ** 2 < (h // 4) ** 2] = (230, 200, 170)
    return clip


def real_frames(tiles=('tile0',), scale: int = 4) -> np.ndarray:
    """Real clips of ../shared/real side by side, upscaled (bicubic) as its README advises: tile0 alone
    is `[58, 360, 640, 3]`."""
    clips = np.load(REAL / 'clips.npz')
    frames = np.concatenate([clips[tile][:, :90, :158 if len(tiles) > 1 else None] for tile in tiles], axis=2)
    size = (frames.shape[2] * scale, frames.shape[1] * scale)
    return np.stack([np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BICUBIC)) for frame in frames])


def write_clip(path: Path, frames: np.ndarray, codec: str = 'libx264') -> None:
    """`[T, H, W, 3]` RGB frames as a video at 30 fps: H.264 (for an MP4), or `codec`."""
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(codec, rate=30)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = 'yuv420p'
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')))
        container.mux(stream.encode())


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process `pid` and its threads so far."""
    fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp('app')


@pytest.fixture(scope='module')
def checkpoint(workdir, mbv3_weights):
    if REAL_WEIGHTS.exists():
        return REAL_WEIGHTS
    path = workdir / 'filled.pth'
    torch.save(mbv3_weights, path)
    return path


@pytest.fixture(scope='module')
def server(workdir, checkpoint):
    """`python app.py` on a free port of 127.0.0.1; stopped (and checked stopped) after the module."""
    assert os.path.exists(APP_PYTHON), f'{APP_PYTHON} is missing: run bash .ci/setup (it makes .venv-app)'
    media = workdir / 'media'
    media.mkdir()
    make_video(media / 'long.mp4', size=(160, 120), frames=LONG_FRAMES)
    port = free_port()
    log = open(workdir / 'server.log', 'w')
    proc = subprocess.Popen([APP_PYTHON, str(ROOT / 'app.py'), '--port', str(port), '--checkpoint', str(checkpoint),
                             '--media-root', str(media), '--jobs-dir', str(workdir), '--retention-minutes', '10',
                             '--max-upload-mb', str(MAX_UPLOAD_MB)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}/'
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert proc.poll() is None, f'app.py exited: {(workdir / "server.log").read_text()[-2000:]}'
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, f'app.py did not answer within {START_TIMEOUT_S} s'
            time.sleep(0.5)
    yield url, proc
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail('app.py did not stop within 15 s of SIGTERM')
    log.close()
    assert not list(workdir.glob('rvm-app-*')), 'app.py removes its job folders when it stops'


@pytest.fixture(scope='module')
def browser(workdir, server):  # after the server, so that it closes first
    assert os.path.exists(CHROMIUM), f'{CHROMIUM} is missing: apt-get install chromium-headless-shell (bash .ci/setup does)'
    camera = workdir / 'camera.y4m'
    write_y4m(camera, real_frames() if SCREENSHOTS else camera_frames())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            '--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
            f'--use-file-for-fake-video-capture={camera}'])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={'width': 1280, 'height': 900}, permissions=['camera'],
                                  accept_downloads=True)
    context.set_default_timeout(JOB_TIMEOUT_MS)
    page = context.new_page()
    page.goto(server[0])
    page.wait_for_selector('#convert-button')
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    """With RVM_APP_SCREENSHOTS, the page as a 256-colour PNG (small enough to check in)."""
    if SCREENSHOTS:
        image = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert('RGB')
        image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            Path(SCREENSHOTS) / name, optimize=True)


STATUS = '#status [data-testid="markdown"]'  # the message, not the queue/progress overlay over it


def status(page) -> str:
    return page.inner_text(STATUS).strip()


def wait_status(page, *words: str) -> str:
    """Wait until the status line holds one of `words`; returns it."""
    page.wait_for_function('([sel, words]) => words.some(w => document.querySelector(sel).innerText.includes(w))',
                           arg=[STATUS, list(words)])
    return status(page)


def download_results(page, folder: Path) -> dict:
    """Download every file the Results box offers; returns name -> path."""
    folder.mkdir(exist_ok=True)
    links = page.locator('#results a[download]')
    saved = {}
    for i in range(links.count()):
        with page.expect_download() as info:
            links.nth(i).click()
        download = info.value
        saved[download.suggested_filename] = folder / download.suggested_filename
        download.save_as(saved[download.suggested_filename])
    return saved


def unzip_frames(archive: Path) -> list:
    with zipfile.ZipFile(archive) as zf:
        return [np.asarray(Image.open(zf.open(name))) for name in sorted(zf.namelist())]


def convert_options(page, upload: Path, fmt: str, kinds=('composition',)) -> None:
    page.set_input_files('#upload input[type=file]', str(upload))
    page.wait_for_selector(f'#upload a[download="{upload.name}"][href*="/gradio_api/file="]')  # the server has it
    page.locator('#format').get_by_label(fmt).check()
    for kind in ('composition', 'alpha', 'foreground'):
        box = page.locator('#outputs').get_by_label(kind)
        box.check() if kind in kinds else box.uncheck()


def test_convert_downloads_alpha_equal_to_convert_video(page, workdir, checkpoint):
    clip = workdir / 'clip.mp4'
    if SCREENSHOTS:
        write_clip(clip, real_frames())
    else:
        make_video(clip, size=(128, 96), frames=12)
    frames = probe(clip)['frames']
    convert_options(page, clip, 'PNG sequence (.zip)', ('composition', 'alpha'))
    page.locator('#color button').click()
    hex_input = page.locator('#color input').first
    hex_input.fill('#3366cc')
    hex_input.press('Enter')
    page.locator('h1').click()  # close the colour dialog
    page.click('#convert-button')
    assert 'Done' in wait_status(page, 'Done', 'Error'), status(page)
    page.wait_for_selector('#preview img')
    screenshot(page, 'app_convert.png')
    files = download_results(page, workdir / 'downloads')
    assert sorted(files) == ['alpha.zip', 'composition.zip']
    alpha, composition = unzip_frames(files['alpha.zip']), unzip_frames(files['composition.zip'])
    assert len(alpha) == len(composition) == frames
    expected_dir = workdir / 'expected_alpha'
    convert_video(create_model(checkpoint=str(checkpoint)), str(clip), output_type='png_sequence',
                  output_alpha=str(expected_dir), progress=False)
    expected = [np.asarray(Image.open(p)) for p in sorted(expected_dir.glob('*.png'))]
    assert len(expected) == frames
    for got, want in zip(alpha, expected):
        assert got.shape == want.shape
        assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    # The chosen colour shows where the matte is clear.
    clear = expected[0] == 0
    assert clear.any(), 'the weights should leave some background to check the colour on'
    assert np.abs(composition[0][clear][:, :3].astype(int) - (0x33, 0x66, 0xcc)).max() <= 2


def test_cancel_midway_keeps_the_server_free(page, server, workdir):
    url, proc = server
    page.locator('#media input').click()
    page.get_by_role('option', name='long.mp4').click()
    page.locator('#format').get_by_label('MP4 (H.264)').check()
    page.click('#convert-button')
    page.wait_for_function(f'/[1-9][0-9]*\\/{LONG_FRAMES} frames/.test(document.body.innerText)')
    page.click('#cancel-button')
    text = wait_status(page, 'Cancelled', 'Done', 'Error')
    assert text.startswith('Cancelled'), text
    files = download_results(page, workdir / 'cancelled')
    written = probe(files['composition.mp4'])['frames']
    assert 0 < written < LONG_FRAMES, 'the partial output plays and holds the frames written before the cancel'
    used = cpu_seconds(proc.pid)
    time.sleep(1.5)
    assert cpu_seconds(proc.pid) - used < 0.5, 'the server still works after the cancel'
    # The queue is free: a new job runs at once.
    clip = workdir / 'after_cancel.mp4'
    make_video(clip, size=(64, 48), frames=4)
    convert_options(page, clip, 'MP4 (H.264)')
    page.click('#convert-button')
    assert 'Done' in wait_status(page, 'Done', 'Error'), status(page)
    assert urllib.request.urlopen(url, timeout=5).status == 200


def test_webcam_mattes_the_fake_camera_and_shows_the_states(page, workdir):
    page.get_by_role('tab', name='Webcam').click()
    page.get_by_label('Show the recurrent states').check()
    if not SCREENSHOTS:
        red = workdir / 'red.png'
        Image.new('RGB', (32, 32), (255, 0, 0)).save(red)
        page.set_input_files('#webcam-background input[type=file]', str(red))
        page.wait_for_selector('#webcam-background img')
    page.locator('#camera').get_by_text('Click to Access Webcam').click()
    page.locator('#camera button[aria-label="capture photo"]').click()
    page.wait_for_function('/[1-9][0-9.]* fps/.test(document.querySelector("#webcam-stats").innerText)')
    fps = float(re.search(r'([\d.]+) fps', page.inner_text('#webcam-stats')).group(1))
    assert fps > 0
    matted = page.wait_for_selector('#matted img')
    for i in range(1, 5):
        page.wait_for_selector(f'#state-r{i} img')
    if not SCREENSHOTS:
        # The weights leave most of the fake camera's frame (a disc on a gradient) clear: the background shows.
        image = np.asarray(Image.open(io.BytesIO(page.request.get(matted.get_attribute('src')).body())).convert('RGB'))
        assert image.shape[:2] == (120, 160)
        red_share = (np.abs(image.astype(int) - (255, 0, 0)).max(axis=2) < 40).mean()
        assert red_share > 0.2, red_share
    time.sleep(1)  # a few more frames, for the screenshot
    screenshot(page, 'app_webcam.png')


def test_bad_upload_shows_the_converters_error(page, workdir):
    fake = workdir / 'notes.mp4'
    fake.write_text('this is a text file, not a video\n')
    convert_options(page, fake, 'MP4 (H.264)')
    page.click('#convert-button')
    text = wait_status(page, 'Error', 'Done')
    assert re.fullmatch(r'Error: \S+ is not a video FFmpeg can read \(.*\)', text), text
    assert '\n' not in text
    assert 'notes' not in text, 'the uploaded name never becomes a path'


def test_upload_over_the_limit_is_refused_in_the_page(page, workdir):
    big = workdir / 'big.mp4'
    big.write_bytes(os.urandom((MAX_UPLOAD_MB + 1) * 2**20))
    page.set_input_files('#upload input[type=file]', str(big))
    page.wait_for_selector(f'text=exceed the maximum allowed size of {MAX_UPLOAD_MB}')


def click_at(page, selector: str, x: int, y: int) -> None:
    """A real mouse click on the image `selector` at its pixel `(x, y)` (shown scaled to fit its box)."""
    box = page.evaluate('''sel => { const i = document.querySelector(sel); const r = i.getBoundingClientRect();
        return [r.width, r.height, i.naturalWidth, i.naturalHeight]; }''', selector)
    width, height, natural_w, natural_h = box
    scale = min(width / natural_w, height / natural_h)
    left, top = (width - natural_w * scale) / 2, (height - natural_h * scale) / 2
    page.locator(selector).click(position={'x': left + (x + 0.5) * scale, 'y': top + (y + 0.5) * scale})


@pytest.mark.skipif(not REAL_WEIGHTS.exists(), reason='needs the real weights of ../shared/real: filled weights '
                                                      'matte no person to click on')
def test_a_click_on_the_preview_keeps_that_person(page, workdir, checkpoint):
    """Two real clips side by side: a click on the background says so; a click on the right person of
    the preview keeps them in every frame (the page's alpha is the library's with keep at the point
    clicked) and drops the other."""
    clip = workdir / 'two_people.mp4'
    write_clip(clip, real_frames(('tile1', 'tile4'), scale=2)[:6])  # [6, 180, 632, 3]
    convert_options(page, clip, 'PNG sequence (.zip)', ('alpha',))
    page.click('#show-frame')
    page.wait_for_selector('#preview img')
    click_at(page, '#preview img', 20, 20)  # the background: said, and not kept
    page.wait_for_function('document.querySelector("#picks").innerText.includes("no person at")')
    assert re.fullmatch(r'Error: no person at \d+,\d+ on frame 0: click on a person', page.inner_text('#picks').strip())
    click_at(page, '#preview img', 475, 125)
    page.wait_for_function('document.querySelector("#picks").innerText.includes("Keeping only")')
    point = re.search(r'people at (\d+),(\d+) on frame 0', page.inner_text('#picks'))
    x, y = int(point.group(1)), int(point.group(2))
    assert abs(x - 475) <= 2 and abs(y - 125) <= 2, (x, y)
    screenshot(page, 'app_selection.png')
    page.click('#convert-button')
    assert 'Done' in wait_status(page, 'Done', 'Error'), status(page)
    alpha = unzip_frames(download_results(page, workdir / 'picked')['alpha.zip'])
    model = create_model(checkpoint=str(checkpoint))
    convert_video(model, str(clip), output_alpha=str(workdir / 'kept'), keep=[f'{x},{y}@0'], progress=False)
    convert_video(model, str(clip), output_alpha=str(workdir / 'everyone'), progress=False)
    kept, everyone = ([np.asarray(Image.open(p)).astype(int) for p in sorted((workdir / name).glob('*.png'))]
                      for name in ('kept', 'everyone'))
    assert len(alpha) == len(kept) == 6
    for got, want, both in zip(alpha, kept, everyone):
        assert np.abs(got.astype(int) - want).max() <= 1
        assert got[:, :316].max() == 0 and both[:, :316].max() == 255, 'the left person is dropped'
        assert np.abs(got[:, 316:].astype(int) - both[:, 316:]).mean() < 1, 'the right person is kept'


def test_browser_page_is_linked_and_served_cross_origin_isolated(page, server):
    """Last in this file: the first visit starts exporting the page in the server (a minute of CPU)."""
    page.get_by_role('tab', name='In your browser').click()
    assert page.locator('#browser-page a', has_text='open the in-browser page').get_attribute('href') == '/browser/'
    try:
        response = urllib.request.urlopen(server[0] + 'browser/', timeout=10)
    except urllib.error.HTTPError as error:  # 503 while it is being exported
        response = error
    assert response.status in (200, 503)
    for name, value in ISOLATION_HEADERS.items():
        assert response.headers[name] == value, name
