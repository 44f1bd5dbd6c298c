// One sharp transform, the counterpart of `refract transform <in> <out> <spec>`.
//
//   node sharp-one.mjs <input> <output> <format> [--quality Q] [--warm N]
//   node sharp-one.mjs --noop        load sharp, configure it, exit (startup baseline)
//   node sharp-one.mjs --versions    print sharp.versions as JSON
//
// <format>:
//   jpeg              JPEG q80, sharp defaults: baseline, 4:2:0, optimiseCoding (Huffman) on,
//                     no mozjpeg trellis/scan tricks. Compare with refract `format=baseline-jpeg`.
//   jpeg-progressive  the same with progressive: true. Compare with refract `format=jpeg`.
//   webp              WebP q75, effort 4 (sharp's default, = libwebp method 4).
//   avif              AVIF q50, effort 4 (sharp's defaults; libaom speed 9-4 = 5, 4:4:4, 8-bit).
//
// --quality Q replaces the format's quality above (bench/equal-quality.sh matches scores with it);
// --effort E replaces the WebP/AVIF effort (AVIF: libaom speed = 9 - E, so 0 is speed 9).
// Every format resizes to 800 px wide with sharp's default kernel (lanczos3), never enlarging.
// sharp.concurrency(1) and sharp.cache(false) make it a one-thread, no-cache run, like the CLI.
//
// Cold mode (default): one transform per process; measure the process from outside.
// Warm mode (--warm N): one discarded warm-up transform, then N timed ones in this process;
// prints one JSON line with the per-image CPU (process.cpuUsage(), user+system, all threads)
// and wall time, which leaves out node's and sharp's start-up.

import { readFileSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';

sharp.concurrency(1);
sharp.cache(false);

const args = process.argv.slice(2);

if (args[0] === '--noop') process.exit(0);
if (args[0] === '--versions') {
  console.log(JSON.stringify(sharp.versions));
  process.exit(0);
}

const [input, output, format] = args;
let warm = 0;
const wi = args.indexOf('--warm');
if (wi >= 0) warm = Number.parseInt(args[wi + 1] ?? '5', 10);
const qi = args.indexOf('--quality');
const quality = qi >= 0 ? Number.parseInt(args[qi + 1] ?? '', 10) : undefined;
const ei = args.indexOf('--effort');
const effort = ei >= 0 ? Number.parseInt(args[ei + 1] ?? '', 10) : undefined;
if (!input || !output || !format || Number.isNaN(warm) || Number.isNaN(quality) || Number.isNaN(effort)) {
  console.error('usage: node sharp-one.mjs <input> <output> <jpeg|jpeg-progressive|webp|avif> [--quality Q] [--effort E] [--warm N]');
  process.exit(2);
}

function pipeline(buf) {
  const p = sharp(buf).resize({ width: 800, withoutEnlargement: true });
  switch (format) {
    case 'jpeg':
      return p.jpeg({ quality: quality ?? 80 });
    case 'jpeg-progressive':
      return p.jpeg({ quality: quality ?? 80, progressive: true });
    case 'webp':
      return p.webp({ quality: quality ?? 75, ...(effort === undefined ? {} : { effort }) });
    case 'avif':
      return p.avif({ quality: quality ?? 50, ...(effort === undefined ? {} : { effort }) });
    default:
      console.error(`unknown format ${format}`);
      process.exit(2);
  }
}

async function once() {
  const buf = readFileSync(input);
  const out = await pipeline(buf).toBuffer();
  writeFileSync(output, out);
  return out.length;
}

if (warm <= 0) {
  await once();
} else {
  await once(); // warm-up: first use of the codecs, JIT, allocator growth
  const cpu = [];
  const wall = [];
  let bytes = 0;
  for (let i = 0; i < warm; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    bytes = await once();
    const t1 = process.hrtime.bigint();
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    wall.push(Number(t1 - t0) / 1e6);
  }
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  console.log(JSON.stringify({
    mode: 'warm',
    iterations: warm,
    bytes,
    cpu_ms_median: +median(cpu).toFixed(2),
    wall_ms_median: +median(wall).toFixed(2),
    cpu_ms: cpu.map((x) => +x.toFixed(2)),
    wall_ms: wall.map((x) => +x.toFixed(2)),
  }));
}
