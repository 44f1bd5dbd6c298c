// Refract's loader for next/image. In next.config.mjs:
//
//   images: { loader: 'custom', loaderFile: './refract-loader.mjs' }
//
// and set NEXT_PUBLIC_REFRACT_URL to the Refract host (https://img.example.com, the native
// server or the edge worker); without it the URLs stay on the site's own host.
//
// For `<Image src="/photos/cat.jpg" width={800} ... />`, Next.js asks this loader for one URL
// per width of its srcset (its deviceSizes and imageSizes) and gets
//   https://img.example.com/photos/cat.jpg?width=640&format=auto
// Refract then picks AVIF, WebP or JPEG/PNG from the browser's Accept header and never
// enlarges. A `quality` other than Next.js's default (75) is passed as Refract's quality; at 75
// Refract's own default applies. Absolute URLs (another host) are returned untouched: Refract
// serves its own originals only.
//
// Signed deployments: unsigned URLs may carry only `width` (from `signing.allowed_widths`) and
// `format`. Next.js's default widths are exactly Refract's client-hint ladder:
//   signing.allowed_widths = [16, 32, 48, 64, 96, 128, 256, 384, 640, 750, 828, 1080, 1200, 1920, 2048, 3840]
// so every URL this loader makes is served unsigned; a non-default quality needs a signature
// (use a preset instead). See docs/frameworks.md.

/** @param {{ src: string, width: number, quality?: number }} params */
export default function refractLoader({ src, width, quality }) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(src) || src.startsWith('//')) return src;
  const env = typeof process !== 'undefined' ? process.env : {};
  const base = (env.NEXT_PUBLIC_REFRACT_URL ?? '').replace(/\/+$/, '');
  const path = src.startsWith('/') ? src : `/${src}`;
  const params = [`width=${Math.round(width)}`, 'format=auto'];
  if (quality !== undefined && quality !== 75) params.push(`quality=${Math.round(quality)}`);
  return `${base}${path}${path.includes('?') ? '&' : '?'}${params.join('&')}`;
}
