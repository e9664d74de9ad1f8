// A recording of the matted frames (the canvas the page draws), as WebM: VP9 or VP8, the codecs
// that can carry a transparent composition's alpha where the browser's encoder writes it.

const TYPES = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm'];

/** The first WebM type this browser records, or null. */
export function recordingType() {
  return TYPES.find((type) => self.MediaRecorder && MediaRecorder.isTypeSupported(type)) || null;
}

/** Start recording `canvas`; the returned `stop()` resolves to the WebM Blob. */
export function record(canvas, type) {
  const recorder = new MediaRecorder(canvas.captureStream(30), { mimeType: type });
  const chunks = [];
  recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
  recorder.start(250);
  return {
    stop: () => new Promise((resolve) => {
      recorder.onstop = () => resolve(new Blob(chunks, { type: 'video/webm' }));
      recorder.stop();
    }),
  };
}
