#!/usr/bin/env bash
# Native JPEG decoding (issue 13): libjpeg-turbo (core's `turbojpeg` feature) against
# jpeg-decoder, on the samples' photos, one core, one measurement per process.
#
#   bash bench/jpeg-decode.sh                 ROUNDS=3 processes per cell, R=5 timed runs each
#   R=9 CORE=0 IMAGES="bird-20mp.jpg" bash bench/jpeg-decode.sh
#   SKIP_BUILD=1 bash bench/jpeg-decode.sh    reuse the two binaries of the last run
#
# It builds core's example `jpeg_decode` twice (release): with `--features webp,turbojpeg` and
# with `--features webp` only (AVIF is left out of both: neither decode nor the JPEG and WebP
# transforms measured here use it). Then, pinned with `taskset -c $CORE`, for each photo:
#   decode    at 1/1, 1/2, 1/4, 1/8 by `turbo` (libjpeg-turbo whatever the file),
#             `jpeg-decoder` (the crate alone) and `auto` (refract_core::decode::decode, the
#             dispatch a transform uses, in the build with the feature)
#   transform `width=800,format=jpeg` and `width=800,format=webp` (refract_core::transform), in
#             both builds
# Each measurement is one process (ROUNDS of them per cell, alternating): one warm-up, R timed
# runs (median and fastest CPU ms of the thread, CLOCK_THREAD_CPUTIME_ID, so time spent
# descheduled on a busy machine does not count; median wall ms), and the process's peak RSS
# (VmHWM, which counts libjpeg-turbo's C allocations too).
#
# Photos: the samples' JPEG photos, plus each 20 MP / 10 MP photo in the other coding process,
# made losslessly by jpegtran (Debian's libjpeg-turbo-progs): the same coefficients, baseline
# and progressive. Writes bench/out/jpeg-decode.tsv and bench/out/jpeg-decode.md (and prints it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
R=${R:-5}
ROUNDS=${ROUNDS:-3}
CORE=${CORE:-1}
IMAGES=${IMAGES:-"bird-20mp.jpg bird-20mp-progressive.jpg bridge-10mp.jpg bridge-10mp-baseline.jpg baseline.jpg progressive.jpg"}
OUT=$HERE/out
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$OUT/jpeg"

command -v jpegtran >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjpeg-turbo-progs >/dev/null
}
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed" >&2; exit 1; }

for f in "$ROOT"/samples/*.jpg; do cp -f "$f" "$OUT/jpeg/"; done
jpegtran -copy all -progressive "$ROOT/samples/bird-20mp.jpg" >"$OUT/jpeg/bird-20mp-progressive.jpg"
jpegtran -copy all "$ROOT/samples/bridge-10mp.jpg" >"$OUT/jpeg/bridge-10mp-baseline.jpg"

build() {   # build <features> <copy as>
    (cd "$ROOT" && cargo build -q --release -p refract-core --no-default-features \
        --features "$1" --example jpeg_decode)
    cp -f "$TARGET/release/examples/jpeg_decode" "$OUT/$2"
}
if [[ ${SKIP_BUILD:-0} != 1 ]]; then   # SKIP_BUILD=1: reuse the binaries in bench/out/
    build webp,turbojpeg jpeg_decode-turbo
    build webp jpeg_decode-plain
fi

run() { taskset -c "$CORE" "$@"; }
tsv=$OUT/jpeg-decode.tsv
printf 'round\tbuild\twhat\tfile\tscale\tsize\tcpu_median_ms\tcpu_fastest_ms\twall_median_ms\tpeak_rss_mib\trss_before_mib\n' >"$tsv"
# ROUNDS passes over each cell, alternating the decoders and builds, so that the load of the
# other core weighs on all of them alike.
for img in $IMAGES; do
    f=$OUT/jpeg/$img
    for s in 1 2 4 8; do
        for round in $(seq "$ROUNDS"); do
            for d in turbo jpeg-decoder auto; do
                printf '%s\tturbojpeg\t%s\n' "$round" "$(run "$OUT/jpeg_decode-turbo" decode "$d" "$s" "$R" "$f")" >>"$tsv"
            done
            printf '%s\tplain\t%s\n' "$round" "$(run "$OUT/jpeg_decode-plain" decode auto "$s" "$R" "$f")" >>"$tsv"
        done
    done
    for spec in width=800,format=jpeg width=800,format=webp; do
        for round in $(seq "$ROUNDS"); do
            printf '%s\tturbojpeg\t%s\n' "$round" "$(run "$OUT/jpeg_decode-turbo" transform "$spec" "$R" "$f")" >>"$tsv"
            printf '%s\tplain\t%s\n' "$round" "$(run "$OUT/jpeg_decode-plain" transform "$spec" "$R" "$f")" >>"$tsv"
        done
    done
done

{
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); nproc: $(nproc); pinned to core $CORE; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- git $(cd "$ROOT" && git rev-parse --short HEAD) (plus the working tree); $ROUNDS rounds of one process per cell, each one warm-up and R=$R timed runs"
    echo "- CPU ms: the median over the rounds of each process's median (fastest: the fastest run of all); peak RSS: the largest over the rounds"
    echo
    python3 - "$tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def cell(build, what, file, scale):
    rs = [r for r in rows if (r["build"], r["what"], r["file"], r["scale"]) == (build, what, file, scale)]
    med = statistics.median(float(r["cpu_median_ms"]) for r in rs)
    fast = min(float(r["cpu_fastest_ms"]) for r in rs)
    rss = max(float(r["peak_rss_mib"]) for r in rs)
    return med, fast, rss
files = list(dict.fromkeys(r["file"] for r in rows))
print("| photo | scale | libjpeg-turbo CPU ms (fastest) | jpeg-decoder CPU ms (fastest) | turbo / jpeg-decoder | libjpeg-turbo peak RSS MiB | jpeg-decoder peak RSS MiB | `auto` CPU ms | `auto` peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for f in files:
    for s in ["1/1", "1/2", "1/4", "1/8"]:
        t, j, a = (cell("turbojpeg", w, f, s) for w in ("turbo", "jpeg-decoder", "auto"))
        print(f"| {f} | {s} | {t[0]:.1f} ({t[1]:.1f}) | {j[0]:.1f} ({j[1]:.1f}) | {t[0] / j[0]:.2f}x | {t[2]:.1f} | {j[2]:.1f} | {a[0]:.1f} | {a[2]:.1f} |")
print()
print("| photo | transform | with `turbojpeg` CPU ms (fastest) | without CPU ms (fastest) | with / without | with peak RSS MiB | without peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|")
for f in files:
    for spec in ["width=800,format=jpeg", "width=800,format=webp"]:
        t, p = cell("turbojpeg", "transform", f, spec), cell("plain", "transform", f, spec)
        print(f"| {f} | `{spec}` | {t[0]:.1f} ({t[1]:.1f}) | {p[0]:.1f} ({p[1]:.1f}) | {t[0] / p[0]:.2f}x | {t[2]:.1f} | {p[2]:.1f} |")
PY
} | tee "$OUT/jpeg-decode.md"
