// The edge worker (edge-worker/build/worker.mjs) inside workerd, through miniflare, listening on
// a real 127.0.0.1 port, for the fleet test and benchmark (tests/fleet-lib.sh starts it):
//
//   node tests/fleet-worker.mjs <port> '<JSON object of vars>'
//
// Prints `worker listening http://127.0.0.1:<port>` once workerd serves, then runs until SIGTERM
// or SIGINT, when it disposes of workerd and exits 0. The vars are the worker's (docs/edge.md):
// here ORIGIN_URL and HANDOFF_URL point at the load balancer in front of `refract serve`. No R2
// binding, so originals come from ORIGIN_URL; no rate-limit binding, so the edge does not limit.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WORKER = process.env.FLEET_EDGE_WORKER ?? path.join(ROOT, 'edge-worker/build/worker.mjs');
const NODE_MODULES = path.join(ROOT, 'edge-worker/node_modules');

process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';

const [portArg, varsArg = '{}'] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node tests/fleet-worker.mjs <port> <JSON vars>');
  process.exit(2);
}
const bindings = JSON.parse(varsArg);

/** wrangler.toml's compatibility date and flags, so the worker runs as it would be deployed. */
function compatibility() {
  const file = path.join(ROOT, 'wrangler.toml');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const date = /^\s*compatibility_date\s*=\s*"([^"]+)"/m.exec(text)?.[1] ?? '2025-01-01';
  const flags = /^\s*compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(text)?.[1];
  return {
    compatibilityDate: date,
    compatibilityFlags: flags ? [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]) : [],
  };
}

const { Miniflare } = await import(
  pathToFileURL(createRequire(path.join(NODE_MODULES, 'noop.js')).resolve('miniflare')).href
);
const mf = new Miniflare({
  host: '127.0.0.1',
  port,
  modules: true,
  scriptPath: WORKER,
  modulesRoot: path.dirname(WORKER),
  modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
  ...compatibility(),
  cf: false,
  bindings,
});
const url = await mf.ready;
console.log(`worker listening ${url.origin}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await mf.dispose();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
