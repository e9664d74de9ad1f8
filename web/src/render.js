// From the network's planar outputs to pixels: the composition over a colour, an image or nothing
// (transparent), the alpha, the foreground; and the recurrent states as the original demo drew them.

/** '#rrggbb' as [r, g, b] in 0..255. */
export function hexColour(hex) {
  const value = parseInt(hex.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

/** Draw `image` (an ImageBitmap or image element) covering width x height, centred and cropped, as
 * the Python side's cover-and-crop does; returns its RGBA bytes. */
export function coverBytes(image, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d');
  const scale = Math.max(width / image.width, height / image.height);
  const w = image.width * scale;
  const h = image.height * scale;
  context.drawImage(image, (width - w) / 2, (height - h) / 2, w, h);
  return context.getImageData(0, 0, width, height).data;
}

/** The frame to show, as RGBA bytes in `target` (`[H, W, 4]`).
 * kind: 'composition' | 'alpha' | 'foreground'; background: {colour: [r, g, b]} | {bytes: RGBA} | null
 * (transparent: the foreground with alpha). */
export function renderFrame(result, kind, background, target) {
  const { fgr, pha, width, height } = result;
  const size = width * height;
  for (let i = 0, p = 0; i < size; i++, p += 4) {
    const a = pha[i];
    if (kind === 'alpha') {
      const v = a * 255;
      target[p] = v; target[p + 1] = v; target[p + 2] = v; target[p + 3] = 255;
      continue;
    }
    const r = fgr[i] * 255;
    const g = fgr[size + i] * 255;
    const b = fgr[2 * size + i] * 255;
    if (kind === 'foreground') {
      target[p] = r; target[p + 1] = g; target[p + 2] = b; target[p + 3] = 255;
    } else if (!background) {
      target[p] = r; target[p + 1] = g; target[p + 2] = b; target[p + 3] = a * 255;
    } else {
      const bg = background.bytes;
      const [br, bgg, bb] = bg ? [bg[p], bg[p + 1], bg[p + 2]] : background.colour;
      target[p] = r * a + br * (1 - a);
      target[p + 1] = g * a + bgg * (1 - a);
      target[p + 2] = b * a + bb * (1 - a);
      target[p + 3] = 255;
    }
  }
}

/** A recurrent state `[1, C, h, w]` on `canvas`: its first three channels as red, green and blue,
 * mapped from -1..1 (the ConvGRU's tanh range). */
export function drawState(canvas, state) {
  const [, channels, h, w] = state.dims;
  if (channels < 3) return; // the zeros before the first frame
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const context = canvas.getContext('2d');
  const image = context.createImageData(w, h);
  const plane = w * h;
  for (let i = 0, p = 0; i < plane; i++, p += 4) {
    for (let c = 0; c < 3; c++) image.data[p + c] = (state.data[c * plane + i] + 1) * 127.5;
    image.data[p + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}
