#!/usr/bin/env bash
# A Refract fleet under load (issue 12), measured with wrk: three `refract serve` instances
# sharing one PostgreSQL and one SeaweedFS bucket behind nginx routing by URL
# (tests/fleet-lib.sh, tests/fleet-nginx.conf.in), side by side with nginx serving the same
# bytes from disk (bench/nginx.conf.in), in one run.
#
#   bash bench/fleet.sh                                      the whole run, about 3 minutes after the build
#   DURATION=5s ROUNDS=1 MISS_DURATION=10s bash bench/fleet.sh   a quicker one
#   BENCH_REFRACT=/path/to/refract bash bench/fleet.sh       measure that binary (no build)
#   FL_KEEP=1 bash bench/fleet.sh                            keep the temp dir (logs, wrk output)
#
# Phases. Everything listens on 127.0.0.1; wrk, nginx, the three instances, PostgreSQL and
# SeaweedFS share the machine's cores (2 on the standard machine), so each figure is the whole
# stack's on this one machine, not a server's alone.
#   1. Cached hits. HIT_URLS variants (one photo uploaded under KEYS keys, at HIT_URLS/KEYS
#      widths each: under the default tiers.max_variants_per_original of 64, so none is expired
#      to make room for another) are made through nginx and then served from the memory of the
#      instance each URL routes to; their exact bytes are
#      written to a directory nginx serves. wrk -t2 -cCONNS for DURATION cycles through the URLs
#      against: the fleet through nginx (routing by URL); nginx serving the files
#      (worker_processes 1 and auto); and one instance alone (its own URLs, no balancer).
#      ROUNDS rounds; each figure is the median of the rounds.
#   2. Misses. Every request a distinct variant (one of KEYS copies of a photo, a width and a
#      never-binding height that no request repeats), so each one is a real transform, through
#      nginx: wrk -t2 -cMISS_CONNS for MISS_DURATION. Spread over KEYS originals, a run of a few
#      hundred misses stays under the per-original cap of 64 stored variants; past it each new
#      variant also expires an older one (docs/storage.md).
# Each request carries an X-Forwarded-For from a pool of 4096 client addresses (the balancer is
# the instances' trusted proxy), so the per-client rate limits, on at their defaults, meet
# traffic shaped like a site's, not one client; nginx's own runs send the same header.
# Latencies: wrk's p50, p95 and p99 (its --latency histogram, read in a done() hook).
#
# Before measuring, the script waits (at most IDLE_WAIT s, default 900) for a quiet machine: no
# cargo or rustc running and a 1-minute load average under QUIET_LOAD (default 1.0).
# Progress and wrk's output go to stderr, the markdown summary to stdout. Exits non-zero when a
# run has failed requests (non-2xx, socket errors or timeouts). Needs what tests/install-tools.sh
# installs (PostgreSQL, SeaweedFS, nginx-light, wrk, curl, python3). No network.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"

TARGET=${CARGO_TARGET_DIR:-target}
REFRACT=${BENCH_REFRACT:-$TARGET/release/refract}
THREADS=2
CONNS=${CONNS:-32}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
KEYS=8                                        # originals per photo (bench/hit-K.jpg, bench/miss-K.jpg)
HIT_PHOTO=${HIT_PHOTO:-bridge-10mp.jpg}
HIT_W0=800                                    # widths HIT_W0 .. HIT_W0+HIT_URLS/KEYS-1, format webp
HIT_URLS=${HIT_URLS:-96}
MISS_PHOTO=${MISS_PHOTO:-baseline.jpg}
MISS_W0=600
MISS_SPAN=200                                 # widths 600..799; the height makes each unique
MISS_CONNS=${MISS_CONNS:-8}
MISS_DURATION=${MISS_DURATION:-20s}
LB_WORKERS=${LB_WORKERS:-auto}                # the balancer's worker_processes
IDLE_WAIT=${IDLE_WAIT:-900}                   # seconds to wait for a quiet machine
QUIET_LOAD=${QUIET_LOAD:-1.0}                 # ... a 1-minute load average under this
GOAL_RPS=1000
GOAL_P95_MS=200

export FL_TAG=fleet
# shellcheck source=tests/fleet-lib.sh
source "$ROOT/tests/fleet-lib.sh"
log() { fl_log "$@"; }
die() { fl_die "$@"; }

# ---------------------------------------------------------------- build, then a quiet machine
if [[ -z ${BENCH_REFRACT:-} ]]; then
  log "building: cargo build --release -p refract-server"
  cargo build --release -p refract-server >&2
fi
[[ -x $REFRACT ]] || die "no binary at $REFRACT"
builds_running() { pgrep -x 'cargo|rustc' >/dev/null; }   # -x: process names, not command lines
busy_machine() { awk -v q="$QUIET_LOAD" '{ exit !($1 >= q) }' /proc/loadavg; }
BUSY=()
note_busy() { if builds_running; then BUSY+=("$1"); log "warning: cargo/rustc running during $1"; fi; }
# Wait (at most IDLE_WAIT s) for no cargo/rustc and a 1-minute load average under QUIET_LOAD.
waited=0
while builds_running || busy_machine; do
  if ((waited >= IDLE_WAIT)); then
    log "warning: the machine is still busy after ${IDLE_WAIT}s (load $(cut -d' ' -f1-3 /proc/loadavg)); measuring anyway"
    break
  fi
  ((waited % 60 == 0)) && log "waiting for a quiet machine: load $(cut -d' ' -f1-3 /proc/loadavg); builds: $(pgrep -x -l 'cargo|rustc' | tr '\n' ' ')"
  sleep 10
  waited=$((waited + 10))
done

fl_init "$REFRACT"
trap fl_cleanup EXIT
trap 'exit 130' INT TERM

DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
RAM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
WRK_V=$({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $1, $2 }')
NGINX_V=$(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //')
REFRACT_V=$("$FL_BIN" --version)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  COMMIT+=" (work tree has uncommitted changes)"
fi
BUILD="release build"
if [[ -n ${BENCH_REFRACT:-} ]]; then
  COMMIT="binary $BENCH_REFRACT, not built from the checkout at $COMMIT"
  BUILD="the binary given"
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the fleet
fl_start_pg
fl_start_weed
# Defaults, except: nginx (127.0.0.1) is the trusted proxy that names the client.
fl_write_config '
[rate_limit]
trusted_proxies = ["127.0.0.1"]
client_ip_header = "x-forwarded-for"'
fl_start_fleet
fl_start_nginx "$LB_WORKERS"
PG_V=$("$FL_PG_BIN/postgres" --version | awk '{ print $3 }')
WEED_V=$("$FL_WEED" version 2>/dev/null | awk '{ print $3 }')

for ((k = 0; k < KEYS; k++)); do
  code=$(fl_upload "$FL_LB" "bench/hit-$k.jpg" "samples/$HIT_PHOTO")
  [[ $code == 201 ]] || die "upload of $HIT_PHOTO answered $code"
  code=$(fl_upload "$FL_LB" "bench/miss-$k.jpg" "samples/$MISS_PHOTO")
  [[ $code == 201 ]] || die "upload of $MISS_PHOTO answered $code"
done

# ---------------------------------------------------------------- wrk scripts
# paths.lua: cycles through the paths in $PATHS_FILE (each thread from another point).
# fresh.lua: request n (unique across threads) asks for PREFIX-(n%KEYS).jpg?width=W0+m%SPAN&
# height=2000+m/SPAN&format=webp, m = n/KEYS: the default fit (scale-down) keeps the aspect ratio
# and the height never binds, so the work is that of the width alone while every (key, canonical
# spec), the cache key, differs.
# Both: X-Forwarded-For from 4096 addresses; done() prints one RESULT line (latencies in ms).
cat >"$FL_WORK/common.lua" <<'LUA'
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function client(n)
  return string.format("10.%d.%d.%d", 100 + math.floor(n / 65536) % 4, math.floor(n / 256) % 16, n % 256)
end
function done(summary, latency, requests)
  local s, e = summary, summary.errors
  local secs = s.duration / 1e6
  io.write(string.format("RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f " ..
    "max_ms=%.2f non2xx3xx=%d timeouts=%d connect_errors=%d read_errors=%d write_errors=%d\n",
    s.requests, secs, s.requests / secs, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, e.status, e.timeout, e.connect, e.read, e.write))
end
LUA
{ cat "$FL_WORK/common.lua"; cat <<'LUA'
local paths = {}
function init(args)
  for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
  n = id * 7919
end
function request()
  n = n + 1
  return wrk.format("GET", paths[n % #paths + 1], { ["X-Forwarded-For"] = client(n) })
end
LUA
} >"$FL_WORK/paths.lua"
{ cat "$FL_WORK/common.lua"; cat <<'LUA'
function init(args)
  prefix, w0, span, nthreads, keys = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4]), tonumber(args[5])
  k = 0
end
function request()
  local n = k * nthreads + id
  local m = math.floor(n / keys)
  k = k + 1
  return wrk.format("GET", string.format("%s-%d.jpg?width=%d&height=%d&format=webp", prefix, n % keys,
    w0 + m % span, 2000 + math.floor(m / span)), { ["X-Forwarded-For"] = client(n) })
end
LUA
} >"$FL_WORK/fresh.lua"

join() { local IFS=/; sed 's|/| / |g' <<<"$*"; }    # join A B C -> "A / B / C"
kv() { sed -n "s/.*[ ,]$1[=:]\([^ ,]*\).*/\1/p" <<<" $2" | head -1; }
FAILED=()
# run_wrk LABEL WRK-ARGS...: sets W_REQ W_RPS W_P50 W_P95 W_P99 W_ERR.
run_wrk() {
  local label=$1 out=$FL_WORK/$1.wrk res
  shift
  log "wrk $* ($label)"
  wrk "$@" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($label)"; }
  sed 's/^/    /' "$out" >&2
  res=$(grep '^RESULT ' "$out") || die "no RESULT line from wrk ($label)"
  W_REQ=$(kv requests "$res"); W_RPS=$(kv rps "$res")
  W_P50=$(kv p50_ms "$res"); W_P95=$(kv p95_ms "$res"); W_P99=$(kv p99_ms "$res")
  W_ERR=$(($(kv non2xx3xx "$res") + $(kv timeouts "$res") + $(kv connect_errors "$res") + $(kv read_errors "$res") + $(kv write_errors "$res")))
  ((W_ERR == 0)) || { FAILED+=("$label: $W_ERR failed requests"); log "warning: $label: $W_ERR failed requests"; }
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---------------------------------------------------------------- 1. cached hits
WWW=$FL_WORK/www
mkdir -p "$WWW/c"
: >"$FL_WORK/fleet.paths"; : >"$FL_WORK/static.paths"; : >"$FL_WORK/alone.paths"
declare -A HOME_COUNT
HIT_BYTES=0
for ((n = 0; n < HIT_URLS; n++)); do
  p="/bench/hit-$((n % KEYS)).jpg?width=$((HIT_W0 + n / KEYS))&format=webp"
  curl -sf -o "$WWW/c/$n.webp" -H "X-Forwarded-For: 10.99.0.$((n % 256))" "$FL_LB$p" || die "warming $p failed"
  # The second GET: a memory hit on the instance the URL routes to, with the same bytes.
  up=$(curl -sf -o "$FL_WORK/second" -D - -H "X-Forwarded-For: 10.99.1.$((n % 256))" "$FL_LB$p" | tr -d '\r' |
    sed -n 's/^x-refract-upstream: //Ip')
  cmp -s "$WWW/c/$n.webp" "$FL_WORK/second" || die "two GETs of $p gave different bytes"
  i=$(fl_instance_of "$up")
  HOME_COUNT[$i]=$((${HOME_COUNT[$i]:-0} + 1))
  echo "$p" >>"$FL_WORK/fleet.paths"
  echo "/c/$n.webp" >>"$FL_WORK/static.paths"
  ((i == 0)) && echo "$p" >>"$FL_WORK/alone.paths"
  HIT_BYTES=$((HIT_BYTES + $(stat -c %s "$WWW/c/$n.webp")))
done
HIT_AVG=$((HIT_BYTES / HIT_URLS))
per=()
for ((i = 0; i < FL_N; i++)); do per+=("${HOME_COUNT[$i]:-0}"); done
SPREAD=$(join "${per[@]}")
log "cached variants: $HIT_URLS, $HIT_AVG bytes on average; URLs per instance: $SPREAD"
chmod -R a+rX "$WWW"

# nginx serving the files: bench/nginx.conf.in, as bench/load.sh runs it.
start_static() {
  local name=$1 workers=$2 prefix=$FL_WORK/$1 i
  STATIC_PORT=$(fl_free_port)
  mkdir -p "$prefix"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@ROOT@|$WWW|g" -e "s|@PORT@|$STATIC_PORT|g" \
    -e "s|@WORKERS@|$workers|g" "$ROOT/bench/nginx.conf.in" >"$prefix/nginx.conf"
  /usr/sbin/nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" 2>"$prefix/stderr" </dev/null &
  STATIC_PID=$!
  FL_PIDS+=("$STATIC_PID")
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$STATIC_PORT/c/0.webp" || true) == 200 ]] && return 0
    kill -0 "$STATIC_PID" 2>/dev/null || { cat "$prefix/stderr" "$prefix/error.log" >&2; die "nginx ($name) exited"; }
    sleep 0.1
  done
  die "nginx ($name) does not serve /c/0.webp"
}
start_static static-1 1;    S1_PORT=$STATIC_PORT S1_PID=$STATIC_PID
start_static static-auto auto; SA_PORT=$STATIC_PORT SA_PID=$STATIC_PID
cmp -s <(curl -s "http://127.0.0.1:$S1_PORT/c/7.webp") "$WWW/c/7.webp" || die "nginx serves other bytes"

T0=$(fl_fleet_metric refract_transforms_total)
TARGETS=(fleet static-1 static-auto alone)
declare -A RPS P50 P95 P99 REQS
for ((r = 1; r <= ROUNDS; r++)); do
  for t in "${TARGETS[@]}"; do
    case $t in
      fleet) url=$FL_LB; paths=$FL_WORK/fleet.paths ;;
      static-1) url=http://127.0.0.1:$S1_PORT; paths=$FL_WORK/static.paths ;;
      static-auto) url=http://127.0.0.1:$SA_PORT; paths=$FL_WORK/static.paths ;;
      alone) url=http://${FL_HTTP[0]}; paths=$FL_WORK/alone.paths ;;
    esac
    note_busy "hits $t"
    PATHS_FILE=$paths run_wrk "hits-$t-$r" -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency \
      -s "$FL_WORK/paths.lua" "$url"
    RPS[$t]+="$W_RPS "; P50[$t]+="$W_P50 "; P95[$t]+="$W_P95 "; P99[$t]+="$W_P99 "
    REQS[$t]=$((${REQS[$t]:-0} + W_REQ))
  done
done
HIT_TRANSFORMS=$(($(fl_fleet_metric refract_transforms_total) - T0))
fl_stop_pid "$S1_PID"; fl_stop_pid "$SA_PID"
declare -A RPS_M P50_M P95_M P99_M
for t in "${TARGETS[@]}"; do
  RPS_M[$t]=$(median <<<"${RPS[$t]}"); P50_M[$t]=$(median <<<"${P50[$t]}")
  P95_M[$t]=$(median <<<"${P95[$t]}"); P99_M[$t]=$(median <<<"${P99[$t]}")
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# ---------------------------------------------------------------- 2. misses
note_busy misses
fl_settle
T1=$(fl_fleet_metric refract_transforms_total)
run_wrk misses -t"$THREADS" -c"$MISS_CONNS" -d"$MISS_DURATION" --latency --timeout 30s \
  -s "$FL_WORK/fresh.lua" "$FL_LB" -- /bench/miss "$MISS_W0" "$MISS_SPAN" "$THREADS" "$KEYS"
M_REQ=$W_REQ M_RPS=$W_RPS M_P50=$W_P50 M_P95=$W_P95 M_P99=$W_P99 M_ERR=$W_ERR
fl_settle
M_TRANSFORMS=$(($(fl_fleet_metric refract_transforms_total) - T1))
per=()
for ((i = 0; i < FL_N; i++)); do per+=("$(fl_metric "${FL_ADMIN[$i]}" refract_transforms_total)"); done
M_SPREAD=$(join "${per[@]}")
LIMITED=$(fl_fleet_metric refract_rate_limited_total)
per=()
for ((i = 0; i < FL_N; i++)); do per+=("$(awk '$1 == "VmHWM:" { printf "%.0f", $2 / 1024 }' "/proc/${FL_PID[$i]}/status")"); done
RSS=$(join "${per[@]}")
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ================================================================= summary (stdout)
goal() {
  awk -v r="$1" -v p="$2" -v gr="$GOAL_RPS" -v gp="$GOAL_P95_MS" \
    'BEGIN { print ((r >= gr && p < gp) ? "met" : "NOT met") }'
}
cat <<EOF
## Fleet: results of bench/fleet.sh

- Date: $DATE; refract: $REFRACT_V, git $COMMIT, $BUILD
- Machine: $(nproc) CPUs ($CPU_MODEL), $RAM RAM; load average at start $LOAD_START, at end $LOAD_END
- Stack, all on this machine: wrk → nginx ($NGINX_V, worker_processes $LB_WORKERS, \`hash \$request_uri consistent\`, keep-alive to the instances) → $FL_N \`refract serve\` instances (defaults: one transform worker per core each, 256 MiB memory cache, rate limits on with nginx as trusted proxy) → PostgreSQL $PG_V (metadata) and SeaweedFS $WEED_V (originals and cold tier). $WRK_V.
- Other builds (cargo/rustc) running during: ${BUSY[*]:-none}
- Every request carries an X-Forwarded-For from 4096 client addresses; requests refused by the rate limits during the run: $LIMITED.

### Cached hits: \`wrk -t$THREADS -c$CONNS -d$DURATION --latency\`, median of $ROUNDS rounds

$HIT_URLS variants (\`/bench/hit-{0..$((KEYS - 1))}.jpg?width=$HIT_W0..$((HIT_W0 + HIT_URLS / KEYS - 1))&format=webp\`, $KEYS copies of $HIT_PHOTO, $HIT_AVG bytes on average), each in the memory of the instance its URL routes to (URLs per instance: $SPREAD); nginx serves the same bytes as files. "one instance" is instance 0 alone, without the balancer, on its own ${HOME_COUNT[0]:-0} URLs.

| target | req/s | p50 ms | p95 ms | p99 ms | / nginx from disk (1 worker), req/s | req/s of each round |
|---|---:|---:|---:|---:|---:|---|
| fleet: nginx → $FL_N instances | ${RPS_M[fleet]} | ${P50_M[fleet]} | ${P95_M[fleet]} | ${P99_M[fleet]} | $(ratio "${RPS_M[fleet]}" "${RPS_M[static-1]}") | ${RPS[fleet]} |
| nginx from disk, worker_processes 1 | ${RPS_M[static-1]} | ${P50_M[static-1]} | ${P95_M[static-1]} | ${P99_M[static-1]} | 1.00 | ${RPS[static-1]} |
| nginx from disk, worker_processes auto | ${RPS_M[static-auto]} | ${P50_M[static-auto]} | ${P95_M[static-auto]} | ${P99_M[static-auto]} | $(ratio "${RPS_M[static-auto]}" "${RPS_M[static-1]}") | ${RPS[static-auto]} |
| one instance, no balancer | ${RPS_M[alone]} | ${P50_M[alone]} | ${P95_M[alone]} | ${P99_M[alone]} | $(ratio "${RPS_M[alone]}" "${RPS_M[static-1]}") | ${RPS[alone]} |

The seed's target for cached images, p95 under $GOAL_P95_MS ms at $GOAL_RPS+ requests/s: $(goal "${RPS_M[fleet]}" "${P95_M[fleet]}") by the fleet (${RPS_M[fleet]} req/s, p95 ${P95_M[fleet]} ms). Transforms during the hit runs: $HIT_TRANSFORMS.

### Misses: \`wrk -t$THREADS -c$MISS_CONNS -d$MISS_DURATION --latency --timeout 30s\` through nginx, every request a new variant

\`/bench/miss-{0..$((KEYS - 1))}.jpg?width=$MISS_W0..$((MISS_W0 + MISS_SPAN - 1))&height=…&format=webp\` ($KEYS copies of $MISS_PHOTO, $(identify -format '%wx%h' "samples/$MISS_PHOTO" 2>/dev/null || echo '?') JPEG), each request a distinct variant, so a transform.

| requests | failed | req/s | p50 ms | p95 ms | p99 ms | transforms | transforms per instance (whole run) | peak RSS per instance, MiB |
|---:|---:|---:|---:|---:|---:|---:|---|---|
| $M_REQ | $M_ERR | $M_RPS | $M_P50 | $M_P95 | $M_P99 | $M_TRANSFORMS | $M_SPREAD | $RSS |

"transforms" counts those of requests still in flight when wrk stopped (at most $MISS_CONNS) too; the per-instance counts include the warming of the cached variants.
EOF
if ((${#FAILED[@]})); then
  printf '\nFailed requests: %s\n' "${FAILED[*]}"
  exit 1
fi
