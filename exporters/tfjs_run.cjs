// Run a TF.js export (export.py --format tfjs) in Node on the wasm backend over chained frames,
// feeding the states back: the documented loop, and the parity check's runtime.
//
//   NODE_PATH=.node-export/node_modules node exporters/tfjs_run.cjs MODEL_DIR RUN [RUN ...]
//
// Each RUN is six arguments, FRAMES.bin T H W RATIO OUT_PREFIX: FRAMES.bin float32 [T, 1, 3, H, W],
// run at downsample_ratio RATIO; writes OUT_PREFIX.fgr.bin [T, 1, 3, H, W] and OUT_PREFIX.pha.bin
// [T, 1, 1, H, W], float32. The model is loaded once for all of them.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

// tfjs-node (whose prebuilt binary cannot always be downloaded) would read files itself; without
// it the model is handed over from memory.
async function loadModel(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json')));
  const shards = json.weightsManifest.flatMap((group) => group.paths)
    .map((p) => fs.readFileSync(path.join(dir, p)));
  const data = Buffer.concat(shards);
  const weightData = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
    weightData, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy,
    signature: json.signature,
  }));
  return { model, signature: json.signature };
}

async function run(model, outputs, meta, [framesPath, steps, height, width, ratio, outPrefix]) {
  const raw = fs.readFileSync(framesPath);
  const frames = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const frameSize = 3 * height * width;
  const downsampleRatio = tf.tensor([Number(ratio)]);
  let states = Object.values(meta.first_frame_states).map((shape) => tf.zeros(shape));
  const fgrs = []; const phas = [];
  for (let t = 0; t < Number(steps); t++) {
    const src = tf.tensor(frames.subarray(t * frameSize, (t + 1) * frameSize), [1, 3, Number(height), Number(width)]);
    const feeds = { src, r1i: states[0], r2i: states[1], r3i: states[2], r4i: states[3],
      downsample_ratio: downsampleRatio };
    const [fgr, pha, ...next] = model.execute(feeds, outputs);
    tf.dispose([src, ...states]);
    states = next;
    fgrs.push(await fgr.data()); phas.push(await pha.data());
    tf.dispose([fgr, pha]);
  }
  tf.dispose([downsampleRatio, ...states]);
  const write = (name, chunks) => fs.writeFileSync(`${outPrefix}.${name}.bin`,
    Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength))));
  write('fgr', fgrs); write('pha', phas);
  console.log(`backend ${tf.getBackend()}: ${steps} frames ${width}x${height} at ratio ${ratio}`);
}

async function main([dir, ...runs]) {
  await tf.setBackend('wasm');
  const meta = JSON.parse(fs.readFileSync(dir.replace(/\/$/, '') + '.json'));
  const { model, signature } = await loadModel(dir);
  const outputs = ['fgr', 'pha', 'r1o', 'r2o', 'r3o', 'r4o'].map((name) => signature.outputs[name].name);
  for (let i = 0; i < runs.length; i += 6) {
    await run(model, outputs, meta, runs.slice(i, i + 6));
  }
}

main(process.argv.slice(2)).catch((error) => { console.error(error); process.exit(1); });
