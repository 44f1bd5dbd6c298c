// Rate limits at the edge through the Workers Rate Limiting bindings, as miniflare runs them
// inside workerd: RATE_LIMIT counts every request of a client (CF-Connecting-IP, IPv6 by /64),
// TRANSFORM_RATE_LIMIT only the requests the Cache API did not answer. Over either: 429
// rate_limited with Retry-After, RateLimit-Policy and RateLimit.
//
// The binding counts in fixed windows of its period (60 s here) aligned to the clock, and
// does not say where the current one ends: a window may roll over in the middle of a test.
// So each test counts requests until the first 429 (bounded by two windows' worth), and a
// check that must see a 429 straight after exhausting a key is tried once more if it did not
// (a window cannot roll over twice within a minute).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertError, sample, show, startWorker, untilStored } from './lib.mjs';

const from = (ip) => ({ headers: { 'cf-connecting-ip': ip } });

/** Requests `url` as `ip` until the first 429, at most `2 * limit + 1` times: how many were
 *  allowed before it, and the 429 (or the last answer when none came). */
async function exhaust(w, url, ip, limit) {
  let allowed = 0;
  for (let i = 0; i < 2 * limit + 1; i++) {
    const res = await w.get(typeof url === 'function' ? url(i) : url, from(ip));
    if (res.status === 429) return { allowed, res };
    assert.equal(res.status, 200, show(res));
    allowed += 1;
  }
  return { allowed, res: null };
}

/** Exhausts `ip`, then asks as `other`: the answer to `other` (tried twice, see above). */
async function afterExhausting(w, url, ip, other, limit) {
  let res;
  for (let attempt = 0; attempt < 2; attempt++) {
    const { res: refused } = await exhaust(w, url, ip, limit);
    assert.ok(refused, `${ip} was never refused`);
    res = await w.get(url, from(other));
    if (res.status === 429) return res;
  }
  return res;
}

describe('RATE_LIMIT: every request, per client', { timeout: 600_000 }, () => {
  let w, unstated, unbound;
  before(async () => {
    const r2 = { 'logo.png': await sample('logo-alpha.png') };
    w = await startWorker({
      r2,
      bindings: { RATE_LIMIT_QUOTA: '5/60' },
      ratelimits: { RATE_LIMIT: { namespace_id: '101', simple: { limit: 5, period: 60 } } },
    });
    unstated = await startWorker({
      r2,
      ratelimits: { RATE_LIMIT: { namespace_id: '102', simple: { limit: 3, period: 60 } } },
    });
    unbound = await startWorker({ r2 });
  });
  after(async () => {
    await Promise.all([w?.dispose(), unstated?.dispose(), unbound?.dispose()]);
  });

  it('past the limit: 429 rate_limited with Retry-After, RateLimit-Policy and RateLimit', async () => {
    const { allowed, res } = await exhaust(w, '/logo.png?width=40', '203.0.113.1', 5);
    assert.ok(res, 'refused within two windows');
    assert.ok(allowed >= 5 && allowed <= 10, `${allowed} allowed before the 429`);
    const body = assertError(assert, res, 429, 'rate_limited');
    assert.match(body.message, /too many requests/);
    assert.equal(res.headers.get('retry-after'), '60');
    assert.equal(res.headers.get('ratelimit-policy'), '"requests";q=5;w=60');
    assert.equal(res.headers.get('ratelimit'), '"requests";r=0;t=60');
    // Originals and errors count too.
    assertError(assert, await w.get('/logo.png', from('203.0.113.1')), 429, 'rate_limited');
    assertError(assert, await w.get('/logo.png?width=x', from('203.0.113.1')), 429, 'rate_limited');
  });

  it('another client is not limited', async () => {
    const res = await afterExhausting(w, '/logo.png?width=40', '203.0.113.9', '198.51.100.9', 5);
    assert.equal(res.status, 200, show(res));
  });

  it('IPv6 clients are counted by /64', async () => {
    const url = '/logo.png?width=41';
    const same = await afterExhausting(w, url, '2001:db8:0:1::1', '2001:db8:0:1:ffff:ffff:ffff:ffff', 5);
    assertError(assert, same, 429, 'rate_limited');
    const res = await afterExhausting(w, url, '2001:db8:0:2::1', '2001:db8:0:3::1', 5);
    assert.equal(res.status, 200, `another /64: ${show(res)}`);
  });

  it('RATE_LIMIT_QUOTA unset: still limited, Retry-After the longest period, no policy headers', async () => {
    const { res } = await exhaust(unstated, '/logo.png', '203.0.113.3', 3);
    assert.ok(res, 'refused within two windows');
    assertError(assert, res, 429, 'rate_limited');
    assert.equal(res.headers.get('retry-after'), '60');
    assert.equal(res.headers.get('ratelimit-policy'), null);
    assert.equal(res.headers.get('ratelimit'), null);
  });

  it('no binding: no limit', async () => {
    const { res } = await exhaust(unbound, '/logo.png?width=40', '203.0.113.1', 10);
    assert.equal(res, null, '21 requests from one client, none refused');
  });
});

describe('TRANSFORM_RATE_LIMIT: only what the cache did not answer', { timeout: 600_000 }, () => {
  let w;
  before(async () => {
    w = await startWorker({
      r2: { 'logo.png': await sample('logo-alpha.png'), 'cat.jpg': await sample('cat-small.jpg') },
      bindings: { RATE_LIMIT_QUOTA: '1000/60', TRANSFORM_RATE_LIMIT_QUOTA: '3/60' },
      ratelimits: {
        RATE_LIMIT: { namespace_id: '201', simple: { limit: 1000, period: 60 } },
        TRANSFORM_RATE_LIMIT: { namespace_id: '202', simple: { limit: 3, period: 60 } },
      },
    });
  });
  after(() => w?.dispose());

  it('cache hits are never charged to it; transforms are, up to its limit', async () => {
    const cached = '/cat.jpg?width=50';
    // Cached by another client.
    await w.get(cached, from('192.0.2.200'));
    assert.equal((await untilStored(w, cached, from('192.0.2.200'))).headers.get('x-refract-cache'), 'hit');
    // 7 hits (more than two windows' worth of the limit): none refused.
    const { res: none } = await exhaust(w, cached, '192.0.2.1', 3);
    assert.equal(none, null, 'hits were refused');
    // Transforms of specs nobody asked for yet: refused past the limit.
    const { allowed, res } = await exhaust(w, (i) => `/logo.png?width=${60 + i}`, '192.0.2.1', 3);
    assert.ok(res, 'refused within two windows');
    assert.ok(allowed >= 3 && allowed <= 6, `${allowed} transforms allowed before the 429`);
    const body = assertError(assert, res, 429, 'rate_limited');
    assert.match(body.message, /transform/);
    assert.equal(res.headers.get('retry-after'), '60');
    assert.equal(res.headers.get('ratelimit-policy'), '"transforms";q=3;w=60');
    assert.equal(res.headers.get('ratelimit'), '"transforms";r=0;t=60');
    // Still served from the cache.
    const hit = await w.get(cached, from('192.0.2.1'));
    assert.equal(hit.status, 200, show(hit));
    assert.equal(hit.headers.get('x-refract-cache'), 'hit');
  });
});
