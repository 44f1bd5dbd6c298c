#!/usr/bin/env bash
# Saturation run (hardening issue): one `refract serve` under a sustained mix of cheap hits,
# expensive misses and hostile requests, with its RSS sampled throughout.
#
#   bash bench/saturation.sh                          the whole run: 10 minutes of load after the build
#   DURATION=60s bash bench/saturation.sh             a quick one (also 90s, 10m, 1h or plain seconds)
#   KEEP=1 bash bench/saturation.sh                   keep the temp dir (wrk output, RSS series, probe log)
#   BENCH_REFRACT=/path/to/refract bash bench/saturation.sh   measure that binary (no build)
#
#   WORKERS=2 QUEUE=8 CHEAP_CONNS=32 MISS_CONNS=16 HOSTILE_CONNS=4     the defaults of the other knobs
#
# Setup: originals = samples/ (jpg png webp gif) plus a truncated JPEG, a text file named .jpg and
# a PNG declaring 60000x60000 (a decompression bomb); one server on free 127.0.0.1 ports with
# REFRACT_TRANSFORM__WORKERS=$WORKERS, REFRACT_TRANSFORM__QUEUE=$QUEUE and its data dir in the temp
# dir. The cheap URLs are warmed and each hostile request is sent once with curl (in the summary).
# Under load, hostile requests that need a transform slot (options on a missing key, the hostile
# files, the too-costly one) are mostly shed with 503 too: admission comes before the original is read.
# Load, all at once for DURATION, one wrk per class (own latencies, statuses counted in Lua):
#   1. cheap hits        wrk -t2 -c$CHEAP_CONNS over 4 warmed variants (memory-cache hits);
#   2. expensive misses  wrk -t2 -c$MISS_CONNS, every request a new variant of bridge-10mp or bird-20mp
#                        (webp/avif/jpeg): more connections than workers + queue, so it sheds (503);
#   3. hostile           wrk -t1 -c$HOSTILE_CONNS over bad options, path tricks, missing and over-long
#                        keys, huge query strings, the hostile files and a too-costly transform;
#   4. prober            python3, one expensive miss after another (5 s client timeout), timing each
#                        answer: wrk cannot give one response's latency, so the 503 max comes from here;
#   5. RSS               VmRSS of refract every $SAMPLE s (and the memory tier's bytes), VmHWM at
#                        the end; the memory tier is CACHE_BYTES (32 MiB), full within a minute.
# Checks (exit 1 if one fails): no 5xx but 503, server ready at the end; shedding seen and every
# 503 the prober got within 1 s, with no 503 deadline_exceeded and no memory-wait refusal (both
# come only after a wait); RSS flat in the second half: the last minute's mean at most 15% (or
# 64 MiB, the larger) above the middle minute's. The first half is warm-up: glibc keeps freed
# memory in its arenas, so RSS climbs until the mix of large transforms running at once has been
# seen, then stays; a leak keeps climbing. Runs under 3 minutes only show second half vs first:
# SKIP. The too-costly request 400 too_costly within 1 s. Progress to stderr, markdown summary
# to stdout.
# Writes only to a temp dir, removed at the end unless KEEP=1. Needs wrk, curl and python3.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-target}           # relative to the repo root, as cargo reads it
REFRACT=${BENCH_REFRACT:-$TARGET/release/refract}
DURATION=${DURATION:-10m} WORKERS=${WORKERS:-2} QUEUE=${QUEUE:-8} KEEP=${KEEP:-0}
# The memory tier's budget: small, so that it is full within the first minute and what RSS
# shows after that is the server's own steady state, not a cache filling up.
CACHE_BYTES=${CACHE_BYTES:-33554432}
CHEAP_CONNS=${CHEAP_CONNS:-32} MISS_CONNS=${MISS_CONNS:-16} HOSTILE_CONNS=${HOSTILE_CONNS:-4}
SAMPLE=10                                    # seconds between RSS samples
MISS_W0=200 MISS_SPAN=1800 MISS_H0=3000      # widths 200..1999; the heights make each n a new variant
PROBE_H0=9000                                # the prober's heights: variants wrk never asks for
COSTLY='/bird-20mp.jpg?w=7000&h=7000&fit=squeeze&format=avif'

log() { printf '[saturation] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in wrk curl python3; do command -v "$tool" >/dev/null || die "$tool is missing (apt-get install it)"; done
case $DURATION in
  *h) DUR_S=$((${DURATION%h} * 3600)) ;; *m) DUR_S=$((${DURATION%m} * 60)) ;;
  *s) DUR_S=${DURATION%s} ;; *) DUR_S=$DURATION ;;
esac
[[ $DUR_S =~ ^[0-9]+$ ]] && ((DUR_S >= 20)) || die "DURATION=$DURATION: give at least 20s (e.g. 60s, 10m)"

# ---------------------------------------------------------------- processes and clean-up
WORK=$(mktemp -d /tmp/refract-saturation.XXXXXX)
PIDS=()            # wrk, prober and server, stopped by PID on exit
cleanup() {
  local rc=$? pid i
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  if [[ $KEEP == 1 ]]; then log "raw output kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }   # PID VmRSS|VmHWM
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2 " | head -1; }   # KEY LINE -> value
metric() { { curl -sf "http://$ADMIN/metrics" || true; } | awk -v n="$1" 'index($1, n) == 1 { v += $2 } END { printf "%d\n", v }'; }
builds_running() { pgrep -x 'cargo|rustc' >/dev/null; }

if [[ -z ${BENCH_REFRACT:-} ]]; then
  log "building: cargo build --release -p refract-server"
  cargo build --release -p refract-server >&2
fi
[[ -x $REFRACT ]] || die "no binary at $REFRACT"

DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
TOOLS="$({ wrk -v 2>&1 || true; } | head -1 | awk '{ print $1, $2 }'), $(curl --version | head -1 | awk '{ print $1, $2 }'), $(python3 --version 2>&1)"
REFRACT_V=$("$REFRACT" --version)                                       # (wrk -v exits 1)
log "machine: $(nproc) CPUs, $CPU_MODEL; $TOOLS; $REFRACT_V ($REFRACT)"

# ---------------------------------------------------------------- originals, hostile files included
ORIG=$WORK/originals && mkdir -p "$ORIG"
cp samples/*.jpg samples/*.png samples/*.webp samples/*.gif "$ORIG/"
head -c "$(($(stat -c %s samples/baseline.jpg) / 2))" samples/baseline.jpg >"$ORIG/hostile-truncated.jpg"
printf 'this is not an image, only text named .jpg\n' >"$ORIG/hostile-text.jpg"
python3 - "$ORIG/hostile-bomb.png" <<'PY'
import struct, sys, zlib
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 6, 0, 0, 0)   # 60000x60000 RGBA: 14.4 GB decoded
with open(sys.argv[1], "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 65536, 9))
            + chunk(b"IEND", b""))
PY

# ---------------------------------------------------------------- request lists
printf '%s\n' '/baseline.jpg?width=400&format=webp' '/cat-small.jpg?width=200&format=jpeg' \
  '/logo-alpha.png?width=128&format=png' '/photo.webp?width=300&format=webp' >"$WORK/cheap.txt"
LONG_KEY=$(printf 'k%.0s' {1..320})
HUGE_QUERY=$(printf 'x%.0s' {1..6000})
{
  echo '/baseline.jpg?width=abc'; echo '/baseline.jpg?bogus=1'; echo '/baseline.jpg?width=0&format=exe'
  echo '/a/../baseline.jpg?width=100'; echo '/%2e%2e/x.jpg?width=100'; echo '/..%2f..%2fetc%2fpasswd'
  echo '/missing.jpg?width=100'; echo '/no/such/dir/missing.png'
  echo '/hostile-truncated.jpg?width=300&format=webp'; echo '/hostile-text.jpg?width=200'
  echo '/hostile-bomb.png?width=100&format=webp'; echo "$COSTLY"
  echo "/$LONG_KEY.jpg?width=100"; echo "/baseline.jpg?width=100&q=$HUGE_QUERY"
  echo "/baseline.jpg?$(printf 'width=100&%.0s' {1..400})"
} >"$WORK/hostile.txt"

# ---------------------------------------------------------------- wrk scripts
cat >"$WORK/stats.lua" <<'LUA'
-- Appended to every class: statuses per thread (5xx and 4xx with their JSON code), summed in done().
threads, statuses, next_id = {}, {}, 0
function setup(thread)
  thread:set("id", next_id); next_id = next_id + 1; table.insert(threads, thread)
end
function response(status, headers, body)
  local code = status >= 400 and body and string.match(body, '"code"%s*:%s*"([%w_]+)"')
  local key = code and (status .. "/" .. code) or tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end
function done(summary, latency, requests)
  local e, secs = summary.errors, summary.duration / 1e6
  io.write(string.format("RESULT requests=%d rps=%.1f p50=%.1f p95=%.1f p99=%.1f max=%.1f sockerr=%d timeouts=%d\n",
    summary.requests, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, e.connect + e.read + e.write, e.timeout))
  local total, parts = {}, {}
  for _, t in ipairs(threads) do for key, c in pairs(t:get("statuses")) do total[key] = (total[key] or 0) + c end end
  for key, c in pairs(total) do table.insert(parts, key .. ":" .. c) end
  table.sort(parts)
  io.write("STATUSES " .. table.concat(parts, " ") .. "\n")
end
LUA
# list.lua LIST-FILE: cycles over the file's request targets, each thread from its own offset.
cat - "$WORK/stats.lua" >"$WORK/list.lua" <<'LUA'
function init(args)
  paths, k = {}, id * 7
  for line in io.lines(args[1]) do if line ~= "" then table.insert(paths, line) end end
end
function request()
  k = k + 1
  return wrk.format("GET", paths[k % #paths + 1])
end
LUA
# miss.lua THREADS W0 SPAN H0: request k of thread t is n = k * THREADS + t, unique across threads:
# width W0 + n % SPAN, height H0 + floor(n / SPAN) (a box taller than any output, so it never
# binds but makes the variant new), bridge-10mp or bird-20mp, webp, avif or jpeg.
cat - "$WORK/stats.lua" >"$WORK/miss.lua" <<'LUA'
local images, formats = { "bridge-10mp.jpg", "bird-20mp.jpg" }, { "webp", "avif", "jpeg" }
function init(args)
  nthreads, w0, span, h0, k = tonumber(args[1]), tonumber(args[2]), tonumber(args[3]), tonumber(args[4]), 0
end
function request()
  local n = k * nthreads + id
  k = k + 1
  return wrk.format("GET", string.format("/%s?width=%d&height=%d&format=%s", images[n % 2 + 1],
    w0 + n % span, h0 + math.floor(n / span), formats[math.floor(n / 2) % 3 + 1]))
end
LUA
# probe.py HOST:PORT SECONDS H0: sequential expensive misses; one line per answer: ms status code.
cat >"$WORK/probe.py" <<'PY'
import http.client, re, sys, time
host, port = sys.argv[1].rsplit(":", 1)
end, h0, i = time.monotonic() + float(sys.argv[2]), int(sys.argv[3]), 0
images, formats = ("bird-20mp.jpg", "bridge-10mp.jpg"), ("webp", "avif", "jpeg")
while time.monotonic() < end:
    path = "/%s?width=%d&height=%d&format=%s" % (images[i % 2], 300 + i % 1500, h0 + i // 1500, formats[i // 2 % 3])
    i += 1
    conn, t0, status, code = http.client.HTTPConnection(host, int(port), timeout=5), time.monotonic(), 0, "-"
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body, status = resp.read(), resp.status
        m = re.search(rb'"code"\s*:\s*"(\w+)"', body) if status >= 400 else None
        code = m.group(1).decode() if m else "-"
    except Exception as e:
        code = "timeout" if "timed out" in str(e) else type(e).__name__
    finally:
        conn.close()
    print("%.1f %d %s" % ((time.monotonic() - t0) * 1000, status, code), flush=True)
    time.sleep(0.2)
PY

# ---------------------------------------------------------------- server
# The load comes from one address: the per-client rate limit is off (this measures admission).
env REFRACT_LOG=warn REFRACT_DATA_DIR="$WORK/data" REFRACT_RATE_LIMIT__ENABLED=false REFRACT_TRANSFORM__WORKERS="$WORKERS" \
  REFRACT_TRANSFORM__QUEUE="$QUEUE" REFRACT_CACHE__MEMORY_BYTES="$CACHE_BYTES" "$REFRACT" serve --originals "$ORIG" \
  --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 >"$WORK/refract.stdout" 2>"$WORK/refract.stderr" &
SRV=$!             # env execs refract, so this is refract's PID
PIDS+=("$SRV")
line=""                   # wait (up to 30 s) for "refract listening http=ADDR admin=ADDR"
for ((i = 0; i < 300; i++)); do
  line=$(grep -m1 '^refract listening ' "$WORK/refract.stdout" || true)
  [[ -n $line ]] && break
  kill -0 "$SRV" 2>/dev/null || { cat "$WORK/refract.stderr" >&2; die "refract exited at start-up"; }
  sleep 0.1
done
[[ -n $line ]] || die "refract printed no 'refract listening' line within 30 s"
HTTP=$(sed -n 's/.* http=\([^ ]*\).*/\1/p' <<<"$line")
ADMIN=$(sed -n 's/.* admin=\([^ ]*\).*/\1/p' <<<"$line")
log "refract: pid $SRV, http $HTTP, admin $ADMIN, workers $WORKERS, queue $QUEUE"

while read -r path; do
  for _ in 1 2; do curl -sf -o /dev/null "http://$HTTP$path" || die "warming $path failed"; done
done <"$WORK/cheap.txt"
HOSTILE_ROWS=() COSTLY_OK=0
while read -r path; do
  res=$(curl -s --path-as-is -o "$WORK/pre.body" -w '%{http_code} %{time_total}' --max-time 10 "http://$HTTP$path" || echo "000 10")
  code=$(sed -n 's/.*"code" *: *"\([a-z_]*\)".*/\1/p' "$WORK/pre.body" 2>/dev/null | head -1)
  ms=$(awk -v t="${res#* }" 'BEGIN { printf "%.1f", t * 1000 }')
  shown=$path && ((${#path} <= 60)) || shown="${path:0:48}… (${#path} chars)"
  HOSTILE_ROWS+=("| \`$shown\` | ${res%% *} | ${code:--} | $ms |")
  log "preflight ${res%% *} ${code:--} ${ms} ms  $shown"
  if [[ $path == "$COSTLY" && ${res%% *} == 400 && $code == too_costly ]] &&
    awk -v m="$ms" 'BEGIN { exit !(m < 1000) }'; then COSTLY_OK=1; fi
done <"$WORK/hostile.txt"

# ---------------------------------------------------------------- load
BUSY_START=$(builds_running && echo yes || echo no)
T0_TRANSFORMS=$(metric refract_transforms_total)
log "load for ${DUR_S}s: cheap -c$CHEAP_CONNS, misses -c$MISS_CONNS, hostile -c$HOSTILE_CONNS, prober"
LOADS=()
in_bg() { local out=$1; shift; "$@" >"$out" 2>"$out.err" & PIDS+=("$!"); LOADS+=("$!"); }   # OUT CMD...
in_bg "$WORK/cheap.wrk" wrk -t2 -c"$CHEAP_CONNS" -d"${DUR_S}s" -s "$WORK/list.lua" "http://$HTTP/" -- "$WORK/cheap.txt"
in_bg "$WORK/miss.wrk" wrk -t2 -c"$MISS_CONNS" -d"${DUR_S}s" --timeout 60s -s "$WORK/miss.lua" "http://$HTTP/" -- \
  2 "$MISS_W0" "$MISS_SPAN" "$MISS_H0"
in_bg "$WORK/hostile.wrk" wrk -t1 -c"$HOSTILE_CONNS" -d"${DUR_S}s" --timeout 10s -s "$WORK/list.lua" "http://$HTTP/" -- \
  "$WORK/hostile.txt"
in_bg "$WORK/probe.out" python3 "$WORK/probe.py" "$HTTP" "$DUR_S" "$PROBE_H0"

: >"$WORK/rss.txt"
start=$(date +%s)
for ((t = 0; t <= DUR_S; t += SAMPLE)); do
  while (($(date +%s) - start < t)); do sleep 0.5; done
  rss=$(proc_kib "$SRV" VmRSS || true)
  [[ -n $rss ]] || { log "refract is gone at ${t}s"; break; }
  echo "$t $rss $(($(metric 'refract_cache_bytes{tier="memory"}') / 1024))" >>"$WORK/rss.txt"
  if ((t % 60 == 0)); then
    log "${t}s: RSS $(mib "$rss") MiB, transforms $(metric refract_transforms_total), rejected $(metric refract_rejected_total)"
  fi
done
for pid in "${LOADS[@]}"; do wait "$pid" || log "warning: load process $pid exited non-zero"; done
BUSY_END=$(builds_running && echo yes || echo no)
ALIVE=$(kill -0 "$SRV" 2>/dev/null && echo 1 || echo 0)
READY=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADMIN/ready" || true)
HWM=$(proc_kib "$SRV" VmHWM || echo 0)
TRANSFORMS=$(($(metric refract_transforms_total) - T0_TRANSFORMS))
MEM_REJ=$(metric 'refract_rejected_total{reason="memory"}')
REJECTED=$(curl -sf "http://$ADMIN/metrics" | awk '/^refract_rejected_total/ { printf "%s%s %s", s, $1, $2; s = ", " }' || true)

# ---------------------------------------------------------------- results
BAD5XX=0 SHED=0 SLOW_SHED=0 ROWS=() CODES=()
for class in cheap miss hostile; do
  sed 's/^/    /' "$WORK/$class.wrk" "$WORK/$class.wrk.err" >&2
  res=$(grep '^RESULT ' "$WORK/$class.wrk") || die "no RESULT line from wrk ($class)"
  st=$(sed -n 's/^STATUSES //p' "$WORK/$class.wrk")
  read -r bad shed slow by_status < <(tr ' ' '\n' <<<"$st" | awk -F'[/:]' 'NF { if (!($1 in n)) o[++k] = $1; n[$1] += $NF }
    $1 ~ /^5/ && $1 != 503 { b += $NF }  $1 == 503 { s += $NF }  $2 == "deadline_exceeded" { d += $NF }
    END { for (i = 1; i <= k; i++) l = l (l ? " " : "") o[i] "×" n[o[i]]; printf "%d %d %d %s\n", b, s, d, (l ? l : "none") }')
  BAD5XX=$((BAD5XX + bad)) SHED=$((SHED + shed)) SLOW_SHED=$((SLOW_SHED + slow))
  ROWS+=("| $class | $(kv requests "$res") | $(kv rps "$res") | $(kv p50 "$res") | $(kv p95 "$res") | $(kv p99 "$res") | $(kv max "$res") | $by_status | $(kv sockerr "$res") / $(kv timeouts "$res") |")
  CODES+=("- $class: ${st:-none}")
done
read -r P_N P_503 P_MAX503 P_OVER1S P_BAD5XX P_TIMEOUTS P_STATUSES < <(awk '
  { n++; c[$2 "/" $3]++ }
  $2 == 503 { s++; if ($1 > m) m = $1; if ($1 > 1000) o++ }
  $2 >= 500 && $2 != 503 { b++ }  $2 == 0 { t++ }
  END { for (k in c) l = l (l ? "," : "") k "×" c[k]; printf "%d %d %.1f %d %d %d %s\n", n, s, m, o, b, t, (l ? l : "none") }' "$WORK/probe.out")
BAD5XX=$((BAD5XX + P_BAD5XX))

read -r BASE_MEAN LAST_MEAN WINDOWS < <(awk -v d="$DUR_S" '
  d >= 180 && $1 >= int(d / 2) - 60 && $1 < int(d / 2) { b += $2; nb++ }  d >= 180 && $1 >= d - 60 { l += $2; nl++ }
  d < 180 && $1 > 0 && $1 <= d / 2 { b += $2; nb++ }  d < 180 && $1 > d / 2 { l += $2; nl++ }
  END { w = (d >= 180) ? "middle_minute_vs_last_minute" : "first_half_vs_second_half"
        printf "%.0f %.0f %s\n", (nb ? b / nb : 0), (nl ? l / nl : 0), w }' "$WORK/rss.txt")
RSS_TABLE=$(awk '{ m = ($1 == 0) ? 0 : int(($1 - 1) / 60); n[m]++; s[m] += $2; c[m] += $3; if ($2 > x[m]) x[m] = $2; if (m > top) top = m }
  END { for (i = 0; i <= top; i++) if (n[i]) printf "| %d | %d | %.1f | %.1f | %.1f |\n", i + 1, n[i], s[i] / n[i] / 1024, x[i] / 1024, c[i] / n[i] / 1024 }' "$WORK/rss.txt")
RSS_SERIES=$(awk '{ printf "%s%.0f", (NR > 1 ? " " : ""), $2 / 1024 }' "$WORK/rss.txt")

check() { case $1 in 1) echo "- PASS: $2" ;; skip) echo "- SKIP: $2" ;; *) echo "- FAIL: $2" ;; esac; }
ok5xx=$(( BAD5XX == 0 && ALIVE == 1 && READY == 200 ? 1 : 0 ))
ok503=$(( SHED > 0 && P_503 > 0 && P_OVER1S == 0 && SLOW_SHED == 0 && MEM_REJ == 0 ? 1 : 0 ))
okrss=$(awk -v b="$BASE_MEAN" -v l="$LAST_MEAN" 'BEGIN { lim = (b * 1.15 > b + 65536) ? b * 1.15 : b + 65536; print (b > 0 && l > 0 && l <= lim) ? 1 : 0 }')
RSS_NOTE=""
if ((DUR_S < 180)); then okrss=skip RSS_NOTE=" (not judged: needs a DURATION of 3 minutes or more)"; fi

cat <<EOF
## Saturation: results of bench/saturation.sh

- Date: $DATE; machine: $(nproc) CPUs ($CPU_MODEL); load average at the end $(cut -d' ' -f1-3 /proc/loadavg)
- refract: $REFRACT_V ($REFRACT); tools: $TOOLS; cargo/rustc running at start: $BUSY_START, at end: $BUSY_END
- Config: \`REFRACT_LOG=warn REFRACT_RATE_LIMIT__ENABLED=false REFRACT_TRANSFORM__WORKERS=$WORKERS REFRACT_TRANSFORM__QUEUE=$QUEUE REFRACT_CACHE__MEMORY_BYTES=$CACHE_BYTES refract serve\`, other settings default (request timeout 30 s)
- Load for ${DUR_S} s, all at once: cheap \`wrk -t2 -c$CHEAP_CONNS\` over 4 warmed variants; misses \`wrk -t2 -c$MISS_CONNS --timeout 60s\` (distinct variants of bridge-10mp/bird-20mp, widths $MISS_W0–$((MISS_W0 + MISS_SPAN - 1)), webp/avif/jpeg); hostile \`wrk -t1 -c$HOSTILE_CONNS --timeout 10s\` over $(wc -l <"$WORK/hostile.txt") requests; a sequential prober (5 s timeout)

### Per class (latencies in ms, wrk)

| class | requests | req/s | p50 | p95 | p99 | max | statuses | socket errors / timeouts |
|---|---:|---:|---:|---:|---:|---:|---|---:|
$(printf '%s\n' "${ROWS[@]}")

Statuses with their JSON code:
$(printf '%s\n' "${CODES[@]}")

Server counters over the run: transforms $TRANSFORMS; ${REJECTED:-no refract_rejected_total samples}.

### Shed latency (prober: sequential expensive misses, 5 s client timeout)

$P_N requests ($P_STATUSES): $P_503 × 503, max 503 latency **$P_MAX503 ms**, $P_OVER1S over 1 s; $P_TIMEOUTS without an answer (5 s timeout or connection error).

### Hostile requests, each once before the load (curl)

| request | status | code | ms |
|---|---:|---|---:|
$(printf '%s\n' "${HOSTILE_ROWS[@]}")

### RSS of refract (VmRSS every $SAMPLE s)

| minute | samples | mean MiB | max MiB | memory tier MiB (mean) |
|---:|---:|---:|---:|---:|
$RSS_TABLE

Series (MiB): $RSS_SERIES. Peak (VmHWM) at the end: $(mib "$HWM") MiB. Windows compared ($WINDOWS): $(mib "$BASE_MEAN") MiB → $(mib "$LAST_MEAN") MiB.

### Checks

$(check "$ok5xx" "no 5xx except 503 ($BAD5XX other 5xx; server alive: $ALIVE, /ready $READY)")
$(check "$ok503" "503 shedding, every shed request answered within 1 s ($SHED × 503 in wrk, $SLOW_SHED of them deadline_exceeded; $MEM_REJ memory-wait refusals; prober: $P_503 × 503, max $P_MAX503 ms)")
$(check "$okrss" "RSS flat in the second half: last minute $(mib "$LAST_MEAN") MiB vs the middle minute $(mib "$BASE_MEAN") MiB, at most +15% or +64 MiB$RSS_NOTE")
$(check "$COSTLY_OK" "\`$COSTLY\` answered 400 too_costly within 1 s")
EOF
[[ $(printf '%s\n' "$ok5xx" "$ok503" "$okrss" "$COSTLY_OK" | grep -v skip | sort -u) == 1 ]] || exit 1
