#!/usr/bin/env bash
# Animated GIF -> animated WebP: Refract's CLI against sharp (`animated: true`), issue 14.
#
#   bash bench/anim.sh                  R=5 cold runs per cell, WARM=5 in-process sharp runs
#   R=7 CORE=1 RITER=40 bash bench/anim.sh
#   TIMING_ONLY=1 bash bench/anim.sh    the timing columns only (rerun on a quieter machine)
#   RQ_OVERRIDE=68 bash bench/anim.sh   Refract at another quality (e.g. to match sharp's bytes)
#
# For each input (samples/animated-pan.gif, samples/animated-bounce.gif) x {full size, 240 px
# wide (never enlarged)} -> animated WebP, pinned with `taskset -c $CORE`:
#   refract  `refract transform -v in out 'width=W,format=webp,quality=$RQ'`, one process, R times
#   sharp    `node sharp-anim.mjs in out W` (quality 75, effort 4), one process, R times
#   refract  `refract bench in spec --iterations $RITER` once: mean per-transform CPU inside one
#            process (from /proc, after one warm-up), without the process start-up
#   sharp    `node sharp-anim.mjs in out W --warm $WARM` once: median per-transform CPU inside
#            one process (process.cpuUsage(), after one warm-up), without node's and sharp's
#            start-up
# Start-up of each tool is measured on a 1x1 GIF -> WebP transform (same code paths, no pixels)
# and subtracted in the "net" column.
#
# Equal settings: sharp's WebP quality 75, effort 4 (its defaults). Refract's `quality=` is on
# its own scale (core/src/quality.rs, the WEBP knots); RQ is the Refract quality whose libwebp
# quality is closest to 75, computed below from that table (69 -> 75.06 on 2026-11-26). Method 4
# is Refract's default.
#
# CPU is user+sys of the process tree from bash's `time` (ms); peak RSS is GNU time's %M (KiB).
# Frames, per-frame durations and loop count come from `webpmux -info` (outputs) and
# ImageMagick's `identify` (inputs). Quality: every output frame, decoded and coalesced by
# ImageMagick (`convert out.webp -coalesce`), against ImageMagick's own coalesced input frames
# resized the same way (`convert in.gif -coalesce -filter Lanczos -resize Wx>`), by
# `refract compare` (SSIM, PSNR); the mean and the minimum over the frames.
# Compositing check: each input at full size through both tools as lossless WebP (refract
# `quality=100`, sharp `lossless: true`); every frame must equal ImageMagick's coalesced frame
# (PSNR inf), which also checks that ImageMagick decodes the animated WebP outputs faithfully.
#
# Writes only under bench/out/anim/ (results.md, raw.tsv, files/); prints results.md.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
R=${R:-5}
WARM=${WARM:-5}
RITER=${RITER:-20}   # refract bench iterations: its CPU comes from /proc in 10 ms ticks
CORE=${CORE:-0}
TIMING_ONLY=${TIMING_ONLY:-}
INPUTS=${INPUTS:-"animated-pan.gif animated-bounce.gif"}
WIDTHS=${WIDTHS:-"0 240"}
SHARP_Q=75
REFRACT=${REFRACT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/refract}
OUT=$HERE/out/anim
CONVERT=/usr/bin/convert   # the real ImageMagick 6, not a stand-in elsewhere on PATH
IDENTIFY=/usr/bin/identify
GNUTIME=/usr/bin/time

log() { printf '%s\n' "$*" >&2; }

for tool in "$CONVERT" "$IDENTIFY" "$GNUTIME" /usr/bin/webpmux /usr/bin/taskset; do
  [[ -x $tool ]] || { log "missing $tool (apt-get install imagemagick webp time util-linux)"; exit 1; }
done
[[ -d $HERE/node_modules/sharp ]] || (cd "$HERE" && npm ci --no-audit --no-fund >&2)
[[ -x $REFRACT ]] || { log "missing $REFRACT: cargo build --release -p refract-server"; exit 1; }

# ---------------------------------------------------------------- Refract's quality for libwebp 75
# The WEBP knots of core/src/quality.rs, interpolated as `encoder_quality` does.
# RQ_OVERRIDE=q runs Refract at q instead (and reports its libwebp quality).
RQ_LINE=$(awk -v want="${RQ_OVERRIDE:-0}" '
  /^const WEBP:/ {on = 1; next}
  on && /^\];/ {on = 0}
  on && /^ *\([0-9]+, *[0-9.]+\),/ {gsub(/[(),]/, " "); n++; k[n] = $1 + 0; v[n] = $2 + 0}
  END {
    best = 0; bestd = 1e9
    for (q = 1; q <= 100; q++) {
      for (i = 1; i <= n; i++) if (q <= k[i]) break
      e = (i == 1 || k[i] == k[i-1]) ? v[i] : v[i-1] + (q - k[i-1]) / (k[i] - k[i-1]) * (v[i] - v[i-1])
      d = e - 75; if (d < 0) d = -d
      if (want > 0) d = (q == want) ? 0 : 1e9
      if (d < bestd) {bestd = d; best = q; beste = e}
    }
    printf "%d %.2f\n", best, beste
  }' "$ROOT/core/src/quality.rs")
read -r RQ RQ_NATIVE <<<"$RQ_LINE"
[[ -n $RQ ]] || { log "could not read the WEBP table of core/src/quality.rs"; exit 1; }

mkdir -p "$OUT/files" "$OUT/frames" "$OUT/tmp"
RAW=$OUT/raw.tsv
printf 'input\twidth\ttool\trun\tcpu_ms\trss_kib\tstderr\n' >"$RAW"

# ---------------------------------------------------------------- helpers
# measure CMD... : runs CMD pinned to $CORE; sets M_CPU (ms), M_RSS (KiB), M_ERR, M_STDOUT.
measure() {
  local tfile=$OUT/tmp/time gfile=$OUT/tmp/gnu efile=$OUT/tmp/err ofile=$OUT/tmp/out
  local TIMEFORMAT='%3U %3S'
  { time "$GNUTIME" -f '%U %S %M' -o "$gfile" taskset -c "$CORE" "$@" >"$ofile" 2>"$efile"; } 2>"$tfile" || {
    log "failed: $*"; cat "$efile" >&2; return 1; }
  M_CPU=$(tail -1 "$tfile" | awk '{printf "%.1f", ($1 + $2) * 1000}')
  M_RSS=$(awk '{print $3}' "$gfile")
  M_ERR=$(tr '\n\t' '  ' <"$efile")
  M_STDOUT=$(cat "$ofile")
}
median() {
  sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2} }'
}
# repeat INPUT WIDTH TOOL CMD... : R runs; sets CPU_MED, RSS_MED, CPUS (all runs), ERRS.
repeat() {
  local in=$1 w=$2 tool=$3; shift 3
  local cpus=() rsss=() i
  ERRS=()
  for ((i = 1; i <= R; i++)); do
    measure "$@"
    cpus+=("$M_CPU"); rsss+=("$M_RSS"); ERRS+=("$M_ERR")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$in" "$w" "$tool" "$i" "$M_CPU" "$M_RSS" "$M_ERR" >>"$RAW"
  done
  CPU_MED=$(printf '%s\n' "${cpus[@]}" | median)
  RSS_MED=$(printf '%s\n' "${rsss[@]}" | median)
  CPUS=$(printf '%s\n' "${cpus[@]}" | sort -g | paste -sd' ')
}
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.0f", a - b}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b <= 0) print "—"; else printf "%.2f", a / b }'; }

# webp_info FILE -> "frames loop durations(ms, space-separated)"
webp_info() {
  webpmux -info "$1" | awk '
    /Loop Count/ {for (i = 1; i <= NF; i++) if ($i == "Count") loop = $(i + 2)}
    /Number of frames/ {n = $NF}
    /^ *[0-9]+:/ {d = d (d == "" ? "" : " ") $7}
    END {print n, loop, d}'
}
# gif_durations FILE -> durations in ms, space-separated
gif_durations() { "$IDENTIFY" -format '%T\n' "$1" | awk '{printf "%s%d", (NR > 1 ? " " : ""), $1 * 10}'; }
gif_loop() { "$IDENTIFY" -verbose "$1" | awk '/Iterations:/ && !seen {print $2; seen = 1}'; }

# similarity OUTPUT REF_DIR -> "ssim_mean ssim_min psnr_mean psnr_min frames_compared"
similarity() {
  local dir=$OUT/frames/$(basename "$1" .webp)
  rm -rf "$dir"; mkdir -p "$dir"
  "$CONVERT" "$1" -coalesce "$dir/f-%02d.png"
  local f ref
  for f in "$dir"/f-*.png; do
    ref=$2/ref-${f##*/f-}
    [[ -f $ref ]] || { echo "nan nan"; continue; }
    "$REFRACT" compare "$ref" "$f" | awk '{print $2, $4}'
  done | awk '
    {n++; s += $1; p += $2; if (n == 1 || $1 < smin) smin = $1; if (n == 1 || $2 < pmin) pmin = $2}
    END {printf "%.4f %.4f %.2f %.2f %d\n", s / n, smin, p / n, pmin, n}'
}

# ---------------------------------------------------------------- machine, versions
cd "$HERE"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
SHARP_VERSIONS=$(node sharp-anim.mjs --versions)
SV=$(node -e "const v=JSON.parse(process.argv[1]); console.log('sharp '+v.sharp+', libvips '+v.vips+', libwebp '+v.webp)" "$SHARP_VERSIONS")
RV=$("$REFRACT" --version)
RWEBP=$(awk '/^name = "libwebp-sys"/ {getline; gsub(/version = |"/, ""); print; exit}' "$ROOT/Cargo.lock")
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -z $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] || COMMIT+=" (work tree has uncommitted changes)"
BIN_DATE=$(date -u -r "$REFRACT" '+%Y-%m-%d %H:%M UTC')
log "load at start: $LOAD_START; refract quality $RQ (libwebp $RQ_NATIVE)"

# Other work on the machine during the runs: every 2 s, the number of rustc/cargo processes and
# the 1-minute load, summarised in the report.
BUSY=$OUT/tmp/busy
: >"$BUSY"
( while :; do echo "$(pgrep -c -x 'rustc|cargo' || true) $(cut -d' ' -f1 /proc/loadavg)" >>"$BUSY"; sleep 2; done ) &
WATCHER=$!
trap 'kill "$WATCHER" 2>/dev/null || true' EXIT

# ---------------------------------------------------------------- start-up baselines
one=$OUT/tmp/one.gif
[[ -s $one ]] || "$CONVERT" -size 1x1 xc:'#808080' "$one"
log "start-up baselines (R=$R)"
repeat 1x1 - refract "$REFRACT" transform "$one" "$OUT/tmp/one.refract.webp" "format=webp,quality=$RQ"
RF_START=$CPU_MED; RF_START_RSS=$RSS_MED
repeat 1x1 - sharp node sharp-anim.mjs "$one" "$OUT/tmp/one.sharp.webp" 0
SH_START=$CPU_MED; SH_START_RSS=$RSS_MED

# ---------------------------------------------------------------- runs
TABLE=()
TIMES=()
STAGES=()
for img in $INPUTS; do
  in=$ROOT/samples/$img
  base=${img%.*}
  in_frames=$("$IDENTIFY" -format '%n\n' "$in" | head -1)
  in_dur=$(gif_durations "$in")
  in_loop=$(gif_loop "$in")
  in_size=$("$IDENTIFY" -format '%Wx%H\n' "$in" | head -1)
  for w in $WIDTHS; do
    label=$([[ $w == 0 ]] && echo "full" || echo "w$w")
    refdir=$OUT/frames/ref-$base-$label
    if [[ -z $TIMING_ONLY ]]; then
      rm -rf "$refdir"; mkdir -p "$refdir"
      if [[ $w == 0 ]]; then
        "$CONVERT" "$in" -coalesce "$refdir/ref-%02d.png"
      else
        "$CONVERT" "$in" -coalesce -filter Lanczos -resize "${w}x>" "$refdir/ref-%02d.png"
      fi
    fi
    spec="format=webp,quality=$RQ"; [[ $w == 0 ]] || spec="width=$w,$spec"
    rout=$OUT/files/$base-$label.refract.webp
    sout=$OUT/files/$base-$label.sharp.webp

    log "$img $label: refract"
    repeat "$img" "$w" refract "$REFRACT" transform -v "$in" "$rout" "$spec"
    r_cpu=$CPU_MED; r_rss=$RSS_MED; r_cpus=$CPUS
    st=$(printf '%s\n' "${ERRS[@]}")
    dec=$(sed -n 's/.*decode \([0-9.]*\) ms.*/\1/p' <<<"$st" | median)
    rsz=$(sed -n 's/.*resize \([0-9.]*\) ms.*/\1/p' <<<"$st" | median)
    enc=$(sed -n 's/.*encode \([0-9.]*\) ms.*/\1/p' <<<"$st" | median)

    log "$img $label: sharp cold"
    repeat "$img" "$w" sharp node sharp-anim.mjs "$in" "$sout" "$w" --quality "$SHARP_Q"
    s_cpu=$CPU_MED; s_rss=$RSS_MED; s_cpus=$CPUS
    log "$img $label: sharp warm"
    measure node sharp-anim.mjs "$in" "$sout" "$w" --quality "$SHARP_Q" --warm "$WARM"
    s_warm=$(node -e "console.log(JSON.parse(process.argv[1]).cpu_ms_median.toFixed(0))" "$M_STDOUT")
    printf '%s\t%s\tsharp-warm\t-\t%s\t%s\t%s\n' "$img" "$w" "$s_warm" "$M_RSS" "$M_STDOUT" >>"$RAW"
    log "$img $label: refract warm"
    measure "$REFRACT" bench "$in" "$spec" --iterations "$RITER"
    r_warm=$(node -e "console.log(JSON.parse(process.argv[1]).cpu_ms.toFixed(0))" "$M_STDOUT")
    printf '%s\t%s\trefract-warm\t-\t%s\t%s\t%s\n' "$img" "$w" "$r_warm" "$M_RSS" "$M_STDOUT" >>"$RAW"

    r_net=$(minus "$r_cpu" "$RF_START"); s_net=$(minus "$s_cpu" "$SH_START")
    TIMES+=("| $base | $label | $(printf '%.0f' "$r_cpu") | $r_net | $r_warm | $(printf '%.0f' "$s_cpu") | $s_net | $s_warm | $(ratio "$r_cpu" "$s_cpu") | $(ratio "$r_warm" "$s_warm") | $(mib "$r_rss") | $(mib "$s_rss") |")
    STAGES+=("| $base | $label | $r_cpus | $s_cpus | $dec / $rsz / $enc |")

    [[ -n $TIMING_ONLY ]] && continue
    for tool in refract sharp; do
      out=$OUT/files/$base-$label.$tool.webp
      bytes=$(stat -c %s "$out")
      read -r frames loop durs <<<"$(webp_info "$out")"
      size=$("$IDENTIFY" -format '%Wx%H\n' "$out" | head -1)
      same_dur=$([[ $durs == "$in_dur" ]] && echo "yes" || echo "NO: $durs")
      read -r smean smin pmean pmin ncmp <<<"$(similarity "$out" "$refdir")"
      TABLE+=("| $base ($in_size, $in_frames fr) | $label | $tool | $size | $bytes | $frames / $in_frames | $same_dur | $loop (GIF $in_loop) | $smean / $smin | $pmean / $pmin |")
    done
  done
done
CHECKS=()
if [[ -z $TIMING_ONLY ]]; then
  for img in $INPUTS; do
    base=${img%.*}; in=$ROOT/samples/$img
    log "$img: lossless compositing check"
    "$REFRACT" transform "$ROOT/samples/$img" "$OUT/files/$base-lossless.refract.webp" "format=webp,quality=100"
    node sharp-anim.mjs "$in" "$OUT/files/$base-lossless.sharp.webp" 0 --lossless
    row="| $base |"
    for tool in refract sharp; do
      read -r _ smin _ pmin ncmp <<<"$(similarity "$OUT/files/$base-lossless.$tool.webp" "$OUT/frames/ref-$base-full")"
      row+=" $ncmp frames, min SSIM $smin, min PSNR $pmin |"
    done
    CHECKS+=("$row")
  done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
kill "$WATCHER" 2>/dev/null || true
BUSY_LINE=$(awk '{n++; if ($1 > 0) b++; if ($2 > m) m = $2} END{printf "%d of %d samples (every 2 s) saw rustc or cargo running; highest 1-minute load %s", b, n, m}' "$BUSY")

# ---------------------------------------------------------------- report
{
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); CPU: $MODEL; nproc: $(nproc); runs pinned to core $CORE (\`taskset -c $CORE\`); load average at start $LOAD_START, at end $LOAD_END; $BUSY_LINE"
  echo "- Refract: $RV (commit $COMMIT, binary built $BIN_DATE), libwebp-sys $RWEBP; \`quality=$RQ\` (libwebp quality $RQ_NATIVE by core/src/quality.rs), method 4"
  echo "- Peer: $SV; \`sharp(buf, { animated: true }).resize({ width, withoutEnlargement: true }).webp({ quality: $SHARP_Q, effort: 4 })\`, concurrency(1), cache(false)"
  echo "- Start-up, a 1×1 GIF → WebP transform (median CPU ms / peak RSS MiB): refract $RF_START / $(mib "$RF_START_RSS"); node + sharp $SH_START / $(mib "$SH_START_RSS")"
  echo
  if [[ -z $TIMING_ONLY ]]; then
    echo "| input | size | tool | output | bytes | frames (out / in) | durations = input's | loop (out, input) | SSIM mean / min | PSNR dB mean / min |"
    echo "|---|---|---|---|---:|---:|---|---|---:|---:|"
    printf '%s\n' "${TABLE[@]}"
    echo
    echo "Compositing check (lossless WebP at full size against ImageMagick's coalesced frames):"
    echo
    echo "| input | refract \`quality=100\` | sharp \`lossless: true\` |"
    echo "|---|---|---|"
    printf '%s\n' "${CHECKS[@]}"
    echo
  fi
  echo "CPU = user+sys ms, median of $R processes. Net = minus the tool's 1×1 start-up. Warm = per-transform CPU in one process after a warm-up: refract \`refract bench --iterations $RITER\` (mean; /proc counts 10 ms ticks, so ±$((10 / RITER + 1)) ms), sharp the median of $WARM. RSS = median peak RSS of the cold processes."
  echo
  echo "| input | size | refract CPU | refract net | refract warm | sharp CPU | sharp net | sharp warm | refract ÷ sharp, cold | refract ÷ sharp, warm | refract RSS MiB | sharp RSS MiB |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${TIMES[@]}"
  echo
  echo "| input | size | refract CPU, all runs | sharp CPU, all runs | refract -v decode / resize / encode ms (wall, median) |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${STAGES[@]}"
} | tee "$OUT/results.md"
