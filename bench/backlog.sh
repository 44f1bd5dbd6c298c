#!/usr/bin/env bash
# A sweep working off a backlog of moves (issue 12): native-server/examples/sweep_backlog.rs,
# one move at a time (`lifecycle.concurrency = 1`, how sweeps applied moves before) and many at
# once, with the cold tier in a local directory and in SeaweedFS, the index in SQLite (and, with
# WITH_PG=1, in PostgreSQL too).
#
#   bash bench/backlog.sh                          100,000 demotions per run
#   ACTIONS=10000 bash bench/backlog.sh            a quicker one
#   ACTION=expire bash bench/backlog.sh            expiries instead of demotions
#   CONCURRENCY=1,4,16 bash bench/backlog.sh       the concurrencies compared (default 1,16)
#   SETUPS="local s3" bash bench/backlog.sh        which cold tiers (local, s3)
#   WITH_PG=1 bash bench/backlog.sh                also SeaweedFS + PostgreSQL
#   BEFORE_REF=8213c22 bash bench/backlog.sh       also the sweeper as of that commit ("before")
#   KEEP=1 bash bench/backlog.sh                   keep the work dir and logs
#
# Per run: ACTIONS variants of SIZE bytes (2 KiB) are written into a new warm directory with
# their index rows (SQLite in the run's directory, as the server opens it), all last used 30 days
# ago; then one `Sweeper::run_once` with a policy that makes each due (demote after 7 days,
# or expire) is timed. The example checks that every move was applied and the index agrees.
# SeaweedFS is `weed mini` (from tests/install-tools.sh's venv, or WEED_BIN) on free loopback
# ports with a fresh data dir; PostgreSQL a private server (initdb + pg_ctl), one database per
# run. Both are stopped on exit. Progress goes to stderr, a markdown summary to stdout.
# With BEFORE_REF, the tree of that commit is exported (`git archive`, which changes nothing in
# the repository) into the work dir, this example is built against it (`--legacy`: without the
# settings added since), and each setup also runs with that code: the sweeper as it was.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"

TARGET=${CARGO_TARGET_DIR:-target}
BENCH=$TARGET/release/examples/sweep_backlog
ACTIONS=${ACTIONS:-100000}
ACTION=${ACTION:-demote}
SIZE=${SIZE:-2048}
BATCH=${BATCH:-500}
CONCURRENCY=${CONCURRENCY:-1,16}
SETUPS=${SETUPS:-"local s3"}
WITH_PG=${WITH_PG:-0}
BEFORE_REF=${BEFORE_REF:-}
IDLE_WAIT=${IDLE_WAIT:-600}
KEEP=${KEEP:-0}
BUCKET=backlog
KEY_ID=backlogkey
SECRET=backlogsecret

log() { printf '[backlog] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
command -v python3 >/dev/null || die "python3 is missing"
command -v curl >/dev/null || die "curl is missing"

WORK=$(mktemp -d /tmp/refract-backlog.XXXXXX)
WEED_PID=""
PG_DATA=""
AS_PG=()
[[ $(id -u) == 0 ]] && AS_PG=(runuser -u postgres --)
WATCHER=""

cleanup() {
  local rc=$?
  [[ -n $WATCHER ]] && kill "$WATCHER" 2>/dev/null
  if [[ -n $WEED_PID ]]; then
    kill "$WEED_PID" 2>/dev/null || true
    wait "$WEED_PID" 2>/dev/null || true
    for port in "${WEED_PORTS[@]}"; do
      for p in "$port" "$((port + 10000))"; do
        for kind in s3 s3-grpc master-grpc volume-grpc filer filer-grpc admin-grpc; do
          rm -f "/tmp/seaweedfs-$kind-$p.sock"
        done
      done
    done
  fi
  if [[ -n $PG_DATA ]]; then
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [[ $KEEP == 1 ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port that is free, and whose +10000 (weed's gRPC port for it) is free too.
free_port() {
  python3 - <<'PY'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randint(20000, 29999)
    if free(p) and free(p + 10000):
        print(p); break
PY
}

# ---------------------------------------------------------------- SeaweedFS
WEED_PORTS=()
start_weed() {
  local bin=${WEED_BIN:-${REFRACT_TOOLS:-$HOME/.cache/refract}/venv/bin/weed}
  [[ -x $bin ]] || bin=$(command -v weed || true)
  [[ -x $bin ]] || die "SeaweedFS's weed is missing (bash tests/install-tools.sh, or WEED_BIN)"
  local s3 master volume filer admin
  s3=$(free_port); master=$(free_port); volume=$(free_port); filer=$(free_port); admin=$(free_port)
  WEED_PORTS=("$s3" "$master" "$volume" "$filer" "$admin")
  mkdir -p "$WORK/weed/data"
  (cd "$WORK/weed" && exec env AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET \
    "$bin" mini -dir="$WORK/weed/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$s3" -s3.port.grpc=$((s3 + 10000)) -master.port="$master" -master.port.grpc=$((master + 10000)) \
    -volume.port="$volume" -volume.port.grpc=$((volume + 10000)) -filer.port="$filer" -filer.port.grpc=$((filer + 10000)) \
    -admin.port="$admin" -admin.port.grpc=$((admin + 10000)) \
    -s3.localSocket="$WORK/weed/s3.sock" -filer.localSocket="$WORK/weed/filer.sock" \
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false -master.volumeSizeLimitMB=64 \
    -bucket="$BUCKET") >"$WORK/weed/weed.log" 2>&1 </dev/null &
  WEED_PID=$!
  WEED_ENDPOINT="http://127.0.0.1:$s3"
  local waited=0
  while ((waited < 600)); do   # 60 s in steps of 0.1 s
    kill -0 "$WEED_PID" 2>/dev/null || { tail -30 "$WORK/weed/weed.log" >&2; die "weed exited at start-up"; }
    if curl -s -o /dev/null "$WEED_ENDPOINT" &&
      [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/json' "http://127.0.0.1:$filer/buckets/$BUCKET/") == 200 ]]; then
      WEED_VERSION=$("$bin" version 2>/dev/null | head -1)
      log "SeaweedFS ($WEED_VERSION): S3 on port $s3, bucket $BUCKET"
      return
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  tail -30 "$WORK/weed/weed.log" >&2
  die "weed did not serve the bucket within 60 s"
}

# ---------------------------------------------------------------- PostgreSQL
start_pg() {
  [[ -n ${PG_BIN:-} ]] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -x ${PG_BIN:-}/initdb ]] || die "no initdb under /usr/lib/postgresql/*/bin, or set PG_BIN"
  local dir=$WORK/pg
  mkdir -p "$dir"
  if ((${#AS_PG[@]})); then chmod 711 "$WORK"; chown postgres "$dir"; fi
  PG_PORT=$(free_port)
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$dir/data" -U refract --auth=trust -E UTF8 >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
  PG_DATA=$dir/data
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$dir/server.log" -w \
    -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1" start >&2 ||
    { cat "$dir/server.log" >&2; die "pg_ctl start failed"; }
  PG_VERSION=$("$PG_BIN/postgres" --version)
  log "PostgreSQL: $PG_VERSION on port $PG_PORT"
  IFS=, read -ra cs <<<"$CONCURRENCY"
  [[ -n $BEFORE_REF ]] && cs+=(before1)
  for c in "${cs[@]}"; do
    "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U refract -d postgres -c "CREATE DATABASE backlog_$c"
  done
}

# ---------------------------------------------------------------- build, quiet machine
log "building: cargo build --release -p refract-server --example sweep_backlog"
cargo build --release -p refract-server --example sweep_backlog >&2
[[ -x $BENCH ]] || die "no binary at $BENCH"
BEFORE_BENCH=""
if [[ -n $BEFORE_REF ]]; then
  BEFORE_COMMIT=$(git -C "$ROOT" rev-parse --short "$BEFORE_REF")
  mkdir -p "$WORK/before-src"
  git -C "$ROOT" archive "$BEFORE_COMMIT" | tar -x -C "$WORK/before-src"
  cp native-server/examples/sweep_backlog.rs "$WORK/before-src/native-server/examples/sweep_backlog_before.rs"
  # A target dir of its own: cargo names a workspace's own packages' artifacts the same
  # wherever the workspace is, so building the old tree in the shared one would overwrite this
  # tree's. It starts as a copy of the shared release dependencies, less this workspace's own
  # packages (the copy's would look fresh to the old tree), so only those are compiled.
  log "building the sweeper of $BEFORE_COMMIT (before): example sweep_backlog_before"
  BEFORE_TARGET=$WORK/before-target
  mkdir -p "$BEFORE_TARGET"
  [[ $TARGET == /* ]] || TARGET=$ROOT/$TARGET
  cp -a "$TARGET/release" "$BEFORE_TARGET/release"
  CARGO_TARGET_DIR=$BEFORE_TARGET cargo clean --release --manifest-path "$WORK/before-src/Cargo.toml" \
    -p refract-core -p refract-server >&2
  CARGO_TARGET_DIR=$BEFORE_TARGET cargo build --release --manifest-path "$WORK/before-src/Cargo.toml" \
    -p refract-server --example sweep_backlog_before >&2
  BEFORE_BENCH=$BEFORE_TARGET/release/examples/sweep_backlog_before
  [[ -x $BEFORE_BENCH ]] || die "no binary at $BEFORE_BENCH"
fi
builds_running() { pgrep -x 'cargo|rustc' >/dev/null; }
waited=0
while builds_running; do
  if ((waited >= IDLE_WAIT)); then log "warning: cargo/rustc still running after ${IDLE_WAIT}s; measuring anyway"; break; fi
  ((waited % 60 == 0)) && log "waiting for other builds to finish"
  sleep 10
  waited=$((waited + 10))
done

[[ " $SETUPS " == *" s3 "* || $WITH_PG == 1 ]] && start_weed
[[ $WITH_PG == 1 ]] && start_pg

DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
RAM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
DISK=$(df -h --output=fstype,size,avail "$WORK" | tail -1 | awk '{ print $1 ", " $2 " (" $3 " free)" }')
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$ROOT" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null) ]] &&
  COMMIT+=" (work tree has uncommitted changes)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- runs
BUSY=()
run() {   # run NAME ARGS...: the "before" run (with BEFORE_REF), then every concurrency; JSON into NAME.json
  local name=$1
  shift
  local common=(--actions "$ACTIONS" --action "$ACTION" --size "$SIZE" --batch "$BATCH" "$@")
  (while true; do builds_running && pgrep -x -l 'cargo|rustc'; sleep 2; done) >"$WORK/$name.busy" 2>/dev/null &
  WATCHER=$!
  : >"$WORK/$name.json"
  if [[ -n $BEFORE_BENCH ]]; then
    log "$name, before ($BEFORE_COMMIT): $BEFORE_BENCH --legacy --concurrency 1 ${common[*]}"
    AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=us-east-1 \
      "$BEFORE_BENCH" --legacy --work "$WORK/$name-before" --concurrency 1 "${common[@]}" >>"$WORK/$name.json"
    rm -rf "${WORK:?}/$name-before"
  fi
  log "$name: $BENCH --concurrency $CONCURRENCY ${common[*]}"
  AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$SECRET AWS_REGION=us-east-1 \
    "$BENCH" --work "$WORK/$name" --concurrency "$CONCURRENCY" "${common[@]}" >>"$WORK/$name.json"
  kill "$WATCHER" 2>/dev/null || true
  wait "$WATCHER" 2>/dev/null || true
  WATCHER=""
  [[ -s $WORK/$name.busy ]] && BUSY+=("$name")
  rm -rf "${WORK:?}/$name"
}
NAMES=()
for setup in $SETUPS; do
  case $setup in
    local) run local; NAMES+=(local) ;;
    s3) run s3 --cold "s3://$BUCKET" --s3-endpoint "$WEED_ENDPOINT"; NAMES+=(s3) ;;
    *) die "unknown setup $setup (local, s3)" ;;
  esac
done
if [[ $WITH_PG == 1 ]]; then
  run s3-pg --cold "s3://$BUCKET" --s3-endpoint "$WEED_ENDPOINT" \
    --meta "postgres://refract@127.0.0.1:$PG_PORT/backlog_{c}"
  NAMES+=(s3-pg)
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ================================================================= summary (stdout)
if [[ -n ${BEFORE_COMMIT:-} ]]; then
  BEFORE_LINE="the sweeper of commit $BEFORE_COMMIT (one move at a time), the same example built against it with \`--legacy\`"
else
  BEFORE_LINE="not measured (BEFORE_REF unset); concurrency 1 applies one move at a time, as before"
fi
cat <<EOF
## A sweep working off a backlog of $ACTIONS moves: results of bench/backlog.sh

- Date: $DATE; commit $COMMIT; \`sweep_backlog\` release build
- Machine: $(nproc) CPUs ($CPU_MODEL), $RAM RAM, temp dir on $DISK; load average at start $LOAD_START, at end $LOAD_END
- Other builds (cargo/rustc) running during: ${BUSY[*]:-none}
- Moves: \`$ACTION\` of $ACTIONS variants of $SIZE bytes; batch $BATCH; index SQLite (WAL, synchronous=NORMAL) unless said
- SeaweedFS: ${WEED_VERSION:-not used}${PG_VERSION:+; $PG_VERSION (default settings)}
- Before: $BEFORE_LINE

EOF
python3 - "$WORK" "${NAMES[@]}" <<'PY'
import json, sys

work, names = sys.argv[1], sys.argv[2:]
label = {"local": "cold in a local directory, SQLite", "s3": "cold in SeaweedFS (S3), SQLite",
         "s3-pg": "cold in SeaweedFS (S3), PostgreSQL"}
print("| setup | code, `lifecycle.concurrency` | sweep time | moves/s | vs. before | fill (untimed) |")
print("|---|---|---:|---:|---:|---:|")
raw = []
for name in names:
    runs = [json.loads(l) for l in open(f"{work}/{name}.json") if l.strip()]
    base = next((r for r in runs if r.get("legacy")), None) or next(
        (r for r in runs if r["concurrency"] == 1), runs[0])
    for r in runs:
        raw.append(r)
        ok = "" if r["ok"] else " **(check failed)**"
        code = "before (one at a time)" if r.get("legacy") else f"after, {r['concurrency']}"
        print(f"| {label.get(name, name)} | {code} | {r['secs']:.1f} s{ok} | "
              f"{r['per_s']:,.0f} | {base['secs'] / r['secs']:.1f}× | {r['fill_secs']:.0f} s |")
print()
print("Raw JSON lines:")
print()
for r in raw:
    print(f"    {json.dumps(r)}")
PY
