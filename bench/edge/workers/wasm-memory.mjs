// Records every WebAssembly.Instance a peer creates, so the worker can report the total size of
// their linear memories (header x-wasm-memory). Wasm memory grows and never shrinks, so the
// figure after a request is the peak so far. JS-heap copies (e.g. jsquash's decoded ImageData)
// are not in it: workerd exposes no heap statistics.
const instances = [];

const OrigInstance = WebAssembly.Instance;
const origInstantiate = WebAssembly.instantiate;

function record(instance, imports) {
  instances.push({ instance, imports });
  return instance;
}

// A proxy, not a subclass: `x instanceof WebAssembly.Instance` must stay true for instances made
// by WebAssembly.instantiate (wasm-bindgen's glue checks it).
WebAssembly.Instance = new Proxy(OrigInstance, {
  construct(target, args, newTarget) {
    return record(Reflect.construct(target, args, newTarget), args[1]);
  },
});
WebAssembly.instantiate = async function instantiate(source, imports) {
  const result = await origInstantiate.call(WebAssembly, source, imports);
  if (result instanceof OrigInstance) record(result, imports);
  else if (result && result.instance) record(result.instance, imports);
  return result;
};

/** Byte lengths (each and their sum) of every distinct memory exported or imported by a recorded instance. */
export function wasmMemoryBytes() {
  const seen = new Set();
  for (const { instance, imports } of instances) {
    for (const v of Object.values(instance.exports)) if (v instanceof WebAssembly.Memory) seen.add(v);
    for (const ns of Object.values(imports || {}))
      for (const v of Object.values(ns || {})) if (v instanceof WebAssembly.Memory) seen.add(v);
  }
  const sizes = [...seen].map((m) => m.buffer.byteLength);
  return { total: sizes.reduce((a, b) => a + b, 0), memories: sizes.length, sizes };
}
