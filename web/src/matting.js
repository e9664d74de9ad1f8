// The network on a stream of frames: an ONNX Runtime session of the exported graph (export.py
// --format onnx: src, r1i..r4i, downsample_ratio -> fgr, pha, r1o..r4o) and the recurrent states it
// carries from frame to frame, as streaming.Matter does in Python.

const STATE_NAMES = ['r1', 'r2', 'r3', 'r4'];

/** The ratio that brings the longer side to 512 px, never upsampling (streaming/matter.py). */
export function autoRatio(width, height) {
  return Math.min(512 / Math.max(width, height), 1);
}

/** RGBA bytes `[H, W, 4]` as the network's input `[1, 3, H, W]` float32 in 0..1. */
export function toPlanes(rgba, width, height) {
  const size = width * height;
  const planes = new Float32Array(3 * size);
  for (let i = 0, p = 0; i < size; i++, p += 4) {
    planes[i] = rgba[p] / 255;
    planes[size + i] = rgba[p + 1] / 255;
    planes[2 * size + i] = rgba[p + 2] / 255;
  }
  return planes;
}

export class Matting {
  /** `ratio`: a number, or 'auto' (from each clip's size). */
  constructor(ort, session, ratio = 'auto') {
    this.ort = ort;
    this.session = session;
    this.clip = 0;
    this.ratioChoice = ratio; // and a first reset()
  }

  /** Start a new clip: zero states (`[1, 1, 1, 1]`, broadcast by the graph on the first frame). */
  reset() {
    this.states = STATE_NAMES.map(() => new this.ort.Tensor('float32', new Float32Array(1), [1, 1, 1, 1]));
    this.size = null;
    this.ratio = null;
    this.clip++; // a step still running keeps its states out of the new clip
  }

  set ratioChoice(value) {
    this._ratioChoice = value;
    this.reset(); // the states of one ratio do not fit another
  }

  get ratioChoice() { return this._ratioChoice; }

  /** Matte one frame (ImageData-like: data, width, height): `{fgr, pha, width, height}` as planar
   * float32 (`[3, H, W]`, `[H, W]`); the states move on. A frame of another size starts a new clip. */
  async step(image) {
    const { width, height } = image;
    if (!this.size || this.size[0] !== width || this.size[1] !== height) {
      this.reset();
      this.size = [width, height];
      this.ratio = this.ratioChoice === 'auto' ? autoRatio(width, height) : Number(this.ratioChoice);
    }
    const clip = this.clip;
    const Tensor = this.ort.Tensor;
    const feeds = {
      src: new Tensor('float32', toPlanes(image.data, width, height), [1, 3, height, width]),
      downsample_ratio: new Tensor('float32', new Float32Array([this.ratio]), [1]),
    };
    STATE_NAMES.forEach((name, i) => { feeds[`${name}i`] = this.states[i]; });
    const out = await this.session.run(feeds);
    if (clip === this.clip) this.states = STATE_NAMES.map((name) => out[`${name}o`]);
    return { fgr: out.fgr.data, pha: out.pha.data, width, height };
  }

  /** The states as `{data, dims}` (dims `[1, C, h, w]`); before the first frame, `[1, 1, 1, 1]` zeros. */
  stateViews() {
    return this.states.map((t) => ({ data: t.data, dims: t.dims }));
  }
}
