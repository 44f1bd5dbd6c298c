// Client hints (width=auto, dpr=auto) and onerror=redirect in the worker: Accept-CH and Vary
// exactly, the hint rounded up the ladder (or to the width allow-list) before the Cache API key
// and the ETag, one cached variant per ladder step, and failed transforms answered with a
// redirect to the original's own URL; over the edge budget, the same through a handoff to the
// native server (hints passed on when proxied).
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SAMPLES, assertError, assertImage, sample, show, startOrigin, startWorker, untilCached } from './lib.mjs';

const ACCEPT_CH = 'Sec-CH-Width, Sec-CH-DPR, Width, DPR';
const AVIF_WEBP = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';

async function originals() {
  const cat = await sample('cat-small.jpg');
  return {
    'baseline.jpg': await sample('baseline.jpg'), // 1600x1200, 574,672 bytes
    'orientation-6.jpg': await sample('orientation-6.jpg'), // 1065x1600 (1.7 MP), 380,639 bytes
    'cat-small.jpg': cat,
    'notes.jpg': Buffer.from('just some text, not a JPEG\n'),
    'photos/half cat.jpg': cat.subarray(0, Math.floor(cat.length / 3)),
  };
}

/** Exactly one `name` header with this value (fetch joins repeated headers with ", "). */
function assertHeader(res, name, value) {
  assert.equal(res.headers.get(name), value, `${name}: ${show(res)}`);
}

/** A 302 to `location`, not cacheable, no body. */
function assertRedirect(res, location) {
  const what = show(res);
  assert.equal(res.status, 302, `status: ${what}`);
  assert.equal(res.headers.get('location'), location, `location: ${what}`);
  assert.equal(res.headers.get('cache-control'), 'no-store', `cache-control: ${what}`);
  assert.equal(res.body.length, 0, `body: ${what}`);
}

describe('client hints and onerror=redirect in the worker (R2, no handoff)', { timeout: 600_000 }, () => {
  let w, listed, tight;
  before(async () => {
    const r2 = await originals();
    w = await startWorker({ r2 });
    listed = await startWorker({ r2, bindings: { ALLOWED_WIDTHS: '320,800' } });
    // baseline.jpg (574,672 bytes) is over this MAX_INPUT_BYTES, and there is no handoff.
    tight = await startWorker({ r2, bindings: { MAX_INPUT_BYTES: '500000' } });
  });
  after(() => Promise.all([w?.dispose(), listed?.dispose(), tight?.dispose()]));

  it('Sec-CH-Width rounds up the ladder: 500 -> 640, 1100 -> 1200', async () => {
    for (const [hint, width] of [['500', 640], ['1100', 1200]]) {
      const res = await w.get('/baseline.jpg?width=auto&format=jpeg', { headers: { 'sec-ch-width': hint } });
      await assertImage(assert, res, { type: 'jpeg', width, height: (width * 3) / 4 });
      assertHeader(res, 'accept-ch', ACCEPT_CH);
      assertHeader(res, 'vary', 'Sec-CH-Width, Width');
    }
    // The older Width; Sec-CH-Width wins over it.
    let res = await w.get('/baseline.jpg?w=auto&f=jpeg', { headers: { width: '300' } });
    await assertImage(assert, res, { type: 'jpeg', width: 384 });
    res = await w.get('/baseline.jpg?w=auto&f=jpeg', { headers: { width: '300', 'sec-ch-width': '700' } });
    await assertImage(assert, res, { type: 'jpeg', width: 750 });
  });

  it('one cached variant per ladder step: same ETag and Cache API entry for 500 and 600, another for 641', async () => {
    const url = '/cdn-cgi/image/width=auto,format=webp/baseline.jpg';
    const at = (hint, extra = {}) => ({ headers: { 'sec-ch-width': hint, ...extra } });
    const first = await w.get(url, at('500'));
    await assertImage(assert, first, { type: 'webp', width: 640 });
    assert.equal(first.headers.get('x-refract-cache'), 'miss');
    // Another hint in the same step is answered from the first one's entry.
    const { res: second } = await untilCached(w, url, at('600'));
    assert.equal(second.headers.get('x-refract-cache'), 'hit', show(second));
    assert.equal(second.headers.get('etag'), first.headers.get('etag'));
    assert.ok(second.body.equals(first.body));
    for (const r of [first, second]) {
      assertHeader(r, 'vary', 'Sec-CH-Width, Width');
      assertHeader(r, 'accept-ch', ACCEPT_CH);
    }
    const next = await w.get(url, at('641'));
    await assertImage(assert, next, { type: 'webp', width: 750 });
    assert.equal(next.headers.get('x-refract-cache'), 'miss', 'another step, another entry');
    assert.notEqual(next.headers.get('etag'), first.headers.get('etag'));
    // A revalidation with a third hint of the first step: 304, labelled like the 200.
    const nm = await w.get(url, at('520', { 'if-none-match': first.headers.get('etag') }));
    assert.equal(nm.status, 304, show(nm));
    assertHeader(nm, 'etag', first.headers.get('etag'));
    assertHeader(nm, 'vary', 'Sec-CH-Width, Width');
    assertHeader(nm, 'accept-ch', ACCEPT_CH);
  });

  it('Vary lists Accept and the hints read; dpr=auto rounds to 1, 1.5 or 2', async () => {
    let res = await w.get('/baseline.jpg?width=auto&format=auto', {
      headers: { 'sec-ch-width': '100', accept: AVIF_WEBP },
    });
    await assertImage(assert, res, { type: 'avif' });
    assertHeader(res, 'vary', 'Accept, Sec-CH-Width, Width');
    res = await w.get('/baseline.jpg?width=400&dpr=auto&format=png', { headers: { 'sec-ch-dpr': '1.3' } });
    await assertImage(assert, res, { type: 'png', width: 600 });
    assertHeader(res, 'vary', 'Sec-CH-DPR, DPR');
    res = await w.get('/baseline.jpg?width=100&format=png');
    await assertImage(assert, res, { type: 'png', width: 100 });
    assertHeader(res, 'accept-ch', ACCEPT_CH);
    assert.equal(res.headers.get('vary'), null);
  });

  it('under ALLOWED_WIDTHS the hint rounds to an allowed width', async () => {
    for (const [hint, width] of [['100', 320], ['500', 800], ['3000', 800]]) {
      const res = await listed.get('/baseline.jpg?width=auto&format=jpeg', { headers: { 'sec-ch-width': hint } });
      await assertImage(assert, res, { type: 'jpeg', width });
    }
    assertError(assert, await listed.get('/baseline.jpg?width=640'), 400, 'width_not_allowed');
  });

  it('onerror=redirect: undecodable and over-limit originals redirect to their own URL', async () => {
    for (const [url, location, code] of [
      ['/notes.jpg?width=100&onerror=redirect', '/notes.jpg', 'unsupported_format'],
      ['/photos/half%20cat.jpg?width=100&format=webp&onerror=redirect', '/photos/half%20cat.jpg', 'undecodable_image'],
      ['/cdn-cgi/image/width=100,onerror=redirect/photos/half%20cat.jpg', '/photos/half%20cat.jpg', 'undecodable_image'],
      ['/baseline.jpg?width=100&format=jpeg&onerror=redirect', '/baseline.jpg', 'input_too_large'],
    ]) {
      const worker = url.startsWith('/baseline') ? tight : w;
      const plain = url.replace('&onerror=redirect', '').replace(',onerror=redirect', '');
      const failed = await worker.get(plain);
      assert.ok(failed.status >= 400 && failed.status < 500, show(failed));
      assert.equal(failed.json().code, code, `${plain}: ${show(failed)}`);
      const res = await worker.get(url);
      assertRedirect(res, location);
      assert.equal(res.headers.get('x-refract-error'), code);
      const head = await worker.get(url, { method: 'HEAD' });
      assertRedirect(head, location);
    }
    // The target is the original, untouched.
    const half = await w.get('/photos/half%20cat.jpg');
    assert.equal(half.status, 200, show(half));
    assert.equal(half.body.length, Math.floor((await sample('cat-small.jpg')).length / 3));
    // What works is not redirected; mistakes in the URL stay 400.
    await assertImage(assert, await w.get('/cat-small.jpg?width=100&format=png&onerror=redirect'), { type: 'png', width: 100 });
    assertError(assert, await w.get('/baseline.jpg?width=abc&onerror=redirect'), 400, 'invalid_value');
    assertError(assert, await w.get('/baseline.jpg?width=100&onerror=sometimes'), 400, 'invalid_value');
    assertError(assert, await w.get('/missing.jpg?width=100&onerror=redirect'), 404, 'not_found');
  });
});

describe('onerror=redirect where originals are not public', { timeout: 600_000 }, () => {
  it('ORIGINALS_ACCESS=off: the error stands', async () => {
    const w = await startWorker({ r2: await originals(), bindings: { ORIGINALS_ACCESS: 'off' } });
    try {
      assertError(assert, await w.get('/notes.jpg?width=100&onerror=redirect'), 415, 'unsupported_format');
    } finally {
      await w.dispose();
    }
  });
});

describe('client hints and onerror=redirect through a handoff to the native server', { timeout: 600_000 }, () => {
  let dir, origin, proxy;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'refract-edge-hints-'));
    await mkdir(path.join(dir, 'photos'));
    await copyFile(path.join(SAMPLES, 'baseline.jpg'), path.join(dir, 'baseline.jpg'));
    const cat = await sample('cat-small.jpg');
    await writeFile(path.join(dir, 'photos/half cat.jpg'), cat.subarray(0, Math.floor(cat.length / 3)));
    origin = await startOrigin({ originals: dir });
    // Everything is over this budget: every transform is proxied to the origin.
    proxy = await startWorker({
      bindings: { ORIGIN_URL: origin.url, HANDOFF_URL: origin.url, MAX_INPUT_BYTES: '1000' },
    });
  });
  after(async () => {
    await proxy?.dispose();
    await origin?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the hints are passed on: the origin resolves width=auto the same way', async () => {
    const res = await proxy.get('/baseline.jpg?width=auto&format=jpeg', { headers: { 'sec-ch-width': '1100' } });
    await assertImage(assert, res, { type: 'jpeg', width: 1200 });
    assert.equal(res.headers.get('x-refract-handoff'), 'proxy');
    assertHeader(res, 'vary', 'Sec-CH-Width, Width');
    assertHeader(res, 'accept-ch', ACCEPT_CH);
  });

  it("the origin's redirect names the original on the worker's own host", async () => {
    const res = await proxy.get('/photos/half%20cat.jpg?width=100&onerror=redirect');
    assertRedirect(res, '/photos/half%20cat.jpg');
    assert.equal(res.headers.get('x-refract-handoff'), 'proxy');
  });
});
