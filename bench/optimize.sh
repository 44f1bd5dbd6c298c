#!/usr/bin/env bash
# Batch optimize (issue 15): `refract optimize` against a small sharp script doing the same
# batch, in one run.
#
#   bash bench/optimize.sh                 R=1 round, JOBS=2, the samples' JPEGs and PNGs
#   R=3 WIDTHS=640,1080 bash bench/optimize.sh
#   IMAGES="bird-20mp.jpg cat-small.jpg" bash bench/optimize.sh
#
# The batch: every image of IMAGES (default: samples/*.jpg and samples/*.png) copied into one
# directory, at WIDTHS (default 640,1080,1920; never larger than the image, its own width when
# it is smaller than all of them) in AVIF, WebP and JPEG (PNG for images with transparency):
#   refract  `refract optimize --jobs $JOBS --widths $WIDTHS --formats avif,webp,jpeg in out`
#            (its defaults: quality 85 on refract's scale, AVIF speed 6, WebP method 4), into an
#            empty directory each round; then once more over the same directory, where
#            everything is up to date (the incremental re-run of a build step)
#   sharp    `node sharp-optimize.mjs in out --widths $WIDTHS --concurrency $JOBS` (sharp's
#            defaults: JPEG q80, WebP q80 effort 4, AVIF q50 effort 4 = libaom speed 5)
# Rounds alternate the two tools. Wall time from `date +%s.%N`; CPU is user+sys of the process
# tree (bash's `time`); output bytes are the images written (not refract's manifests). The
# qualities are each tool's defaults, not matched: BENCHMARKS.md's per-format sections compare
# the encoders at equal quality; this compares the batch tools as they ship.
#
# Writes only under bench/out/optimize/ (results.md, raw.tsv); prints results.md.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
R=${R:-1}
JOBS=${JOBS:-2}
WIDTHS=${WIDTHS:-640,1080,1920}
REFRACT=${REFRACT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/refract}
OUT=$HERE/out/optimize

log() { printf '%s\n' "$*" >&2; }

command -v node >/dev/null || { log "missing node (apt-get install nodejs npm)"; exit 1; }
[[ -d $HERE/node_modules/sharp ]] || (cd "$HERE" && npm ci --no-audit --no-fund >&2)
[[ -x $REFRACT ]] || { log "missing $REFRACT: cargo build --release -p refract-server"; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT/in"
if [[ -n ${IMAGES:-} ]]; then
  for i in $IMAGES; do cp "$ROOT/samples/$i" "$OUT/in/"; done
else
  cp "$ROOT"/samples/*.jpg "$ROOT"/samples/*.png "$OUT/in/"
fi
N_IMAGES=$(find "$OUT/in" -type f | wc -l)
IN_BYTES=$(find "$OUT/in" -type f -printf '%s\n' | awk '{s += $1} END {print s}')

RAW=$OUT/raw.tsv
printf 'tool\tround\twall_s\tcpu_s\toutputs\tbytes\n' >"$RAW"

# timed TOOL ROUND DIR CMD... : runs CMD, appends wall and CPU seconds and DIR's images to raw.tsv.
timed() {
  local tool=$1 round=$2 dir=$3; shift 3
  local tfile=$OUT/time.$$ t0 t1
  local TIMEFORMAT='%3U %3S'
  t0=$(date +%s.%N)
  { time "$@" >"$OUT/$tool.stdout" 2>"$OUT/$tool.stderr"; } 2>"$tfile" || {
    log "failed: $*"; cat "$OUT/$tool.stderr" >&2; exit 1; }
  t1=$(date +%s.%N)
  local files bytes
  files=$(find "$dir" -type f ! -name '*.json' | wc -l)
  bytes=$(find "$dir" -type f ! -name '*.json' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  awk -v t="$tool" -v r="$round" -v a="$t0" -v b="$t1" -v f="$files" -v s="$bytes" \
    '{printf "%s\t%s\t%.2f\t%.2f\t%s\t%s\n", t, r, b - a, $1 + $2, f, s}' "$tfile" >>"$RAW"
  tail -n 1 "$RAW" >&2
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= R; r++)); do
  rm -rf "$OUT/refract" "$OUT/sharp"
  timed refract "$r" "$OUT/refract" "$REFRACT" optimize --jobs "$JOBS" --widths "$WIDTHS" \
    --formats avif,webp,jpeg --quiet "$OUT/in" "$OUT/refract"
  timed sharp "$r" "$OUT/sharp" node "$HERE/sharp-optimize.mjs" "$OUT/in" "$OUT/sharp" \
    --widths "$WIDTHS" --concurrency "$JOBS"
done
timed refract-rerun 1 "$OUT/refract" "$REFRACT" optimize --jobs "$JOBS" --widths "$WIDTHS" \
  --formats avif,webp,jpeg --quiet "$OUT/in" "$OUT/refract"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Per format: outputs and bytes of each tool's last round.
by_format() { # DIR -> "ext count bytes" lines
  find "$1" -type f ! -name '*.json' -printf '%f %s\n' |
    awk '{n = split($1, p, "."); e = p[n]; c[e]++; s[e] += $2} END {for (e in c) print e, c[e], s[e]}' | sort
}

{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"
  echo "load average $LOAD_BEFORE before and $LOAD_AFTER after. $(date -u +%Y-%m-%d)."
  echo "refract $("$REFRACT" --version | cut -d' ' -f2), sharp $(cd "$HERE" && node -e "console.log(require('sharp/package.json').version)"),"
  echo "$N_IMAGES images ($IN_BYTES bytes), widths $WIDTHS, --jobs $JOBS / concurrency $JOBS, R=$R."
  echo
  echo "| tool | round | wall s | CPU s | outputs | bytes out |"
  echo "|---|---|---|---|---|---|"
  tail -n +2 "$RAW" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6}'
  echo
  echo "| format | refract outputs | refract bytes | sharp outputs | sharp bytes |"
  echo "|---|---|---|---|---|"
  join -a1 -a2 -e 0 -o 0,1.2,1.3,2.2,2.3 <(by_format "$OUT/refract") <(by_format "$OUT/sharp") |
    awk '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}'
} >"$OUT/results.md"
cat "$OUT/results.md"
