// Next.js: the custom loader (frameworks/next/refract-loader.mjs) run by Node for every width
// next/image asks for, and Next.js's own optimizer grammar (/_next/image?url=&w=&q=), answered
// by `refract serve` and by the worker in workerd alike; a signed deployment whose allowed
// widths are Next.js's serves the loader's URLs unsigned.
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { httpGet, probe, sample, show, startOrigin, startWorker } from './lib.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const { default: loader } = await import(pathToFileURL(path.join(ROOT, 'frameworks/next/refract-loader.mjs')));

// next.config's defaults: deviceSizes then imageSizes.
const NEXT_WIDTHS = [640, 750, 828, 1080, 1200, 1920, 2048, 3840, 16, 32, 48, 64, 96, 128, 256, 384];
const CHROMIUM = 'image/avif,image/webp,image/apng,image/*,*/*;q=0.8';

describe('Next.js loader and /_next/image', { timeout: 600_000 }, () => {
  let origin, signedOrigin, worker;
  before(async () => {
    origin = await startOrigin();
    signedOrigin = await startOrigin({
      env: {
        REFRACT_SIGNING__KEYS: JSON.stringify(['a-secret-of-at-least-16-bytes']),
        REFRACT_SIGNING__ALLOWED_WIDTHS: JSON.stringify(NEXT_WIDTHS),
      },
    });
    worker = await startWorker({ r2: { 'cat-small.jpg': await sample('cat-small.jpg') } });
  });
  after(async () => {
    await worker?.dispose();
    await origin?.stop();
    await signedOrigin?.stop();
  });

  it('the loader makes URLs Refract answers, for every width next/image asks', async () => {
    for (const width of NEXT_WIDTHS) {
      const url = loader({ src: '/cat-small.jpg', width, quality: 75 });
      assert.equal(url, `/cat-small.jpg?width=${width}&format=auto`);
      for (const [name, get] of [
        ['serve', (u) => httpGet(origin.url + u, { headers: { accept: CHROMIUM } })],
        ['signed serve', (u) => httpGet(signedOrigin.url + u, { headers: { accept: CHROMIUM } })],
        ['worker', (u) => worker.get(u, { headers: { accept: CHROMIUM } })],
      ]) {
        const res = await get(url);
        assert.equal(res.status, 200, `${name} ${url}: ${show(res)}`);
        const p = await probe(res.body);
        // cat-small.jpg is 451x300: never enlarged.
        assert.equal(p.width, Math.min(width, 451), `${name} ${url}`);
        assert.equal(p.format, 'avif', `${name} ${url}`);
      }
    }
  });

  it('quality, a base URL, remote and relative sources', () => {
    process.env.NEXT_PUBLIC_REFRACT_URL = 'https://img.example.com/';
    try {
      assert.equal(
        loader({ src: '/photos/my%20cat.jpg', width: 828, quality: 50 }),
        'https://img.example.com/photos/my%20cat.jpg?width=828&format=auto&quality=50',
      );
      assert.equal(loader({ src: 'cat.jpg?v=3', width: 16 }), 'https://img.example.com/cat.jpg?v=3&width=16&format=auto');
      assert.equal(loader({ src: 'https://other.example/a.jpg', width: 16 }), 'https://other.example/a.jpg');
    } finally {
      delete process.env.NEXT_PUBLIC_REFRACT_URL;
    }
  });

  it('a non-default quality needs a signature where signing is on', async () => {
    const res = await httpGet(signedOrigin.url + loader({ src: '/cat-small.jpg', width: 640, quality: 50 }));
    assert.equal(res.status, 403, show(res));
    assert.equal(res.json().code, 'signature_required');
  });

  it('/_next/image: the optimizer grammar, on both hosts', async () => {
    for (const [name, get] of [
      ['serve', (u) => httpGet(origin.url + u, { headers: { accept: 'image/webp,*/*' } })],
      ['worker', (u) => worker.get(u, { headers: { accept: 'image/webp,*/*' } })],
    ]) {
      const res = await get('/_next/image?url=%2Fcat-small.jpg&w=256&q=75');
      assert.equal(res.status, 200, `${name}: ${show(res)}`);
      assert.equal(res.headers.get('content-type'), 'image/webp');
      assert.match(res.headers.get('vary') ?? '', /accept/i);
      const p = await probe(res.body);
      assert.equal(p.width, 256);
      // The same variant as Refract's own grammar: one cache entry, one ETag.
      const own = await get('/cat-small.jpg?width=256&format=auto');
      assert.equal(res.headers.get('etag'), own.headers.get('etag'), name);
      const remote = await get('/_next/image?url=https%3A%2F%2Fevil.example%2Fa.jpg&w=256&q=75');
      assert.equal(remote.status, 400, show(remote));
      assert.equal(remote.json().code, 'bad_key');
    }
  });
});
