// Where frames come from: a camera, or a video file the visitor picks (read in the page through a
// blob: URL of this origin, never uploaded). Both play in a <video>; frames are read from it.

/** The cameras the browser lists (labels appear once the page has had camera access). */
export async function listCameras() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === 'videoinput');
}

/** Play camera `deviceId` ('' for the default) in `video`; returns a function that stops it. */
export async function startCamera(video, deviceId) {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: deviceId ? { deviceId: { exact: deviceId } } : { width: 640, height: 480 },
    audio: false,
  });
  video.srcObject = stream;
  await video.play();
  return () => {
    stream.getTracks().forEach((track) => track.stop());
    video.srcObject = null;
  };
}

/** Play `file` in `video`; rejects with a one-line message when the browser cannot decode it.
 * Returns a function that stops it. */
export async function startFile(video, file) {
  const url = URL.createObjectURL(file);
  video.srcObject = null;
  video.src = url;
  video.loop = true; // as a camera: matted until Stop, frames dropped while the network is busy
  try {
    await new Promise((resolve, reject) => {
      video.onloadeddata = resolve;
      video.onerror = () => reject(new Error(`${file.name} is not a video this browser can play` +
        `${video.error && video.error.message ? ` (${video.error.message})` : ''}`));
    });
    await video.play();
  } catch (error) {
    URL.revokeObjectURL(url);
    video.removeAttribute('src');
    throw error;
  }
  return () => {
    video.pause();
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  };
}

/** Calls `callback()` once `video` shows a frame it has not shown before (then and each time again). */
export function nextFrame(video) {
  return new Promise((resolve) => {
    if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(() => resolve());
    else requestAnimationFrame(() => resolve());
  });
}

/** The frame `video` shows, as ImageData, drawn through `canvas` (an OffscreenCanvas kept by the caller). */
export function grab(video, canvas) {
  const width = video.videoWidth;
  const height = video.videoHeight;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(video, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}
