#!/usr/bin/env bash
# A fleet end to end (issue 12): three `refract serve` instances sharing one PostgreSQL (the
# metadata store) and one SeaweedFS bucket (originals and the cold tier), nginx in front routing
# by URL (and a round-robin port), and the edge worker in workerd in front of nginx, all started
# here on 127.0.0.1 (tests/fleet-lib.sh). Checks, each printing PASS or FAIL:
#
#   a. a replaced original is seen fresh through every instance within the fleet's window;
#   b. ... and through the edge worker within its REVALIDATE_SECS;
#   c. a deleted original's variants are gone from every tier: the index rows in PostgreSQL,
#      the cold objects in the bucket, each instance's warm directory, each instance's memory
#      (every instance answers 404) and the edge's cache (the worker answers 404);
#   d. rate limits hold per client through nginx: one client bursting gets 429 with
#      Retry-After, RateLimit and RateLimit-Policy, and no more 200s than its policy allows;
#      another client (another X-Forwarded-For, nginx being a trusted proxy) is unaffected;
#   f. a stampede of identical concurrent misses: exactly one transform in the fleet with
#      routing by URL; with round-robin, the duplicates are counted (at most one per instance);
#   e. kill -9 of one instance under a load of cached GETs through nginx: no failed request
#      beyond those in flight on it (nginx retries idempotent GETs), and the others keep serving.
# (f runs before e, so the stampede meets a whole fleet.)
#
# Usage: tests/e2e-fleet.sh <path to the refract binary>
#   FLEET_CHECKS="a c"          run only these checks (default: a b c d f e, in that order)
#   FLEET_SKIP_WORKER_BUILD=1   use edge-worker/build/ as it is (else edge-worker/build.sh runs)
#   FL_KEEP=1                   keep the temp dir (logs, data) at the end
# Exits non-zero when any check fails. Needs what tests/install-tools.sh installs: PostgreSQL,
# SeaweedFS, nginx-light, wrk, curl, python3, ImageMagick, the edge worker's npm tools.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:?usage: $0 <refract binary>}"
export FL_TAG=e2e-fleet
# shellcheck source=tests/fleet-lib.sh
source tests/fleet-lib.sh
command -v identify >/dev/null || fl_die "ImageMagick's identify is missing (tests/install-tools.sh)"

# ---------------------------------------------------------------- settings under test
# The fleet's freshness window, cache.notify_window_ms (docs/server.md): how long an instance
# may serve a variant of an original that another instance replaced or deleted.
FLEET_WINDOW_MS=1000
# The edge worker's REVALIDATE_SECS: a cached entry older than this is checked against the
# origin before it is served (docs/edge.md).
EDGE_REVALIDATE_SECS=1
# The per-client limit of check d, rate_limit.client (docs/server.md, "Rate limits"): RATE
# units per second, a burst of BURST; a cache hit costs 1 unit.
LIMIT_RATE=5
LIMIT_BURST=30
POLL_DEADLINE_MS=5000     # every polled condition gives up after this
FLUSH_MS=250              # meta.flush_ms: access times are written in batches this often
FLEET_CHECKS=${FLEET_CHECKS:-a b c d f e}
for check in $FLEET_CHECKS; do
  [[ $check == [abcdef] ]] || { echo "e2e-fleet: unknown check '$check' in FLEET_CHECKS (a b c d e f)"; exit 2; }
done

# Memory entries are never revalidated on their own during the run (revalidate_secs), so a
# fresh answer after a replacement comes from the fleet's invalidation and nothing else. nginx
# (127.0.0.1) is the trusted proxy whose X-Forwarded-For names the client. A warm budget of
# 400 kB sends variants over 50 kB (an eighth of it) straight to the cold tier, so check
# c finds one variant in each of warm and cold.
EXTRA_TOML=$(cat <<EOF

[meta]
flush_ms = $FLUSH_MS

[tiers]
warm_bytes = 400000

[cache]
revalidate_secs = 3600
notify_window_ms = $FLEET_WINDOW_MS

[rate_limit]
enabled = true
client = { rate = $LIMIT_RATE.0, burst = $LIMIT_BURST }
trusted_proxies = ["127.0.0.1"]
client_ip_header = "x-forwarded-for"
EOF
)

# ---------------------------------------------------------------- helpers
now_ms() { date +%s%3N; }
FAILS=()
PASSES=()
pass() { PASSES+=("$1"); echo "e2e-fleet: PASS: $1"; }
fail() { FAILS+=("$1"); echo "e2e-fleet: FAIL: $1"; }
note() { echo "e2e-fleet:   $*"; }

# Each request carries its own client address, so that the per-client limits (on in every
# check) only bite where check d wants them to.
CLIENT_N=0
next_client() { CLIENT_N=$((CLIENT_N + 1)); CLIENT="10.$((CLIENT_N / 65536 % 256)).$((CLIENT_N / 256 % 256)).$((CLIENT_N % 256))"; }

# [AS=CLIENT] get URL [CURL ARGS...]: one GET from CLIENT (default: a new client address);
# sets G_CODE, G_ETAG, G_TIMING, G_CACHE (x-refract-cache), G_UPSTREAM (nginx's
# X-Refract-Upstream) and leaves the body in $FL_WORK/body, the headers in $FL_WORK/headers.
get() {
  local url=$1
  shift
  next_client
  G_CODE=$(curl -s -o "$FL_WORK/body" -D "$FL_WORK/headers" -w '%{http_code}' \
    -H "X-Forwarded-For: ${AS:-$CLIENT}" "$@" "$url" || true)
  G_ETAG=$(header etag)
  G_TIMING=$(header server-timing)
  G_CACHE=$(header x-refract-cache)
  G_UPSTREAM=$(header x-refract-upstream)
}
header() { tr -d '\r' <"$FL_WORK/headers" | sed -n "s/^$1: //Ip" | tail -1; }
dims() { identify -format '%wx%h' "$1" 2>/dev/null || echo undecodable; }

# put KEY FILE [BASE]: upload through BASE (default: instance 0); fails the run unless 201.
put() {
  local code
  code=$(fl_upload "${3:-http://${FL_HTTP[0]}}" "$1" "$2")
  [[ $code == 201 ]] || { cat "$FL_WORK/upload.out" >&2; fl_die "PUT $1 answered $code"; }
}

# ---------------------------------------------------------------- the fleet
fl_init "$bin"
trap fl_cleanup EXIT
trap 'exit 130' INT TERM
if [[ ${FLEET_SKIP_WORKER_BUILD:-0} != 1 ]]; then
  fl_log "bash edge-worker/build.sh"
  bash edge-worker/build.sh >&2
fi
fl_start_pg
fl_start_weed
fl_write_config "$EXTRA_TOML"
fl_start_fleet
fl_start_nginx 1
fl_start_worker "{\"ORIGIN_URL\":\"$FL_LB\",\"HANDOFF_URL\":\"$FL_LB\",\"REVALIDATE_SECS\":\"$EDGE_REVALIDATE_SECS\"}"
echo "e2e-fleet: $("$FL_BIN" --version), $FL_N instances, PostgreSQL and SeaweedFS shared, nginx $FL_LB, worker $FL_WORKER"

# =============================================================== a. replaced, through every instance
# poll_fresh I T0 (check a, one per instance, in the background): asks instance I for A_PATH
# until it answers with another ETag than OLD_ETAG, or POLL_DEADLINE_MS after T0; writes
# "LAST_STALE_MS FIRST_FRESH_MS ETAG" (times from T0 of the requests' starts; - for none) to
# $FL_WORK/a-poll-I.
poll_fresh() {
  local i=$1 t0=$2 start stale="" fresh="" etag=""
  CLIENT_N=$(((i + 1) * 100000))
  while (($(now_ms) - t0 < POLL_DEADLINE_MS)); do
    start=$(($(now_ms) - t0))
    FL_WORK=$FL_WORK/a-$i get "http://${FL_HTTP[$i]}$A_PATH"
    if [[ $G_CODE == 200 && $G_ETAG != "$OLD_ETAG" ]]; then
      fresh=$start etag=$G_ETAG
      break
    fi
    stale=$start
    sleep 0.01
  done
  echo "${stale:--} ${fresh:--} ${etag:--}" >"$FL_WORK/a-poll-$i"
}

check_a() {
  # v1 is 1600x1200 (landscape), v2 799x1200 (portrait): at width=320, 320x240 against 320x481.
  A_KEY=fleet/replace.jpg
  A_PATH="/$A_KEY?width=320&format=webp"
  put "$A_KEY" samples/baseline.jpg
  a_ok=1
  OLD_ETAG=""
  for ((i = 0; i < FL_N; i++)); do
    get "http://${FL_HTTP[$i]}$A_PATH"
    get "http://${FL_HTTP[$i]}$A_PATH"
    if [[ $G_CODE != 200 || $G_TIMING != *memory* ]]; then
      a_ok=0
      note "instance $i: the second GET was $G_CODE with Server-Timing '$G_TIMING', not a memory hit"
    fi
    [[ -z $OLD_ETAG ]] && OLD_ETAG=$G_ETAG
    [[ $G_ETAG == "$OLD_ETAG" ]] || { a_ok=0; note "instance $i: ETag $G_ETAG, instance 0 gave $OLD_ETAG"; }
  done
  [[ $(dims "$FL_WORK/body") == 320x240 ]] || { a_ok=0; note "v1 at width=320 is $(dims "$FL_WORK/body"), not 320x240"; }

  # Replace it through instance 1, then ask every instance, each in a loop of its own, until it
  # serves the new version. For each: the start of the last request answered with the old version
  # (the staleness, which must be within the window) and of the first answered with the new one.
  put "$A_KEY" samples/icc-adobergb.jpg "http://${FL_HTTP[1]}"
  t0=$(now_ms)
  pollers=()
  for ((i = 0; i < FL_N; i++)); do
    mkdir -p "$FL_WORK/a-$i"
    poll_fresh "$i" "$t0" &
    pollers+=($!)
  done
  wait "${pollers[@]}"
  declare -A LAST_STALE FIRST_FRESH NEW_ETAG
  for ((i = 0; i < FL_N; i++)); do
    read -r stale fresh etag <"$FL_WORK/a-poll-$i"
    [[ $stale != - ]] && LAST_STALE[$i]=$stale
    [[ $fresh != - ]] && FIRST_FRESH[$i]=$fresh NEW_ETAG[$i]=$etag
    cp "$FL_WORK/a-$i/body" "$FL_WORK/a-new-$i"
  done
  a_windows=""
  for ((i = 0; i < FL_N; i++)); do
    if [[ -z ${FIRST_FRESH[$i]:-} ]]; then
      a_ok=0
      note "instance $i: still the old version ${POLL_DEADLINE_MS} ms after the replacement"
      a_windows+=" i$i=never"
      continue
    fi
    stale=${LAST_STALE[$i]:-none}
    if [[ $stale == none ]]; then a_windows+=" i$i: fresh from the first request (${FIRST_FRESH[$i]} ms);"
    else a_windows+=" i$i: old version until $stale ms, new from ${FIRST_FRESH[$i]} ms;"; fi
    if [[ $stale != none ]] && ((stale > FLEET_WINDOW_MS)); then
      a_ok=0
      note "instance $i answered with the old version to a request sent $stale ms after the replacement (window $FLEET_WINDOW_MS ms)"
    fi
    [[ $(dims "$FL_WORK/a-new-$i") == 320x481 ]] || { a_ok=0; note "instance $i: the new version is $(dims "$FL_WORK/a-new-$i"), not 320x481"; }
    [[ ${NEW_ETAG[$i]} == "${NEW_ETAG[1]:-}" ]] || { a_ok=0; note "instance $i: ETag ${NEW_ETAG[$i]}, instance 1 gave ${NEW_ETAG[1]:-none}"; }
  done
  note "replaced through instance 1 (window $FLEET_WINDOW_MS ms), times from the replacement's answer:$a_windows"
  if ((a_ok)); then pass "a. replaced original fresh through every instance within $FLEET_WINDOW_MS ms"
  else fail "a. replaced original not fresh through every instance within $FLEET_WINDOW_MS ms"; fi
}

# =============================================================== b. replaced, through the worker
check_b() {
  B_KEY=fleet/edge.jpg
  B_PATH="/$B_KEY?width=320&format=webp"
  put "$B_KEY" samples/baseline.jpg "$FL_LB"
  b_ok=1
  for ((n = 0; n < 20; n++)); do
    get "$FL_WORKER$B_PATH"
    [[ $G_CODE == 200 && $G_CACHE == hit ]] && break
    sleep 0.05
  done
  if [[ $G_CODE != 200 || $G_CACHE != hit ]]; then
    b_ok=0
    note "the worker never answered from its cache (last: $G_CODE, x-refract-cache '$G_CACHE')"
  fi
  B_OLD=$G_ETAG
  [[ $(dims "$FL_WORK/body") == 320x240 ]] || { b_ok=0; note "v1 through the worker is $(dims "$FL_WORK/body"), not 320x240"; }
  put "$B_KEY" samples/icc-adobergb.jpg "$FL_LB"
  t0=$(now_ms)
  b_stale="" b_fresh=""
  while (($(now_ms) - t0 < POLL_DEADLINE_MS + EDGE_REVALIDATE_SECS * 1000)); do
    start=$(($(now_ms) - t0))
    get "$FL_WORKER$B_PATH"
    if [[ $G_CODE == 200 && $G_ETAG != "$B_OLD" ]]; then
      b_fresh=$start
      break
    fi
    b_stale=$start
    sleep 0.02
  done
  b_window=$((EDGE_REVALIDATE_SECS * 1000))
  if [[ -z $b_fresh ]]; then
    b_ok=0
    note "the worker still serves the old version $((POLL_DEADLINE_MS + b_window)) ms after the replacement"
  else
    note "through the worker: old version until ${b_stale:-none} ms, new from $b_fresh ms after the replacement (REVALIDATE_SECS=$EDGE_REVALIDATE_SECS)"
    if [[ -n $b_stale ]] && ((b_stale > b_window)); then
      b_ok=0
      note "the worker answered with the old version to a request sent $b_stale ms after the replacement (window $b_window ms)"
    fi
    [[ $(dims "$FL_WORK/body") == 320x481 ]] || { b_ok=0; note "the new version through the worker is $(dims "$FL_WORK/body"), not 320x481"; }
  fi
  if ((b_ok)); then pass "b. replaced original fresh through the worker within ${EDGE_REVALIDATE_SECS} s"
  else fail "b. replaced original not fresh through the worker within ${EDGE_REVALIDATE_SECS} s"; fi
}

# =============================================================== c. deleted, from every tier
check_c() {
  C_KEY=fleet/delete.jpg
  C_BIG="/$C_KEY?width=1200&format=jpeg"     # ~140 kB: over an eighth of warm_bytes, to cold
  C_SMALL="/$C_KEY?width=200&format=webp"    # ~6 kB: to each instance's warm directory
  put "$C_KEY" samples/baseline.jpg
  c_ok=1
  for ((i = 0; i < FL_N; i++)); do
    for p in "$C_BIG" "$C_SMALL"; do
      get "http://${FL_HTTP[$i]}$p"
      [[ $G_CODE == 200 ]] || { c_ok=0; note "instance $i: GET $p answered $G_CODE before the delete"; }
    done
  done
  for p in "$C_BIG" "$C_SMALL"; do
    for ((n = 0; n < 20; n++)); do
      get "$FL_WORKER$p"
      [[ $G_CACHE == hit ]] && break
      sleep 0.05
    done
    [[ $G_CACHE == hit ]] || note "warning: the worker did not cache $p before the delete"
  done
  # The background writes land: the index has a cold row and a warm row for the key, the bucket
  # holds the cold one, and every warm directory the warm one.
  t0=$(now_ms)
  C_COLD="" C_WARM=""
  while (($(now_ms) - t0 < POLL_DEADLINE_MS)); do
    rows=$(fl_psql "SELECT id, tiers FROM objects WHERE key = '$C_KEY' AND class = 'variant' ORDER BY id")
    C_COLD=$(awk -F'|' '($2 % 8) >= 4 { sub("^v/", "", $1); print $1 }' <<<"$rows" | head -1)
    C_WARM=$(awk -F'|' '($2 % 4) >= 2 { sub("^v/", "", $1); print $1 }' <<<"$rows" | head -1)
    in_bucket=0 in_warm=0
    [[ -n $C_COLD ]] && fl_bucket_list cold/variants | grep -qx "$C_COLD" && in_bucket=1
    if [[ -n $C_WARM ]]; then
      in_warm=1
      for ((i = 0; i < FL_N; i++)); do
        [[ -f $FL_WORK/i$i/data/warm/${C_WARM:0:2}/$C_WARM ]] || in_warm=0
      done
    fi
    ((in_bucket && in_warm)) && break
    sleep 0.05
  done
  note "before the delete: index rows of $C_KEY: $(tr '\n' ' ' <<<"$rows"); cold object ${C_COLD:-none}; warm file ${C_WARM:-none}"
  ((in_bucket)) || { c_ok=0; note "precondition: no variant of $C_KEY reached the cold tier (index and bucket)"; }
  ((in_warm)) || { c_ok=0; note "precondition: the small variant is not in every instance's warm directory"; }

  # Uses of the original just before the delete (each records an access, flushed to the index
  # in a batch every meta.flush_ms): the flush after the delete must not bring its row back.
  for ((i = 0; i < FL_N; i++)); do
    get "http://${FL_HTTP[$i]}/$C_KEY"
    get "http://${FL_HTTP[$i]}$C_SMALL"
  done
  code=$(curl -s -o "$FL_WORK/delete.out" -w '%{http_code}' -X DELETE -H "Authorization: Bearer $FL_TOKEN" \
    "http://${FL_HTTP[2]}/$C_KEY")
  [[ $code == 204 ]] || { c_ok=0; note "DELETE through instance 2 answered $code: $(cat "$FL_WORK/delete.out")"; }
  t0=$(now_ms)
  c_left=""
  while :; do
    c_left=""
    n=$(fl_psql "SELECT count(*) FROM objects WHERE key = '$C_KEY'")
    ((n == 0)) || c_left+=" $n index rows ($(fl_psql "SELECT id || ' ' || class || ' tiers=' || tiers FROM objects WHERE key = '$C_KEY'" | tr '\n' ',' ));"
    [[ -n $C_COLD ]] && fl_bucket_list cold/variants | grep -qx "$C_COLD" && c_left+=" the cold object;"
    for ((i = 0; i < FL_N; i++)); do
      if grep -rlqaF "$C_KEY?" "$FL_WORK/i$i/data/warm" 2>/dev/null; then c_left+=" instance $i's warm files;"; fi
      for p in "$C_BIG" "$C_SMALL" "/$C_KEY"; do
        get "http://${FL_HTTP[$i]}$p"
        [[ $G_CODE == 404 ]] || c_left+=" instance $i answers $G_CODE to $p;"
      done
    done
    for p in "$C_BIG" "$C_SMALL"; do
      get "$FL_WORKER$p"
      [[ $G_CODE == 404 ]] || c_left+=" the worker answers $G_CODE to $p;"
    done
    [[ -z $c_left ]] && break
    (($(now_ms) - t0 > POLL_DEADLINE_MS + EDGE_REVALIDATE_SECS * 1000)) && break
    sleep 0.05
  done
  c_ms=$(($(now_ms) - t0))
  if [[ -n $c_left ]]; then
    c_ok=0
    note "$((POLL_DEADLINE_MS + EDGE_REVALIDATE_SECS * 1000)) ms after the delete, still:$c_left"
  else
    note "every tier empty of $C_KEY and every answer 404 within $c_ms ms of the delete"
    # ... and still so after several batched flushes of access times (meta.flush_ms).
    t1=$(now_ms)
    while (($(now_ms) - t1 < 4 * FLUSH_MS)); do
      n=$(fl_psql "SELECT count(*) FROM objects WHERE key = '$C_KEY'")
      if ((n > 0)); then
        c_ok=0
        note "$(($(now_ms) - t0)) ms after the delete, index rows of $C_KEY are back: $(fl_psql "SELECT id || ' ' || class || ' tiers=' || tiers FROM objects WHERE key = '$C_KEY'" | tr '\n' ',')"
        break
      fi
      sleep 0.05
    done
  fi
  if ((c_ok)); then pass "c. deleted original's variants gone from the index, the bucket, every warm dir, every instance and the worker"
  else fail "c. deleted original's variants not gone from every tier"; fi
}

# =============================================================== d. rate limits, per client
check_d() {
  D_KEY=fleet/limit.jpg
  D_PATH="/$D_KEY?width=100&format=webp"
  put "$D_KEY" samples/cat-small.jpg
  get "$FL_LB$D_PATH"           # made once; from here on every request is a hit costing 1 unit
  d_ok=1
  D_REQS=$((LIMIT_BURST + 40))
  urls=()
  for ((n = 0; n < D_REQS; n++)); do urls+=(-o /dev/null "$FL_LB$D_PATH"); done
  : >"$FL_WORK/d-headers"
  t0=$(now_ms)
  curl -s -D "$FL_WORK/d-headers" -w '%{http_code}\n' -H 'X-Forwarded-For: 203.0.113.7' \
    "${urls[@]}" >"$FL_WORK/d-codes" || true
  d_secs=$(( ($(now_ms) - t0 + 999) / 1000 ))
  AS=203.0.113.8 get "$FL_LB$D_PATH"
  other=$G_CODE
  d_200=$(grep -c '^200$' "$FL_WORK/d-codes" || true)
  d_429=$(grep -c '^429$' "$FL_WORK/d-codes" || true)
  # The headers of each 429 response: split the dump at each status line.
  python3 - "$FL_WORK/d-headers" >"$FL_WORK/d-check" <<'PY'
import sys
blocks, cur = [], None
for line in open(sys.argv[1], encoding="latin-1"):
    line = line.rstrip("\r\n")
    if line.startswith("HTTP/"):
        cur = {"status": line.split()[1]}
        blocks.append(cur)
    elif cur is not None and ":" in line:
        k, v = line.split(":", 1)
        cur[k.strip().lower()] = v.strip()
bad = []
for b in blocks:
    if b["status"] != "429":
        continue
    ra = b.get("retry-after", "")
    if not ra.isdigit() or int(ra) < 1:
        bad.append("Retry-After %r" % ra)
    if "ratelimit" not in b:
        bad.append("no RateLimit header")
    if "ratelimit-policy" not in b:
        bad.append("no RateLimit-Policy header")
first = next((b for b in blocks if b["status"] == "429"), None)
print("BAD " + "; ".join(sorted(set(bad))) if bad else "OK")
if first:
    print("EXAMPLE Retry-After: %s; RateLimit: %s; RateLimit-Policy: %s" % (
        first.get("retry-after"), first.get("ratelimit"), first.get("ratelimit-policy")))
PY
  note "client 203.0.113.7: $D_REQS GETs of one cached URL through nginx in ${d_secs} s (rounded up): $d_200 × 200, $d_429 × 429"
  note "$(sed -n 's/^EXAMPLE //p' "$FL_WORK/d-check")"
  # What the policy admits in that time: the burst, plus the rate for each (started) second.
  d_max=$((LIMIT_BURST + LIMIT_RATE * d_secs))
  ((d_429 > 0)) || { d_ok=0; note "no 429 for a client over its burst of $LIMIT_BURST"; }
  ((d_200 <= d_max)) || { d_ok=0; note "$d_200 requests admitted, more than the policy's $d_max (burst $LIMIT_BURST + $LIMIT_RATE/s × $d_secs s)"; }
  ((d_200 + d_429 == D_REQS)) || { d_ok=0; note "answers other than 200 and 429: $(sort "$FL_WORK/d-codes" | uniq -c | tr '\n' ' ')"; }
  [[ $(head -1 "$FL_WORK/d-check") == OK ]] || { d_ok=0; note "429 headers: $(head -1 "$FL_WORK/d-check")"; }
  [[ $other == 200 ]] || { d_ok=0; note "another client (203.0.113.8) got $other for the same URL"; }
  # The JSON body of a 429 (one more request from the limited client).
  AS=203.0.113.7 get "$FL_LB$D_PATH"
  if [[ $G_CODE == 429 ]]; then
    body_code=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["code"])' "$FL_WORK/body" 2>/dev/null || echo unreadable)
    [[ $body_code == rate_limited ]] || { d_ok=0; note "the 429's code is '$body_code', not rate_limited"; }
  fi
  if ((d_ok)); then pass "d. per-client rate limit through nginx: 429 with Retry-After, RateLimit, RateLimit-Policy; another client unaffected"
  else fail "d. per-client rate limit through nginx"; fi
}

# =============================================================== f. stampede of identical misses
# stampede NAME BASE PATH: F_N identical GETs at once (one curl, --parallel-immediate: every
# connection opened together), each from another client; sets S_TRANSFORMS, S_200, S_DISTINCT.
stampede() {
  local name=$1 base=$2 path=$3 n t0
  fl_settle
  t0=$(fl_fleet_metric refract_transforms_total)
  mkdir -p "$FL_WORK/$name"
  for ((n = 1; n <= F_N; n++)); do
    next_client
    # `next` starts another transfer with options of its own (the header is per request).
    ((n > 1)) && echo next
    printf 'url = "%s%s"\noutput = "%s/%s/%d.body"\nheader = "X-Forwarded-For: %s"\nwrite-out = "%%{http_code}\\n"\n' \
      "$base" "$path" "$FL_WORK" "$name" "$n" "$CLIENT"
  done >"$FL_WORK/$name.cfg"
  curl -s --parallel --parallel-immediate --parallel-max "$F_N" -K "$FL_WORK/$name.cfg" \
    >"$FL_WORK/$name.codes" 2>"$FL_WORK/$name.stderr" || true
  fl_settle
  S_TRANSFORMS=$(($(fl_fleet_metric refract_transforms_total) - t0))
  S_200=$(grep -c '^200$' "$FL_WORK/$name.codes" || true)
  S_DISTINCT=$(sha256sum "$FL_WORK/$name"/*.body 2>/dev/null | awk '{ print $1 }' | sort -u | wc -l)
}

check_f() {
  F_KEY=fleet/stampede.jpg
  F_N=48
  put "$F_KEY" samples/baseline.jpg
  f_ok=1
  stampede f-hash "$FL_LB" "/$F_KEY?width=1111&format=webp"
  note "by URL: $F_N identical misses: $S_200 × 200, $S_DISTINCT distinct bodies, $S_TRANSFORMS transforms in the fleet"
  ((S_TRANSFORMS == 1 && S_200 == F_N && S_DISTINCT == 1)) ||
    { f_ok=0; note "routing by URL must give exactly 1 transform and $F_N identical 200s"; }
  F_HASH=$S_TRANSFORMS
  stampede f-rr "$FL_RR" "/$F_KEY?width=1112&format=webp"
  note "round-robin: $F_N identical misses: $S_200 × 200, $S_DISTINCT distinct bodies, $S_TRANSFORMS transforms in the fleet (bound: one per instance, $FL_N)"
  ((S_TRANSFORMS >= 1 && S_TRANSFORMS <= FL_N && S_200 == F_N)) ||
    { f_ok=0; note "round-robin: expected 1..$FL_N transforms and $F_N 200s"; }
  F_RR=$S_TRANSFORMS
  if ((f_ok)); then pass "f. stampede of $F_N: $F_HASH transform routed by URL, $F_RR round-robin (duplicates bounded by the $FL_N instances)"
  else fail "f. stampede"; fi
}

# =============================================================== e. kill -9 under load
check_e() {
  E_KEY=fleet/load.jpg
  put "$E_KEY" samples/cat-small.jpg
  # Cached URLs until every instance is the home of a few of them (routing by URL).
  declare -A HOME_COUNT
  E_URLS=()
  for ((w = 100; w < 400 && ${#E_URLS[@]} < 96; w++)); do
    get "$FL_LB/$E_KEY?width=$w&format=webp"
    [[ $G_CODE == 200 ]] || fl_die "warming width=$w answered $G_CODE"
    h=$(fl_instance_of "$G_UPSTREAM")
    HOME_COUNT[$h]=$((${HOME_COUNT[$h]:-0} + 1))
    E_URLS+=("/$E_KEY?width=$w&format=webp")
  done
  VICTIM=0
  note "URLs per instance: $(for ((i = 0; i < FL_N; i++)); do printf 'i%d=%s ' "$i" "${HOME_COUNT[$i]:-0}"; done)"
  ((${HOME_COUNT[$VICTIM]:-0} > 0)) || fl_die "no URL routed to instance $VICTIM"
  printf '%s\n' "${E_URLS[@]}" >"$FL_WORK/e-urls"
  cat >"$FL_WORK/e.lua" <<'LUA'
-- Cycles through the cached URLs; each request from one of 4096 clients.
local urls, n = {}, 0
for line in io.lines(os.getenv("E_URLS_FILE")) do urls[#urls + 1] = line end
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args) n = id * 7919 end
function request()
  n = n + 1
  return wrk.format("GET", urls[n % #urls + 1],
    { ["X-Forwarded-For"] = string.format("10.200.%d.%d", math.floor(n / 256) % 16, n % 256) })
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout))
end
LUA
  E_CONNS=16
  before=$(fl_metric "${FL_ADMIN[$VICTIM]}" refract_http_requests_total)
  E_URLS_FILE=$FL_WORK/e-urls wrk -t2 -c"$E_CONNS" -d6s -s "$FL_WORK/e.lua" "$FL_LB" >"$FL_WORK/e.wrk" 2>&1 &
  wrk_pid=$!
  FL_PIDS+=("$wrk_pid")
  # Kill once the victim is serving its share of the load (a condition, not a delay).
  for ((n = 0; n < 100; n++)); do
    (($(fl_metric "${FL_ADMIN[$VICTIM]}" refract_http_requests_total) - before > 300)) && break
    sleep 0.05
  done
  served=$(($(fl_metric "${FL_ADMIN[$VICTIM]}" refract_http_requests_total) - before))
  kill -KILL "${FL_PID[$VICTIM]}"
  wait "${FL_PID[$VICTIM]}" 2>/dev/null || true
  note "instance $VICTIM killed (SIGKILL) after serving $served requests of the load"
  wait "$wrk_pid" || true
  res=$(grep '^RESULT ' "$FL_WORK/e.wrk" || true)
  kv() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $res"; }
  e_ok=1
  if [[ -z $res ]]; then
    e_ok=0
    note "wrk printed no result: $(tail -5 "$FL_WORK/e.wrk")"
  else
    e_req=$(kv requests)
    e_err=$(($(kv non2xx) + $(kv connect) + $(kv read) + $(kv write) + $(kv timeout)))
    note "load: $e_req requests, $e_err failed (non-2xx $(kv non2xx), socket errors $(($(kv connect) + $(kv read) + $(kv write))), timeouts $(kv timeout)); at most $E_CONNS could be in flight"
    ((e_err <= E_CONNS)) || { e_ok=0; note "more failures than requests in flight"; }
  fi
  # The survivors keep serving every URL, the victim's included.
  e_bad=0
  for p in "${E_URLS[@]}"; do
    get "$FL_LB$p"
    [[ $G_CODE == 200 ]] || e_bad=$((e_bad + 1))
  done
  ((e_bad == 0)) || { e_ok=0; note "$e_bad of ${#E_URLS[@]} URLs failed through nginx after the kill"; }
  for ((i = 0; i < FL_N; i++)); do
    ((i == VICTIM)) && continue
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://${FL_ADMIN[$i]}/ready") == 200 ]] ||
      { e_ok=0; note "instance $i is not ready after the kill"; }
  done
  if ((e_ok)); then pass "e. kill -9 of one instance under load: ${e_err:-?} failed of ${e_req:-?} (≤ $E_CONNS in flight); the others keep serving"
  else fail "e. kill -9 of one instance under load"; fi
}

# ---------------------------------------------------------------- run
for check in $FLEET_CHECKS; do "check_$check"; done

# ---------------------------------------------------------------- summary
echo
echo "e2e-fleet: ${#PASSES[@]} passed, ${#FAILS[@]} failed"
if ((${#FAILS[@]})); then
  for f in "${FAILS[@]}"; do echo "e2e-fleet:   failed: $f"; done
  exit 1
fi
echo "e2e-fleet: ok"
