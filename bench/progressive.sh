#!/usr/bin/env bash
# Progressive JPEGs decoded at reduced scale (issue 13), natively: Refract's own decoder
# (`new`, core/src/decode/progressive) against jpeg-decoder's scaled decode (`old`, what the
# core used before), one core (`taskset -c 1`), time per decode and peak RSS
# (`/usr/bin/time -v`), each measurement in its own process. Results: BENCHMARKS.md,
# "Progressive JPEG at reduced scale (issue 13)".
#
#   bash bench/progressive.sh              RUNS=7 timed decodes per cell after one warm-up
#
# Images: the samples' progressive photos, and (made here into bench/out/progressive/, once)
# a 16.8 MP progressive photo at 4:2:0 and at 4:4:4 (ImageMagick, from bird-20mp.jpg) and a
# 10000×10000 4:4:4 progressive JPEG of 1.6 MB (libvips: bird-20mp.jpg shrunk to 250×250 and
# enlarged 40 times, so that it is smooth and small). Markdown on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/bench/out/progressive
RUNS=${RUNS:-7}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT"

cargo build -q --release -p refract-core --no-default-features --example progressive_decode
BIN=$TARGET/release/examples/progressive_decode

SRC=$ROOT/samples/bird-20mp.jpg
IM=/usr/bin/convert
[ -s "$OUT/photo-16.8mp-420.jpg" ] ||
    $IM "$SRC" -resize 5016x3344! -quality 90 -sampling-factor 4:2:0 -interlace JPEG "$OUT/photo-16.8mp-420.jpg"
[ -s "$OUT/photo-16.8mp-444.jpg" ] ||
    $IM "$SRC" -resize 5016x3344! -quality 90 -sampling-factor 4:4:4 -interlace JPEG "$OUT/photo-16.8mp-444.jpg"
if [ ! -s "$OUT/big-10000-444.jpg" ]; then
    vips resize "$SRC" "$OUT/small.v" 0.04148 --vscale 0.07373
    vips resize "$OUT/small.v" "$OUT/big.v" 40
    vips jpegsave "$OUT/big.v" "$OUT/big-10000-444.jpg" --Q 30 --interlace --subsample-mode off
    rm -f "$OUT/small.v" "$OUT/big.v"
fi

# file and the shrinks to measure: the one an 800 px output gets (the plan keeps 1.25 times
# the output), and the others for the picture.
cases=(
    "$ROOT/samples/progressive.jpg:2 4 8"
    "$ROOT/samples/bridge-10mp.jpg:4 2 8"
    "$OUT/photo-16.8mp-420.jpg:4 2 8"
    "$OUT/photo-16.8mp-444.jpg:4 2 8"
    "$OUT/big-10000-444.jpg:8 4 2"
)

echo "| file | scale | output | old ms (median / fastest) | new ms (median / fastest) | old peak RSS MiB | new peak RSS MiB | new, accounted peak MiB |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
for c in "${cases[@]}"; do
    file=${c%%:*}
    for shrink in ${c#*:}; do
        declare -A line rss
        for mode in old new; do
            log=$(mktemp)
            line[$mode]=$(taskset -c 1 /usr/bin/time -v "$BIN" "$mode" "$shrink" "$RUNS" "$file" 2>"$log")
            rss[$mode]=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$log")
            rm -f "$log"
        done
        IFS=$'\t' read -r _ name scale size o_med o_min _ _ _ <<<"${line[old]}"
        IFS=$'\t' read -r _ _ _ _ n_med n_min _ _ accounted <<<"${line[new]}"
        echo "| $name | $scale | $size | $o_med / $o_min | $n_med / $n_min | ${rss[old]} | ${rss[new]} | $accounted |"
    done
done
