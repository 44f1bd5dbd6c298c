// Progressive JPEGs at the edge (issue 13): for each worker build and each image, a fresh
// workerd isolate (Miniflare) gets one request `?width=<width>&format=<format>`, then `N` more;
// reports the wasm memory after the first request (`x-refract-memory`: the isolate's peak for
// that image alone, since wasm memory never shrinks), the decode stage from Server-Timing and
// the client-measured median. Budgets are lifted so that nothing is handed off.
//
//   node bench/edge/progressive.mjs --builds new=edge-worker/build/worker.mjs,old=/tmp/old/worker.mjs \
//     --images a.jpg,b.jpg [--n 5] [--format webp] [--width 800]
//
// Needs bench/edge's node_modules (miniflare; `npm ci` in bench/edge). Markdown on stdout.

import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Miniflare, Log, LogLevel } from 'miniflare';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const builds = arg('builds', '').split(',').filter(Boolean).map((b) => {
  const [name, path] = b.split('=');
  return { name, path: resolve(path) };
});
const images = arg('images', '').split(',').filter(Boolean).map((p) => resolve(p));
const N = Number(arg('n', '5'));
const FORMAT = arg('format', 'webp');
const WIDTH = arg('width', '800');
const mib = (b) => (b / 1048576).toFixed(1);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function decodeMs(res) {
  const st = res.headers.get('server-timing') ?? '';
  const m = /decode;dur=([0-9.]+)/.exec(st);
  return m ? Number(m[1]) : NaN;
}

async function one(build, image) {
  const mf = new Miniflare({
    modules: true,
    scriptPath: build.path,
    modulesRoot: dirname(build.path),
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: '2025-01-01',
    r2Buckets: ['ORIGINALS'],
    bindings: {
      EXPOSE_MEMORY: 'true',
      MAX_INPUT_BYTES: '104857600',
      MAX_DECODE_PIXELS: '200000000',
      MAX_MEMORY_BYTES: '4294967296',
      MAX_CPU_MS: '1000000',
    },
    cache: false,
    cf: false, // no request for Cloudflare's `cf` object (there is no network here)
    host: '127.0.0.1',
    port: 0,
    log: new Log(LogLevel.WARN),
  });
  try {
    const base = await mf.ready;
    const key = basename(image);
    await (await mf.getR2Bucket('ORIGINALS')).put(key, readFileSync(image));
    const url = new URL(`/${key}?width=${WIDTH}&format=${FORMAT}`, base).href;
    const first = await fetch(url);
    const body = new Uint8Array(await first.arrayBuffer());
    const memory = Number(first.headers.get('x-refract-memory'));
    const row = { build: build.name, image: key, status: first.status, bytes: body.length, memory, ms: [], decode: [] };
    if (first.status !== 200) {
      row.error = new TextDecoder().decode(body).slice(0, 200);
      return row;
    }
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const res = await fetch(url);
      await res.arrayBuffer();
      row.ms.push(performance.now() - t0);
      row.decode.push(decodeMs(res));
    }
    return row;
  } catch (e) {
    // An isolate that dies (out of memory) closes the connection.
    return { build: build.name, image: basename(image), status: 'failed', error: String(e.cause?.code ?? e.message), memory: NaN, ms: [], decode: [], bytes: 0 };
  } finally {
    await mf.dispose().catch(() => {});
  }
}

const rows = [];
for (const image of images) {
  for (const build of builds) {
    const r = await one(build, image);
    process.stderr.write(`[progressive] ${r.build} ${r.image}: ${r.status} ${mib(r.memory)} MiB ${r.ms.length ? median(r.ms).toFixed(0) : '-'} ms\n`);
    rows.push(r);
  }
}
console.log(`${FORMAT}, width=${WIDTH}, fresh isolate per row, ${N} timed requests after the first:\n`);
console.log(`| image | build | status | wasm memory after one request, MiB | decode stage, median ms | request, median ms | output bytes |`);
console.log(`|---|---|---|---:|---:|---:|---:|`);
for (const r of rows) {
  const ms = r.ms.length ? median(r.ms).toFixed(0) : '-';
  const dec = r.decode.length ? median(r.decode).toFixed(0) : '-';
  console.log(`| ${r.image} | ${r.build} | ${r.status}${r.error ? ` ${r.error}` : ''} | ${mib(r.memory)} | ${dec} | ${ms} | ${r.bytes} |`);
}
