// Which back end runs the network, and the ONNX Runtime build that serves it. Everything is loaded
// from this folder (ort/): the page makes no request outside its own origin.

// For WebGPU the JavaScript provider (ort.min.mjs, "JSEP"): 1.31.1's native WebGPU provider
// (ort.webgpu.min.mjs) computes the decoder's 171-channel convolution wrongly (documentation/web.md).
const BUILDS = {
  webgpu: '../ort/ort.min.mjs',    // WebGPU, and WebAssembly for what it leaves
  wasm: '../ort/ort.wasm.min.mjs', // WebAssembly alone (a smaller file): SIMD, threads when cross-origin isolated
};

/** 'webgpu' or 'wasm': `?backend=` when given, else WebGPU when the browser offers an adapter. */
export async function chooseBackend(params) {
  const forced = params.get('backend');
  if (forced && !(forced in BUILDS)) throw new Error(`?backend=${forced}: expected webgpu or wasm`);
  const adapter = navigator.gpu ? await navigator.gpu.requestAdapter().catch(() => null) : null;
  if (forced === 'webgpu' && !adapter) throw new Error('?backend=webgpu: this browser offers no WebGPU adapter');
  return forced || (adapter ? 'webgpu' : 'wasm');
}

/** Threaded WebAssembly needs SharedArrayBuffer, which browsers give only to cross-origin isolated
 * pages (served with COOP same-origin and COEP require-corp); elsewhere it runs on one thread.
 * `?threads=N` asks for fewer: on a machine that other programs keep busy, one thread can be faster. */
export function wasmThreads() {
  if (!self.crossOriginIsolated) return 1;
  const asked = Number(new URLSearchParams(location.search).get('threads'));
  return Math.max(1, Math.min(asked || navigator.hardwareConcurrency || 1, 8));
}

/** The `ort` module for `backend`, set up to load its WebAssembly from this folder. */
export async function loadRuntime(backend) {
  const ort = await import(BUILDS[backend]);
  ort.env.wasm.wasmPaths = new URL('../ort/', import.meta.url).href;
  ort.env.wasm.numThreads = wasmThreads();
  ort.env.logLevel = 'error';
  return ort;
}

/** What the page shows as its back end. */
export function describeBackend(backend) {
  if (backend === 'webgpu') return 'WebGPU';
  const threads = wasmThreads();
  return `WebAssembly (SIMD, ${threads} thread${threads > 1 ? 's' : ''}` +
    `${self.crossOriginIsolated ? '' : ': not cross-origin isolated'})`;
}

/** An inference session on `url` for `backend`. */
export async function createSession(ort, backend, url) {
  return ort.InferenceSession.create(url, {
    executionProviders: [backend],
    graphOptimizationLevel: 'all',
  });
}
