// One animated sharp transform, the counterpart of
// `refract transform in.gif out.webp 'width=W,format=webp,quality=Q'` (bench/anim.sh).
//
//   node sharp-anim.mjs <input> <output.webp> <width|0> [--quality Q] [--lossless] [--warm N]
//   node sharp-anim.mjs --noop        load sharp, configure it, exit (startup baseline)
//   node sharp-anim.mjs --versions    print sharp.versions as JSON
//
// Every frame is read (`animated: true`), resized to <width> px wide with sharp's default
// kernel (lanczos3), never enlarged (0 keeps the size), and written as animated WebP at
// quality Q (75 unless given) and effort 4 (sharp's default, = libwebp method 4). sharp keeps
// the input's frame delays and loop count itself (its `delay` and `loop` metadata).
// --lossless writes lossless WebP instead (bench/anim.sh uses it to check frame compositing).
// sharp.concurrency(1) and sharp.cache(false) make it a one-thread, no-cache run, like the CLI.
//
// Cold mode (default): one transform per process; measure the process from outside.
// Warm mode (--warm N): one discarded warm-up transform, then N timed ones in this process;
// prints one JSON line with the per-transform CPU (process.cpuUsage(), user+system, all
// threads) and wall time, which leaves out node's and sharp's start-up.

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

const [input, output, widthArg] = args;
const width = Number.parseInt(widthArg ?? '', 10);
let warm = 0;
const wi = args.indexOf('--warm');
if (wi >= 0) warm = Number.parseInt(args[wi + 1] ?? '5', 10);
const qi = args.indexOf('--quality');
const quality = qi >= 0 ? Number.parseInt(args[qi + 1] ?? '', 10) : 75;
const lossless = args.includes('--lossless');
if (!input || !output || Number.isNaN(width) || Number.isNaN(warm) || Number.isNaN(quality)) {
  console.error('usage: node sharp-anim.mjs <input> <output.webp> <width|0> [--quality Q] [--lossless] [--warm N]');
  process.exit(2);
}

function pipeline(buf) {
  let p = sharp(buf, { animated: true });
  if (width > 0) p = p.resize({ width, withoutEnlargement: true });
  return p.webp(lossless ? { lossless: true, effort: 4 } : { quality, effort: 4 });
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
