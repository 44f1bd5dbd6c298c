// Animations at the edge: an animated GIF or WebP stays animated (WebP for format=auto, GIF
// when asked or when it came as one), with every frame, its duration and the loop count; the
// first frame for anim=false; an animation whose frames cost more than the edge budget goes to
// the origin. Frames and durations are read by ImageMagick, not by Refract.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { nativeTransform, probe, sample, show, similarity, startOrigin, startWorker } from './lib.mjs';

const run = promisify(execFile);
const CHROMIUM = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';

/** The frames of an animation as ImageMagick reads them: [{ delay (cs), width, height }]. */
async function frames(buf) {
  const dir = await mkdtemp(path.join(tmpdir(), 'refract-edge-anim-'));
  try {
    const file = path.join(dir, 'anim');
    await writeFile(file, buf);
    const { stdout } = await run('identify', ['-format', '%T %W %H\n', file]);
    return stdout
      .trim()
      .split('\n')
      .map((l) => {
        const [delay, width, height] = l.split(' ').map(Number);
        return { delay, width, height };
      });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const BOUNCE_DELAYS = [50, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8];

describe('animations at the edge', { timeout: 600_000 }, () => {
  let origin;
  let w;
  before(async () => {
    origin = await startOrigin();
    const r2 = {};
    for (const k of ['animated-bounce.gif', 'animated-alpha.webp', 'animated-pan.gif']) {
      r2[k] = await sample(k);
    }
    // animated-pan.gif kept whole (40 frames of 480x320) is estimated over this CPU budget;
    // the small animations are far under it.
    w = await startWorker({ r2, bindings: { HANDOFF_URL: origin.url, MAX_CPU_MS: '600' } });
  });
  after(async () => {
    await w?.dispose();
    await origin?.stop();
  });

  it('format=auto: an animated WebP with every frame and duration, like the origin', async () => {
    const res = await w.get('/animated-bounce.gif?width=80&format=auto', { headers: { accept: CHROMIUM } });
    assert.equal(res.status, 200, show(res));
    assert.equal(res.headers.get('content-type'), 'image/webp');
    assert.equal(res.headers.get('x-refract-handoff'), null);
    const got = await frames(res.body);
    assert.deepEqual(got.map((f) => f.delay), BOUNCE_DELAYS);
    assert.ok(got.every((f) => f.width === 80 && f.height === 60), JSON.stringify(got));
    const native = await nativeTransform('animated-bounce.gif', 'width=80,format=webp');
    assert.deepEqual((await frames(native)).map((f) => f.delay), BOUNCE_DELAYS);
    const { psnr } = await similarity(res.body, native);
    assert.ok(psnr >= 40, `first frame against the native core: ${psnr} dB`);
  });

  it('a GIF stays a GIF without a format; an animated WebP stays WebP', async () => {
    const gif = await w.get('/animated-bounce.gif?width=80');
    assert.equal(gif.headers.get('content-type'), 'image/gif', show(gif));
    assert.deepEqual((await frames(gif.body)).map((f) => f.delay), BOUNCE_DELAYS);
    const webp = await w.get('/animated-alpha.webp?width=70');
    assert.equal(webp.headers.get('content-type'), 'image/webp', show(webp));
    const got = await frames(webp.body);
    assert.equal(got.length, 10);
    assert.ok(got.every((f) => f.delay === 10 && f.width === 70 && f.height === 50), JSON.stringify(got));
  });

  it('anim=false: the first frame only', async () => {
    const res = await w.get('/animated-bounce.gif?width=80&anim=false&format=png');
    const p = await probe(res.body);
    assert.deepEqual([p.format, p.width, p.height], ['png', 80, 60]);
    assert.equal((await frames(res.body)).length, 1);
  });

  it('format=json counts the frames', async () => {
    const res = await w.get('/animated-bounce.gif?format=json');
    const body = res.json();
    assert.deepEqual([body.original.frames, body.original.animated], [12, true], show(res));
  });

  it('over the edge budget, the origin makes the animation', async () => {
    const res = await w.get('/animated-pan.gif?format=webp');
    assert.equal(res.status, 200, show(res));
    assert.equal(res.headers.get('x-refract-handoff'), 'proxy');
    assert.equal(res.headers.get('content-type'), 'image/webp');
    const got = await frames(res.body);
    assert.equal(got.length, 40);
    assert.ok(got.every((f) => f.delay === 6 && f.width === 480), JSON.stringify(got.slice(0, 2)));
    // Thumbnails of it stay at the edge.
    const small = await w.get('/animated-pan.gif?width=120&format=webp');
    assert.equal(small.headers.get('x-refract-handoff'), null, show(small));
    assert.equal((await frames(small.body)).length, 40);
  });
});
