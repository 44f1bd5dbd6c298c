// The worker with its originals in an R2 bucket (ORIGINALS) and no handoff origin: every output
// format, both URL grammars, format negotiation, the Cache API, ETags and 304, errors, and the
// edge budget refusing what is over it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  assertImage,
  nativeTransform,
  probe,
  sample,
  show,
  similarity,
  startWorker,
  untilCached,
} from './lib.mjs';

const KEYS = [
  'baseline.jpg',
  'bird-20mp.jpg',
  'bridge-10mp.jpg',
  'cat-small.jpg',
  'orientation-6.jpg',
  'logo-alpha.png',
  'photo.webp',
  'alpha-lossless.webp',
  'animated.gif',
  'palette-trns.png',
  'cmyk.jpg',
  'grayscale.jpg',
  'progressive.jpg',
  'icc-p3.jpg',
];

// Budgets chosen around the samples: bird-20mp.jpg (4,379,037 bytes) is over MAX_INPUT_BYTES;
// bridge-10mp.jpg (4352x2448 = 10.7 MP) is over MAX_DECODE_PIXELS when decoded whole and far
// under it when shrunk on load (1/8 or 1/4 for 400 px); 800x600 AVIF is over MAX_AVIF_PIXELS and
// 400x300 is under.
const BUDGET = {
  MAX_INPUT_BYTES: '4000000',
  MAX_DECODE_PIXELS: '4000000',
  MAX_AVIF_PIXELS: '250000',
  AVIF_SPEED: '10',
  EXPOSE_MEMORY: 'true',
};

async function originals() {
  const r2 = {};
  for (const k of KEYS) r2[k] = await sample(k);
  const cat = await sample('cat-small.jpg');
  r2['photos/my cat.jpg'] = cat;
  const base = await sample('baseline.jpg');
  r2['broken.jpg'] = base.subarray(0, base.length >> 1); // a partial upload
  const logo = await sample('logo-alpha.png');
  r2['broken.png'] = logo.subarray(0, 3000);
  r2['notes.txt'] = Buffer.from('not an image\n');
  // Stored under image names, with image content types: the bytes decide.
  r2['page.jpg'] = Buffer.from('<html><script>alert(1)</script></html>\n');
  r2['renamed.png'] = cat;
  r2['already.avif'] = await nativeTransform('cat-small.jpg', 'width=64,format=avif', { avifSpeed: 10 });
  r2['logo.svg'] = await sample('logo.svg'); // the edge has no SVG renderer: 415 without HANDOFF_URL
  return r2;
}

// CACHE_CONTROL's default (the native server's): a bounded max-age, stale-while-revalidate
// and stale-if-error.
const DEFAULT_CACHE_CONTROL = 'public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800';
const AVIF_WEBP = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8'; // Chromium
const WEBP_ONLY = 'image/webp,*/*'; // Firefox before AVIF, Safari 14
const NEITHER = 'text/html,image/*,*/*;q=0.8';

describe('worker with an R2 bucket, no handoff', { timeout: 600_000 }, () => {
  let w;
  before(async () => {
    w = await startWorker({ r2: await originals(), bindings: BUDGET });
  });
  after(() => w?.dispose());

  describe('every output format (query grammar, baseline.jpg 1600x1200 at width=400)', () => {
    for (const [format, type, progressive] of [
      ['jpeg', 'jpeg', true], // progressive above 150x150 and below 3000x3000
      ['baseline-jpeg', 'jpeg', false],
      ['png', 'png'],
      ['webp', 'webp'],
      ['avif', 'avif'],
    ]) {
      it(format, async () => {
        const res = await w.get(`/baseline.jpg?width=400&format=${format}`);
        const p = await assertImage(assert, res, { type, width: 400, height: 300 });
        if (progressive !== undefined) assert.equal(p.progressive, progressive, 'progressive JPEG');
        assert.equal(res.headers.get('cache-control'), DEFAULT_CACHE_CONTROL);
        assert.match(res.headers.get('etag') ?? '', /^"[^"]+"$/, `strong etag: ${show(res)}`);
        assert.equal(res.headers.get('x-refract-cache'), 'miss');
        assert.ok(!/accept/i.test(res.headers.get('vary') ?? ''), `no vary: accept for an explicit format: ${show(res)}`);
        assert.equal(Number(res.headers.get('content-length') ?? res.body.length), res.body.length);
      });
    }
    it('json: the metadata, without pixels', async () => {
      const res = await w.get('/baseline.jpg?width=400&format=json');
      assert.equal(res.status, 200, show(res));
      assert.equal(res.headers.get('content-type'), 'application/json');
      const body = res.json();
      // The ThumbHash of the 400x300 result, base64 (its pixels depend on the JPEG decoder).
      assert.match(body.placeholder ?? '', /^[A-Za-z0-9+/]{20,}={0,2}$/, show(res));
      delete body.placeholder;
      assert.deepEqual(body, {
        width: 400,
        height: 300,
        original: {
          width: 1600,
          height: 1200,
          file_size: 574672,
          format: 'image/jpeg',
          orientation: 1,
          icc_profile: false,
          alpha: false,
          frames: 1,
          animated: false,
        },
      });
    });
    it('x-refract-memory: the wasm memory in bytes, within the 128 MiB of an isolate', async () => {
      const res = await w.get('/baseline.jpg?width=400&format=jpeg');
      const mem = res.headers.get('x-refract-memory');
      assert.match(mem ?? '', /^\d+$/, show(res));
      assert.ok(Number(mem) > 0 && Number(mem) <= 128 * 1024 * 1024, `x-refract-memory ${mem}`);
    });
  });

  describe('both URL grammars', () => {
    it('/cdn-cgi/image/<options>/<key> and the query grammar give the same bytes and ETag; the second is a cache hit', async () => {
      const a = await w.get('/cdn-cgi/image/width=410,quality=70,format=webp/baseline.jpg');
      await assertImage(assert, a, { type: 'webp', width: 410, height: 308 });
      assert.equal(a.headers.get('x-refract-cache'), 'miss');
      // Aliases, another order: the same canonical spec, so the same cache entry.
      const { res: b, attempts } = await untilCached(w, '/baseline.jpg?f=webp&w=410&q=70');
      assert.equal(b.headers.get('x-refract-cache'), 'hit', `after ${attempts} attempts: ${show(b)}`);
      assert.equal(b.headers.get('etag'), a.headers.get('etag'));
      assert.ok(b.body.equals(a.body), 'same bytes');
    });
    it('keys with a slash and a percent-encoded space, in both grammars', async () => {
      const a = await w.get('/photos/my%20cat.jpg?width=100');
      await assertImage(assert, a, { type: 'jpeg', width: 100, height: 67 });
      const b = await w.get('/cdn-cgi/image/width=100/photos/my%20cat.jpg');
      await assertImage(assert, b, { type: 'jpeg', width: 100, height: 67 });
    });
    it('the /cdn-cgi/image/ grammar ignores the query (but sig)', async () => {
      const res = await w.get('/cdn-cgi/image/width=120,format=png/cat-small.jpg?width=300&format=webp');
      await assertImage(assert, res, { type: 'png', width: 120, height: 80 });
    });
    it('no options: the original, byte for byte (even over MAX_INPUT_BYTES: limits are for transforms)', async () => {
      for (const key of ['baseline.jpg', 'bird-20mp.jpg', 'logo-alpha.png']) {
        const res = await w.get(`/${key}`);
        assert.equal(res.status, 200, show(res));
        assert.ok(res.body.equals(await sample(key)), `${key}: ${show(res)}`);
        const etag = res.headers.get('etag');
        assert.ok(etag, `${key} has an etag`);
        const again = await w.get(`/${key}`, { headers: { 'if-none-match': etag } });
        assert.equal(again.status, 304, `${key} If-None-Match: ${show(again)}`);
        assert.equal(again.body.length, 0);
      }
    });
    it('no options: only images, typed by their bytes, never the stored type or the name', async () => {
      for (const [key, type] of [['logo-alpha.png', 'image/png'], ['already.avif', 'image/avif'], ['renamed.png', 'image/jpeg']]) {
        const res = await w.get(`/${key}`);
        assert.equal(res.status, 200, show(res));
        assert.equal(res.headers.get('content-type'), type, key);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(res.headers.get('content-security-policy'), null, 'images need no sandbox');
      }
      for (const key of ['notes.txt', 'page.jpg', 'logo.svg']) {
        const res = await w.get(`/${key}`);
        const body = assertError(assert, res, 415, 'unsupported_format');
        assert.ok(body.message, key);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'; sandbox");
      }
    });
    it('HEAD: the headers of GET, no body', async () => {
      const get = await w.get('/cat-small.jpg?width=90&format=png');
      const head = await w.get('/cat-small.jpg?width=90&format=png', { method: 'HEAD' });
      assert.equal(head.status, 200, show(head));
      assert.equal(head.body.length, 0);
      assert.equal(head.headers.get('content-type'), 'image/png');
      assert.equal(head.headers.get('etag'), get.headers.get('etag'));
    });
  });

  describe('format=auto negotiation (Accept)', () => {
    const url = '/baseline.jpg?width=120&format=auto';
    for (const [accept, type] of [
      [AVIF_WEBP, 'avif'],
      [WEBP_ONLY, 'webp'],
      [NEITHER, 'jpeg'],
      [null, 'jpeg'],
      ['image/avif;q=0,image/webp', 'webp'],
    ]) {
      it(`Accept: ${accept} -> image/${type}`, async () => {
        const res = await w.get(url, accept ? { headers: { accept } } : {});
        await assertImage(assert, res, { type, width: 120, height: 90 });
        assert.match(res.headers.get('vary') ?? '', /(^|,)\s*accept\s*(,|$)/i, `vary: ${show(res)}`);
      });
    }
    it('an image with alpha and neither AVIF nor WebP accepted -> image/png', async () => {
      const res = await w.get('/logo-alpha.png?width=100&format=auto', { headers: { accept: NEITHER } });
      await assertImage(assert, res, { type: 'png', width: 100, height: 100 });
    });
    it('the negotiated format is part of the cache key', async () => {
      const u = '/cat-small.jpg?width=150&format=auto';
      const avif = await w.get(u, { headers: { accept: AVIF_WEBP } });
      await assertImage(assert, avif, { type: 'avif' });
      const { res: hit } = await untilCached(w, u, { headers: { accept: AVIF_WEBP } });
      assert.equal(hit.headers.get('x-refract-cache'), 'hit', show(hit));
      // Same URL, cached AVIF: a WebP-only client must still get WebP.
      const webp = await w.get(u, { headers: { accept: WEBP_ONLY } });
      await assertImage(assert, webp, { type: 'webp' });
      assert.equal(webp.headers.get('x-refract-cache'), 'miss');
      assert.notEqual(webp.headers.get('etag'), avif.headers.get('etag'));
      const jpeg = await w.get(u, { headers: { accept: NEITHER } });
      await assertImage(assert, jpeg, { type: 'jpeg' });
    });
    it('format=auto past MAX_AVIF_PIXELS picks WebP for an AVIF-capable client', async () => {
      const res = await w.get('/baseline.jpg?width=800&format=auto', { headers: { accept: AVIF_WEBP } });
      await assertImage(assert, res, { type: 'webp', width: 800, height: 600 });
    });
  });

  describe('Cache API and ETags', () => {
    let first;
    const url = '/cat-small.jpg?width=200&format=webp';
    it('a miss, then a hit with the same bytes and ETag', async () => {
      first = await w.get(url);
      await assertImage(assert, first, { type: 'webp', width: 200, height: 133 });
      assert.equal(first.headers.get('x-refract-cache'), 'miss');
      const { res, attempts } = await untilCached(w, url);
      assert.equal(res.headers.get('x-refract-cache'), 'hit', `after ${attempts} attempts: ${show(res)}`);
      if (attempts > 1) console.log(`# note: the cache hit came at request ${attempts + 1}, not the second`);
      assert.ok(res.body.equals(first.body));
      assert.equal(res.headers.get('etag'), first.headers.get('etag'));
      assert.equal(res.headers.get('content-type'), 'image/webp');
      assert.equal(res.headers.get('cache-control'), DEFAULT_CACHE_CONTROL);
    });
    it('If-None-Match with the ETag (exact, weak form, in a list) -> 304 without a body', async () => {
      const etag = first.headers.get('etag');
      for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`]) {
        const res = await w.get(url, { headers: { 'if-none-match': inm } });
        assert.equal(res.status, 304, `If-None-Match: ${inm}: ${show(res)}`);
        assert.equal(res.body.length, 0);
        assert.equal(res.headers.get('etag'), etag);
      }
    });
    it('If-None-Match with another ETag -> 200 with the image', async () => {
      const res = await w.get(url, { headers: { 'if-none-match': '"0123456789abcdef"' } });
      await assertImage(assert, res, { type: 'webp', width: 200, height: 133 });
    });
    it('304 also without the result in the cache (a fresh worker, same original and config)', async () => {
      const u = '/cat-small.jpg?width=201&format=png';
      const a = await w.get(u);
      const etag = a.headers.get('etag');
      assert.ok(etag, show(a));
      const fresh = await startWorker({ r2: { 'cat-small.jpg': await sample('cat-small.jpg') }, bindings: BUDGET });
      try {
        const res = await fresh.get(u, { headers: { 'if-none-match': etag } });
        assert.equal(res.status, 304, show(res));
        assert.equal(res.body.length, 0);
        const full = await fresh.get(u);
        assert.equal(full.headers.get('etag'), etag, 'the ETag depends on the original and the spec only');
      } finally {
        await fresh.dispose();
      }
    });
  });

  describe('inputs: the same result as the native core (refract transform)', () => {
    for (const key of [
      'orientation-6.jpg', // EXIF orientation 6: 1065x1600 stored, upright 1600x1065
      'photo.webp',
      'alpha-lossless.webp',
      'animated.gif',
      'palette-trns.png',
      'cmyk.jpg',
      'grayscale.jpg',
      'progressive.jpg',
      'icc-p3.jpg',
    ]) {
      it(key, async () => {
        const spec = 'width=120';
        const res = await w.get(`/${key}?${spec}`);
        const native = await nativeTransform(key, spec);
        const want = await probe(native);
        await assertImage(assert, res, { type: want.format, width: want.width, height: want.height });
        // Same core on both sides, but baseline JPEGs are decoded natively by libjpeg-turbo and
        // here by jpeg-decoder: see MIN in origin.test.mjs for the figures.
        const { ssim, psnr } = await similarity(res.body, native);
        const [minSsim, minPsnr] = /\.jpg$/.test(key) && key !== 'progressive.jpg' ? [0.975, 35] : [0.995, 45];
        assert.ok(ssim >= minSsim && psnr >= minPsnr, `${key}: ssim ${ssim} psnr ${psnr} against the native core`);
      });
    }
  });

  describe('errors: JSON body, code, status, no-store', () => {
    for (const [url, status, code] of [
      ['/baseline.jpg?width=400&bogus=1', 400, 'unknown_option'],
      ['/baseline.jpg?width=abc', 400, 'invalid_value'],
      ['/cdn-cgi/image/width=0/baseline.jpg', 400, 'invalid_value'],
      ['/baseline.jpg?format=tiff', 400, 'invalid_value'],
      ['/baseline.jpg?width=400&w=300', 400, 'duplicate_option'],
      ['/cdn-cgi/image/width/baseline.jpg', 400, 'malformed_spec'],
      ['/baseline.jpg?width=13000&fit=contain', 400, 'output_too_large'],
      ['/a//b.jpg?width=100', 400, 'bad_key'],
      ['/missing.jpg?width=100', 404, 'not_found'],
      ['/missing.jpg', 404, 'not_found'],
      ['/cdn-cgi/image/width=100/missing.jpg', 404, 'not_found'],
      ['/broken.jpg?width=100', 422, 'undecodable_image'],
      ['/broken.png?width=100', 422, 'undecodable_image'],
      ['/notes.txt?width=100', 415, 'unsupported_format'],
      ['/already.avif?width=100', 415, 'unsupported_format'],
      ['/logo.svg?width=100', 415, 'unsupported_format'],
    ]) {
      it(`${url} -> ${status} ${code}`, async () => {
        assertError(assert, await w.get(url), status, code);
      });
    }
  });

  describe('over the edge budget, no HANDOFF_URL: refused with 4xx JSON', () => {
    it('input over MAX_INPUT_BYTES -> 413 input_too_large', async () => {
      const res = await w.get('/bird-20mp.jpg?width=400');
      assertError(assert, res, 413, 'input_too_large');
      assert.equal(res.headers.get('x-refract-handoff'), null);
    });
    it('decoded pixels over MAX_DECODE_PIXELS -> 413 too_many_pixels', async () => {
      assertError(assert, await w.get('/bridge-10mp.jpg?width=4000'), 413, 'too_many_pixels');
    });
    it('the same 10.7 MP JPEG shrunk on load for 400 px is within the budget', async () => {
      await assertImage(assert, await w.get('/bridge-10mp.jpg?width=400'), { type: 'jpeg', width: 400, height: 225 });
    });
    it('explicit AVIF past MAX_AVIF_PIXELS -> 400 output_too_large', async () => {
      assertError(assert, await w.get('/baseline.jpg?width=800&format=avif'), 400, 'output_too_large');
    });
    it('errors are not cached', async () => {
      for (let i = 0; i < 2; i++) {
        const res = await w.get('/bird-20mp.jpg?width=401');
        assertError(assert, res, 413, 'input_too_large');
        assert.notEqual(res.headers.get('x-refract-cache'), 'hit', show(res));
      }
    });
  });
});

describe('worker with an R2 bucket and default budgets', { timeout: 600_000 }, () => {
  let w;
  before(async () => {
    w = await startWorker({
      r2: { 'bird-20mp.jpg': await sample('bird-20mp.jpg'), 'baseline.jpg': await sample('baseline.jpg') },
      bindings: { EXPOSE_MEMORY: 'true' },
    });
  });
  after(() => w?.dispose());

  it('a 20 MP JPEG at 800 px: transformed at the edge, memory within 128 MiB', async () => {
    const res = await w.get('/bird-20mp.jpg?width=800&format=webp');
    await assertImage(assert, res, { type: 'webp', width: 800, height: 450 });
    assert.equal(res.headers.get('cache-control'), DEFAULT_CACHE_CONTROL);
    const mem = Number(res.headers.get('x-refract-memory'));
    assert.ok(mem > 0 && mem <= 128 * 1024 * 1024, `x-refract-memory ${res.headers.get('x-refract-memory')}`);
    console.log(`# wasm memory after bird-20mp.jpg at 800 px: ${(mem / 1048576).toFixed(1)} MiB`);
  });
  it('concurrent requests in one isolate: all answered, memory within 128 MiB', async () => {
    const widths = [640, 700, 760, 820];
    const results = await Promise.all(widths.map((w_) => w.get(`/bird-20mp.jpg?width=${w_}&format=jpeg`)));
    let mem = 0;
    for (const [i, res] of results.entries()) {
      await assertImage(assert, res, { type: 'jpeg', width: widths[i], height: Math.round((3391 * widths[i]) / 6028) });
      mem = Math.max(mem, Number(res.headers.get('x-refract-memory')));
    }
    assert.ok(mem > 0 && mem <= 128 * 1024 * 1024, `x-refract-memory ${mem}`);
    console.log(`# wasm memory after 4 concurrent bird-20mp.jpg transforms: ${(mem / 1048576).toFixed(1)} MiB`);
  });
  it('AVIF at the default speed', async () => {
    const res = await w.get('/baseline.jpg?width=320&format=avif');
    await assertImage(assert, res, { type: 'avif', width: 320, height: 240 });
  });
});

describe('a setting the worker cannot use', { timeout: 600_000 }, () => {
  for (const [bindings, name] of [
    [{ PRESETS: 'width=200' }, 'PRESETS'],
    [{ AVIF_SPEED: '11' }, 'AVIF_SPEED'],
    [{ HANDOFF: 'teleport' }, 'HANDOFF'],
  ]) {
    it(`${name}=${Object.values(bindings)[0]} -> 500 bad_config naming ${name}`, async () => {
      const w = await startWorker({ r2: { 'cat-small.jpg': await sample('cat-small.jpg') }, bindings });
      try {
        const res = await w.get('/cat-small.jpg?width=100');
        const body = assertError(assert, res, 500, 'bad_config');
        assert.match(body.message, new RegExp(`\\b${name}\\b`));
      } finally {
        await w.dispose();
      }
    });
  }
});

describe('memory and traps', { timeout: 600_000 }, () => {
  it('a progressive JPEG fits a memory budget when shrunk on load, not when decoded whole', async () => {
    const w = await startWorker({
      r2: { 'bridge-10mp.jpg': await sample('bridge-10mp.jpg'), 'bird-20mp.jpg': await sample('bird-20mp.jpg') },
      bindings: { MAX_MEMORY_BYTES: '40000000', MAX_DECODE_PIXELS: '100000000' },
    });
    try {
      // bridge-10mp.jpg is progressive. Shrunk on load (1/8 for 320 px), Refract's own decoder
      // keeps only the DC coefficients: it fits, like a baseline photo twice its size. Decoded
      // whole, every coefficient of its 10.7 MP is kept until the last scan (42 MB) beside
      // the pixels: over the budget, refused before decoding.
      const small = await w.get('/bridge-10mp.jpg?width=320');
      await assertImage(assert, small, { type: 'jpeg', width: 320, height: 180 });
      const body = assertError(assert, await w.get('/bridge-10mp.jpg?width=4352'), 400, 'too_costly');
      assert.match(body.message, /MiB of memory/);
      const ok = await w.get('/bird-20mp.jpg?width=320');
      await assertImage(assert, ok, { type: 'jpeg', width: 320, height: 180 });
    } finally {
      await w.dispose();
    }
  });
  it('a trap inside the wasm instance: the instance is rebuilt and the next request is served', async () => {
    const w = await startWorker({ r2: { 'cat-small.jpg': await sample('cat-small.jpg') }, bindings: { DEBUG_TRAP: 'true' } });
    try {
      for (let round = 0; round < 2; round++) {
        // The trapping request itself fails (workerd answers for it, or the dispatch rejects).
        const trapped = await w.get('/.refract-debug/trap').catch((e) => ({ status: 'rejected', error: e }));
        assert.notEqual(trapped.status, 200);
        const res = await w.get(`/cat-small.jpg?width=${100 + round}`);
        await assertImage(assert, res, { type: 'jpeg', width: 100 + round, height: 67 });
      }
    } finally {
      await w.dispose();
    }
  });
});
