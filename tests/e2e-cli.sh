#!/usr/bin/env bash
# End to end: `refract transform` on every sample in every output format, checked by an
# independent decoder (ImageMagick): the output must decode, have the reported format and
# size, and look like the same picture as a reference made by ImageMagick from the original.
#   bash tests/e2e-cli.sh path/to/refract
set -euo pipefail
cd "$(dirname "$0")/.."
refract=${1:-target/debug/refract}
[ -x "$refract" ] || cargo build -p refract-server
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0
count=0
for input in samples/*.jpg samples/*.png samples/*.webp samples/*.gif; do
    name=$(basename "$input")
    # Reference: the first frame, upright, 160 px wide at most (never enlarged), on white.
    # Colour: embedded ICC profiles are converted to sRGB, as Refract does.
    /usr/bin/convert "${input}[0]" -auto-orient -profile /usr/share/color/icc/sRGB.icc \
        -filter Lanczos -resize '160x>' -background white -flatten -strip "$out/$name.ref.png"
    ref_size=$(identify -format '%wx%h' "$out/$name.ref.png")
    for fmt in jpeg baseline-jpeg png webp avif; do
        count=$((count + 1))
        dest="$out/$name.$fmt"
        if ! "$refract" transform "$input" "$dest" "width=160,format=$fmt" --avif-speed 10; then
            echo "FAIL $name $fmt: transform failed"; fail=$((fail + 1)); continue
        fi
        magic=$(identify -format '%m' "$dest[0]" 2>/dev/null || echo none)
        want=$(case $fmt in jpeg|baseline-jpeg) echo JPEG;; png) echo PNG;; webp) echo WEBP;; avif) echo AVIF;; esac)
        if [ "$magic" != "$want" ] && ! { [ "$want" = AVIF ] && [ "$magic" = HEIC ]; }; then
            echo "FAIL $name $fmt: ImageMagick reads it as $magic"; fail=$((fail + 1)); continue
        fi
        # ImageMagick 6 drops AVIF alpha; libvips decodes it with alpha.
        if [ "$fmt" = avif ]; then
            vips copy "$dest" "$out/$name.$fmt.decoded.png"
        else
            cp "$dest" "$out/$name.$fmt.decoded.png"
        fi
        /usr/bin/convert "$out/$name.$fmt.decoded.png[0]" -background white -flatten -depth 8 "$out/$name.$fmt.png"
        size=$(identify -format '%wx%h' "$out/$name.$fmt.png")
        if [ "$size" != "$ref_size" ]; then
            echo "FAIL $name $fmt: size $size, reference $ref_size"; fail=$((fail + 1)); continue
        fi
        read -r _ ssim _ psnr < <("$refract" compare "$out/$name.ref.png" "$out/$name.$fmt.png")
        # AVIF at speed 10 on 160 px thumbnails is visibly softer; it gets a looser bound.
        min=0.90; [ "$fmt" = avif ] && min=0.80
        if ! awk -v s="$ssim" -v m="$min" 'BEGIN { exit !(s >= m) }'; then
            echo "FAIL $name $fmt: ssim $ssim psnr $psnr against ImageMagick's reference"; fail=$((fail + 1)); continue
        fi
        printf '%-22s %-14s %-9s ssim %s\n' "$name" "$fmt" "$size" "$ssim"
    done
done
echo "e2e-cli: $((count - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
