// Which back end runs the network, and the ONNX Runtime build that serves it. Everything is loaded
// from this folder (ort/): the page makes no request outside its own origin.

const BUILDS = {
  webgpu: '../ort/ort.webgpu.min.mjs', // ONNX Runtime's WebGPU execution provider (and WebAssembly for the rest)
  wasm: '../ort/ort.wasm.min.mjs',    // WebAssembly alone: SIMD, threads when cross-origin isolated
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
 * pages (served with COOP same-origin and COEP require-corp); elsewhere it runs on one thread. */
export function wasmThreads() {
  return self.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;
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
