// Runs a wasm32-wasip1 test binary under Node's WASI, so `cargo test --target wasm32-wasip1`
// exercises the core compiled to WebAssembly. Cargo calls it as the target runner:
//   CARGO_TARGET_WASM32_WASIP1_RUNNER="node tests/wasi-runner.mjs" cargo test --target wasm32-wasip1
// The test binary sees the host file system through a "/" preopen (the tests read samples/
// by absolute path).
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';

const [file, ...args] = process.argv.slice(2);
const wasi = new WASI({
  version: 'preview1',
  args: [file, ...args],
  env: { RUST_BACKTRACE: '0', ...process.env },
  preopens: { '/': '/' },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
