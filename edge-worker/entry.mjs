// The worker's entry module (bundled with the wasm-bindgen glue into build/worker.mjs by build.sh): instantiates the wasm
// once per isolate and hands every request to the Rust fetch handler.
import { initSync, fetch as handle } from "./refract_edge.js";
import wasm from "./refract_edge_bg.wasm";

initSync({ module: wasm });

export default {
  fetch(request, env, ctx) {
    return handle(request, env, ctx);
  },
};
