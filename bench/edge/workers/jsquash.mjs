// Squoosh's codecs as packaged by jsquash: mozjpeg decode -> squoosh resize (Lanczos3) ->
// libwebp or libavif (libaom) encode. Each wasm file is imported as a compiled module (workerd
// cannot compile wasm from bytes) and handed to the package's init function.
import './wasm-memory.mjs'; // must run before any instance is created
import { handler } from './common.mjs';
import decodeJpeg, { init as initJpegDecode } from '@jsquash/jpeg/decode.js';
import resize, { initResize } from '@jsquash/resize';
import encodeWebp, { init as initWebpEncode } from '@jsquash/webp/encode.js';
import encodeAvif, { init as initAvifEncode } from '@jsquash/avif/encode.js';
import { simd } from 'wasm-feature-detect';

import jpegDecWasm from '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm';
import resizeWasm from '@jsquash/resize/lib/resize/pkg/squoosh_resize_bg.wasm';
import webpEncSimdWasm from '@jsquash/webp/codec/enc/webp_enc_simd.wasm';
import webpEncWasm from '@jsquash/webp/codec/enc/webp_enc.wasm';
import avifEncWasm from '@jsquash/avif/codec/enc/avif_enc.wasm';

let ready;
function init() {
  ready ??= (async () => {
    // @jsquash/webp picks its SIMD build when wasm-feature-detect says SIMD works: give it the
    // matching module. @jsquash/avif picks the single-threaded build in Cloudflare Workers.
    const webpWasm = (await simd()) ? webpEncSimdWasm : webpEncWasm;
    await Promise.all([
      initJpegDecode(jpegDecWasm),
      initResize(resizeWasm),
      initWebpEncode(webpWasm),
      initAvifEncode(avifEncWasm),
    ]);
  })();
  return ready;
}

export default handler(async (input, o, timing) => {
  await init();
  let t = performance.now();
  const lap = (name) => {
    const now = performance.now();
    timing.push(`${name};dur=${(now - t).toFixed(1)}`);
    t = now;
  };
  const img = await decodeJpeg(input);
  lap('decode');
  const height = Math.max(1, Math.round((img.height * o.width) / img.width));
  // Lanczos3 in gamma space without premultiplication, as Refract does for an opaque JPEG
  // (jsquash's defaults would also convert to linear light and premultiply: more work).
  const small = await resize(img, {
    width: o.width,
    height,
    method: 'lanczos3',
    fitMethod: 'stretch',
    premultiply: false,
    linearRGB: false,
  });
  lap('resize');
  const out =
    o.format === 'webp'
      ? await encodeWebp(small, { quality: o.quality, method: o.webpMethod })
      : // subsample 3 = YUV 4:4:4, as wasm-image-optimization encodes (and Refract did with
        // rav1e); 1 = 4:2:0, jsquash's default and Refract's for photos since issue 13.
        await encodeAvif(small, { quality: o.quality, speed: o.speed, subsample: o.subsample420 ? 1 : 3 });
  lap('encode');
  return out;
});
