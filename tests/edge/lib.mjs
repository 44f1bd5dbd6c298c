// Shared helpers of the edge worker's end-to-end tests (tests/e2e-edge.sh runs them).
//
// - startWorker(): the built worker (edge-worker/build/worker.mjs) in workerd through
//   miniflare, with an R2 bucket and vars of the test's choosing;
// - startOrigin(): the native server, `refract serve`, on 127.0.0.1 ports chosen by the system,
//   as the worker's HTTP origin and handoff target;
// - probe()/sniff()/similarity(): what came back, decoded by ImageMagick and libvips and
//   compared by `refract compare`, never by the worker's own code.
//
// Environment (all optional): REFRACT_BIN (the release `refract`), REFRACT_EDGE_WORKER (entry
// module), REFRACT_EDGE_NODE_MODULES (where miniflare is installed).
import { spawn, execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SAMPLES = path.join(ROOT, 'samples');
export const REFRACT =
  process.env.REFRACT_BIN ??
  path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target', 'release/refract');
export const WORKER =
  process.env.REFRACT_EDGE_WORKER ?? path.join(ROOT, 'edge-worker/build/worker.mjs');
const NODE_MODULES =
  process.env.REFRACT_EDGE_NODE_MODULES ?? path.join(ROOT, 'edge-worker/node_modules');

// Offline: miniflare must not try to download the `cf` object or send metrics.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';

const { Miniflare } = await import(
  pathToFileURL(createRequire(path.join(NODE_MODULES, 'noop.js')).resolve('miniflare')).href
);

/** The compatibility date and flags of the project's wrangler configuration, so that the tests
 *  run the worker as it would be deployed; a fixed date the pinned workerd supports otherwise. */
function compatibility() {
  for (const file of ['edge-worker/wrangler.toml', 'wrangler.toml']) {
    const p = path.join(ROOT, file);
    if (!existsSync(p)) continue;
    const text = readFileSync(p, 'utf8');
    const date = /^\s*compatibility_date\s*=\s*"([^"]+)"/m.exec(text)?.[1];
    const flags = /^\s*compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(text)?.[1];
    if (date) {
      return {
        compatibilityDate: date,
        compatibilityFlags: flags ? [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]) : [],
      };
    }
  }
  return { compatibilityDate: '2025-01-01', compatibilityFlags: [] };
}

export const sample = (name) => readFile(path.join(SAMPLES, name));

/** Starts the worker in workerd. `r2` maps object keys to bytes (preloaded into the bucket
 *  bound as ORIGINALS); without it there is no R2 binding. `bindings` are the vars.
 *  `ratelimits` are Workers Rate Limiting bindings, as miniflare takes them:
 *  `{ RATE_LIMIT: { namespace_id: '1', simple: { limit: 5, period: 60 } } }`. */
export async function startWorker({ bindings = {}, r2 = null, ratelimits = undefined } = {}) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: WORKER,
    modulesRoot: path.dirname(WORKER),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'] }],
    ...compatibility(),
    cf: false,
    r2Buckets: r2 ? ['ORIGINALS'] : [],
    bindings,
    ...(ratelimits ? { ratelimits } : {}),
  });
  try {
    await mf.ready;
    if (r2) {
      const bucket = await mf.getR2Bucket('ORIGINALS');
      for (const [key, bytes] of Object.entries(r2)) {
        await bucket.put(key, new Uint8Array(bytes));
      }
    }
  } catch (e) {
    await mf.dispose();
    throw e;
  }
  return {
    mf,
    /** GET (by default) `pathAndQuery` on the worker; redirects are not followed. The body is
     *  read at once: { status, headers, body (Buffer), text(), json() }. */
    async get(pathAndQuery, init = {}) {
      const res = await mf.dispatchFetch(`http://localhost${pathAndQuery}`, {
        redirect: 'manual',
        ...init,
      });
      return collect(res);
    },
    /** The R2 bucket bound as ORIGINALS (to replace or delete originals). */
    bucket: () => mf.getR2Bucket('ORIGINALS'),
    dispose: () => mf.dispose(),
  };
}

async function collect(res) {
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: res.headers,
    body,
    text: () => body.toString('utf8'),
    json: () => JSON.parse(body.toString('utf8')),
  };
}

/** GET on the native server (or anything else) with Node's fetch; redirects not followed. */
export async function httpGet(url, init = {}) {
  return collect(await fetch(url, { redirect: 'manual', ...init }));
}

/** Starts `refract serve` on `originals` (default samples/) with ports chosen by the system,
 *  configured only by `env` (REFRACT_* variables of the caller's environment are dropped).
 *  Readiness: the server prints `refract listening http=… admin=…` on stdout once both
 *  listeners are bound; then /health on the admin listener is polled until it answers 200. */
export async function startOrigin({ env = {}, originals = SAMPLES } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'refract-edge-origin-'));
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('REFRACT_')),
  );
  const child = spawn(
    REFRACT,
    ['serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--originals', originals],
    {
      cwd: dir,
      // AVIF at the edge's default speed (9; the native default is 6), so that the parity
      // tests can ask for the same bytes.
      env: {
        ...clean,
        REFRACT_LOG: 'warn',
        REFRACT_DATA_DIR: path.join(dir, 'data'),
        REFRACT_TRANSFORM__AVIF_SPEED: '9',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      const onData = (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          child.stdout.off('data', onData);
          child.stdout.resume(); // keep draining
          resolve(out.slice(0, nl));
        }
      };
      child.stdout.on('data', onData);
      child.once('error', reject);
      exited.then(({ code, signal }) =>
        reject(new Error(`refract serve exited (${code ?? signal}) before it was ready:\n${log}`)),
      );
    });
    const http = /http=(\S+)/.exec(line)?.[1];
    const admin = /admin=(\S+)/.exec(line)?.[1];
    if (!http || !admin) throw new Error(`unexpected ready line from refract serve: ${line}`);
    // Poll /health (bounded): the ready line says both listeners are bound, so this normally
    // answers at the first try.
    let health;
    for (let i = 0; i < 50; i++) {
      try {
        health = await fetch(`http://${admin}/health`);
        if (health.status === 200) break;
      } catch (e) {
        health = e;
      }
      await new Promise((r) => setImmediate(r));
    }
    if (health?.status !== 200) throw new Error(`/health did not answer 200: ${health}`);
    return { url: `http://${http}`, admin: `http://${admin}`, stop, log: () => log };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A 127.0.0.1 port nobody listens on (bound, then released). */
export async function deadPort() {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** The container format from the magic bytes: jpeg, png, webp, avif, gif, json or unknown. */
export function sniff(buf) {
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])))
    return 'png';
  if (buf.subarray(0, 4).toString('latin1') === 'RIFF' && buf.subarray(8, 12).toString('latin1') === 'WEBP')
    return 'webp';
  if (buf.subarray(4, 8).toString('latin1') === 'ftyp') {
    const size = buf.readUInt32BE(0);
    const brands = [];
    for (let o = 8; o + 4 <= Math.min(size, buf.length); o += 4) {
      if (o !== 12) brands.push(buf.subarray(o, o + 4).toString('latin1'));
    }
    if (brands.includes('avif')) return 'avif';
    return `isobmff(${brands.join(',')})`;
  }
  if (buf.subarray(0, 4).toString('latin1') === 'GIF8') return 'gif';
  if (buf[0] === 0x7b) return 'json';
  return 'unknown';
}

/** Decodes an image independently of Refract: ImageMagick's identify for the size (first
 *  frame) and, for JPEG, whether it is progressive. */
export async function probe(buf) {
  const dir = await mkdtemp(path.join(tmpdir(), 'refract-edge-probe-'));
  try {
    const file = path.join(dir, 'img');
    await writeFile(file, buf);
    const { stdout } = await run('identify', ['-format', '%w %h %[interlace]\n', `${file}[0]`]);
    const [w, h, interlace] = stdout.trim().split('\n')[0].split(' ');
    return { format: sniff(buf), width: Number(w), height: Number(h), progressive: interlace === 'JPEG' };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** SSIM and PSNR of two encoded images of the same size, by `refract compare`. AVIF (which
 *  the core does not decode) is first decoded to PNG by libvips. */
export async function similarity(a, b) {
  const dir = await mkdtemp(path.join(tmpdir(), 'refract-edge-cmp-'));
  try {
    const files = [];
    for (const [i, buf] of [a, b].entries()) {
      let file = path.join(dir, `${i}.${sniff(buf)}`);
      await writeFile(file, buf);
      if (sniff(buf) === 'avif') {
        const png = path.join(dir, `${i}.png`);
        await run('vips', ['copy', file, png]);
        file = png;
      }
      files.push(file);
    }
    const { stdout } = await run(REFRACT, ['compare', ...files]);
    const m = /ssim ([\d.]+) psnr ([\d.]+|inf)/.exec(stdout);
    if (!m) throw new Error(`unexpected output of refract compare: ${stdout}`);
    return { ssim: Number(m[1]), psnr: m[2] === 'inf' ? Infinity : Number(m[2]) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The native core's answer for a sample and a spec: `refract transform` (the reference). */
export async function nativeTransform(name, spec, { avifSpeed = 6 } = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'refract-edge-native-'));
  try {
    const out = path.join(dir, 'out');
    await run(REFRACT, ['transform', path.join(SAMPLES, name), out, spec, '--avif-speed', String(avifSpeed)]);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `refract sign <url>` with the given signing keys (the first one signs); `env` may add
 *  presets (REFRACT_PRESETS__<NAME>), which are expanded before signing. */
export async function sign(url, keys, env = {}) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('REFRACT_')),
  );
  // EXPIRES_IN in `env` becomes `--expires-in`.
  const { EXPIRES_IN: expiresIn, ...rest } = env;
  env = rest;
  const args = ['sign', url, ...(expiresIn === undefined ? [] : ['--expires-in', expiresIn])];
  const { stdout } = await run(REFRACT, args, {
    cwd: tmpdir(),
    env: { ...clean, ...env, REFRACT_SIGNING__KEYS: JSON.stringify(keys) },
  });
  return stdout.trim();
}

/** For messages: a response summarised with its status, headers and (short) body. */
export function show(res) {
  const headers = [...res.headers].map(([k, v]) => `${k}: ${v}`).join('; ');
  const kind = sniff(res.body);
  const body =
    kind === 'json' || res.body.length < 300 && kind === 'unknown'
      ? res.text().slice(0, 300)
      : `<${res.body.length} bytes of ${kind}>`;
  return `${res.status} [${headers}] ${body}`;
}

const mediaType = (res) => (res.headers.get('content-type') ?? '').split(';')[0].trim();

/** A JSON error as the native server gives it: status, `{"code","message"}`,
 *  `content-type: application/json`, `cache-control: no-store`. Returns the parsed body. */
export function assertError(assert, res, status, code) {
  const what = show(res);
  assert.equal(res.status, status, `status: ${what}`);
  assert.equal(mediaType(res), 'application/json', `content-type: ${what}`);
  assert.equal(res.headers.get('cache-control'), 'no-store', `cache-control: ${what}`);
  let body;
  assert.doesNotThrow(() => (body = res.json()), `JSON body: ${what}`);
  assert.equal(body.code, code, `code: ${what}`);
  assert.equal(typeof body.message, 'string', `message: ${what}`);
  assert.ok(body.message.length > 0, `message: ${what}`);
  return body;
}

/** A 200 image response: exact content-type, the bytes really are that format (magic bytes)
 *  and decode (ImageMagick) at the given size. Returns the probe. */
export async function assertImage(assert, res, { type, width, height }) {
  const what = show(res);
  assert.equal(res.status, 200, `status: ${what}`);
  assert.equal(res.headers.get('content-type'), `image/${type}`, `content-type: ${what}`);
  assert.equal(sniff(res.body), type, `bytes: ${what}`);
  const p = await probe(res.body);
  if (width !== undefined) assert.equal(p.width, width, `width: ${what}`);
  if (height !== undefined) assert.equal(p.height, height, `height: ${what}`);
  return p;
}

/** Repeats a request until the worker says it came from the Cache API (`x-refract-cache:
 *  hit`), for workers that store into the cache in `waitUntil` after answering: the store is
 *  then done a little later, and there is nothing else to wait on. Bounded. */
export async function untilCached(worker, pathAndQuery, init = {}, attempts = 20) {
  let res;
  for (let i = 1; i <= attempts; i++) {
    res = await worker.get(pathAndQuery, init);
    if (res.status !== 200 || res.headers.get('x-refract-cache') === 'hit') return { res, attempts: i };
    await new Promise((r) => setImmediate(r));
  }
  return { res, attempts };
}

/** Repeats a request until the answer is no longer a miss (`x-refract-cache` other than
 *  `miss`): the result was stored in `waitUntil` after the first answer, and is now served
 *  from the Cache API (`hit`, or `revalidated` when every hit is checked). Bounded. */
export async function untilStored(worker, pathAndQuery, init = {}, attempts = 20) {
  let res;
  for (let i = 1; i <= attempts; i++) {
    res = await worker.get(pathAndQuery, init);
    if (res.status !== 200 || res.headers.get('x-refract-cache') !== 'miss') return res;
    await new Promise((r) => setImmediate(r));
  }
  return res;
}

/** An HTTP origin of originals on 127.0.0.1 (a port chosen by the system), for tests that
 *  replace, delete or fail originals and count what the worker asked for. `files` maps keys
 *  to bytes. Each answer carries a strong ETag of the bytes; `If-None-Match` naming it gets a
 *  304 without a body. `mode`: `ok`, `error` (every request answered 503) or `reset` (every
 *  connection dropped without an answer). `counts(key)`: `{ full, notModified }`, the 200s
 *  with a body and the 304s sent for that key. */
export async function startFileOrigin(files = {}) {
  const { createServer } = await import('node:http');
  const { createHash } = await import('node:crypto');
  const store = new Map(Object.entries(files));
  const counts = new Map();
  const count = (key, kind) => {
    const c = counts.get(key) ?? { full: 0, notModified: 0 };
    c[kind] += 1;
    counts.set(key, c);
  };
  let mode = 'ok';
  const server = createServer((req, res) => {
    if (mode === 'reset') return req.socket.destroy();
    if (mode === 'error') {
      res.writeHead(503, { 'content-type': 'text/plain' });
      return res.end('down\n');
    }
    const key = decodeURIComponent(new URL(req.url, 'http://origin').pathname.slice(1));
    const bytes = store.get(key);
    if (!bytes) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found\n');
    }
    const etag = `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"`;
    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').map((t) => t.trim()).includes(etag)) {
      count(key, 'notModified');
      res.writeHead(304, { etag });
      return res.end();
    }
    count(key, 'full');
    res.writeHead(200, { etag, 'content-length': bytes.length, 'content-type': 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    put: (key, bytes) => store.set(key, Buffer.from(bytes)),
    delete: (key) => store.delete(key),
    setMode: (m) => (mode = m),
    counts: (key) => ({ full: 0, notModified: 0, ...counts.get(key) }),
    stop: () => new Promise((r) => {
      server.closeAllConnections?.();
      server.close(r);
    }),
  };
}

export { mediaType };
