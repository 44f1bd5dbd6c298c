#!/usr/bin/env bash
# `refract serve` under load (issue 3), measured with wrk, against nginx serving the same bytes
# as a static file.
#
#   bash bench/load.sh                                   the whole run, about 4 minutes after the build
#   DURATION=5s ROUNDS=1 FRESH_DURATION=10s bash bench/load.sh          a quicker one
#   KEEP=1 bash bench/load.sh                            keep the raw wrk output (path printed at the end)
#   BENCH_REFRACT=/path/to/refract bash bench/load.sh      measure that binary (no build): A/B runs of two commits
#
# Phases. Everything listens on 127.0.0.1 on free ports; wrk, refract and nginx share the
# machine's cores (2 on the standard machine), so each run measures the pair, not the server alone.
#   1. Cached hits.  One variant is warmed in refract's memory cache and its exact bytes are
#      written to a directory that nginx serves. wrk -t2 -c32 runs for DURATION against refract,
#      nginx with worker_processes 1 and nginx with worker_processes auto, in turn, ROUNDS times;
#      each figure is the median of the rounds.
#   2. Fresh transforms.  Every request asks for a distinct variant (fresh.lua below), so each one
#      is a real transform. wrk -t2 -c4 for FRESH_DURATION, per photo in FRESH.
#   3. Coalescing.  64 identical requests for one uncached AVIF variant, all at once (one curl,
#      --parallel --parallel-immediate: 64 connections opened together). refract_transforms_total
#      must grow by exactly 1; all 64 answers must be 200 with identical bodies.
#   4. Overload.  Servers with REFRACT_TRANSFORM__QUEUE=8 (the number of transforms that may
#      wait for a worker; beyond it refract answers 503 at once), a new one for each of
#      OVERLOAD_CONNS (-c32, -c128, -c256): wrk of fresh transforms; counts the 503s.
# Peak RSS is VmHWM from /proc/PID/status of the refract process, read after every phase.
#
# Progress and wrk's own output go to stderr, the markdown summary to stdout. Exits non-zero when
# coalescing fails (transforms delta != 1, a non-200 answer, or bodies that differ).
# Writes only to a temp dir, removed at the end unless KEEP=1. Needs wrk, nginx (nginx-light),
# curl and python3, all from Debian; their versions are printed. No network.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"

TARGET=${CARGO_TARGET_DIR:-target}            # relative to the repo root, as cargo reads it
REFRACT=${BENCH_REFRACT:-$TARGET/release/refract}
NGINX=/usr/sbin/nginx
THREADS=2                                     # wrk threads, in every phase
DURATION=${DURATION:-10s}                     # cached hits, per server and round
ROUNDS=${ROUNDS:-3}
CACHED_CONNS=${CACHED_CONNS:-32}
FRESH_DURATION=${FRESH_DURATION:-20s}
FRESH_CONNS=${FRESH_CONNS:-4}
# photo:W0:SPAN for the fresh phase: output widths W0 .. W0+SPAN-1 (see fresh.lua).
# bridge-10mp (4352 px wide) decodes at 1/4 for all of 600-999, baseline (1600 px) at 1/2 for
# 600-799; cat-small is 451 px wide, so 100-449 never enlarges.
FRESH=${FRESH:-"bridge-10mp.jpg:600:400 baseline.jpg:600:200 cat-small.jpg:100:350"}
FRESH_FORMAT=webp
H0=2000                                       # first height of the (never binding) height box
WARM_PATH="/bridge-10mp.jpg?width=800&format=webp"
COALESCE_PATH="/bird-20mp.jpg?width=1234&format=avif"
COALESCE_N=64
OVERLOAD_QUEUE=8
OVERLOAD_DURATION=${OVERLOAD_DURATION:-10s}
OVERLOAD_CONNS=${OVERLOAD_CONNS:-"32 128 256"}
IDLE_WAIT=${IDLE_WAIT:-900}                   # seconds to wait for other cargo/rustc to finish
KEEP=${KEEP:-0}

log() { printf '[load] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in wrk curl python3 sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install wrk curl python3 coreutils)"
done
[[ -x $NGINX ]] || die "$NGINX is missing (apt-get install nginx-light)"

# ---------------------------------------------------------------- processes and clean-up
WORK=$(mktemp -d /tmp/refract-load.XXXXXX)
PIDS=()            # every server this script started; stopped by PID on exit
declare -A STOPPED

stop_pid() {       # PID: SIGTERM (graceful for both servers), then SIGKILL after 10 s
  local pid=$1 i
  [[ -n ${STOPPED[$pid]:-} ]] && return 0
  STOPPED[$pid]=1
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ $KEEP == 1 ]]; then log "raw output kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_refract NAME [VAR=VALUE...]: starts `refract serve` over samples/ on free ports;
# sets RF_PID, RF_HTTP and RF_ADMIN (host:port) from its "refract listening ..." line.
start_refract() {
  local name=$1 line="" i
  shift
  # Each server keeps its state (warm and cold tiers, index) in the run's temp dir: a variant
  # left in the checkout's refract-data/ by an earlier run would be a hit, not a transform.
  # wrk is one client on loopback: the per-client rate limit is off, since this measures the
  # server, not the limiter.
  env REFRACT_LOG=warn REFRACT_DATA_DIR="$WORK/$name-data" REFRACT_RATE_LIMIT__ENABLED=false "$@" "$REFRACT" serve --originals "$ROOT/samples" \
    --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" &
  RF_PID=$!           # env execs refract, so this is refract's PID
  PIDS+=("$RF_PID")
  for ((i = 0; i < 300; i++)); do
    line=$(grep -m1 '^refract listening ' "$WORK/$name.stdout" || true)
    [[ -n $line ]] && break
    kill -0 "$RF_PID" 2>/dev/null || { cat "$WORK/$name.stderr" >&2; die "refract ($name) exited at start-up"; }
    sleep 0.1
  done
  [[ -n $line ]] || die "refract ($name) printed no 'refract listening' line within 30 s"
  RF_HTTP=$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<<"$line")
  RF_ADMIN=$(sed -n 's/.* admin=\([^ ]*\).*/\1/p' <<<"$line")
  log "refract $name: pid $RF_PID, http $RF_HTTP, admin $RF_ADMIN ${*:+($*)}"
}

# start_nginx NAME WORKERS DIR: nginx in the foreground (daemon off) from bench/nginx.conf.in,
# with its own prefix dir, pid file and error log; sets NG_PID and NG_PORT.
start_nginx() {
  local name=$1 workers=$2 root=$3 prefix=$WORK/$1 i
  NG_PORT=$(free_port)
  mkdir -p "$prefix"
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@ROOT@|$root|g" -e "s|@PORT@|$NG_PORT|g" \
    -e "s|@WORKERS@|$workers|g" "$HERE/nginx.conf.in" >"$prefix/nginx.conf"
  "$NGINX" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" 2>"$prefix/stderr" &
  NG_PID=$!
  PIDS+=("$NG_PID")
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NG_PORT/" || true) != 000 ]] && break
    kill -0 "$NG_PID" 2>/dev/null || { cat "$prefix/stderr" "$prefix/error.log" >&2; die "nginx ($name) exited"; }
    sleep 0.1
  done
  log "nginx $name: pid $NG_PID, port $NG_PORT, worker_processes $workers"
}

# ---------------------------------------------------------------- measuring helpers
# metric ADMIN NAME: a value from refract's /metrics, 0 when absent. NAME with labels
# ('refract_rejected_total{reason="overloaded"}') is that one sample; NAME without labels is the
# sum of all its samples, whatever labels they carry (refract_transforms_total{format="webp"}...).
metric() {
  local body
  body=$(curl -sf "http://$1/metrics") || die "cannot read http://$1/metrics"
  awk -v n="$2" '$1 == n || (n !~ /[{]/ && index($1, n "{") == 1) { v += $2 }
    END { printf "%d\n", v }' <<<"$body"
}
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }   # PID VmHWM|VmRSS
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
kv() { sed -n "s/.*[ ,]$1[=:]\([^ ,]*\).*/\1/p" <<<" $2" | head -1; }   # KEY LINE -> value

# settle ADMIN: waits (up to 60 s) until no transform runs or waits, so that requests wrk
# abandoned at the end of a run are counted before the metrics are read.
settle() {
  local i
  for ((i = 0; i < 600; i++)); do
    [[ $(metric "$1" refract_transforms_in_flight) == 0 && $(metric "$1" refract_queue_depth) == 0 ]] && return
    sleep 0.1
  done
  log "warning: transforms still in flight after 60 s"
}

BUSY=()            # phases during which a cargo/rustc process was running
builds_running() { pgrep -x 'cargo|rustc' >/dev/null; }   # -x: process names, not command lines
note_busy() { if builds_running; then BUSY+=("$1"); log "warning: cargo/rustc running during $1"; fi; }

# run_wrk LABEL WRK-ARGS...: runs wrk, shows its output, and sets from the RESULT and STATUSES
# lines that summary.lua prints: W_REQ W_RPS W_P50 W_P99 W_NON2XX W_TIMEOUTS W_SOCKERR
# W_S200 W_S503 W_SOTHER W_MAXN (the last four only with fresh.lua).
run_wrk() {
  local label=$1 out=$WORK/$1.wrk res st
  shift
  log "wrk $* ($label)"
  wrk "$@" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($label)"; }
  sed 's/^/    /' "$out" >&2
  res=$(grep '^RESULT ' "$out") || die "no RESULT line from wrk ($label)"
  W_REQ=$(kv requests "$res"); W_RPS=$(kv rps "$res")
  W_P50=$(kv p50_ms "$res"); W_P99=$(kv p99_ms "$res")
  W_NON2XX=$(kv non2xx3xx "$res"); W_TIMEOUTS=$(kv timeouts "$res")
  W_SOCKERR=$(($(kv connect_errors "$res") + $(kv read_errors "$res") + $(kv write_errors "$res")))
  st=$(grep '^STATUSES ' "$out" || true)
  W_S200=$(kv 200 "$st"); W_S200=${W_S200:-0}
  W_S503=$(kv 503 "$st"); W_S503=${W_S503:-0}
  W_SOTHER=$(sed -n 's/^STATUSES \([^ ]*\).*/\1/p' <<<"$st" | tr ',' '\n' |
    awk -F: '$1 != 200 && $1 != 503 && NF == 2 { s += $2 } END { print s + 0 }')
  W_MAXN=$(kv max_n "$st")
}

# ---------------------------------------------------------------- wrk scripts
# summary.lua: one machine-readable line at the end of every run (latencies in ms).
cat >"$WORK/summary.lua" <<'LUA'
function done(summary, latency, requests)
  local s, e = summary, summary.errors
  local secs = s.duration / 1e6
  io.write(string.format("RESULT requests=%d seconds=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f " ..
    "non2xx3xx=%d timeouts=%d connect_errors=%d read_errors=%d write_errors=%d\n",
    s.requests, secs, s.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.timeout, e.connect, e.read, e.write))
  if threads then   -- fresh.lua: statuses counted per thread, and the highest request number
    local total, max_n, parts = {}, -1, {}
    for _, t in ipairs(threads) do
      for code, c in pairs(t:get("statuses")) do total[code] = (total[code] or 0) + c end
      max_n = math.max(max_n, t:get("max_n"))
    end
    for code, c in pairs(total) do table.insert(parts, code .. ":" .. c) end
    table.sort(parts)
    io.write("STATUSES " .. table.concat(parts, ",") .. " max_n=" .. max_n .. "\n")
  end
end
LUA

# fresh.lua: every request a distinct variant, so none can be served from refract's cache or
# coalesced with another. wrk args: PATH W0 SPAN H0 THREADS FORMAT.
# Request k of wrk thread t is number n = k * THREADS + t, unique across threads, and asks for
#   PATH?width=(W0 + n % SPAN)&height=(H0 + floor(n / SPAN))&format=FORMAT
# H0 is taller than any output, and the default fit (scale-down) keeps the aspect ratio, so the
# height never binds: the work and the bytes are those of `width` alone, while the canonical
# spec, which is the cache key, differs from request to request.
cat >"$WORK/fresh.lua" <<'LUA'
local next_id = 0
threads = {}
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  path, fmt = args[1], args[6]
  w0, span, h0, nthreads = tonumber(args[2]), tonumber(args[3]), tonumber(args[4]), tonumber(args[5])
  k, max_n, statuses = 0, -1, {}
end
function request()
  local n = k * nthreads + id
  k = k + 1
  max_n = math.max(max_n, n)
  return wrk.format("GET", string.format("%s?width=%d&height=%d&format=%s",
    path, w0 + n % span, h0 + math.floor(n / span), fmt))
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
LUA
cat "$WORK/summary.lua" >>"$WORK/fresh.lua"

# ---------------------------------------------------------------- build, then wait for a quiet machine
if [[ -z ${BENCH_REFRACT:-} ]]; then
  log "building: cargo build --release -p refract-server"
  cargo build --release -p refract-server >&2
fi
[[ -x $REFRACT ]] || die "no binary at $REFRACT"

waited=0
while builds_running; do
  if ((waited >= IDLE_WAIT)); then
    log "warning: cargo/rustc still running after ${IDLE_WAIT}s; measuring anyway"
    BUSY+=("start")
    break
  fi
  ((waited % 60 == 0)) && log "waiting for other builds to finish: $(pgrep -x -l 'cargo|rustc' | tr '\n' ' ')"
  sleep 10
  waited=$((waited + 10))
done
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- machine
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
RAM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
WRK_V=$({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $1, $2 }')   # wrk -v exits 1
NGINX_V=$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')
CURL_V=$(curl --version | head -1 | awk '{ print $1, $2 }')
REFRACT_V=$("$REFRACT" --version)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  COMMIT+=" (work tree has uncommitted changes)"
fi
[[ -n ${BENCH_REFRACT:-} ]] && COMMIT="binary $BENCH_REFRACT, not built from the checkout at $COMMIT"
log "machine: $(nproc) CPUs, $CPU_MODEL, $RAM; $WRK_V; $NGINX_V; $REFRACT_V ($COMMIT)"

# ================================================================= server A: default settings
start_refract main
A_PID=$RF_PID A_HTTP=$RF_HTTP A_ADMIN=$RF_ADMIN
HWM_IDLE=$(proc_kib "$A_PID" VmHWM)

# ---------------------------------------------------------------- 1. cached hits
note_busy "cached hits"
WWW=$WORK/www
mkdir -p "$WWW"
curl -sf -o "$WWW/cached.webp" "http://$A_HTTP$WARM_PATH" || die "warming $WARM_PATH failed"
# The second request must be a memory-cache hit with the same bytes.
HIT_TIMING=$(curl -sf -D - -o "$WORK/second.webp" "http://$A_HTTP$WARM_PATH" | tr -d '\r' |
  sed -n 's/^server-timing: //Ip')
cmp -s "$WWW/cached.webp" "$WORK/second.webp" || die "two GETs of $WARM_PATH gave different bytes"
[[ $HIT_TIMING == *memory* ]] || log "warning: second GET not reported as a memory hit (Server-Timing: $HIT_TIMING)"
CACHED_BYTES=$(stat -c %s "$WWW/cached.webp")
chmod 755 "$WORK" "$WWW" && chmod 644 "$WWW/cached.webp"   # nginx workers run as nobody under root

start_nginx nginx-1 1 "$WWW";     NG1_PID=$NG_PID NG1_PORT=$NG_PORT
start_nginx nginx-auto auto "$WWW"; NGA_PID=$NG_PID NGA_PORT=$NG_PORT
NGA_WORKERS=$(pgrep -P "$NGA_PID" | wc -l)
for port in "$NG1_PORT" "$NGA_PORT"; do
  curl -sf -o "$WORK/nginx.webp" "http://127.0.0.1:$port/cached.webp" || die "nginx on $port does not serve cached.webp"
  cmp -s "$WWW/cached.webp" "$WORK/nginx.webp" || die "nginx on $port serves other bytes"
done

declare -A RPS P50 P99
T0=$(metric "$A_ADMIN" refract_transforms_total)
H0_HITS=$(metric "$A_ADMIN" 'refract_cache_hits_total{tier="memory"}')
REFRACT_REQS=0
for ((r = 1; r <= ROUNDS; r++)); do
  for target in refract nginx-1 nginx-auto; do
    case $target in
      refract) url="http://$A_HTTP$WARM_PATH" ;;
      nginx-1) url="http://127.0.0.1:$NG1_PORT/cached.webp" ;;
      nginx-auto) url="http://127.0.0.1:$NGA_PORT/cached.webp" ;;
    esac
    run_wrk "cached-$target-$r" -t"$THREADS" -c"$CACHED_CONNS" -d"$DURATION" --latency \
      -s "$WORK/summary.lua" "$url"
    ((W_NON2XX == 0)) || log "warning: $target answered $W_NON2XX non-2xx responses"
    RPS[$target]+="$W_RPS "; P50[$target]+="$W_P50 "; P99[$target]+="$W_P99 "
    [[ $target == refract ]] && REFRACT_REQS=$((REFRACT_REQS + W_REQ))
  done
done
CACHED_TRANSFORMS=$(($(metric "$A_ADMIN" refract_transforms_total) - T0))
CACHED_HITS=$(($(metric "$A_ADMIN" 'refract_cache_hits_total{tier="memory"}') - H0_HITS))
HWM_CACHED=$(proc_kib "$A_PID" VmHWM)
stop_pid "$NG1_PID"; stop_pid "$NGA_PID"

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
declare -A RPS_M P50_M P99_M
for t in refract nginx-1 nginx-auto; do
  RPS_M[$t]=$(med "${RPS[$t]}"); P50_M[$t]=$(med "${P50[$t]}"); P99_M[$t]=$(med "${P99[$t]}")
done
RATIO_1=$(ratio "${RPS_M[refract]}" "${RPS_M[nginx-1]}")
RATIO_AUTO=$(ratio "${RPS_M[refract]}" "${RPS_M[nginx-auto]}")

# ---------------------------------------------------------------- 2. fresh transforms
FRESH_ROWS=()
for entry in $FRESH; do
  IFS=: read -r img w0 span <<<"$entry"
  [[ -f samples/$img ]] || { log "skipping $img: not in samples/"; continue; }
  note_busy "fresh $img"
  t0=$(metric "$A_ADMIN" refract_transforms_total)
  run_wrk "fresh-$img" -t"$THREADS" -c"$FRESH_CONNS" -d"$FRESH_DURATION" --latency --timeout 30s \
    -s "$WORK/fresh.lua" "http://$A_HTTP/" -- "/$img" "$w0" "$span" "$H0" "$THREADS" "$FRESH_FORMAT"
  settle "$A_ADMIN"
  dt=$(($(metric "$A_ADMIN" refract_transforms_total) - t0))
  hwm=$(proc_kib "$A_PID" VmHWM)
  wmax=$((w0 + (W_MAXN < span - 1 ? W_MAXN : span - 1)))
  FRESH_ROWS+=("| $img | $w0–$wmax | $W_REQ | $W_S200 | $W_S503 | $W_SOTHER | $W_SOCKERR / $W_TIMEOUTS | $W_RPS | $W_P50 | $W_P99 | $dt | $(mib "$hwm") |")
done

# ---------------------------------------------------------------- 3. coalescing
note_busy coalescing
settle "$A_ADMIN"
c_t0=$(metric "$A_ADMIN" refract_transforms_total)
c_c0=$(metric "$A_ADMIN" refract_coalesced_total)
c_h0=$(metric "$A_ADMIN" 'refract_cache_hits_total{tier="memory"}')
mkdir -p "$WORK/coalesce"
for ((i = 1; i <= COALESCE_N; i++)); do
  printf 'url = "http://%s%s"\noutput = "%s/coalesce/%d.body"\n' "$A_HTTP" "$COALESCE_PATH" "$WORK" "$i"
done >"$WORK/coalesce.cfg"
log "coalescing: $COALESCE_N concurrent GET $COALESCE_PATH"
c_start=$(date +%s%N)
curl -s --parallel --parallel-immediate --parallel-max "$COALESCE_N" -K "$WORK/coalesce.cfg" \
  -w '%{http_code}\n' >"$WORK/coalesce.codes" || true
c_wall_ms=$((($(date +%s%N) - c_start) / 1000000))
settle "$A_ADMIN"
C_TRANSFORMS=$(($(metric "$A_ADMIN" refract_transforms_total) - c_t0))
C_COALESCED=$(($(metric "$A_ADMIN" refract_coalesced_total) - c_c0))
C_HITS=$(($(metric "$A_ADMIN" 'refract_cache_hits_total{tier="memory"}') - c_h0))
C_200=$(grep -c '^200$' "$WORK/coalesce.codes" || true)
C_CODES=$(sort "$WORK/coalesce.codes" | uniq -c | awk '{ printf "%s%s×%s", (NR > 1 ? ", " : ""), $1, $2 }')
C_BODIES=$(cat "$WORK"/coalesce/*.body 2>/dev/null | wc -c)
C_DISTINCT=$(sha256sum "$WORK"/coalesce/*.body 2>/dev/null | awk '{ print $1 }' | sort -u | wc -l)
C_SHA=$(sha256sum "$WORK/coalesce/1.body" 2>/dev/null | cut -c1-16)
log "coalescing: statuses $C_CODES; $C_DISTINCT distinct bodies; transforms +$C_TRANSFORMS, coalesced +$C_COALESCED, memory hits +$C_HITS; ${c_wall_ms} ms"
COALESCE_OK=1
((C_TRANSFORMS == 1)) || { COALESCE_OK=0; log "FAIL: refract_transforms_total grew by $C_TRANSFORMS, not 1"; }
((C_200 == COALESCE_N)) || { COALESCE_OK=0; log "FAIL: only $C_200 of $COALESCE_N answers were 200 ($C_CODES)"; }
((C_DISTINCT == 1)) || { COALESCE_OK=0; log "FAIL: $C_DISTINCT distinct bodies"; }
((C_COALESCED == COALESCE_N - 1)) ||
  log "note: coalesced grew by $C_COALESCED, not $((COALESCE_N - 1)); $C_HITS requests arrived after the transform and were memory-cache hits"
HWM_MAIN=$(proc_kib "$A_PID" VmHWM)
RSS_MAIN=$(proc_kib "$A_PID" VmRSS)
CACHE_BYTES_MAIN=$(metric "$A_ADMIN" 'refract_cache_bytes{tier="memory"}')
stop_pid "$A_PID"

# ================================================================= servers B: queue of 8
# ---------------------------------------------------------------- 4. overload
# A new server for each number of connections, so that each peak RSS belongs to one load level
# alone (VmHWM only ever grows).
OVER_ROWS=()
for conns in $OVERLOAD_CONNS; do
  start_refract "overload-c$conns" "REFRACT_TRANSFORM__QUEUE=$OVERLOAD_QUEUE"
  note_busy "overload -c$conns"
  hwm0=$(proc_kib "$RF_PID" VmHWM)
  run_wrk "overload-c$conns" -t"$THREADS" -c"$conns" -d"$OVERLOAD_DURATION" --latency --timeout 30s \
    -s "$WORK/fresh.lua" "http://$RF_HTTP/" -- "/bridge-10mp.jpg" 600 400 "$H0" "$THREADS" "$FRESH_FORMAT"
  settle "$RF_ADMIN"
  dt=$(metric "$RF_ADMIN" refract_transforms_total)
  drej=$(metric "$RF_ADMIN" 'refract_rejected_total{reason="overloaded"}')
  hwm=$(proc_kib "$RF_PID" VmHWM)
  rss=$(proc_kib "$RF_PID" VmRSS)
  OVER_ROWS+=("| $conns | $W_REQ | $W_S200 | $W_S503 | $W_SOTHER | $W_SOCKERR / $W_TIMEOUTS | $W_RPS | $W_P50 | $W_P99 | $dt | $drej | $(mib "$hwm0") | $(mib "$hwm") | $(mib "$rss") |")
  stop_pid "$RF_PID"
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ================================================================= summary (stdout)
goal() { awk -v r="$1" 'BEGIN { print ((r >= 0.5) ? "met" : "NOT met") }'; }
cat <<EOF
## Origin server under load: results of bench/load.sh

- Date: $DATE; refract: $REFRACT_V, git $COMMIT, release build
- Machine: $(nproc) CPUs ($CPU_MODEL), $RAM RAM; load average at start $LOAD_START, at end $LOAD_END
- Tools: $WRK_V; $NGINX_V; $CURL_V. wrk, refract and nginx share the machine's $(nproc) cores.
- Other builds (cargo/rustc) running during: ${BUSY[*]:-none}
- refract: \`REFRACT_LOG=warn REFRACT_RATE_LIMIT__ENABLED=false refract serve --originals samples\`, defaults otherwise (transform workers = one per core, queue 64, memory cache 256 MiB); the overload servers add \`REFRACT_TRANSFORM__QUEUE=$OVERLOAD_QUEUE\`
- nginx: bench/nginx.conf.in, \`daemon off\`, \`access_log off\`, sendfile; worker_processes 1, and auto ($NGA_WORKERS workers)

### Cached hits: \`wrk -t$THREADS -c$CACHED_CONNS -d$DURATION --latency\`, median of $ROUNDS rounds

\`GET $WARM_PATH\`, $CACHED_BYTES bytes, from refract's memory cache; nginx serves the same bytes as a static file.

| server | req/s | p50 ms | p99 ms | refract / this server, req/s | req/s of each round |
|---|---:|---:|---:|---:|---|
| refract | ${RPS_M[refract]} | ${P50_M[refract]} | ${P99_M[refract]} | | ${RPS[refract]} |
| nginx, worker_processes 1 | ${RPS_M[nginx-1]} | ${P50_M[nginx-1]} | ${P99_M[nginx-1]} | $RATIO_1 | ${RPS[nginx-1]} |
| nginx, worker_processes auto | ${RPS_M[nginx-auto]} | ${P50_M[nginx-auto]} | ${P99_M[nginx-auto]} | $RATIO_AUTO | ${RPS[nginx-auto]} |

Goal ≥ 0.5× nginx: $(goal "$RATIO_1") against worker_processes 1 ($RATIO_1×), $(goal "$RATIO_AUTO") against auto ($RATIO_AUTO×). During the refract runs: $REFRACT_REQS requests, $CACHED_HITS memory-cache hits, $CACHED_TRANSFORMS transforms.

### Fresh transforms: \`wrk -t$THREADS -c$FRESH_CONNS -d$FRESH_DURATION --latency --timeout 30s\`, every request a distinct $FRESH_FORMAT variant

| photo | output widths | requests | 200 | 503 | other status | socket errors / timeouts | req/s | p50 ms | p99 ms | transforms Δ | refract peak RSS MiB after |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${FRESH_ROWS[@]}")

### Coalescing: $COALESCE_N identical concurrent \`GET $COALESCE_PATH\` (uncached)

| requests | 200 | distinct bodies | transforms Δ | coalesced Δ | memory-cache hits Δ | wall ms |
|---:|---:|---:|---:|---:|---:|---:|
| $COALESCE_N | $C_200 | $C_DISTINCT (sha256 $C_SHA…) | $C_TRANSFORMS | $C_COALESCED | $C_HITS | $c_wall_ms |

Result: $( ((COALESCE_OK)) && echo "passed" || echo "FAILED") (statuses: $C_CODES).

### Overload: fresh bridge-10mp.jpg transforms, \`REFRACT_TRANSFORM__QUEUE=$OVERLOAD_QUEUE\`, \`wrk -t$THREADS -d$OVERLOAD_DURATION --timeout 30s\`

| connections | requests | 200 | 503 | other status | socket errors / timeouts | req/s | p50 ms | p99 ms | transforms | rejected{overloaded} | peak RSS MiB at start | peak RSS MiB after | RSS MiB after |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${OVER_ROWS[@]}")

### refract's memory (VmHWM = peak RSS, /proc/PID/status)

| server | after start-up | after cached hits | after fresh + coalescing | current RSS at the end | memory cache in use |
|---|---:|---:|---:|---:|---:|
| default settings | $(mib "$HWM_IDLE") MiB | $(mib "$HWM_CACHED") MiB | $(mib "$HWM_MAIN") MiB | $(mib "$RSS_MAIN") MiB | $(mib $((CACHE_BYTES_MAIN / 1024))) MiB of 256 MiB (\`REFRACT_CACHE__MEMORY_BYTES\`) |

The overload servers' peak RSS is in the overload table, one fresh server per row.
EOF

((COALESCE_OK)) || exit 1
