#!/usr/bin/env bash
# Refract's CLI against sharp (npm), one core, one image per process.
#
#   bash bench/run.sh                 R=5 repeats, median
#   R=3 WARM=5 CORE=0 bash bench/run.sh
#   IMAGES="baseline.jpg" FORMATS="jpeg webp" bash bench/run.sh
#   QUALITIES=out/equal-quality.tsv bash bench/run.sh   per-image qualities, from
#                                     bench/equal-quality.sh (which runs it so)
#
# For each photo x output it runs, pinned with `taskset -c $CORE`:
#   refract  `refract transform -v in out spec`, one process per image, R times
#   sharp    `node sharp-one.mjs in out fmt`, one process per image (cold), R times
#   sharp    `node sharp-one.mjs in out fmt --warm $WARM` once: per-image CPU inside one process
#            (process.cpuUsage(), after one warm-up), which leaves out node + sharp start-up
# and the start-up of each tool alone (`refract --version`, `node -e ''`, `node sharp-one.mjs
# --noop`), which the "net" column subtracts.
#
# CPU is user+sys of the child process tree from getrusage: bash's `time` keyword gives it in
# ms (GNU time prints only 1/100 s, too coarse for ~10 ms runs). Peak RSS is /usr/bin/time's %M
# (KiB, the largest process of the tree). Both come from the same run; GNU time's own %U+%S is
# kept in out/raw.tsv as a cross-check.
#
# Quality: every output is decoded to 8-bit PNG by the system's libvips (`vips colourspace`;
# sharp's prebuilt libvips cannot decode 10-bit AVIF, which is what refract writes) and
# compared by `refract compare` with a common reference: the original, fully decoded and
# resized to 800 px wide (never enlarged) by ImageMagick (Lanczos). With bench/ssim2 built
# (bench/equal-quality.sh builds it), the table also gives SSIMULACRA2 against that reference.
#
# QUALITIES (optional): a TSV file of `image format refract_quality sharp_quality [score...]`
# lines; each (image, format) found there runs at those qualities instead of the fixed ones.
#
# Writes out/results.md (and prints it), out/raw.tsv (every run), out/files/ (outputs).
# Only files under bench/out/ are written. Network: npm registry (npm ci) and Debian's
# mirrors (apt-get), only when something is missing.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
R=${R:-5}
WARM=${WARM:-5}
CORE=${CORE:-0}
IMAGES=${IMAGES:-"bird-20mp.jpg bridge-10mp.jpg baseline.jpg"}
FORMATS=${FORMATS:-"jpeg jpeg-progressive webp avif"}
REFRACT=${REFRACT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/refract}
QUALITIES=${QUALITIES:-}
[[ -z $QUALITIES ]] || QUALITIES=$(realpath "$QUALITIES")   # the runs below cd into bench/
SSIM2=${SSIM2:-$HOME/.cache/refract/bench-ssim2-target/release/refract-bench-ssim2}
OUT=$HERE/out
CONVERT=/usr/bin/convert   # the real ImageMagick, not a stand-in elsewhere on PATH
GNUTIME=/usr/bin/time

log() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- dependencies
apt_missing=()
[[ -x $CONVERT ]] || apt_missing+=(imagemagick)
[[ -x $GNUTIME ]] || apt_missing+=(time)
command -v vips >/dev/null || apt_missing+=(libvips-tools)
command -v taskset >/dev/null || apt_missing+=(util-linux)
command -v node >/dev/null || apt_missing+=(nodejs npm)
if ((${#apt_missing[@]})); then
  log "installing ${apt_missing[*]} with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi
if [[ ! -d $HERE/node_modules/sharp ]]; then
  log "npm ci in bench/"
  (cd "$HERE" && npm ci --no-audit --no-fund >&2)
fi
(cd "$HERE" && node -e "require('sharp')") || { log "sharp does not load"; exit 1; }
if [[ ! -x $REFRACT ]]; then
  log "building refract (cargo build --release -p refract-server)"
  (cd "$ROOT" && cargo build --release -p refract-server >&2)
fi

mkdir -p "$OUT/files" "$OUT/ref" "$OUT/png" "$OUT/tmp"
RAW=$OUT/raw.tsv
printf 'image\tformat\ttool\trun\tcpu_ms\trss_kib\tgnu_time_cpu_ms\tstages\n' >"$RAW"

# ---------------------------------------------------------------- helpers
# measure LABEL CMD... : runs CMD pinned to $CORE; sets M_CPU (ms), M_RSS (KiB), M_GNU (ms),
# M_ERR (the command's stderr) and M_STDOUT (its stdout).
measure() {
  local tfile=$OUT/tmp/time.$$ gfile=$OUT/tmp/gnu.$$ efile=$OUT/tmp/err.$$ ofile=$OUT/tmp/out.$$
  local TIMEFORMAT='%3U %3S'
  { time "$GNUTIME" -f '%U %S %M' -o "$gfile" taskset -c "$CORE" "$@" >"$ofile" 2>"$efile"; } 2>"$tfile" || {
    log "failed: $*"; cat "$efile" >&2; return 1; }
  M_CPU=$(awk '{printf "%.1f", ($1 + $2) * 1000}' "$tfile")
  read -r gu gs M_RSS <"$gfile"
  M_GNU=$(awk -v u="$gu" -v s="$gs" 'BEGIN{printf "%.0f", (u + s) * 1000}')
  M_ERR=$(cat "$efile")
  M_STDOUT=$(cat "$ofile")
}

median() { # numbers on stdin -> median
  sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2} }'
}

# repeat IMAGE FORMAT TOOL CMD... : R runs; sets CPU_MED RSS_MED and appends to raw.tsv;
# STAGES collects refract's `-v` lines.
repeat() {
  local img=$1 fmt=$2 tool=$3; shift 3
  local cpus=() rsss=() i
  STAGES=()
  for ((i = 1; i <= R; i++)); do
    measure "$@"
    cpus+=("$M_CPU"); rsss+=("$M_RSS")
    local st=""
    [[ $tool == refract ]] && { st=$M_ERR; STAGES+=("$M_ERR"); }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$img" "$fmt" "$tool" "$i" "$M_CPU" "$M_RSS" "$M_GNU" "$st" >>"$RAW"
  done
  CPU_MED=$(printf '%s\n' "${cpus[@]}" | median)
  RSS_MED=$(printf '%s\n' "${rsss[@]}" | median)
}

similarity() { # OUTPUT_FILE REF_PNG -> "ssim psnr ssimulacra2"
  local png=$OUT/png/$(basename "$1").png s2=n/a
  vips colourspace "$1" "$png" srgb
  [[ -x $SSIM2 ]] && s2=$("$SSIM2" "$2" "$png" 2>/dev/null | awk '{printf "%.2f", $1}')
  echo "$("$REFRACT" compare "$2" "$png" 2>/dev/null | awk '{print $2, $4}' | grep . || echo "n/a n/a") ${s2:-n/a}"
}

default_quality() { case $1 in jpeg | jpeg-progressive) echo 80 ;; webp) echo 75 ;; avif) echo 50 ;; esac; }
# quality_of IMAGE FORMAT COLUMN(3 = refract, 4 = sharp) -> the quality from $QUALITIES, or the default
quality_of() {
  local q=""
  [[ -n $QUALITIES ]] && q=$(awk -F'\t' -v i="$1" -v f="$2" -v c="$3" '$1 == i && $2 == f {print $c; exit}' "$QUALITIES")
  echo "${q:-$(default_quality "$2")}"
}

refract_spec() { # FORMAT [QUALITY]
  local q=${2:-$(default_quality "$1")}
  case $1 in
    jpeg) echo "width=800,format=baseline-jpeg,quality=$q" ;;
    jpeg-progressive) echo "width=800,format=jpeg,quality=$q" ;;
    webp) echo "width=800,format=webp,quality=$q" ;;
    avif) echo "width=800,format=avif,quality=$q" ;;
    *) log "unknown format $1"; exit 2 ;;
  esac
}
ext() { case $1 in jpeg | jpeg-progressive) echo jpg ;; *) echo "$1" ;; esac; }
fmt_label() { # FORMAT [SHARP_QUALITY]
  local q=${2:-$(default_quality "$1")}
  case $1 in
    jpeg) echo "JPEG q$q baseline" ;;
    jpeg-progressive) echo "JPEG q$q progressive" ;;
    webp) echo "WebP q$q" ;;
    avif) echo "AVIF q$q" ;;
  esac
}
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b <= 0) print "—"; else printf "%.2f×", a / b }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a - b}'; }

# ---------------------------------------------------------------- machine
cd "$HERE"
SHARP_VERSIONS=$(node sharp-one.mjs --versions)
SHARP_V=$(node -e "console.log(JSON.parse(process.argv[1]).sharp)" "$SHARP_VERSIONS")
VIPS_V=$(node -e "console.log(JSON.parse(process.argv[1]).vips)" "$SHARP_VERSIONS")
CODECS_V=$(node -e "const v=JSON.parse(process.argv[1]); console.log('mozjpeg '+v.mozjpeg+', libwebp '+v.webp+', libheif '+v.heif+', aom '+v.aom)" "$SHARP_VERSIONS")
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then COMMIT+=" (work tree has uncommitted changes)"; fi
MODEL=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
BIN_DATE=$(date -u -r "$REFRACT" '+%Y-%m-%d %H:%M UTC')

# ---------------------------------------------------------------- start-up baselines
log "start-up baselines (R=$R)"
repeat - - refract "$REFRACT" --version;               RF_START=$CPU_MED; RF_START_RSS=$RSS_MED
repeat - - node node -e '';                            NODE_START=$CPU_MED; NODE_START_RSS=$RSS_MED
repeat - - sharp-noop node sharp-one.mjs --noop;       SH_START=$CPU_MED; SH_START_RSS=$RSS_MED

# ---------------------------------------------------------------- runs
TABLE=()
STAGE_TABLE=()
for img in $IMAGES; do
  in=$ROOT/samples/$img
  [[ -f $in ]] || { log "missing $in"; exit 1; }
  W=$(vipsheader -f width "$in"); H=$(vipsheader -f height "$in")
  MP=$(awk -v w="$W" -v h="$H" 'BEGIN{printf "%.1f", w * h / 1e6}')
  ref=$OUT/ref/${img%.*}.png
  if [[ ! -s $ref ]]; then
    log "reference $ref"
    "$CONVERT" "$in" -filter Lanczos -resize '800x>' "$ref"   # '>': never enlarge, like both tools
  fi
  for fmt in $FORMATS; do
    e=$(ext "$fmt"); base=${img%.*}
    rq=$(quality_of "$img" "$fmt" 3); sq=$(quality_of "$img" "$fmt" 4)
    spec=$(refract_spec "$fmt" "$rq")
    rout=$OUT/files/$base.$fmt.refract.$e
    sout=$OUT/files/$base.$fmt.sharp.$e
    log "$img $fmt: refract"
    repeat "$img" "$fmt" refract "$REFRACT" transform -v "$in" "$rout" "$spec"
    r_cpu=$CPU_MED; r_rss=$RSS_MED
    # refract -v: "... (input JPEG WxH, shrink 1/4, icc none) decode 71.3 ms, resize 3.2 ms, encode 3.5 ms"
    st=$(printf '%s\n' "${STAGES[@]}")
    shrink=$(sed -n 's/.*shrink \([0-9/]*\).*/\1/p' <<<"$st" | head -1)
    dec=$(sed -n 's/.*decode \([0-9.]*\) ms.*/\1/p' <<<"$st" | median)
    rsz=$(sed -n 's/.*resize \([0-9.]*\) ms.*/\1/p' <<<"$st" | median)
    enc=$(sed -n 's/.*encode \([0-9.]*\) ms.*/\1/p' <<<"$st" | median)
    log "$img $fmt: sharp cold"
    repeat "$img" "$fmt" sharp-cold node sharp-one.mjs "$in" "$sout" "$fmt" --quality "$sq"
    s_cpu=$CPU_MED; s_rss=$RSS_MED
    log "$img $fmt: sharp warm"
    measure node sharp-one.mjs "$in" "$sout" "$fmt" --quality "$sq" --warm "$WARM"
    w_cpu=$(node -e "console.log(JSON.parse(process.argv[1]).cpu_ms_median.toFixed(1))" "$M_STDOUT")
    w_wall=$(node -e "console.log(JSON.parse(process.argv[1]).wall_ms_median.toFixed(1))" "$M_STDOUT")
    w_rss=$M_RSS
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$img" "$fmt" sharp-warm 1 "$w_cpu" "$w_rss" "$M_GNU" "$M_STDOUT" >>"$RAW"
    # refract warm: `refract bench` runs the same transform in one process (1 warm-up, then
    # 4×WARM timed runs, since /proc CPU time has 10 ms ticks) and prints per-image CPU.
    log "$img $fmt: refract warm"
    measure "$REFRACT" bench "$in" "$spec" --iterations $((WARM * 4))
    rw_cpu=$(node -e "console.log(JSON.parse(process.argv[1]).cpu_ms.toFixed(1))" "$M_STDOUT")
    rw_rss=$M_RSS
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$img" "$fmt" refract-warm 1 "$rw_cpu" "$rw_rss" "$M_GNU" "$M_STDOUT" >>"$RAW"

    r_bytes=$(stat -c %s "$rout"); s_bytes=$(stat -c %s "$sout")
    read -r r_ssim r_psnr r_s2 < <(similarity "$rout" "$ref")
    read -r s_ssim s_psnr s_s2 < <(similarity "$sout" "$ref")
    r_net=$(minus "$r_cpu" "$RF_START"); s_net=$(minus "$s_cpu" "$SH_START")
    label=$(fmt_label "$fmt" "$sq")
    TABLE+=("| $img | $MP | $label | refract \`$(sed 's/width=800,//' <<<"$spec")\` | $r_cpu | $r_net | $(mib "$r_rss") | $r_bytes | $r_ssim | $r_psnr | $r_s2 | | |")
    TABLE+=("| $img | $MP | $label | sharp, cold (process per image) | $s_cpu | $s_net | $(mib "$s_rss") | $s_bytes | $s_ssim | $s_psnr | $s_s2 | $(ratio "$r_cpu" "$s_cpu") | $(ratio "$r_rss" "$s_rss") |")
    TABLE+=("| $img | $MP | $label | refract, warm (in-process, mean of $((WARM * 4))) | $rw_cpu | $rw_cpu | ($(mib "$rw_rss")) | $r_bytes | $r_ssim | $r_psnr | $r_s2 | | |")
    TABLE+=("| $img | $MP | $label | sharp, warm (in-process, median of $WARM) | $w_cpu | $w_cpu | ($(mib "$w_rss")) | $s_bytes | $s_ssim | $s_psnr | $s_s2 | $(ratio "$rw_cpu" "$w_cpu") | $(ratio "$rw_rss" "$w_rss") |")
    STAGE_TABLE+=("| $img | $label | $shrink | $dec | $rsz | $enc | $r_net | $w_cpu | $w_wall |")
  done
done

# ---------------------------------------------------------------- report
{
  echo "# Refract CLI vs sharp"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); CPU: $MODEL; nproc: $(nproc); runs pinned to core $CORE (\`taskset -c $CORE\`); load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- refract: $("$REFRACT" --version), git $COMMIT, binary built $BIN_DATE"
  echo "- sharp $SHARP_V (libvips $VIPS_V; $CODECS_V), node $(node --version); \`sharp.concurrency(1)\`, \`sharp.cache(false)\`"
  echo "- R=$R runs per cell, median; warm sharp: 1 warm-up + $WARM in-process runs, median"
  echo "- Start-up (median CPU ms / peak RSS MiB): \`refract --version\` $RF_START / $(mib "$RF_START_RSS"); \`node -e ''\` $NODE_START / $(mib "$NODE_START_RSS"); \`node sharp-one.mjs --noop\` (node + load sharp) $SH_START / $(mib "$SH_START_RSS")"
  echo
  echo "| image | MP | format | tool | CPU ms (median) | CPU ms net of start-up | peak RSS MiB | bytes | SSIM | PSNR dB | SSIMULACRA2 | refract/sharp CPU | refract/sharp RSS |"
  echo "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${TABLE[@]}"
  echo
  echo "CPU = user+sys of the process (ms). Net = CPU minus the tool's start-up above (refract: \`refract --version\`; sharp cold: node + loading sharp). Sharp warm = per-image \`process.cpuUsage()\` inside one process, so already net; its RSS (in brackets) is the whole process after $((WARM + 1)) runs."
  echo "Ratios (>1 = refract uses more): on the cold row, refract CPU / sharp cold CPU and peak RSS, whole processes; on the sharp warm row, refract warm CPU / sharp warm CPU and whole-process RSS after the warm runs (engine against engine, both in-process)."
  [[ -n $QUALITIES ]] && echo "Qualities per image from \`$QUALITIES\` (refract's and sharp's own scales; the format column gives sharp's)."
  echo "SSIM/PSNR: luma, \`refract compare\` against ImageMagick's \`-filter Lanczos -resize '800x>'\` of the fully decoded original; outputs decoded by the system libvips."
  echo
  echo "## Where refract's time goes (\`refract transform -v\`, wall ms in-process, median)"
  echo
  echo "| image | format | JPEG shrink-on-load | decode | resize | encode | refract net CPU | sharp warm CPU | sharp warm wall |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${STAGE_TABLE[@]}"
} >"$OUT/results.md"
rm -rf "$OUT/tmp" "$OUT/png"
cat "$OUT/results.md"
