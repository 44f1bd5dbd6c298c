// The sharp counterpart of `refract optimize --jobs 2 <in> <out> --widths W --formats avif,webp,jpeg`
// (bench/optimize.sh): every image of <in> (not recursive: .jpg .jpeg .png .webp .gif .avif)
// at each width not larger than the image (its own width when it is smaller than all of
// them), in AVIF, WebP and JPEG (PNG for images with an alpha channel), written to
// <out>/<stem>-<width>.<ext>.
//
//   node sharp-optimize.mjs <in-dir> <out-dir> [--widths 640,1080,1920] [--concurrency 2]
//
// sharp's defaults for every encoder (JPEG q80, WebP q80 effort 4, AVIF q50 effort 4, PNG
// compression 6), its default kernel (lanczos3), EXIF orientation applied (`rotate()`), output
// in sRGB without metadata (its defaults). Each image is read once and decoded per output
// (a `clone()` of one input pipeline). Concurrency: <concurrency> outputs in flight, each on
// one libvips thread (`sharp.concurrency(1)`), no cache: <concurrency> cores, as `--jobs`.
// Prints one JSON line: outputs, bytes out, images.

import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { extname, basename, join } from 'node:path';
import sharp from 'sharp';

const args = process.argv.slice(2);
const [inDir, outDir] = args;
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const widths = opt('--widths', '640,750,828,1080,1200,1920').split(',').map(Number).sort((a, b) => a - b);
const concurrency = Number.parseInt(opt('--concurrency', '2'), 10);
if (!inDir || !outDir || widths.some(Number.isNaN) || Number.isNaN(concurrency)) {
  console.error('usage: node sharp-optimize.mjs <in-dir> <out-dir> [--widths W,W] [--concurrency N]');
  process.exit(2);
}

sharp.concurrency(1);
sharp.cache(false);
mkdirSync(outDir, { recursive: true });

const exts = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.avif']);
const files = readdirSync(inDir).filter((f) => exts.has(extname(f).toLowerCase())).sort();

// Plan: one task per output, after reading each image's header.
const tasks = [];
for (const f of files) {
  const input = readFileSync(join(inDir, f));
  const meta = await sharp(input).metadata();
  // EXIF orientations 5-8 swap width and height.
  const own = (meta.orientation ?? 1) >= 5 ? meta.height : meta.width;
  let ws = widths.filter((w) => w <= own);
  if (ws.length === 0) ws = [own];
  const fallback = meta.hasAlpha ? 'png' : 'jpeg';
  const stem = basename(f, extname(f));
  const base = sharp(input).rotate();
  for (const format of ['avif', 'webp', fallback]) {
    for (const w of ws) {
      const ext = format === 'jpeg' ? 'jpg' : format;
      tasks.push({ base, w, format, out: join(outDir, `${stem}-${w}.${ext}`) });
    }
  }
}

let next = 0;
let bytes = 0;
async function worker() {
  while (next < tasks.length) {
    const t = tasks[next++];
    const info = await t.base.clone().resize({ width: t.w, withoutEnlargement: true }).toFormat(t.format).toFile(t.out);
    bytes += info.size;
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
console.log(JSON.stringify({ images: files.length, outputs: tasks.length, bytes }));
