// Signed URLs and presets: the worker with SIGNING_KEYS, ALLOWED_WIDTHS and PRESETS, against
// the native server configured the same way (the reference for which request is refused with
// which code), and URLs signed by the native CLI (`refract sign`).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  assertError,
  assertImage,
  httpGet,
  probe,
  sample,
  show,
  sign,
  startOrigin,
  startWorker,
  untilCached,
} from './lib.mjs';

const K1 = 'edge-test-key-one-0123456789';
const K2 = 'edge-test-key-two-0123456789';
const PRESETS = { thumb: 'width=200,height=200,fit=cover', hero: 'width=640,quality=70' };
const CACHE_CONTROL = 'public, max-age=600';
// The default, the native server's too: a signed URL fixes the options, not the original's
// bytes, so it is not immutable.
const SIGNED_CACHE_CONTROL = 'public, max-age=86400, stale-while-revalidate=3600, stale-if-error=604800';
const PRESET_ENV = Object.fromEntries(
  Object.entries(PRESETS).map(([k, v]) => [`REFRACT_PRESETS__${k.toUpperCase()}`, v]),
);

describe('signed URLs and presets', { timeout: 600_000 }, () => {
  let w, handoff, native;
  before(async () => {
    w = await startWorker({
      r2: { 'baseline.jpg': await sample('baseline.jpg'), 'cat-small.jpg': await sample('cat-small.jpg') },
      bindings: {
        SIGNING_KEYS: `${K1},${K2}`,
        ALLOWED_WIDTHS: '320,640',
        PRESETS, // a JSON object var, as [vars] PRESETS = { thumb = "…" } in wrangler.toml
        CACHE_CONTROL,
        AVIF_SPEED: '10',
      },
    });
    native = await startOrigin({
      env: {
        REFRACT_SIGNING__KEYS: JSON.stringify([K1, K2]),
        REFRACT_SIGNING__ALLOWED_WIDTHS: '[320,640]',
        REFRACT_HTTP__CACHE_CONTROL: CACHE_CONTROL,
        ...PRESET_ENV,
      },
    });
    // Signing at the edge, and over-budget requests redirected to the native server, which
    // has the same keys: bird-20mp.jpg (4.4 MB) is over MAX_INPUT_BYTES.
    handoff = await startWorker({
      r2: { 'bird-20mp.jpg': await sample('bird-20mp.jpg') },
      bindings: {
        SIGNING_KEYS: `${K1},${K2}`,
        ALLOWED_WIDTHS: '320,640',
        CACHE_CONTROL,
        HANDOFF_URL: native.url,
        HANDOFF: 'redirect',
        MAX_INPUT_BYTES: '2000000',
      },
    });
  });
  after(async () => {
    await w?.dispose();
    await handoff?.dispose();
    await native?.stop();
  });

  describe('unsigned requests: the same answer as the native server', () => {
    for (const [url, status, code] of [
      ['/baseline.jpg?width=500', 403, 'signature_required'],
      ['/cdn-cgi/image/width=500/baseline.jpg', 403, 'signature_required'],
      ['/baseline.jpg?width=320&quality=50', 403, 'signature_required'],
      ['/baseline.jpg?height=320', 403, 'signature_required'],
      ['/baseline.jpg?preset=thumb&quality=50', 403, 'signature_required'],
      ['/baseline.jpg?width=500&sig=' + '0'.repeat(64), 403, 'bad_signature'],
      ['/baseline.jpg?width=320', 200],
      ['/baseline.jpg?width=640&format=webp', 200],
      ['/cdn-cgi/image/width=320,format=png/cat-small.jpg', 200],
      ['/baseline.jpg?preset=thumb', 200],
      ['/baseline.jpg?preset=thumb&format=avif', 200],
      ['/cdn-cgi/image/preset=hero,format=webp/baseline.jpg', 200],
      ['/cat-small.jpg?format=png', 200],
      ['/baseline.jpg?preset=nope'],
      ['/baseline.jpg?preset=thumb&width=320'],
    ]) {
      it(`${url} -> ${status ?? 'as native'} ${code ?? ''}`, async () => {
        const edge = await w.get(url);
        const ref = await httpGet(native.url + url);
        if (status) assert.equal(ref.status, status, `native server: ${show(ref)}`);
        if (ref.status === 200) {
          const want = await probe(ref.body);
          await assertImage(assert, edge, { type: want.format, width: want.width, height: want.height });
          assert.equal(edge.headers.get('cache-control'), CACHE_CONTROL, 'an unsigned result: CACHE_CONTROL');
        } else {
          assertError(assert, edge, ref.status, ref.json().code);
          if (code) assert.equal(ref.json().code, code);
        }
      });
    }
    it('presets expand: thumb is 200x200 cover, hero 640 px at quality 70', async () => {
      await assertImage(assert, await w.get('/baseline.jpg?preset=thumb'), { type: 'jpeg', width: 200, height: 200 });
      const hero = await w.get('/baseline.jpg?preset=hero');
      await assertImage(assert, hero, { type: 'jpeg', width: 640, height: 480 });
      const explicit = await w.get('/baseline.jpg?width=640&quality=70');
      assertError(assert, explicit, 403, 'signature_required'); // not allow-listed as options
    });
    it('originals need a signature too (signing on, ORIGINALS_ACCESS unset), as natively', async () => {
      assertError(assert, await w.get('/baseline.jpg'), 403, 'signature_required');
      assertError(assert, await httpGet(native.url + '/baseline.jpg'), 403, 'signature_required');
      const url = await sign('/baseline.jpg', [K1]);
      for (const res of [await w.get(url), await httpGet(native.url + url)]) {
        assert.equal(res.status, 200, show(res));
        assert.ok(res.body.equals(await sample('baseline.jpg')));
      }
    });
    it('an expiring signed URL: accepted and cached no longer than it is valid; expired, refused', async () => {
      const url = await sign('/baseline.jpg?width=410', [K1], { EXPIRES_IN: '600' });
      assert.match(url, /&expires=\d+&sig=[0-9a-f]{64}$/);
      const res = await w.get(url);
      await assertImage(assert, res, { type: 'jpeg', width: 410, height: 308 });
      const maxAge = Number(res.headers.get('cache-control').match(/^public, max-age=(\d+)$/)[1]);
      assert.ok(maxAge > 590 && maxAge <= 600, res.headers.get('cache-control'));
      // Signed here for a second already past (the string to sign: `<spec>/<key>?expires=<t>`).
      const t = Math.floor(Date.now() / 1000) - 5;
      const sig = createHmac('sha256', K1).update(`width=410/baseline.jpg?expires=${t}`).digest('hex');
      const past = `/baseline.jpg?width=410&expires=${t}&sig=${sig}`;
      assertError(assert, await w.get(past), 403, 'signature_expired');
      assertError(assert, await httpGet(native.url + past), 403, 'signature_expired');
    });
  });

  describe('signed by refract sign', () => {
    let url;
    before(async () => {
      url = await sign('/baseline.jpg?width=500&format=webp', [K1]);
      assert.match(url, /&sig=[0-9a-f]{64}$/);
    });
    it('accepted, with SIGNED_CACHE_CONTROL', async () => {
      const res = await w.get(url);
      await assertImage(assert, res, { type: 'webp', width: 500, height: 375 });
      assert.equal(res.headers.get('cache-control'), SIGNED_CACHE_CONTROL);
    });
    it('the same signature in the /cdn-cgi/image/ grammar, options in another order', async () => {
      const sig = new URL(url, 'http://x').searchParams.get('sig');
      const res = await w.get(`/cdn-cgi/image/f=webp,w=500/baseline.jpg?sig=${sig}`);
      await assertImage(assert, res, { type: 'webp', width: 500, height: 375 });
    });
    it('signed with the second key (rotation)', async () => {
      const res = await w.get(await sign('/cat-small.jpg?width=123&format=png', [K2]));
      await assertImage(assert, res, { type: 'png', width: 123, height: 82 });
    });
    it('a preset plus an option, signed (presets expanded)', async () => {
      const res = await w.get(await sign('/baseline.jpg?preset=thumb&quality=50', [K1], PRESET_ENV));
      await assertImage(assert, res, { type: 'jpeg', width: 200, height: 200 });
      assert.equal(res.headers.get('cache-control'), SIGNED_CACHE_CONTROL);
    });
    it('signed by a key the worker does not have -> 403 bad_signature', async () => {
      const res = await w.get(await sign('/baseline.jpg?width=500&format=webp', ['some-other-key-0123456789']));
      assertError(assert, res, 403, 'bad_signature');
    });
    it('a signature for another transform -> 403 bad_signature', async () => {
      const res = await w.get(url.replace('width=500', 'width=501'));
      assertError(assert, res, 403, 'bad_signature');
    });
    it('a signature for another key -> 403 bad_signature', async () => {
      const res = await w.get(url.replace('/baseline.jpg', '/cat-small.jpg'));
      assertError(assert, res, 403, 'bad_signature');
    });
    it('a cached signed result is not served to an unsigned request', async () => {
      const { res } = await untilCached(w, url);
      assert.equal(res.headers.get('x-refract-cache'), 'hit', show(res));
      assertError(assert, await w.get('/baseline.jpg?width=500&format=webp'), 403, 'signature_required');
      assertError(assert, await w.get('/cdn-cgi/image/width=500,format=webp/baseline.jpg'), 403, 'signature_required');
    });
  });

  describe('signatures and handoff', () => {
    it('a signed over-budget URL: 307 with the signature, which the origin accepts', async () => {
      const url = await sign('/bird-20mp.jpg?width=500&format=webp', [K1]);
      const res = await handoff.get(url);
      assert.equal(res.status, 307, show(res));
      assert.equal(res.headers.get('location'), native.url + url);
      const followed = await httpGet(res.headers.get('location'));
      await assertImage(assert, followed, { type: 'webp', width: 500, height: 281 });
      assert.equal(followed.headers.get('cache-control'), SIGNED_CACHE_CONTROL);
    });
    it('an allow-listed width over budget: 307, accepted unsigned by the origin', async () => {
      const res = await handoff.get('/bird-20mp.jpg?width=320');
      assert.equal(res.status, 307, show(res));
      await assertImage(assert, await httpGet(res.headers.get('location')), { type: 'jpeg', width: 320, height: 180 });
    });
    it('unsigned and not allowed: refused at the edge, not handed off', async () => {
      const res = await handoff.get('/bird-20mp.jpg?width=500');
      assertError(assert, res, 403, 'signature_required');
      assert.equal(res.headers.get('x-refract-handoff'), null);
    });
  });
});
