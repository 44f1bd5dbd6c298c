// Freshness at the edge: cached results are checked against their original once they are
// older than REVALIDATE_SECS (0 here: every hit is checked, so no test waits for a clock), a
// replaced original is transformed again, a deleted one is 404, and a storage failure serves
// the stale result with `x-refract-cache: stale`. Also: Cache-Control by URL kind (versioned,
// signed, plain), `v=` in both grammars as part of the cache key, and Cache-Tag everywhere.
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  SAMPLES,
  assertError,
  assertImage,
  sample,
  show,
  sign,
  startFileOrigin,
  startOrigin,
  startWorker,
  untilStored,
} from './lib.mjs';

const DEFAULT_CC = 'public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800';
const VERSIONED_CC = 'public, max-age=31536000, immutable';

// cat-small.jpg is 3:2 and baseline.jpg 4:3: at width=100 they are 67 and 75 px high, so the
// height says which original a result was made from.
const CAT = { type: 'jpeg', width: 100, height: 67 };
const BASELINE = { type: 'jpeg', width: 100, height: 75 };

const cacheState = (res) => res.headers.get('x-refract-cache');

describe('R2 originals: a cached result is checked against its original', { timeout: 600_000 }, () => {
  let checked, trusting;
  before(async () => {
    const r2 = { 'swap.jpg': await sample('cat-small.jpg'), 'gone.jpg': await sample('cat-small.jpg') };
    checked = await startWorker({ r2, bindings: { REVALIDATE_SECS: '0' } });
    trusting = await startWorker({ r2, bindings: { REVALIDATE_SECS: '3600' } });
  });
  after(async () => {
    await checked?.dispose();
    await trusting?.dispose();
  });

  it('replaced: past the window the new original is transformed and replaces the entry', async () => {
    const url = '/swap.jpg?width=100';
    const first = await checked.get(url);
    await assertImage(assert, first, CAT);
    assert.equal(cacheState(first), 'miss');
    const again = await untilStored(checked, url);
    assert.equal(cacheState(again), 'revalidated', `window 0: every hit is checked: ${show(again)}`);
    assert.equal(again.headers.get('etag'), first.headers.get('etag'));
    assert.ok(again.body.equals(first.body));

    await (await checked.bucket()).put('swap.jpg', new Uint8Array(await sample('baseline.jpg')));
    const fresh = await checked.get(url);
    await assertImage(assert, fresh, BASELINE);
    assert.equal(cacheState(fresh), 'miss', show(fresh));
    assert.notEqual(fresh.headers.get('etag'), first.headers.get('etag'));
    // The new result replaced the old entry.
    const stored = await untilStored(checked, url);
    await assertImage(assert, stored, BASELINE);
    assert.equal(cacheState(stored), 'revalidated');
    assert.equal(stored.headers.get('etag'), fresh.headers.get('etag'));
  });

  it('within the window the cached result is served as it is (REVALIDATE_SECS=3600)', async () => {
    const url = '/swap.jpg?width=100&format=png';
    const first = await trusting.get(url);
    assert.equal(first.status, 200, show(first));
    const hit = await untilStored(trusting, url);
    assert.equal(cacheState(hit), 'hit');
    await (await trusting.bucket()).put('swap.jpg', new Uint8Array(await sample('baseline.jpg')));
    const old = await trusting.get(url);
    assert.equal(cacheState(old), 'hit', 'not checked within the window');
    await assertImage(assert, old, { type: 'png', width: 100, height: 67 });
    // A spec not cached yet reads the original: the new one.
    await assertImage(assert, await trusting.get('/swap.jpg?width=100&format=webp'), { type: 'webp', width: 100, height: 75 });
  });

  it('deleted: past the window, 404 not_found', async () => {
    const url = '/cdn-cgi/image/width=100/gone.jpg';
    await assertImage(assert, await checked.get(url), CAT);
    assert.equal(cacheState(await untilStored(checked, url)), 'revalidated');
    await (await checked.bucket()).delete('gone.jpg');
    const res = await checked.get(url);
    assertError(assert, res, 404, 'not_found');
    assertError(assert, await checked.get(url), 404, 'not_found');
    // Uploaded again: served from the new upload.
    await (await checked.bucket()).put('gone.jpg', new Uint8Array(await sample('baseline.jpg')));
    await assertImage(assert, await checked.get(url), BASELINE);
  });
});

describe('an HTTP origin: checked with a conditional GET, stale when it fails', { timeout: 600_000 }, () => {
  let origin, checked, trusting;
  before(async () => {
    origin = await startFileOrigin({
      'a.jpg': await sample('cat-small.jpg'),
      'b.jpg': await sample('cat-small.jpg'),
      'c.jpg': await sample('cat-small.jpg'),
    });
    checked = await startWorker({ bindings: { ORIGIN_URL: origin.url, REVALIDATE_SECS: '0' } });
    trusting = await startWorker({ bindings: { ORIGIN_URL: origin.url, REVALIDATE_SECS: '3600' } });
  });
  after(async () => {
    await checked?.dispose();
    await trusting?.dispose();
    await origin?.stop();
  });

  it('unchanged: each check is a 304, never a second download', async () => {
    const url = '/a.jpg?width=100&format=webp';
    const first = await checked.get(url);
    await assertImage(assert, first, { type: 'webp', width: 100, height: 67 });
    await untilStored(checked, url);
    const before = origin.counts('a.jpg');
    for (let i = 0; i < 3; i++) {
      const res = await checked.get(url);
      assert.equal(cacheState(res), 'revalidated', show(res));
      assert.ok(res.body.equals(first.body));
    }
    const after = origin.counts('a.jpg');
    assert.equal(after.full, before.full, 'no full download for an unchanged original');
    assert.equal(after.notModified, before.notModified + 3, 'one conditional GET per check');
  });

  it('within the window: hits ask the origin nothing', async () => {
    const url = '/a.jpg?width=100&format=png';
    await trusting.get(url);
    assert.equal(cacheState(await untilStored(trusting, url)), 'hit');
    const before = origin.counts('a.jpg');
    for (let i = 0; i < 3; i++) assert.equal(cacheState(await trusting.get(url)), 'hit');
    assert.deepEqual(origin.counts('a.jpg'), before);
  });

  it('replaced: the conditional GET brings the new original, transformed at once', async () => {
    const url = '/b.jpg?width=100';
    const first = await checked.get(url);
    await assertImage(assert, first, CAT);
    await untilStored(checked, url);
    origin.put('b.jpg', await sample('baseline.jpg'));
    const before = origin.counts('b.jpg');
    const fresh = await checked.get(url);
    await assertImage(assert, fresh, BASELINE);
    assert.equal(cacheState(fresh), 'miss');
    assert.equal(origin.counts('b.jpg').full, before.full + 1, 'one download: the 200 of the check');
    assert.notEqual(fresh.headers.get('etag'), first.headers.get('etag'));
  });

  it('deleted: 404 not_found', async () => {
    const url = '/c.jpg?width=100';
    await assertImage(assert, await checked.get(url), CAT);
    await untilStored(checked, url);
    origin.delete('c.jpg');
    assertError(assert, await checked.get(url), 404, 'not_found');
    origin.put('c.jpg', await sample('cat-small.jpg'));
  });

  it('the origin answers 503 or drops the connection: the stale result, marked', async () => {
    const url = '/a.jpg?width=90';
    const first = await checked.get(url);
    await assertImage(assert, first, { type: 'jpeg', width: 90, height: 60 });
    await untilStored(checked, url);
    try {
      for (const mode of ['error', 'reset']) {
        origin.setMode(mode);
        const res = await checked.get(url);
        await assertImage(assert, res, { type: 'jpeg', width: 90, height: 60 });
        assert.equal(cacheState(res), 'stale', `${mode}: ${show(res)}`);
        assert.equal(res.headers.get('etag'), first.headers.get('etag'));
        assert.equal(res.headers.get('cache-control'), DEFAULT_CC);
        assert.ok(res.body.equals(first.body));
        // Nothing cached for this spec: no stale copy to serve, so the failure shows.
        assertError(assert, await checked.get('/a.jpg?width=91'), 503, 'storage_unavailable');
      }
    } finally {
      origin.setMode('ok');
    }
    assert.equal(cacheState(await checked.get(url)), 'revalidated', 'back: checked and served');
  });
});

describe('the native server as origin: a replaced file is served new past the window', { timeout: 600_000 }, () => {
  let dir, origin, w;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'refract-edge-fresh-'));
    await copyFile(path.join(SAMPLES, 'cat-small.jpg'), path.join(dir, 'photo.jpg'));
    origin = await startOrigin({ originals: dir });
    w = await startWorker({ bindings: { ORIGIN_URL: origin.url, REVALIDATE_SECS: '0' } });
  });
  after(async () => {
    await w?.dispose();
    await origin?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('unchanged: revalidated; replaced: the new image', async () => {
    const url = '/photo.jpg?width=100';
    await assertImage(assert, await w.get(url), CAT);
    const again = await untilStored(w, url);
    assert.equal(cacheState(again), 'revalidated', show(again));
    // Replaced whole, as an upload would (write aside, then rename).
    await copyFile(path.join(SAMPLES, 'baseline.jpg'), path.join(dir, '.photo.jpg.new'));
    await rename(path.join(dir, '.photo.jpg.new'), path.join(dir, 'photo.jpg'));
    const fresh = await w.get(url);
    await assertImage(assert, fresh, BASELINE);
    assert.equal(cacheState(fresh), 'miss');
  });
});

describe('Cache-Control, v= and Cache-Tag', { timeout: 600_000 }, () => {
  const KEY = 'K-test-key-0123456789-abcdef';
  let w, signing;
  before(async () => {
    const r2 = { 'photos/2024/cat.jpg': await sample('cat-small.jpg'), 'logo.png': await sample('logo-alpha.png') };
    w = await startWorker({ r2 });
    signing = await startWorker({ r2, bindings: { SIGNING_KEYS: KEY } });
  });
  after(async () => {
    await w?.dispose();
    await signing?.dispose();
  });

  it('a plain URL: a bounded max-age with stale-while-revalidate and stale-if-error', async () => {
    for (const url of ['/logo.png?width=50', '/cdn-cgi/image/width=50/logo.png', '/logo.png']) {
      const res = await w.get(url);
      assert.equal(res.status, 200, show(res));
      assert.equal(res.headers.get('cache-control'), DEFAULT_CC, url);
    }
  });

  it('a signed URL: the same, never immutable', async () => {
    const res = await signing.get(await sign('/logo.png?width=60', [KEY]));
    assert.equal(res.status, 200, show(res));
    assert.equal(res.headers.get('cache-control'), DEFAULT_CC);
    const original = await signing.get(await sign('/logo.png', [KEY]));
    assert.equal(original.status, 200, show(original));
    assert.equal(original.headers.get('cache-control'), DEFAULT_CC);
  });

  it('a URL that names the version (v=): immutable for a year, in both grammars and signed', async () => {
    for (const url of [
      '/logo.png?width=50&v=3',
      '/cdn-cgi/image/width=50,v=3/logo.png',
      '/cdn-cgi/image/width=50/logo.png?v=3',
      '/logo.png?v=3',
    ]) {
      const res = await w.get(url);
      assert.equal(res.status, 200, `${url}: ${show(res)}`);
      assert.equal(res.headers.get('cache-control'), VERSIONED_CC, url);
    }
    const signed = await signing.get(await sign('/logo.png?width=60&v=3', [KEY]));
    assert.equal(signed.status, 200, show(signed));
    assert.equal(signed.headers.get('cache-control'), VERSIONED_CC);
  });

  it('v=1 and v=2 are two cache entries; one version is one entry in either grammar', async () => {
    const v1 = await w.get('/logo.png?width=70&v=1');
    assert.equal(v1.status, 200, show(v1));
    assert.equal(cacheState(v1), 'miss');
    const hit = await untilStored(w, '/cdn-cgi/image/width=70/logo.png?v=1');
    assert.equal(cacheState(hit), 'hit', show(hit));
    assert.equal(hit.headers.get('etag'), v1.headers.get('etag'));
    const v2 = await w.get('/cdn-cgi/image/v=2,width=70/logo.png');
    assert.equal(cacheState(v2), 'miss', `another version, another entry: ${show(v2)}`);
    assert.notEqual(v2.headers.get('etag'), v1.headers.get('etag'));
    const plain = await w.get('/logo.png?width=70');
    assert.equal(cacheState(plain), 'miss', 'no version, another entry');
  });

  it('Cache-Tag names the original and its folders: transforms, hits, 304s, originals', async () => {
    const tags = 'photos/2024/cat.jpg,photos/,photos/2024/';
    const url = '/photos/2024/cat.jpg?width=80';
    const miss = await w.get(url);
    assert.equal(cacheState(miss), 'miss');
    const hit = await untilStored(w, url);
    assert.equal(cacheState(hit), 'hit');
    const notModified = await w.get(url, { headers: { 'if-none-match': miss.headers.get('etag') } });
    assert.equal(notModified.status, 304, show(notModified));
    const original = await w.get('/photos/2024/cat.jpg');
    assert.equal(original.status, 200);
    for (const res of [miss, hit, notModified, original]) {
      assert.equal(res.headers.get('cache-tag'), tags, show(res));
    }
  });
});
