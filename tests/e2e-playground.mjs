// The playground in headless Chromium, driven over the DevTools protocol on a pipe (no npm
// dependency): `refract serve` over a temporary copy of a few samples, with an upload token.
//
// Asserts: the page loads with no console error, CSP violation or uncaught exception; typing
// width 300 fetches an image whose naturalWidth is 300 (the sample is 6028 px wide) and the
// bytes shown equal the response's Content-Length and body size; the JPEG/WebP/AVIF table
// fills with sizes and SSIM; an upload through the page under a key full of markup shows the key
// as text (no element made of it); the copied <img srcset> and <picture> snippets load in a
// plain page. Writes a screenshot and prints its path.
//
// Usage: node tests/e2e-playground.mjs <refract binary> [output dir]
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = process.argv[2];
if (!bin) throw new Error('usage: node tests/e2e-playground.mjs <refract binary> [output dir]');
const outDir = resolve(process.argv[3] || join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'test-output', 'playground'));
mkdirSync(outDir, { recursive: true });
const TOKEN = 'playground-e2e-token-0123';
const STEP_TIMEOUT_MS = 180_000;
// What Chromium sends for <img> (the page sends the same, so format=auto negotiates alike).
const IMAGE_ACCEPT = 'image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8';

const work = mkdtempSync(join(tmpdir(), 'refract-playground-'));
const originals = join(work, 'originals');
mkdirSync(originals);
for (const name of ['bird-20mp.jpg', 'cat-small.jpg', 'logo-alpha.png']) {
  copyFileSync(join(root, 'samples', name), join(originals, name));
}

const children = [];
let failed = false;
/** Stops Chromium and the server (waiting for them), then removes the temporary directory. */
async function shutdown() {
  await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null
    ? null : new Promise((ok) => { c.once('exit', ok); c.kill('SIGTERM'); }))));
  rmSync(work, { recursive: true, force: true, maxRetries: 3 });
}
// On an uncaught failure: stop the children at once; the directory may stay behind.
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  try { rmSync(work, { recursive: true, force: true }); } catch (_) { /* a child still writing */ }
});
const fail = (message) => {
  failed = true;
  console.error(`e2e-playground: FAIL: ${message}`);
};
const check = (cond, message) => { if (!cond) fail(message); };

// --- refract serve -----------------------------------------------------------------------------

async function startServer() {
  const env = { ...process.env, REFRACT_LOG: 'warn', REFRACT_DATA_DIR: join(work, 'data'),
    REFRACT_ORIGINALS: originals, REFRACT_UPLOAD__TOKEN: TOKEN };
  delete env.REFRACT_CONFIG;
  const server = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0'],
    { env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(server);
  const line = await new Promise((ok, ko) => {
    let buf = '';
    server.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) ok(buf.slice(0, nl));
    });
    server.on('exit', (code) => ko(new Error(`refract serve exited (${code}) before it was ready`)));
  });
  server.stdout.resume();
  const http = /http=(\S+)/.exec(line);
  if (!http) throw new Error(`unexpected ready line: ${line}`);
  return `http://${http[1]}`;
}

// --- Chromium over --remote-debugging-pipe (fd 3: commands in, fd 4: events and replies out) --

function startChromium() {
  const chromium = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--remote-debugging-pipe', `--user-data-dir=${join(work, 'profile')}`, 'about:blank'],
  { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
  children.push(chromium);
  const toBrowser = chromium.stdio[3];
  const fromBrowser = chromium.stdio[4];
  let nextId = 1;
  const pending = new Map();
  const listeners = [];
  let buf = Buffer.alloc(0);
  fromBrowser.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    let end;
    while ((end = buf.indexOf(0)) >= 0) {
      const msg = JSON.parse(buf.subarray(0, end).toString('utf8'));
      buf = buf.subarray(end + 1);
      if (msg.id && pending.has(msg.id)) {
        const { ok, ko, method } = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) ko(new Error(`${method}: ${msg.error.message}`));
        else ok(msg.result);
      } else if (msg.method) {
        for (const l of listeners) l(msg);
      }
    }
  });
  const send = (method, params = {}, sessionId) => new Promise((ok, ko) => {
    const id = nextId++;
    pending.set(id, { ok, ko, method });
    toBrowser.write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
  });
  return { send, on: (l) => listeners.push(l), process: chromium };
}

// --- the test ------------------------------------------------------------------------------------

const origin = await startServer();
const browser = startChromium();
const { targetId } = await browser.send('Target.createTarget', { url: 'about:blank' });
const { sessionId } = await browser.send('Target.attachToTarget', { targetId, flatten: true });
const page = (method, params) => browser.send(method, params, sessionId);

const problems = [];
const responses = new Map(); // url → { requestId, headers, status }
browser.on((msg) => {
  if (msg.sessionId !== sessionId) return;
  const p = msg.params;
  if (msg.method === 'Runtime.consoleAPICalled' && (p.type === 'error' || p.type === 'assert')) {
    problems.push(`console.${p.type}: ${p.args.map((a) => a.value ?? a.description).join(' ')}`);
  } else if (msg.method === 'Runtime.exceptionThrown') {
    problems.push(`exception: ${p.exceptionDetails.exception?.description ?? p.exceptionDetails.text}`);
  } else if (msg.method === 'Log.entryAdded' && p.entry.level === 'error') {
    problems.push(`log (${p.entry.source}): ${p.entry.text} ${p.entry.url ?? ''}`);
  } else if (msg.method === 'Network.responseReceived') {
    responses.set(p.response.url, { requestId: p.requestId, headers: p.response.headers, status: p.response.status });
  } else if (msg.method === 'Network.loadingFailed' && !p.canceled) {
    problems.push(`request failed: ${p.errorText} (${p.blockedReason ?? ''}${p.corsErrorStatus?.corsError ?? ''})`);
  }
});
await page('Runtime.enable');
await page('Log.enable');
await page('Network.enable');
await page('Page.enable');
await page('Emulation.setDeviceMetricsOverride', { width: 1280, height: 1500, deviceScaleFactor: 1, mobile: false });

/** Evaluates `expr` in the page (awaiting a promise) and returns its value. */
async function evaluate(expr) {
  const r = await page('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true });
  if (r.exceptionDetails) throw new Error(`in page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
  return r.result.value;
}

/** Resolves once `predicate` (a page expression) is truthy, checked on every DOM change; fails
 * at once when the page shows an error. */
function waitFor(predicate, what) {
  return evaluate(`new Promise((ok, ko) => {
    const test = () => { try { return (${predicate}); } catch (_) { return false; } };
    const broken = () => document.body && document.body.dataset.state === 'error'
      ? new Error(${JSON.stringify(`the page failed while waiting for ${what}: `)} + document.getElementById('error').textContent)
      : null;
    if (test()) return ok(true);
    const obs = new MutationObserver(() => {
      const e = broken();
      if (e) { obs.disconnect(); clearTimeout(t); ko(e); }
      else if (test()) { obs.disconnect(); clearTimeout(t); ok(true); }
    });
    obs.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    const t = setTimeout(() => { obs.disconnect(); ko(new Error(${JSON.stringify(`timed out waiting for ${what}`)})); }, ${STEP_TIMEOUT_MS});
  })`);
}

const pageUrl = `${origin}/_refract/playground/`;
await page('Page.navigate', { url: pageUrl });
await waitFor(`document.readyState === 'complete' && document.body.dataset.state === 'ready'
  && document.getElementById('formats').dataset.state === 'done'`, 'the first sample');
check(await evaluate(`document.getElementById('sample').value`) === 'bird-20mp.jpg', 'the default sample is bird-20mp.jpg');

// Width 300, typed as a user would.
await evaluate(`(() => { const w = document.getElementById('width'); w.focus(); w.select(); })()`);
await page('Input.insertText', { text: '300' });
await waitFor(`document.body.dataset.state === 'ready'
  && (document.getElementById('result-bytes').dataset.url || '').includes('width=300')
  && document.getElementById('formats').dataset.state === 'done'`, 'the 300 px result and its table');

const shown = await evaluate(`(() => {
  const img = document.getElementById('result');
  const t = (id) => document.getElementById(id).textContent;
  const rows = [...document.querySelectorAll('#formats tbody tr')].map((r) => ({
    format: r.dataset.format, bytes: Number(r.querySelector('.bytes').dataset.bytes),
    dims: r.querySelector('.dims').textContent, ssim: Number(r.querySelector('.ssim').textContent) }));
  return { natural: [img.naturalWidth, img.naturalHeight], bytes: Number(document.getElementById('result-bytes').dataset.bytes),
    url: document.getElementById('result-bytes').dataset.url, dims: t('dimensions'), saved: t('saved'),
    timing: t('server-timing'), type: t('content-type'), rows,
    query: document.getElementById('url-query').value, cdn: document.getElementById('url-cdn').value,
    img: document.getElementById('snippet-img').value, picture: document.getElementById('snippet-picture').value };
})()`);
console.log(`e2e-playground: result ${shown.natural.join('x')} ${shown.type} ${shown.bytes} B, saved ${shown.saved}, timing "${shown.timing}"`);
check(shown.natural[0] === 300, `naturalWidth ${shown.natural[0]}, expected 300`);
check(shown.dims === `${shown.natural[0]} × ${shown.natural[1]}`, `dimensions shown "${shown.dims}" differ from the image's`);
const res = responses.get(new URL(shown.url, origin).href);
check(res && res.status === 200, `no 200 response seen for ${shown.url}`);
if (res) {
  const length = Number(res.headers['content-length'] ?? res.headers['Content-Length']);
  check(length === shown.bytes, `bytes shown ${shown.bytes} != Content-Length ${length}`);
  // The same request again, from here: the body (the same variant, by its ETag) has the
  // size the page shows.
  const again = await fetch(new URL(shown.url, origin), { headers: { Accept: IMAGE_ACCEPT } });
  const size = (await again.arrayBuffer()).byteLength;
  check(again.headers.get('etag') === res.headers.etag, `ETag ${again.headers.get('etag')} != ${res.headers.etag}`);
  check(size === shown.bytes, `bytes shown ${shown.bytes} != body size ${size}`);
  const type = res.headers['content-type'];
  check(type === shown.type && type === 'image/avif', `type shown "${shown.type}", response "${type}" (expected AVIF for Chromium's Accept)`);
  check(shown.timing !== 'not sent' && shown.timing.includes('ms'), `server timing shown: "${shown.timing}"`);
}
for (const row of shown.rows) {
  console.log(`e2e-playground: ${row.format}: ${row.bytes} B, ${row.dims}, SSIM ${row.ssim}`);
  check(row.bytes > 0, `${row.format}: no size`);
  check(row.dims === shown.dims, `${row.format}: dimensions ${row.dims}`);
  check(row.ssim > 0.8 && row.ssim <= 1, `${row.format}: SSIM ${row.ssim}`);
}
check(shown.query === `${origin}/bird-20mp.jpg?width=300&format=auto`, `query URL ${shown.query}`);
check(shown.cdn === `${origin}/cdn-cgi/image/width=300,format=auto/bird-20mp.jpg`, `cdn-cgi URL ${shown.cdn}`);

// The copy button puts the snippet on the clipboard.
await browser.send('Browser.grantPermissions', { origin, permissions: ['clipboardReadWrite', 'clipboardSanitizedWrite'] });
await evaluate(`document.querySelector('button[data-copy="snippet-img"]').click()`);
await waitFor(`document.getElementById('snippet-img').dataset.copied === 'yes'`, 'the copy');
const clipboard = await evaluate('navigator.clipboard.readText()');
check(clipboard === shown.img, `the clipboard holds ${JSON.stringify(clipboard.slice(0, 80))}…, not the snippet`);

const screenshot = join(outDir, 'playground.png');
const shot = await page('Page.captureScreenshot', { format: 'png' });
writeFileSync(screenshot, Buffer.from(shot.data, 'base64'));
console.log(`e2e-playground: screenshot ${screenshot}`);

// An upload through the page, under a key made of markup: it must come back as text.
const key = 'uploads/<b id="injected">x</b>"\'.jpg';
const { root: doc } = await page('DOM.getDocument', {});
const { nodeId } = await page('DOM.querySelector', { nodeId: doc.nodeId, selector: '#upload-file' });
await page('DOM.setFileInputFiles', { nodeId, files: [join(originals, 'cat-small.jpg')] });
await evaluate(`(() => {
  document.getElementById('upload-box').open = true;
  document.getElementById('upload-key').value = ${JSON.stringify(key)};
  document.getElementById('upload-token').value = ${JSON.stringify(TOKEN)};
  document.getElementById('upload').click();
})()`);
await waitFor(`document.getElementById('upload-status').textContent.startsWith('Uploaded')
  && document.getElementById('sample').value === ${JSON.stringify(key)}
  && document.body.dataset.state === 'ready' && document.getElementById('formats').dataset.state === 'done'`, 'the upload');
const after = await evaluate(`({ injected: document.getElementById('injected') !== null, width: document.getElementById('result').naturalWidth,
  option: document.getElementById('sample').selectedOptions[0].textContent })`);
check(!after.injected, 'the key became markup');
check(after.width === 300, `uploaded image at width ${after.width}`);
check(after.option.startsWith(key), `the option reads "${after.option}"`);

// The snippets, pasted into a plain page, load.
for (const [name, html] of [['img', shown.img], ['picture', shown.picture]]) {
  const file = join(work, `${name}.html`);
  writeFileSync(file, `<!doctype html><title>${name}</title><body>${html}</body>`);
  const loaded = new Promise((ok) => browser.on((msg) => {
    if (msg.sessionId === sessionId && msg.method === 'Page.loadEventFired') ok();
  }));
  await page('Page.navigate', { url: `file://${file}` });
  await loaded;
  await evaluate(`new Promise((ok, ko) => { const i = document.querySelector('img');
    if (i.complete) return i.naturalWidth ? ok() : ko(new Error('broken'));
    i.addEventListener('load', () => ok()); i.addEventListener('error', () => ko(new Error('error loading ' + i.currentSrc))); })`);
  const got = await evaluate(`(() => { const i = document.querySelector('img'); return [i.currentSrc, i.naturalWidth]; })()`);
  console.log(`e2e-playground: the ${name} snippet loaded ${got[0]} (${got[1]} px)`);
  check(got[1] > 0 && got[0].startsWith(`${origin}/bird-20mp.jpg?width=`), `${name} snippet: ${got}`);
}

if (problems.length) fail(`console errors:\n  ${problems.join('\n  ')}`);
await shutdown();
if (failed) process.exit(1);
console.log('e2e-playground: ok');
process.exit(0);
