#!/usr/bin/env bash
# Makes the synthetic animation samples (samples/README.md, "Animations"): deterministic, run
# again with the same tool versions they give byte-identical files.
# Needs Debian's imagemagick (ImageMagick 6, /usr/bin/convert) and webp (img2webp).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
IM=/usr/bin/convert
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# animated-bounce: a ball and a growing bar over a gradient, 12 frames (500 ms, then 80 ms
# each), played 3 times; optimised to sub-rectangles with transparency.
$IM -size 160x120 gradient:'#2060c0-#80e0ff' bg.png
for i in $(seq 0 11); do
  x=$((20 + i * 11)); y=$((30 + (i % 6) * 10))
  $IM bg.png -fill '#ff4020' -draw "circle $x,$y $((x + 14)),$y" \
    -fill '#20a040' -draw "rectangle 10,100 $((20 + i * 5)),112" "b$(printf %02d "$i").png"
done
$IM -delay 50 b00.png -delay 8 b0[1-9].png b1[01].png -loop 3 -layers Optimize \
  "$here/animated-bounce.gif"
# The same frames as an animated WebP written by libwebp's own tool (lossy, sub-frames).
img2webp -loop 3 -lossy -q 90 -d 500 b00.png -d 80 b0[1-9].png b1[01].png \
  -o "$here/animated-bounce.webp" >/dev/null 2>&1

# animated-alpha: a translucent disc crossing a transparent canvas, 10 frames of 100 ms,
# disposed to the background, forever.
for i in $(seq 0 9); do
  x=$((10 + i * 12))
  $IM -size 140x100 xc:none -fill '#3050ffc0' -draw "circle $x,50 $((x + 18)),50" "a$i.png"
done
$IM -loop 0 -dispose Background -delay 10 a?.png -layers Optimize "$here/animated-alpha.gif"
# The same frames as a lossless animated WebP: translucent (alpha 0xc0), each frame disposed
# to the background, which ANIM says is opaque white and browsers clear to transparent.
img2webp -loop 0 -lossless -d 100 a?.png -o "$here/animated-alpha.webp" >/dev/null 2>&1

# animated-pan: a 40-frame pan across baseline.jpg at 480x320, 60 ms a frame, forever; each
# frame quantized and dithered by ImageMagick: photographic GIF content for the benchmark.
for i in $(seq 0 39); do
  $IM "$here/baseline.jpg" -crop "960x640+$((i * 15))+$((i * 10))" +repage \
    -filter Lanczos -resize 480x320 "p$(printf %02d "$i").png"
done
$IM -delay 6 -loop 0 p*.png -layers Optimize "$here/animated-pan.gif"
ls -la "$here"/animated-*
