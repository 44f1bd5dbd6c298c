// libwebp's SIMD kernels in the edge worker (issue 13; docs/edge.md, "WebP SIMD").
//
// edge-worker/wasm-env.sh compiles libwebp's SSE2/SSE4.1 code for wasm SIMD through SIMDe. Two
// things are proven here:
//
// 1. The kernels are really in the module and really selected. The worker's wasm as cargo links
//    it (before wasm-opt strips the names; e2e-edge.sh builds both in one go) must hold libwebp's
//    `wasmCPUInfo`, which exists only in cpu.c's `EMSCRIPTEN` branch and is what VP8GetCPUInfo
//    points at (it is in the function table for that pointer; without it VP8GetCPUInfo is NULL
//    and the C kernels run), the SSE2 and SSE4.1 init functions and encoder kernels, and those
//    kernels must work on v128 values (compiled to wasm SIMD, not to SIMDe's scalar fallback).
//    A regression of any of the flags fails this.
// 2. The output is byte for byte what the native build gives: libwebp's SIMD kernels are
//    bit-exact with its C code by design (the native build runs SSE2, the scalar worker ran C,
//    and all three agree). Pixels must reach the encoder identical on both hosts, so the inputs
//    are ones whose decoding and resizing do not depend on the target (PNG and WebP; a JPEG
//    decodes to other pixels in wasm, origin.test.mjs), with and without a resize, lossy,
//    lossless and with alpha, at the default method (4, against `refract transform`) and at
//    methods 0 and 6 (against `refract serve` configured alike).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  REFRACT,
  ROOT,
  SAMPLES,
  httpGet,
  probe,
  show,
  similarity,
  startOrigin,
  startWorker,
} from './lib.mjs';

const run = promisify(execFile);

/** The worker's module as cargo linked it, with its name section. */
const RAW_WASM =
  process.env.REFRACT_EDGE_RAW_WASM ??
  path.resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target', 'wasm32-unknown-unknown/wasm/refract_edge.wasm');

// ---- a minimal reader of the wasm binary format (sections, names, tables, locals) -----------

function leb(buf, pos) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [result, pos];
  }
}

/** Function names (name section), the functions referenced by element segments, and for each
 *  defined function the value types of its declared locals. */
function readModule(buf) {
  assert.equal(buf.subarray(0, 4).toString('latin1'), '\0asm', 'a wasm module');
  const names = new Map(); // function index -> name
  const inTable = new Set(); // function indices in element segments
  const bodies = []; // defined functions: { start, end } of the body
  let imported = 0;
  let pos = 8;
  while (pos < buf.length) {
    const id = buf[pos++];
    let size;
    [size, pos] = leb(buf, pos);
    const end = pos + size;
    let p = pos;
    if (id === 2) {
      // imports: count the functions (kind 0)
      let n;
      [n, p] = leb(buf, p);
      for (let i = 0; i < n; i++) {
        for (let s = 0; s < 2; s++) {
          let len;
          [len, p] = leb(buf, p);
          p += len;
        }
        const kind = buf[p++];
        if (kind === 0) {
          [, p] = leb(buf, p);
          imported++;
        } else if (kind === 1) {
          p++; // reftype
          const flags = buf[p++];
          [, p] = leb(buf, p);
          if (flags & 1) [, p] = leb(buf, p);
        } else if (kind === 2) {
          const flags = buf[p++];
          [, p] = leb(buf, p);
          if (flags & 1) [, p] = leb(buf, p);
        } else if (kind === 3) {
          p += 2;
        } else {
          throw new Error(`import kind ${kind}`);
        }
      }
    } else if (id === 9) {
      // elements: the forms wasm-ld writes (0: active, table 0, offset expr, function indices)
      let n;
      [n, p] = leb(buf, p);
      for (let i = 0; i < n; i++) {
        let flags;
        [flags, p] = leb(buf, p);
        if (flags !== 0) throw new Error(`element segment form ${flags} not read here`);
        // offset: i32.const N, end
        if (buf[p++] !== 0x41) throw new Error('element segment offset is not an i32.const');
        [, p] = leb(buf, p);
        if (buf[p++] !== 0x0b) throw new Error('element segment offset is not a constant');
        let count;
        [count, p] = leb(buf, p);
        for (let k = 0; k < count; k++) {
          let f;
          [f, p] = leb(buf, p);
          inTable.add(f);
        }
      }
    } else if (id === 10) {
      let n;
      [n, p] = leb(buf, p);
      for (let i = 0; i < n; i++) {
        let len;
        [len, p] = leb(buf, p);
        bodies.push({ start: p, end: p + len });
        p += len;
      }
    } else if (id === 0) {
      let len;
      [len, p] = leb(buf, p);
      const name = buf.subarray(p, p + len).toString('utf8');
      p += len;
      if (name === 'name') {
        while (p < end) {
          const sub = buf[p++];
          let subSize;
          [subSize, p] = leb(buf, p);
          const subEnd = p + subSize;
          if (sub === 1) {
            let n;
            [n, p] = leb(buf, p);
            for (let i = 0; i < n; i++) {
              let idx, l;
              [idx, p] = leb(buf, p);
              [l, p] = leb(buf, p);
              names.set(idx, buf.subarray(p, p + l).toString('utf8'));
              p += l;
            }
          }
          p = subEnd;
        }
      }
    }
    pos = end;
  }
  const byName = new Map([...names].map(([i, n]) => [n, i]));
  /** Value types of the locals a defined function declares (0x7b is v128). */
  const localTypes = (index) => {
    const body = bodies[index - imported];
    if (!body) return [];
    let p = body.start;
    let groups;
    [groups, p] = leb(buf, p);
    const types = [];
    for (let g = 0; g < groups; g++) {
      let count;
      [count, p] = leb(buf, p);
      types.push(buf[p++]);
    }
    return types;
  };
  return { byName, inTable, localTypes };
}

const V128 = 0x7b;

// Kernels that the lossy and lossless encoders select through VP8GetCPUInfo (src/dsp/enc*.c,
// lossless_enc*.c, yuv*.c), and the init functions that install them.
const INITS = [
  'VP8EncDspInitSSE2',
  'VP8EncDspInitSSE41',
  'VP8LEncDspInitSSE2',
  'VP8LEncDspInitSSE41',
  'WebPInitConvertARGBToYUVSSE2',
  'WebPInitConvertARGBToYUVSSE41',
];
const KERNELS = [
  'FTransform_SSE2',
  'ITransform_SSE2',
  'CollectHistogram_SSE41',
  'QuantizeBlock_SSE41',
  'Disto4x4_SSE41',
  'SSE16x16_SSE2',
  'ConvertRGB24ToY_SSE41',
  'SubtractGreenFromBlueAndRed_SSE41',
];

describe('libwebp in the worker: SIMD kernels, selected at run time', () => {
  let mod;
  before(async () => {
    mod = readModule(await readFile(RAW_WASM));
  });

  it(`${path.relative(ROOT, RAW_WASM)} has names (cargo's module, before wasm-opt)`, () => {
    assert.ok(mod.byName.size > 1000, `${mod.byName.size} function names`);
    assert.ok(mod.byName.has('VP8EncDspInit'), 'libwebp is linked in');
  });
  it('VP8GetCPUInfo is wasmCPUInfo (cpu.c built with EMSCRIPTEN), not NULL', () => {
    const f = mod.byName.get('wasmCPUInfo');
    assert.notEqual(f, undefined, 'no wasmCPUInfo: is -DEMSCRIPTEN in CFLAGS_wasm32_unknown_unknown?');
    assert.ok(mod.inTable.has(f), 'wasmCPUInfo is not in the function table: nothing points at it');
  });
  for (const name of INITS) {
    it(`${name} is compiled in (-D__SSE2__ -D__SSE4_1__)`, () => {
      assert.notEqual(mod.byName.get(name), undefined, `no ${name}`);
    });
  }
  for (const name of KERNELS) {
    it(`${name} is wasm SIMD code, selectable through a function pointer`, () => {
      const f = mod.byName.get(name);
      assert.notEqual(f, undefined, `no ${name}`);
      assert.ok(mod.inTable.has(f), `${name} is not in the function table`);
      const locals = mod.localTypes(f);
      assert.ok(locals.includes(V128), `${name} declares no v128 locals (types ${locals.join(',')})`);
    });
  }
});

// ---- byte parity with the native build -------------------------------------------------------

/** `refract transform` on a file (the native core; method 4, the default policy). */
async function transform(file, spec) {
  const dir = await mkdtemp(path.join(tmpdir(), 'refract-webp-simd-'));
  try {
    const out = path.join(dir, 'out');
    await run(REFRACT, ['transform', file, out, spec]);
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** On a mismatch, what the difference is (sizes, SSIM/PSNR by `refract compare`). */
async function explain(edge, native) {
  if (edge.body.equals(native)) return '';
  let sim = '';
  try {
    const { ssim, psnr } = await similarity(edge.body, native);
    sim = `, ssim ${ssim} psnr ${psnr}`;
  } catch (e) {
    sim = `, not comparable: ${e.message}`;
  }
  return `edge ${show(edge)} vs native ${native.length} B${sim}`;
}

// key, query (the worker's grammar); the same options, comma-separated, for `refract transform`.
const CASES = [
  ['photo.png', 'format=webp'], // no resize: the encoder alone, 1600x1200
  ['photo.png', 'width=800&format=webp'],
  ['photo.png', 'width=640&height=640&fit=cover&quality=50&format=webp'],
  ['photo.png', 'width=500&quality=100&format=webp'], // lossless
  ['logo-alpha.png', 'format=webp'], // lossy with an alpha plane
  ['logo-alpha.png', 'width=100&quality=100&format=webp'], // lossless with alpha
  ['palette-trns.png', 'width=150&format=webp'],
  ['photo.webp', 'width=300&quality=90&format=webp'],
];

describe('WebP from the worker equals the native build byte for byte', { timeout: 600_000 }, () => {
  let dir, files, worker;
  before(async () => {
    // A photo whose pixels do not depend on the JPEG decoder: baseline.jpg (1600x1200) decoded
    // once by ImageMagick into an 8-bit RGB PNG without metadata (no ICC profile either).
    dir = await mkdtemp(path.join(tmpdir(), 'refract-webp-simd-in-'));
    files = {
      'photo.png': path.join(dir, 'photo.png'),
      'logo-alpha.png': path.join(SAMPLES, 'logo-alpha.png'),
      'palette-trns.png': path.join(SAMPLES, 'palette-trns.png'),
      'photo.webp': path.join(SAMPLES, 'photo.webp'),
    };
    await run('convert', [path.join(SAMPLES, 'baseline.jpg'), '-strip', '-define', 'png:color-type=2', files['photo.png']]);
    const r2 = {};
    for (const [k, f] of Object.entries(files)) r2[k] = await readFile(f);
    worker = await startWorker({ r2 });
  });
  after(async () => {
    await worker?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const [key, query] of CASES) {
    it(`/${key}?${query} == refract transform`, async () => {
      const edge = await worker.get(`/${key}?${query}`);
      assert.equal(edge.status, 200, show(edge));
      assert.equal(edge.headers.get('content-type'), 'image/webp');
      const native = await transform(files[key], query.replaceAll('&', ','));
      const want = await probe(native);
      assert.equal(want.format, 'webp');
      assert.ok(edge.body.equals(native), await explain(edge, native));
      console.log(`# /${key}?${query}: ${want.width}x${want.height}, ${native.length} B, identical`);
    });
  }

  describe('other libwebp methods: the worker (WEBP_METHOD) against refract serve (transform.webp_method)', () => {
    for (const method of ['0', '6']) {
      it(`method ${method}`, async () => {
        const origin = await startOrigin({
          originals: dir,
          env: { REFRACT_TRANSFORM__WEBP_METHOD: method, REFRACT_HTTP__REQUEST_TIMEOUT_MS: '180000' },
        });
        const w = await startWorker({ bindings: { ORIGIN_URL: origin.url, WEBP_METHOD: method } });
        try {
          for (const url of ['/photo.png?width=800&format=webp', '/photo.png?width=400&quality=100&format=webp']) {
            const edge = await w.get(url);
            assert.equal(edge.status, 200, show(edge));
            const native = await httpGet(origin.url + url);
            assert.equal(native.status, 200, show(native));
            assert.ok(edge.body.equals(native.body), `${url}: ${await explain(edge, native.body)}`);
            console.log(`# method ${method} ${url}: ${native.body.length} B, identical`);
          }
        } finally {
          await w.dispose();
          await origin.stop();
        }
      });
    }
  });
});
