// Shared request handling for the peer workers: same URL, same R2 input, same response headers.
import { wasmMemoryBytes } from './wasm-memory.mjs';

export const WIDTH = 800;

/**
 * `/<key>?format=webp|avif[&quality=N][&subsample=420]` -> reads <key> from the ORIGINALS R2 bucket and calls
 * `transform(bytes, { format, width, quality, speed, webpMethod }, timing)`, which returns the
 * encoded bytes and may push Server-Timing entries onto `timing`. The response carries the
 * peer's wasm memory: `x-wasm-memory` (total bytes) and `x-wasm-memories` (each memory).
 */
export function handler(transform) {
  return {
    async fetch(request, env) {
      const url = new URL(request.url);
      const key = decodeURIComponent(url.pathname.slice(1));
      const format = url.searchParams.get('format');
      if (format !== 'webp' && format !== 'avif') return new Response('format must be webp or avif', { status: 400 });
      const obj = await env.ORIGINALS.get(key);
      if (!obj) return new Response('no such original', { status: 404 });
      const input = new Uint8Array(await obj.arrayBuffer());
      const opts = {
        format,
        width: WIDTH,
        quality: Number(url.searchParams.get('quality') ?? (format === 'webp' ? env.WEBP_QUALITY : env.AVIF_QUALITY)),
        speed: Number(env.AVIF_SPEED),
        webpMethod: Number(env.WEBP_METHOD),
        // AVIF chroma: `subsample=420` asks for 4:2:0 where the package lets it be chosen.
        subsample420: url.searchParams.get('subsample') === '420',
      };
      try {
        const timing = []; // Server-Timing entries the transform may add
        const out = await transform(input, opts, timing);
        const mem = wasmMemoryBytes();
        return new Response(out, {
          headers: {
            'content-type': format === 'webp' ? 'image/webp' : 'image/avif',
            'x-wasm-memory': String(mem.total),
            'x-wasm-memories': mem.sizes.join(','),
            ...(timing.length ? { 'server-timing': timing.join(', ') } : {}),
          },
        });
      } catch (e) {
        return new Response(`transform failed: ${e && e.stack ? e.stack : e}`, { status: 500 });
      }
    },
  };
}

/** Width and height from a JPEG's SOF marker (no EXIF rotation: the bench inputs have none). */
export function jpegSize(b) {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) { i++; continue; }
    const m = b[i + 1];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      return { height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    }
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
  }
  throw new Error('not a JPEG with a frame header');
}
