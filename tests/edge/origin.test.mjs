// The worker with an HTTP origin (ORIGIN_URL) and a handoff origin (HANDOFF_URL), both the
// native server `refract serve`: parity of the worker's output with the native server's for
// the same URL, handoff of over-budget requests by proxy and by redirect, and an origin that
// does not answer.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  SAMPLES,
  assertError,
  assertImage,
  deadPort,
  httpGet,
  nativeTransform,
  probe,
  show,
  similarity,
  startOrigin,
  startWorker,
} from './lib.mjs';

// How close the worker's pixels must be to the native server's, by `refract compare`: SSIM
// (luma only) and PSNR (over RGB, which catches colour mistakes SSIM cannot see: a greyscale
// copy of a photo still scores SSIM 0.9987, but PSNR 21.5 dB).
// Both sides run the same core, shrink-on-load included, so what differs is the JPEG decoder,
// encoder builds and floating point. Measured in workerd (issue 13): AVIF, WebP and PNG from
// PNG or from a progressive JPEG are byte-identical (libaom's generic C at the edge and its
// x86 SIMD natively give the same bitstream; progressive JPEGs shrunk on load go through
// Refract's own decoder on both sides). Baseline JPEG inputs differ: natively libjpeg-turbo
// decodes them (its scaled IDCT and upsampling), at the edge jpeg-decoder: SSIM 0.980-0.999,
// PSNR 36.3-45 dB (cmyk.jpg to JPEG the lowest; icc-p3.jpg at 1/8 scored 31.7 dB until
// jpeg-decoder's 1/8, which smears 4:2:0 chroma, was replaced by its 1/4 halved). The bounds sit under those figures with a
// margin, and well above what real mistakes score on these samples: JPEG quality 70 instead
// of 85 0.919 / 31.6 dB, sharpen=1 0.926, blur=1 0.735, a crop 1% off 0.320, a mirrored
// image 0.242.
const MIN = { jpegInput: { ssim: 0.975, psnr: 35 }, other: { ssim: 0.995, psnr: 45 } };
/** The bound for a URL: JPEG originals are decoded by another decoder at the edge. */
const minFor = (url) => (/\.jpe?g([?/]|$)/i.test(url) && !/progressive|bridge-10mp/.test(url) ? MIN.jpegInput : MIN.other);

const AVIF_WEBP = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';

describe('worker with the native server as HTTP origin and handoff origin', { timeout: 600_000 }, () => {
  let dir, origin, proxy, redirect, dead;
  before(async () => {
    // The origin's originals: a few samples, and one under a key that needs encoding.
    dir = await mkdtemp(path.join(tmpdir(), 'refract-edge-originals-'));
    await mkdir(path.join(dir, 'photos'));
    for (const k of [
      'baseline.jpg',
      'orientation-6.jpg',
      'logo-alpha.png',
      'bridge-10mp.jpg',
      'bird-20mp.jpg',
      'cat-small.jpg',
      'cmyk.jpg',
      'icc-p3.jpg',
      'palette-trns.png',
      'progressive.jpg',
      'animated-bounce.gif',
    ]) {
      await copyFile(path.join(SAMPLES, k), path.join(dir, k));
    }
    await copyFile(path.join(SAMPLES, 'cat-small.jpg'), path.join(dir, 'photos/my cat.jpg'));
    // An AVIF original (451x300, made by the native core): the edge cannot decode AVIF.
    await writeFile(path.join(dir, 'photo.avif'), await nativeTransform('cat-small.jpg', 'format=avif', { avifSpeed: 10 }));
    // An SVG original (240x120): the edge's build has no SVG renderer. The edge reads it from
    // the origin untouched, which a Refract origin allows with http.svg_passthrough (below).
    await copyFile(path.join(SAMPLES, 'logo.svg'), path.join(dir, 'logo.svg'));
    // Parity compares bytes, not speed: a debug-built origin encoding AVIF from a 10 MP photo
    // on a loaded 2-core machine can take longer than the default 30 s deadline.
    origin = await startOrigin({
      originals: dir,
      env: { REFRACT_HTTP__REQUEST_TIMEOUT_MS: '180000', REFRACT_HTTP__SVG_PASSTHROUGH: 'true' },
    });
    // bird-20mp.jpg (4.4 MB) is over MAX_INPUT_BYTES; bridge-10mp.jpg at 3000 px must be
    // decoded whole (10.7 MP), over MAX_DECODE_PIXELS in the redirect worker.
    proxy = await startWorker({
      bindings: { ORIGIN_URL: origin.url, HANDOFF_URL: origin.url, MAX_INPUT_BYTES: '2000000' },
    });
    redirect = await startWorker({
      bindings: {
        ORIGIN_URL: origin.url,
        HANDOFF_URL: origin.url,
        HANDOFF: 'redirect',
        MAX_INPUT_BYTES: '2000000',
        MAX_DECODE_PIXELS: '4000000',
      },
    });
    dead = await startWorker({ bindings: { ORIGIN_URL: `http://127.0.0.1:${await deadPort()}` } });
  });
  after(async () => {
    await Promise.all([proxy?.dispose(), redirect?.dispose(), dead?.dispose()]);
    await origin?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('parity: worker output vs refract serve for the same URL', () => {
    for (const [url, accept] of [
      ['/baseline.jpg?width=800&format=webp'],
      ['/orientation-6.jpg?width=300&format=jpeg'],
      ['/cdn-cgi/image/width=250,quality=80,format=baseline-jpeg/orientation-6.jpg'],
      ['/cmyk.jpg?width=300&format=jpeg'],
      ['/icc-p3.jpg?width=300&height=300&fit=pad&background=%23336699&format=png'],
      ['/cdn-cgi/image/width=300,brightness=1.2,contrast=1.1,gamma=0.9,saturation=1.4,format=png/baseline.jpg'],
      ['/palette-trns.png?width=150&format=webp'],
      ['/progressive.jpg?width=500&height=300&fit=crop&gravity=auto&format=webp'],
      ['/logo-alpha.png?width=100&format=png'],
      ['/bridge-10mp.jpg?width=800&height=600&fit=cover&format=avif'],
      ['/cat-small.jpg?width=300&format=auto', AVIF_WEBP],
      ['/photos/my%20cat.jpg?width=200&format=auto', 'image/webp'],
      ['/cdn-cgi/image/trim=border,width=120,border=6;%23ff000080,format=png/logo-alpha.png'],
      ['/baseline.jpg?width=400&format=auto&compression=fast', AVIF_WEBP],
      ['/animated-bounce.gif?width=80&format=webp'],
    ]) {
      it(`${url}${accept ? ` (Accept: ${accept.split(',')[0]}…)` : ''}`, async () => {
        const init = accept ? { headers: { accept } } : {};
        const edge = await proxy.get(url, init);
        const native = await httpGet(origin.url + url, init);
        assert.equal(native.status, 200, `native: ${show(native)}`);
        const want = await probe(native.body);
        await assertImage(assert, edge, { type: want.format, width: want.width, height: want.height });
        assert.equal(edge.headers.get('content-type'), native.headers.get('content-type'));
        assert.equal(edge.headers.get('cache-control'), native.headers.get('cache-control'));
        // Both hosts name a variant by the same rule (core's VariantKey), whose fingerprint
        // holds everything that shapes the bytes, the code paths that round differently per
        // target included: jpeg-decoder and qcms run their wasm SIMD or portable code here and
        // their SSSE3/AVX code natively, and a JPEG or an ICC-tagged image comes out with
        // other pixels (icc-p3.jpg to PNG, cat-small.jpg to a 200 px WebP, JPEG and AVIF
        // everywhere). So the two hosts never share an ETag: never one ETag for two byte
        // strings. Pixels still match closely (below).
        const same = edge.body.equals(native.body);
        assert.notEqual(edge.headers.get('etag'), native.headers.get('etag'), 'another code path, another ETag');
        assert.match(edge.headers.get('etag') ?? '', /^"[0-9a-f]{32}"$/);
        console.log(`# ${url}: ${same ? 'the same bytes' : 'other bytes'} at the edge and the origin`);
        assert.equal(edge.headers.get('x-refract-handoff'), null, `transformed at the edge: ${show(edge)}`);
        assert.equal(edge.headers.get('x-refract-cache'), 'miss');
        if (accept) assert.match(edge.headers.get('vary') ?? '', /accept/i);
        const { ssim, psnr } = await similarity(edge.body, native.body);
        console.log(`# ${url}: ${want.format} ${want.width}x${want.height}, edge ${edge.body.length} B, native ${native.body.length} B, ssim ${ssim} psnr ${psnr}`);
        const min = minFor(url);
        assert.ok(ssim >= min.ssim && psnr >= min.psnr, `ssim ${ssim} psnr ${psnr}, want ${JSON.stringify(min)}`);
      });
    }
    it('format=json: the same metadata', async () => {
      const url = '/orientation-6.jpg?width=800&height=600&fit=cover&format=json';
      const edge = await proxy.get(url);
      const native = await httpGet(origin.url + url);
      assert.equal(edge.status, 200, show(edge));
      assert.equal(edge.headers.get('content-type'), 'application/json');
      // The ThumbHash is of each host's own pixels (jpeg-decoder here, libjpeg-turbo there):
      // the same length, and within a few code values of each other; the rest is identical.
      const [e, n] = [edge.json(), native.json()];
      assert.equal(e.placeholder.length, n.placeholder.length);
      const differ = [...Buffer.from(e.placeholder, 'base64')].filter(
        (b, i) => Math.abs(b - Buffer.from(n.placeholder, 'base64')[i]) > 8,
      );
      assert.ok(differ.length <= 4, `${e.placeholder} vs ${n.placeholder}`);
      delete e.placeholder;
      delete n.placeholder;
      assert.deepEqual(e, n);
    });
    it('the original, byte for byte', async () => {
      const edge = await proxy.get('/photos/my%20cat.jpg');
      const native = await httpGet(`${origin.url}/photos/my%20cat.jpg`);
      assert.equal(edge.status, 200, show(edge));
      assert.ok(edge.body.equals(native.body));
      assert.equal(edge.headers.get('content-type'), native.headers.get('content-type'));
    });
    it('the original with If-None-Match: its ETag -> 304 (the origin answers 304)', async () => {
      const edge = await proxy.get('/photos/my%20cat.jpg');
      const etag = edge.headers.get('etag');
      assert.ok(etag, show(edge));
      const again = await proxy.get('/photos/my%20cat.jpg', { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304, show(again));
      assert.equal(again.body.length, 0);
    });
    it('POST: the same 405 method_not_allowed', async () => {
      const native = await httpGet(`${origin.url}/baseline.jpg?width=100`, { method: 'POST' });
      assertError(assert, native, 405, 'method_not_allowed');
      assertError(assert, await proxy.get('/baseline.jpg?width=100', { method: 'POST' }), 405, 'method_not_allowed');
    });
    for (const url of [
      '/baseline.jpg?width=400&bogus=1',
      '/baseline.jpg?width=abc',
      '/baseline.jpg?w=400&width=300',
      '/cdn-cgi/image/width/baseline.jpg',
      '/cdn-cgi/image/width=0/baseline.jpg',
      '/baseline.jpg?preset=nope',
      '/baseline.jpg?width=13000&fit=contain',
      '/missing.jpg?width=100',
      '/missing.jpg',
      '/a//b.jpg?width=100',
    ]) {
      it(`error ${url}: the same status and code`, async () => {
        const native = await httpGet(origin.url + url);
        assertError(assert, await proxy.get(url), native.status, native.json().code);
      });
    }
  });

  describe('HANDOFF=proxy (the default): over-budget requests answered by the origin', () => {
    it('input over MAX_INPUT_BYTES: the origin\'s answer, with x-refract-handoff: proxy', async () => {
      const url = '/bird-20mp.jpg?width=400&format=webp';
      const edge = await proxy.get(url);
      await assertImage(assert, edge, { type: 'webp', width: 400, height: 225 });
      assert.equal(edge.headers.get('x-refract-handoff'), 'proxy');
      const native = await httpGet(origin.url + url);
      assert.equal(edge.headers.get('etag'), native.headers.get('etag'));
      assert.ok(edge.body.equals(native.body), 'the same bytes as the origin');
    });
    it('in the /cdn-cgi/image/ grammar', async () => {
      const edge = await proxy.get('/cdn-cgi/image/width=400,format=webp/bird-20mp.jpg');
      await assertImage(assert, edge, { type: 'webp', width: 400, height: 225 });
      assert.equal(edge.headers.get('x-refract-handoff'), 'proxy');
      const native = await httpGet(`${origin.url}/bird-20mp.jpg?width=400&format=webp`);
      assert.equal(edge.headers.get('etag'), native.headers.get('etag'));
    });
    it('format=auto: the client\'s Accept reaches the origin', async () => {
      const edge = await proxy.get('/bird-20mp.jpg?width=300&format=auto', { headers: { accept: AVIF_WEBP } });
      await assertImage(assert, edge, { type: 'avif', width: 300, height: 169 });
      assert.equal(edge.headers.get('x-refract-handoff'), 'proxy');
      assert.match(edge.headers.get('vary') ?? '', /accept/i);
      const jpeg = await proxy.get('/bird-20mp.jpg?width=300&format=auto', { headers: { accept: 'image/*' } });
      await assertImage(assert, jpeg, { type: 'jpeg', width: 300, height: 169 });
    });
    it('If-None-Match reaches the origin: 304', async () => {
      const url = '/bird-20mp.jpg?width=400&format=webp';
      const etag = (await httpGet(origin.url + url, { method: 'HEAD' })).headers.get('etag');
      const res = await proxy.get(url, { headers: { 'if-none-match': etag } });
      assert.equal(res.status, 304, show(res));
      assert.equal(res.body.length, 0);
      assert.equal(res.headers.get('x-refract-handoff'), 'proxy');
    });
    it('HEAD: the origin\'s headers, no body', async () => {
      const res = await proxy.get('/bird-20mp.jpg?width=400&format=webp', { method: 'HEAD' });
      assert.equal(res.status, 200, show(res));
      assert.equal(res.headers.get('content-type'), 'image/webp');
      assert.equal(res.headers.get('x-refract-handoff'), 'proxy');
      assert.equal(res.body.length, 0);
    });
    it('explicit AVIF over MAX_AVIF_PIXELS: encoded by the origin', async () => {
      // A small cap, so that the origin's AVIF stays cheap (the test runs a debug origin).
      const capped = await startWorker({
        bindings: { ORIGIN_URL: origin.url, HANDOFF_URL: origin.url, MAX_AVIF_PIXELS: '100000' },
      });
      try {
        const res = await capped.get('/baseline.jpg?width=400&format=avif');
        await assertImage(assert, res, { type: 'avif', width: 400, height: 300 });
        assert.equal(res.headers.get('x-refract-handoff'), 'proxy');
        const within = await capped.get('/baseline.jpg?width=300&format=avif');
        await assertImage(assert, within, { type: 'avif', width: 300, height: 225 });
        assert.equal(within.headers.get('x-refract-handoff'), null);
      } finally {
        await capped.dispose();
      }
    });
    it('over budget and over the output limits: 400 output_too_large', async () => {
      const res = await proxy.get('/bird-20mp.jpg?width=13000&fit=contain');
      assertError(assert, res, 400, 'output_too_large');
    });
    it('an AVIF original: decoded by the origin', async () => {
      const url = '/photo.avif?width=200&format=webp';
      const edge = await proxy.get(url);
      await assertImage(assert, edge, { type: 'webp', width: 200, height: 133 });
      assert.equal(edge.headers.get('x-refract-handoff'), 'proxy');
      const native = await httpGet(origin.url + url);
      assert.equal(edge.headers.get('etag'), native.headers.get('etag'));
      assert.ok(edge.body.equals(native.body), 'the same bytes as the origin');
      const redirected = await redirect.get(url);
      assert.equal(redirected.status, 307, show(redirected));
      assert.equal(redirected.headers.get('location'), origin.url + url);
    });
    it('an SVG original: rasterized by the origin', async () => {
      const url = '/logo.svg?width=400&fit=contain&format=webp';
      const edge = await proxy.get(url);
      await assertImage(assert, edge, { type: 'webp', width: 400, height: 200 });
      assert.equal(edge.headers.get('x-refract-handoff'), 'proxy');
      const native = await httpGet(origin.url + url);
      assert.ok(edge.body.equals(native.body), 'the same bytes as the origin');
      const redirected = await redirect.get(url);
      assert.equal(redirected.status, 307, show(redirected));
      assert.equal(redirected.headers.get('location'), origin.url + url);
      // Untouched, the edge never serves it, even from an origin that does.
      const untouched = await proxy.get('/logo.svg');
      assertError(assert, untouched, 415, 'unsupported_format');
      const fromOrigin = await httpGet(origin.url + '/logo.svg');
      assert.equal(fromOrigin.headers.get('content-type'), 'image/svg+xml');
    });
    it('within the budget: no handoff', async () => {
      const res = await proxy.get('/bridge-10mp.jpg?width=320');
      await assertImage(assert, res, { type: 'jpeg', width: 320, height: 180 });
      assert.equal(res.headers.get('x-refract-handoff'), null);
    });
  });

  describe('HANDOFF=redirect: 307 to the origin', () => {
    for (const [url, why, want] of [
      ['/bird-20mp.jpg?width=400&format=webp', 'input over MAX_INPUT_BYTES', { type: 'webp', width: 400, height: 225 }],
      ['/bridge-10mp.jpg?width=3000&format=jpeg', 'decoded pixels over MAX_DECODE_PIXELS', { type: 'jpeg', width: 3000, height: 1688 }],
    ]) {
      it(`${why}: ${url}`, async () => {
        const res = await redirect.get(url);
        assert.equal(res.status, 307, show(res));
        assert.equal(res.headers.get('location'), origin.url + url);
        assert.equal(res.headers.get('x-refract-handoff'), 'redirect');
        await assertImage(assert, await httpGet(res.headers.get('location')), want);
      });
    }
    it('in the /cdn-cgi/image/ grammar', async () => {
      const url = '/cdn-cgi/image/width=400,format=webp/bird-20mp.jpg';
      const res = await redirect.get(url);
      assert.equal(res.status, 307, show(res));
      // `${HANDOFF_URL}${path}?${query}` with an empty query: with or without the "?".
      assert.ok([origin.url + url, `${origin.url + url}?`].includes(res.headers.get('location')), show(res));
      assert.equal(res.headers.get('x-refract-handoff'), 'redirect');
      await assertImage(assert, await httpGet(res.headers.get('location')), { type: 'webp', width: 400, height: 225 });
    });
    it('within the budget: no redirect', async () => {
      const res = await redirect.get('/bridge-10mp.jpg?width=400');
      await assertImage(assert, res, { type: 'jpeg', width: 400, height: 225 });
      assert.equal(res.headers.get('x-refract-handoff'), null);
    });
  });

  describe('an origin that does not answer', () => {
    it('503 storage_unavailable with Retry-After', async () => {
      const res = await dead.get('/baseline.jpg?width=100');
      assertError(assert, res, 503, 'storage_unavailable');
      assert.match(res.headers.get('retry-after') ?? '', /^\d+$/, show(res));
    });
  });
});
