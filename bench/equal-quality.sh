#!/usr/bin/env bash
# Refract against sharp at equal perceptual quality (issue 13), natively, one core.
#
#   bash bench/equal-quality.sh                      match the scores, then bench/run.sh
#   MATCH_ONLY=1 bash bench/equal-quality.sh         only the matching (out/equal-quality.tsv)
#   IMAGES="baseline.jpg" FORMATS="avif" R=3 bash bench/equal-quality.sh
#
# 1. For each photo x format, sharp encodes at its usual quality (JPEG q80, WebP q75, AVIF q50,
#    as in bench/run.sh) and its output gets a SSIMULACRA2 score: decoded to 8-bit PNG by the
#    system's libvips and scored against bench/run.sh's reference (ImageMagick's Lanczos resize
#    of the fully decoded original to 800 px) by bench/ssim2 (the `ssimulacra2` crate, 0.5.1).
# 2. Refract's quality for the same (image, format) is the lowest `quality=` (1-100, bisection,
#    `refract transform`) whose output scores at least as high as sharp's, scored the same way.
# 3. bench/run.sh runs with QUALITIES=out/equal-quality.tsv: both tools at their matched
#    qualities, CPU, RSS and bytes as it measures them (cold per process and warm in-process).
#
# The scores assume the score rises with quality; the table in out/equal-quality.md gives each
# tool's score, so a non-monotone step shows. Writes only under bench/out/.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
IMAGES=${IMAGES:-"bird-20mp.jpg bridge-10mp.jpg baseline.jpg"}
FORMATS=${FORMATS:-"jpeg webp avif"}
REFRACT=${REFRACT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/refract}
SSIM2_TARGET=$HOME/.cache/refract/bench-ssim2-target
export SSIM2=$SSIM2_TARGET/release/refract-bench-ssim2
OUT=$HERE/out
EQ=$OUT/equal
TSV=$OUT/equal-quality.tsv

log() { printf '[equal] %s\n' "$*" >&2; }

# Built with the project's locked versions (bench/ssim2/Cargo.lock), offline from cargo's cache.
if [[ ! -x $SSIM2 ]]; then
  log "building bench/ssim2"
  (cd "$HERE/ssim2" && CARGO_TARGET_DIR=$SSIM2_TARGET cargo build --release --locked >&2)
fi
[[ -d $HERE/node_modules/sharp ]] || (cd "$HERE" && npm ci --no-audit --no-fund >&2)
mkdir -p "$EQ" "$OUT/ref"

default_quality() { case $1 in jpeg | jpeg-progressive) echo 80 ;; webp) echo 75 ;; avif) echo 50 ;; esac; }
ext() { case $1 in jpeg | jpeg-progressive) echo jpg ;; *) echo "$1" ;; esac; }
refract_format() { case $1 in jpeg) echo baseline-jpeg ;; jpeg-progressive) echo jpeg ;; *) echo "$1" ;; esac; }

score() { # FILE REF -> SSIMULACRA2
  local png=$EQ/$(basename "$1").png
  vips colourspace "$1" "$png" srgb
  "$SSIM2" "$2" "$png" | cut -f1
}

: >"$TSV"
{
  echo "| image | format | sharp quality | sharp SSIMULACRA2 | sharp bytes | Refract quality | Refract SSIMULACRA2 | Refract bytes | Refract at quality−1 |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
} >"$OUT/equal-quality.md"
for img in $IMAGES; do
  in=$ROOT/samples/$img
  ref=$OUT/ref/${img%.*}.png
  [[ -s $ref ]] || /usr/bin/convert "$in" -filter Lanczos -resize '800x>' "$ref"
  for fmt in $FORMATS; do
    e=$(ext "$fmt"); base=${img%.*}
    sq=$(default_quality "$fmt")
    sout=$EQ/$base.$fmt.sharp-q$sq.$e
    (cd "$HERE" && node sharp-one.mjs "$in" "$sout" "$fmt" --quality "$sq")
    target=$(score "$sout" "$ref")
    declare -A S=() B=()
    at() { # QUALITY: encode with refract, fill S[q] and B[q]
      local q=$1 f=$EQ/$base.$fmt.refract-q$1.$e
      if [[ -z ${S[$q]:-} ]]; then
        "$REFRACT" transform "$in" "$f" "width=800,format=$(refract_format "$fmt"),quality=$q" 2>/dev/null
        S[$q]=$(score "$f" "$ref"); B[$q]=$(stat -c %s "$f")
      fi
    }
    lo=1 hi=100
    at 100
    if awk -v s="${S[100]}" -v t="$target" 'BEGIN{exit !(s < t)}'; then
      log "$img $fmt: refract at 100 scores ${S[100]} < sharp's $target"; q=100
    else
      while ((lo < hi)); do   # lowest q with S[q] >= target
        mid=$(((lo + hi) / 2)); at "$mid"
        if awk -v s="${S[$mid]}" -v t="$target" 'BEGIN{exit !(s >= t)}'; then hi=$mid; else lo=$((mid + 1)); fi
      done
      q=$lo
    fi
    at "$q"; below="—"
    if ((q > 1)); then at $((q - 1)); below="${S[$((q - 1))]} (${B[$((q - 1))]} B)"; fi
    log "$img $fmt: sharp q$sq scores $target ($(stat -c %s "$sout") B); refract q$q scores ${S[$q]} (${B[$q]} B)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$img" "$fmt" "$q" "$sq" "${S[$q]}" "$target" >>"$TSV"
    echo "| $img | $fmt | $sq | $target | $(stat -c %s "$sout") | $q | ${S[$q]} | ${B[$q]} | $below |" >>"$OUT/equal-quality.md"
    unset S B
  done
done
cat "$OUT/equal-quality.md"
[[ -n ${MATCH_ONLY:-} ]] && exit 0
echo
QUALITIES=$TSV IMAGES="$IMAGES" FORMATS="$FORMATS" REFRACT="$REFRACT" bash "$HERE/run.sh"
