// wasm-image-optimization (Skia + libwebp + libavif/libaom, one emscripten module): its own
// workerd entry, given the compiled wasm module explicitly.
import './wasm-memory.mjs'; // must run before any instance is created
import { handler, jpegSize } from './common.mjs';
import { ImageConverter } from 'wasm-image-optimization/workerd';
import wioWasm from 'wasm-image-optimization/wasm-image-optimization.wasm';

let converter;

export default handler(async (input, o) => {
  converter ??= await ImageConverter.create(wioWasm);
  // Resize: Skia drawImageRect with SkFilterMode::kLinear (bilinear, no mipmaps). Width and
  // height are both given, with fit 'fill', because its 'contain' computes the output size in
  // float and truncates: a width of 800 alone gives 799x450 for 6028x3391 and 5333x3000. The
  // height is the one the other contenders compute, so the aspect ratio is kept.
  // WebP: SkWebpEncoder (libwebp method 3, fixed). AVIF: libavif YUV 4:4:4, `speed` as is.
  const header = jpegSize(input);
  const r = await converter.optimizeImage({
    image: input,
    width: o.width,
    height: Math.max(1, Math.round((header.height * o.width) / header.width)),
    fit: 'fill',
    format: o.format,
    quality: o.quality,
    speed: o.speed,
  });
  return r.data;
});
