// The page: loads the model the visitor picks on the back end chosen for this browser, mattes the
// camera or a local video frame after frame, draws the output and the recurrent states, shows fps and
// latency, records the output. `window.rvm` exposes the running parts to tests and benchmarks.
import { chooseBackend, createSession, describeBackend, loadRuntime } from './runtime.js';
import { Matting } from './matting.js';
import { coverBytes, drawState, hexColour, renderFrame } from './render.js';
import { grab, listCameras, nextFrame, startCamera, startFile } from './sources.js';
import { record, recordingType } from './recorder.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const page = {
  ort: null, backend: null, models: [], matting: null, loading: null, stopSource: null, run: 0,
  frames: [], shown: 0, latencyMs: 0, background: null, backgroundImage: null, recording: null,
};
window.rvm = page;

function say(message, error = false) {
  $('status').textContent = message;
  $('status').classList.toggle('error', error);
}

function fail(error) {
  say(`Error: ${String(error && error.message ? error.message : error).split('\n')[0]}`, true);
}

/** (Re)load the chosen model and weights: a new session, a new clip. */
async function loadModel() {
  const model = page.models[$('model').value];
  const weights = model.weights[$('precision').value];
  say(`Loading ${model.name}, ${$('precision').value} weights (${(weights.bytes / 2 ** 20).toFixed(1)} MB)…`);
  const previous = page.matting;
  const session = await createSession(page.ort, page.backend, weights.file);
  page.matting = new Matting(page.ort, session, $('ratio').value);
  if (previous) await previous.session.release();
  say(page.stopSource ? 'Running.' : 'Ready: start the camera or choose a video file.');
}

function reload() {
  page.loading = loadModel().catch(fail);
  return page.loading;
}

function fillSelect(select, entries) {
  select.replaceChildren(...entries.map(([value, label]) => new Option(label, value)));
}

/** The composition's background for frames of width x height: {colour}, {bytes} or null. */
function background(width, height) {
  const choice = $('background').value;
  if (choice === 'transparent') return null;
  if (choice === 'image' && page.backgroundImage) {
    const key = `${width}x${height}`;
    if (!page.background || page.background.key !== key) {
      page.background = { key, bytes: coverBytes(page.backgroundImage, width, height) };
    }
    return page.background;
  }
  return { colour: hexColour($('color').value) };
}

function showResult(result) {
  const canvas = $('view');
  if (canvas.width !== result.width || canvas.height !== result.height) {
    canvas.width = result.width;
    canvas.height = result.height;
  }
  const context = canvas.getContext('2d');
  const image = context.createImageData(result.width, result.height);
  renderFrame(result, $('output').value, background(result.width, result.height), image.data);
  context.putImageData(image, 0, 0);
  page.matting.stateViews().forEach((state, i) => drawState($(`state-r${i + 1}`), state));
}

function showStats() {
  const frames = page.frames;
  const fps = frames.length > 1 ? (frames.length - 1) * 1000 / (frames[frames.length - 1] - frames[0]) : 0;
  $('fps').textContent = `${fps.toFixed(fps < 1 ? 3 : 1)} fps`; // WebGPU on a CPU renderer: seconds a frame
  $('latency').textContent = `${page.latencyMs.toFixed(0)} ms per frame`;
  $('ratio-used').textContent = `ratio ${page.matting.ratio === null ? '–' : +page.matting.ratio.toFixed(4)}`;
}

/** Matte `video` frame after frame until it ends or another source replaces it. */
async function matteLoop(video) {
  const run = ++page.run;
  const grabCanvas = new OffscreenCanvas(1, 1);
  await page.loading;
  page.frames = [];
  page.shown = 0;
  page.matting.reset();
  while (run === page.run && !video.ended) {
    await nextFrame(video);
    await page.loading;
    if (run !== page.run) break;
    const image = grab(video, grabCanvas);
    const started = performance.now();
    const result = await page.matting.step(image);
    page.latencyMs = performance.now() - started;
    if (run !== page.run) break;
    showResult(result);
    page.shown++;
    page.frames.push(performance.now());
    if (page.frames.length > 30) page.frames.shift();
    showStats();
  }
  if (run === page.run) stopSource('The source has ended.'); // a camera unplugged
}

async function startSource(start) {
  stopSource();
  try {
    page.stopSource = await start($('source'));
  } catch (error) {
    fail(error);
    return;
  }
  $('stop').disabled = false;
  $('record').disabled = !recordingType();
  say('Running.');
  matteLoop($('source')).catch((error) => { fail(error); stopSource(); });
}

function stopSource(message) {
  page.run++;
  if (page.recording) toggleRecording();
  if (page.stopSource) page.stopSource();
  page.stopSource = null;
  $('stop').disabled = true;
  $('record').disabled = true;
  if (message) say(message);
}

async function toggleRecording() {
  if (!page.recording) {
    page.recording = record($('view'), recordingType());
    $('record').textContent = 'Stop recording';
    return;
  }
  const recording = page.recording;
  page.recording = null;
  $('record').textContent = 'Record';
  const blob = await recording.stop();
  const link = $('download');
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = 'matted.webm';
  link.hidden = false;
}

async function startCameraSource() {
  await startSource((video) => startCamera(video, $('camera').value));
  const cameras = await listCameras(); // labelled now that the page has the camera
  const chosen = $('camera').value;
  fillSelect($('camera'), [['', 'default camera'], ...cameras.map((c, i) => [c.deviceId, c.label || `camera ${i + 1}`])]);
  $('camera').value = chosen;
}

function wire() {
  $('start-camera').onclick = startCameraSource;
  $('camera').onchange = () => { if (page.stopSource && $('source').srcObject) startCameraSource(); };
  $('file').onchange = () => {
    const file = $('file').files[0];
    if (file) startSource((video) => startFile(video, file));
  };
  $('stop').onclick = () => stopSource('Stopped.');
  $('model').onchange = reload;
  $('precision').onchange = reload;
  $('ratio').onchange = () => { page.matting.ratioChoice = $('ratio').value; };
  $('background').onchange = () => { $('background-image').hidden = $('background').value !== 'image'; };
  $('background-image').onchange = async () => {
    const file = $('background-image').files[0];
    try {
      page.backgroundImage = file ? await createImageBitmap(file) : null;
      page.background = null;
    } catch {
      fail(new Error(`${file.name} is not an image this browser can read`));
    }
  };
  $('record').onclick = toggleRecording;
}

async function main() {
  wire();
  page.backend = await chooseBackend(params);
  $('backend').textContent = `back end: ${describeBackend(page.backend)}`;
  page.ort = await loadRuntime(page.backend);
  page.models = (await (await fetch('models.json')).json()).models;
  fillSelect($('model'), page.models.map((m, i) => [i, m.name]));
  const precisions = Object.keys(page.models[0].weights);
  fillSelect($('precision'), precisions.map((p) => [p, p === 'uint8' ? '8-bit' : p]));
  listCameras().then((cameras) => fillSelect($('camera'),
    [['', 'default camera'], ...cameras.map((c, i) => [c.deviceId, c.label || `camera ${i + 1}`])]));
  await reload();
  if (params.get('autostart') === '1') await startCameraSource();
}

page.ready = main().catch((error) => { fail(error); throw error; });
