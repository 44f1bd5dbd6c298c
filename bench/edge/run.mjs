// Edge benchmark: per-request time of JPEG -> 800 px wide -> WebP / AVIF in workerd (miniflare 4),
// Refract's edge worker against jsquash (Squoosh codecs) and wasm-image-optimization.
//
//   node run.mjs [--contenders refract,jsquash,wio] [--images 2mp=PATH,8mp=PATH,...]
//                [--formats webp,avif] [--warmup 2] [--n 5] [--avif-speed 9]
//                [--webp-quality 80] [--avif-quality 60] [--peer-avif-matched auto|N|'']
//                [--refract-webp-quality 77] [--refract-avif-quality 70]
//                [--fresh-memory 16mp]   (image labels for the fresh-isolate memory pass; '' skips)
//                [--jsquash-420 1]       (an extra jsquash AVIF cell at 4:2:0, Refract's chroma
//                                         for photos; '' skips)
//
// Every contender gets the same original from an R2 binding (ORIGINALS), preloaded through
// miniflare before the first request; the Cache API is off, so every request transforms.
// One Miniflare instance per contender, disposed after its runs. Requests are sequential and
// timed at the client (undici fetch over 127.0.0.1, until the whole body is read). Progress goes
// to stderr, the markdown report to stdout; raw results to out/results.json and the last output
// of each (contender, image, format) to out/outputs/.
import { Miniflare, Log, LogLevel } from 'miniflare';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { buildPeer } from './build.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const CONTENDERS = arg('contenders', 'refract,jsquash,wio').split(',');
const IMAGES = arg('images', `2mp=${ROOT}/samples/baseline.jpg,20mp=${ROOT}/samples/bird-20mp.jpg`)
  .split(',')
  .map((s) => {
    const [label, path] = s.split('=');
    return { label, path, key: `${label}.jpg` };
  });
const FORMATS = arg('formats', 'webp,avif').split(',');
const WARMUP = Number(arg('warmup', '2'));
const N = Number(arg('n', '5'));
const AVIF_SPEED = arg('avif-speed', '9');
const WEBP_QUALITY = arg('webp-quality', '80');
const AVIF_QUALITY = arg('avif-quality', '60');
// Refract's `quality=` is one scale for every format (core/src/quality.rs), mapped onto each
// encoder's own: at the edge's speed 9, Refract 70 is libavif 60.1 (rounded to 60: the same
// cq-level as the peers' 60) and Refract 77 is libwebp 79.7 (the peers' 80). At AVIF speeds
// 0-6 Refract's table differs: pass --refract-avif-quality 76 there (libavif 60.3).
const REFRACT_WEBP_QUALITY = arg('refract-webp-quality', '77');
const REFRACT_AVIF_QUALITY = arg('refract-avif-quality', '70');
// The peers' AVIF once more at the libavif quality whose AV1 quantizer (qindex) is nearest the
// one ravif uses for AVIF_QUALITY: "quality 60" is not the same quantizer in both. `auto`
// computes it (42 for 60); a number forces it; empty skips the extra rows.
const PEER_AVIF_MATCHED = matchedLibavifQuality(arg('peer-avif-matched', 'auto'));
const JSQUASH_420 = arg('jsquash-420', '1');

/** ravif 0.13's quality -> rav1e quantizer (qindex 0-255), from ravif's `quality_to_quantizer`. */
function ravifQindex(quality) {
  const q = quality / 100;
  const x = q >= 0.82 ? (1 - q) * 2.6 : q > 0.25 ? 1 - 0.125 - q * 0.5 : 1 - q;
  return Math.round(x * 255);
}
/** libavif's quality -> libaom quantizer 0-63 -> qindex (libaom's quantizer_to_qindex table). */
function libavifQindex(quality) {
  const quantizer = Math.floor(((100 - quality) * 63 + 50) / 100);
  return quantizer === 63 ? 255 : quantizer * 4;
}
function matchedLibavifQuality(v) {
  if (v !== 'auto') return v;
  const target = ravifQindex(Number(AVIF_QUALITY));
  let best = 0;
  for (let q = 0; q <= 100; q++) {
    // On a tie (several qualities give one quantizer) the highest quality wins.
    if (Math.abs(libavifQindex(q) - target) <= Math.abs(libavifQindex(best) - target)) best = q;
  }
  return String(best);
}
const WEBP_METHOD = '4'; // libwebp method, Refract's edge default; jsquash gets the same
const COMPAT_DATE = '2025-01-01'; // wrangler.toml's
const REFRACT_ENTRY = join(ROOT, 'edge-worker', 'build', 'worker.mjs');
const OUT = join(HERE, 'out');

const log = (...a) => console.error('[edge-bench]', ...a);

// ---- output checks ------------------------------------------------------------------------

function u32be(b, o) {
  return ((b[o] << 24) >>> 0) + (b[o + 1] << 16) + (b[o + 2] << 8) + b[o + 3];
}
function findBox(b, type, from = 0) {
  const t = [...type].map((c) => c.charCodeAt(0));
  for (let i = from; i + 4 <= b.length; i++) {
    if (b[i] === t[0] && b[i + 1] === t[1] && b[i + 2] === t[2] && b[i + 3] === t[3]) return i;
  }
  return -1;
}
/** Format, dimensions (and for AVIF the chroma subsampling) read from the encoded header. */
function probe(b) {
  const ascii = (o, n) => String.fromCharCode(...b.subarray(o, o + n));
  if (ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') {
    const chunk = ascii(12, 4);
    const d = 20;
    if (chunk === 'VP8 ' && b[d + 3] === 0x9d && b[d + 4] === 0x01 && b[d + 5] === 0x2a) {
      return { format: 'webp', width: (b[d + 6] | (b[d + 7] << 8)) & 0x3fff, height: (b[d + 8] | (b[d + 9] << 8)) & 0x3fff, detail: 'lossy' };
    }
    if (chunk === 'VP8L' && b[d] === 0x2f) {
      const bits = b[d + 1] | (b[d + 2] << 8) | (b[d + 3] << 16) | (b[d + 4] << 24);
      return { format: 'webp', width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, detail: 'lossless' };
    }
    if (chunk === 'VP8X') {
      const w = 1 + (b[24] | (b[25] << 8) | (b[26] << 16));
      const h = 1 + (b[27] | (b[28] << 8) | (b[29] << 16));
      const f = b[20];
      const extra = [f & 0x20 && 'ICC', f & 0x10 && 'alpha', f & 0x08 && 'EXIF', f & 0x04 && 'XMP'].filter(Boolean);
      const inner = findBox(b, 'VP8L', 30) >= 0 ? 'lossless' : 'lossy';
      return { format: 'webp', width: w, height: h, detail: `${inner}, VP8X${extra.length ? ' ' + extra.join('+') : ''}` };
    }
    return { format: 'webp?', width: 0, height: 0 };
  }
  if (ascii(4, 4) === 'ftyp' && ['avif', 'avis'].includes(ascii(8, 4))) {
    const i = findBox(b, 'ispe');
    const a = findBox(b, 'av1C');
    let detail = '';
    if (a >= 0) {
      const c = b[a + 6];
      const sx = (c >> 3) & 1;
      const sy = (c >> 2) & 1;
      const mono = (c >> 4) & 1;
      detail = mono ? '4:0:0' : sx && sy ? '4:2:0' : sx ? '4:2:2' : '4:4:4';
    }
    return i >= 0 ? { format: 'avif', width: u32be(b, i + 8), height: u32be(b, i + 12), detail } : { format: 'avif?', width: 0, height: 0, detail };
  }
  return { format: 'unknown', width: 0, height: 0 };
}

/** JPEG SOF dimensions, to compute the expected output height. */
function jpegSize(b) {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) { i++; continue; }
    const m = b[i + 1];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    }
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
  }
  throw new Error('no SOF');
}

// Independent check of the last output of each cell, and its distance to a reference: the
// original resized by libvips (sharp) with Lanczos3 to the same size, without shrink-on-load.
const refs = new Map();
async function reference(path, width, height) {
  const k = `${path}:${width}x${height}`;
  if (!refs.has(k)) {
    refs.set(k, await sharp(path).resize(width, height, { kernel: 'lanczos3', fit: 'fill', fastShrinkOnLoad: false })
      .removeAlpha().raw().toBuffer());
  }
  return refs.get(k);
}
async function verify(body, path) {
  const meta = await sharp(body).metadata();
  const { data, info } = await sharp(body).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const ref = await reference(path, info.width, info.height);
  let se = 0;
  for (let i = 0; i < data.length; i++) se += (data[i] - ref[i]) ** 2;
  const mse = se / data.length;
  return { format: meta.format, width: meta.width, height: meta.height, psnr: 10 * Math.log10((255 * 255) / mse) };
}

// ---- contenders ---------------------------------------------------------------------------

const COMMON_BINDINGS = {
  AVIF_SPEED,
  WEBP_METHOD,
  WEBP_QUALITY,
  AVIF_QUALITY,
};

async function contender(name) {
  if (name === 'refract') {
    if (!existsSync(REFRACT_ENTRY)) throw new Error(`${REFRACT_ENTRY} missing: run bash edge-worker/build.sh`);
    return {
      scriptPath: REFRACT_ENTRY,
      bindings: {
        AVIF_SPEED,
        WEBP_METHOD,
        EXPOSE_MEMORY: 'true',
        MAX_INPUT_BYTES: '104857600',
        MAX_DECODE_PIXELS: '200000000',
        MAX_AVIF_PIXELS: '100000000',
      },
      url: (key, format) =>
        `/${key}?width=800&format=${format}&quality=${format === 'webp' ? REFRACT_WEBP_QUALITY : REFRACT_AVIF_QUALITY}`,
      memoryHeader: 'x-refract-memory',
    };
  }
  const { script } = await buildPeer(name);
  return {
    scriptPath: script,
    bindings: COMMON_BINDINGS,
    url: (key, format) => `/${key}?format=${format}`,
    memoryHeader: 'x-wasm-memory',
  };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function timedFetch(url) {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = new Uint8Array(await res.arrayBuffer());
  const ms = performance.now() - t0;
  return { ms, res, body };
}

function miniflare(c) {
  return new Miniflare({
    modules: true,
    scriptPath: c.scriptPath,
    modulesRoot: dirname(c.scriptPath),
    // As wrangler does for a modules worker: .js files are ES modules (wasm-bindgen's glue).
    modulesRules: [
      { type: 'ESModule', include: ['**/*.js', '**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: COMPAT_DATE,
    r2Buckets: ['ORIGINALS'],
    bindings: c.bindings,
    cache: false,
    host: '127.0.0.1',
    port: 0,
    log: new Log(process.env.MF_DEBUG ? LogLevel.DEBUG : LogLevel.WARN),
  });
}

/**
 * Wasm memory of a fresh isolate after one request per format for `img` alone (memory only
 * grows, so the main run's figures also carry the smaller images before it).
 */
async function freshMemory(name, img, fresh) {
  const c = await contender(name);
  const mf = miniflare(c);
  try {
    const base = await mf.ready;
    await (await mf.getR2Bucket('ORIGINALS')).put(img.key, readFileSync(img.path));
    const row = { contender: name, image: img.label, after: [] };
    for (const format of FORMATS) {
      const r = await timedFetch(new URL(c.url(img.key, format), base).href);
      const p = probe(r.body);
      row.after.push({ format, status: r.res.status, out: `${p.format} ${p.width}×${p.height}`, memory: Number(r.res.headers.get(c.memoryHeader) ?? NaN) });
    }
    fresh.push(row);
    log(`${name} fresh isolate, ${img.label}: ${row.after.map((a) => `${a.format} ${a.status} ${a.out} ${mib(a.memory)} MiB`).join(', ')}`);
  } catch (e) {
    fresh.push({ contender: name, image: img.label, error: String(e.message ?? e) });
  } finally {
    await mf.dispose().catch((e) => log(`${name}: dispose: ${e.message}`));
  }
}

async function runContender(name, results) {
  let c;
  try {
    c = await contender(name);
  } catch (e) {
    log(`${name}: FAILED ${e.message}`);
    results.push({ contender: name, ok: false, error: String(e.message ?? e), image: '*', format: '*' });
    return false;
  }
  log(`${name}: starting workerd (${c.scriptPath})`);
  const mf = miniflare(c);
  try {
    const base = await mf.ready;
    const bucket = await mf.getR2Bucket('ORIGINALS');
    for (const img of IMAGES) await bucket.put(img.key, readFileSync(img.path));
    for (const img of IMAGES) {
      const src = jpegSize(readFileSync(img.path));
      const wantH = Math.round((src.height * 800) / src.width);
      const cells = FORMATS.map((format) => ({ label: name, format, url: c.url(img.key, format) }));
      if (name !== 'refract' && PEER_AVIF_MATCHED && FORMATS.includes('avif')) {
        cells.push({ label: `${name} q${PEER_AVIF_MATCHED}`, format: 'avif', url: `${c.url(img.key, 'avif')}&quality=${PEER_AVIF_MATCHED}` });
      }
      if (name === 'jsquash' && JSQUASH_420 && FORMATS.includes('avif')) {
        cells.push({ label: 'jsquash 4:2:0', format: 'avif', url: `${c.url(img.key, 'avif')}&subsample=420` });
      }
      for (const { label, format, url: path } of cells) {
        const url = new URL(path, base).href;
        const row = { contender: label, image: img.label, src, format, times: [], memory: [], ok: true };
        results.push(row);
        for (let i = 0; i < WARMUP + N; i++) {
          let r;
          try {
            r = await timedFetch(url);
          } catch (e) {
            row.ok = false;
            row.error = `fetch failed: ${e.message}`;
            break;
          }
          if (!r.res.ok) {
            row.ok = false;
            row.error = `HTTP ${r.res.status}: ${new TextDecoder().decode(r.body).slice(0, 400)}`;
            break;
          }
          const mem = Number(r.res.headers.get(c.memoryHeader) ?? NaN);
          row.memory.push(mem);
          row.memoryDetail = r.res.headers.get('x-wasm-memories');
          if (i >= WARMUP && r.res.headers.has('server-timing')) (row.serverTimings ??= []).push(r.res.headers.get('server-timing'));
          if (i === 0) row.first = r.ms;
          if (i >= WARMUP) row.times.push(r.ms);
          const p = probe(r.body);
          row.bytes = r.body.length;
          row.contentType = r.res.headers.get('content-type');
          row.out = p;
          const problems = [];
          if (p.format !== format) problems.push(`output is ${p.format}`);
          if (!row.contentType?.startsWith(`image/${format}`)) problems.push(`content-type ${row.contentType}`);
          if (p.width !== 800) problems.push(`width ${p.width}`);
          if (Math.abs(p.height - wantH) > 1) problems.push(`height ${p.height}, expected ${wantH}`);
          if (i === WARMUP + N - 1) {
            row.sharp = await verify(r.body, img.path);
            const fmt = { webp: 'webp', avif: 'heif' }[format];
            if (row.sharp.format !== fmt || row.sharp.width !== p.width || row.sharp.height !== p.height)
              problems.push(`sharp reads ${row.sharp.format} ${row.sharp.width}x${row.sharp.height}`);
            mkdirSync(join(OUT, 'outputs'), { recursive: true });
            writeFileSync(join(OUT, 'outputs', `${label.replace(' ', '-')}-${img.label}.${format}`), r.body);
          }
          if (problems.length) row.check = problems.join('; ');
        }
        if (row.ok) {
          row.median = median(row.times);
          row.min = Math.min(...row.times);
          const mems = row.memory.filter((m) => Number.isFinite(m));
          row.memPeak = mems.length ? Math.max(...mems) : null;
          log(`${label} ${img.label} ${format}: median ${row.median.toFixed(0)} ms, min ${row.min.toFixed(0)} ms, first ${row.first.toFixed(0)} ms, ${row.bytes} B, ${row.out.width}x${row.out.height} ${row.out.detail ?? ''}, PSNR ${row.sharp.psnr.toFixed(2)} dB, wasm ${row.memPeak ? (row.memPeak / 2 ** 20).toFixed(1) + ' MiB' : '?'}${row.check ? ' CHECK: ' + row.check : ''}`);
        } else {
          log(`${label} ${img.label} ${format}: FAILED ${row.error}`);
        }
      }
    }
  } catch (e) {
    log(`${name}: FAILED ${e.stack ?? e}`);
    results.push({ contender: name, ok: false, error: String(e.message ?? e), image: '*', format: '*' });
  } finally {
    await mf.dispose().catch((e) => log(`${name}: dispose: ${e.message}`));
  }
  return true;
}

// ---- report -------------------------------------------------------------------------------

const mib = (b) => (b == null ? 'n/a' : `${(b / 2 ** 20).toFixed(1)}`);
const ms = (x) => (x == null ? '—' : x.toFixed(0));

function report(results) {
  const lines = [];
  lines.push(`Per request, client-measured, sequential; ${WARMUP} warm-up + ${N} timed requests per cell. ` +
    `WebP quality ${WEBP_QUALITY} (method ${WEBP_METHOD} where settable), AVIF quality ${AVIF_QUALITY}, speed ${AVIF_SPEED}` +
    ` (Refract: quality=${REFRACT_WEBP_QUALITY} for WebP and ${REFRACT_AVIF_QUALITY} for AVIF on its own scale, the same encoder settings)` +
    (PEER_AVIF_MATCHED
      ? `; rows "q${PEER_AVIF_MATCHED}": the peer's AVIF at libavif quality ${PEER_AVIF_MATCHED} (qindex ${libavifQindex(Number(PEER_AVIF_MATCHED))}), ` +
        `the nearest to ravif's quality ${AVIF_QUALITY} (qindex ${ravifQindex(Number(AVIF_QUALITY))}); libavif's own quality ${AVIF_QUALITY} is qindex ${libavifQindex(Number(AVIF_QUALITY))}.`
      : '.'));
  lines.push('');
  lines.push('| image | format | contender | median ms | min ms | first ms | bytes | output | PSNR dB | wasm memory MiB (peak) | Refract ÷ this (median) |');
  lines.push('|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|');
  for (const img of IMAGES) {
    for (const format of FORMATS) {
      const rows = results.filter((r) => r.image === img.label && r.format === format);
      const ref = rows.find((r) => r.contender === 'refract' && r.ok);
      for (const r of rows) {
        const src = r.src ? `${img.label} (${r.src.width}×${r.src.height})` : img.label;
        if (!r.ok) {
          lines.push(`| ${src} | ${format} | ${r.contender} | failed: ${String(r.error).replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 200)} | | | | | | | |`);
          continue;
        }
        const out = `${r.out.format} ${r.out.width}×${r.out.height}${r.out.detail ? ' ' + r.out.detail : ''}${r.check ? ' ⚠ ' + r.check : ''}`;
        const ratio = ref && r.contender !== 'refract' ? (ref.median / r.median).toFixed(2) : '';
        lines.push(`| ${src} | ${format} | ${r.contender} | ${ms(r.median)} | ${ms(r.min)} | ${ms(r.first)} | ${r.bytes} | ${out} | ${r.sharp.psnr.toFixed(2)} | ${mib(r.memPeak)} | ${ratio} |`);
      }
    }
  }
  for (const r of results.filter((x) => x.image === '*')) lines.push(`\n${r.contender} failed: ${r.error}`);
  const detail = results.filter((r) => r.ok && r.memoryDetail && r.memoryDetail.includes(','));
  if (detail.length) {
    lines.push('');
    lines.push('Peers with several wasm memories, MiB each after the last request of the cell:');
    lines.push('');
    for (const r of detail) lines.push(`- ${r.contender} ${r.image} ${r.format}: ${r.memoryDetail.split(',').map((b) => mib(Number(b))).join(' + ')}`);
  }
  return lines.join('\n');
}

const FRESH = arg('fresh-memory', '16mp'); // image label(s) for the fresh-isolate memory pass
const results = [];
const fresh = [];
for (const c of CONTENDERS) {
  if (!(await runContender(c, results))) continue;
  for (const label of FRESH ? FRESH.split(',') : []) {
    const img = IMAGES.find((i) => i.label === label);
    if (img) await freshMemory(c, img, fresh);
  }
}
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'results.json'), JSON.stringify({ results, fresh }, null, 2));
console.log(report(results));
const timed = results.filter((r) => r.ok && r.serverTimings);
if (timed.length) {
  console.log(`\nServer-Timing reported by the worker (median per stage over the timed requests, ms; whole milliseconds as workerd's clock gives them):\n`);
  console.log('| contender | image | format | decode | resize | encode | client median |');
  console.log('|---|---|---|---:|---:|---:|---:|');
  for (const r of timed) {
    const stage = (name) => median(r.serverTimings.map((h) => Number((h.match(new RegExp(`${name};dur=([0-9.]+)`)) ?? [])[1] ?? NaN)));
    console.log(`| ${r.contender} | ${r.image} | ${r.format} | ${ms(stage('decode'))} | ${ms(stage('resize'))} | ${ms(stage('encode'))} | ${ms(r.median)} |`);
  }
}
if (fresh.length) {
  console.log(`\nWasm memory of a fresh isolate (one per contender) after one request per format for one image alone, MiB:\n`);
  console.log(`| image | contender | ${FORMATS.map((f) => `after ${f}`).join(' | ')} |`);
  console.log(`|---|---|${FORMATS.map(() => '---:').join('|')}|`);
  for (const f of fresh) {
    if (f.error) console.log(`| ${f.image} | ${f.contender} | failed: ${f.error} |`);
    else console.log(`| ${f.image} | ${f.contender} | ${f.after.map((a) => (a.status === 200 ? mib(a.memory) : `HTTP ${a.status}`)).join(' | ')} |`);
  }
}
if (results.some((r) => !r.ok || r.check)) process.exitCode = 1;
