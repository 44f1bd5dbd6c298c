// The worker's entry module (bundled with the wasm-bindgen glue into build/worker.mjs by
// build.sh): instantiates the wasm once per isolate and hands every request to the Rust fetch
// handler.
//
// A trap inside the wasm instance (out of memory, a panic: both abort) leaves it unusable for
// every later request in the isolate. Two marks say it happened: the Rust side sets
// `__refractTransforming` around each transform (JS runs one thing at a time, so a request that
// finds it set knows the transform that set it never returned), and workers-rs's panic hook sets
// `__worker_init_state.criticalError`. Either way, the instance is rebuilt from the same module
// (wasm-bindgen's `__wbg_reset_state`, built with --experimental-reset-state-function) before
// the request is handed over; closures of the old instance refuse to run in the new one.
import { initSync, fetch as handle, __wbg_reset_state as resetState } from "./refract_edge.js";
import wasm from "./refract_edge_bg.wasm";

initSync({ module: wasm });

let rebuilds = 0;

function trapped() {
  const state = globalThis.__worker_init_state;
  return Boolean(globalThis.__refractTransforming || (state && state.criticalError));
}

function rebuild() {
  resetState();
  globalThis.__refractTransforming = false;
  if (globalThis.__worker_init_state) globalThis.__worker_init_state.criticalError = false;
  rebuilds += 1;
  console.error(`refract: the wasm instance trapped; rebuilt (${rebuilds} in this isolate)`);
}

export default {
  fetch(request, env, ctx) {
    if (trapped()) rebuild();
    return handle(request, env, ctx);
  },
};
