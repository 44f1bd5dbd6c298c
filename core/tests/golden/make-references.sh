#!/usr/bin/env bash
# Regenerates the golden reference images with ImageMagick (an independent implementation),
# so the golden tests check Refract against another program, not against itself.
# Run from anywhere: bash core/tests/golden/make-references.sh   (needs Debian's imagemagick)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
s="$here/../../../samples"
srgb=/usr/share/color/icc/sRGB.icc   # from Debian's icc-profiles-free
im=/usr/bin/convert
cd "$here"
$im "$s/bird-20mp.jpg" -filter Lanczos -resize 400x bird-w400.png
# 4352x2448 at 1/8 is 544x306: an even overflow, so both tools centre on whole pixels.
$im "$s/bridge-10mp.jpg" -filter Lanczos -resize 306x306^ -gravity center -extent 306x306 bridge-cover-306.png
$im "$s/orientation-6.jpg" -auto-orient -filter Lanczos -resize 300x orientation-w300.png
$im "$s/icc-p3.jpg" -profile "$srgb" -strip -filter Lanczos -resize 300x icc-p3-w300.png
$im "$s/cmyk.jpg" -profile "$srgb" -strip -filter Lanczos -resize 300x cmyk-w300.png
$im "$s/grayscale.jpg" -filter Lanczos -resize 300x -type TrueColor grayscale-w300.png
$im "$s/logo-alpha.png" -filter Lanczos -resize 128x logo-w128.png
$im "$s/photo-16bit.png" -filter Lanczos -resize 300x -depth 8 photo16-w300.png
$im "$s/photo.webp" -filter Lanczos -resize 300x photo-webp-w300.png
$im "$s/animated.gif[0]" animated-frame0.png
$im "$s/baseline.jpg" -flop -rotate 90 -filter Lanczos -resize 200x baseline-fliph-rot90-w200.png
$im "$s/baseline.jpg" -crop 1000x800+400+100 +repage -filter Lanczos -resize 200x baseline-trim-w200.png
$im "$s/baseline.jpg" -filter Lanczos -resize 300x325 -background red -gravity center -extent 300x325 baseline-pad-red-300x325.png
$im "$s/palette.png" -filter Lanczos -resize 400x palette-w400.png
$im "$s/alpha-lossless.webp" -filter Lanczos -resize 200x alpha-webp-w200.png
# brightness=0.7,contrast=1.3,gamma=1.4: v*0.7, then (v-0.5)*1.3+0.5, then v^(1/1.4).
$im "$s/baseline.jpg" -filter Lanczos -resize 300x -evaluate multiply 0.7 -function polynomial 1.3,-0.15 -gamma 1.4 baseline-tone-w300.png
# saturation=s: each channel Y + (v - Y)*s with Y = 0.2126 R + 0.7152 G + 0.0722 B, as a matrix.
sat() { awk -v s="$1" 'BEGIN { split("0.2126 0.7152 0.0722", w, " ");
    for (i = 1; i <= 3; i++) for (j = 1; j <= 3; j++) printf "%.6f ", (1 - s) * w[j] + (i == j ? s : 0) }'; }
$im "$s/baseline.jpg" -filter Lanczos -resize 300x -color-matrix "$(sat 1.6)" baseline-saturation-w300.png
$im "$s/baseline.jpg" -filter Lanczos -resize 300x -color-matrix "$(sat 0)" baseline-grey-w300.png
# SVG inputs (tests/svg_golden.rs): librsvg's rsvg-convert, a renderer independent of resvg,
# at the size Refract renders (resvg and librsvg both render straight at that size).
rsvg-convert -w 480 -h 240 -o logo-svg-w480.png "$s/logo.svg"
rsvg-convert -w 120 -h 60 -o logo-svg-w120.png "$s/logo.svg"
rsvg-convert -w 96 -h 96 -o badge-svg-w96.png "$s/badge-alpha.svg"
rsvg-convert -w 256 -h 192 -o icon-svg-w256.png "$s/icon-viewbox.svg"
rsvg-convert -o icon-svg-64.png "$s/icon-viewbox.svg"
# border=10;red after the resize; trim=border (the transparent margin) before it.
$im "$s/baseline.jpg" -filter Lanczos -resize 300x -bordercolor red -border 10 baseline-border-red-w300.png
$im "$s/logo-alpha.png" -trim +repage -filter Lanczos -resize 100x logo-trim-border-w100.png
# Animations: every frame composited by ImageMagick (-coalesce), then the same geometry.
mkdir -p anim
$im "$s/animated-bounce.gif" -coalesce -filter Lanczos -resize 80x anim/bounce-w80-%02d.png
$im "$s/animated-alpha.gif" -coalesce -filter Lanczos -resize 70x anim/alpha-w70-%02d.png
$im "$s/animated-alpha.webp" -coalesce -filter Lanczos -resize 70x anim/alpha-webp-w70-%02d.png
$im "$s/animated-bounce.gif" -coalesce -flop -rotate 90 -filter Lanczos -resize 40x40^ \
  -gravity center -extent 40x40 anim/bounce-geom-%02d.png
ls -la "$here"/*.png
