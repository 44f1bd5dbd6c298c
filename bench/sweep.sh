#!/usr/bin/env bash
# The lifecycle sweeper over a large metadata store (issue 4): native-server/examples/sweep_bench.rs
# against SQLite and against PostgreSQL.
#
#   bash bench/sweep.sh                        1,000,000 rows per backend
#   ROWS=100000 bash bench/sweep.sh            a quicker one
#   BACKENDS=sqlite bash bench/sweep.sh        one backend only (sqlite, postgres)
#   KEEP=1 bash bench/sweep.sh                 keep the databases and logs (path printed at the end)
#
# Per backend, on an empty store, the example fills ROWS rows (upsert, one row per call), then
# times the metrics totals, a lifecycle plan over every row (Sweeper::plan, scan in batches of
# BATCH plus the planner), the same scan alone, and batches of 10,000 access-time updates.
# See the example's header for the data set and the policy.
#   - SQLite: a new file in the temp dir (sqlite://$WORK/sqlite/meta.db), WAL, synchronous=NORMAL
#     as the server opens it; one connection (as in the server); the fill runs SERIAL rows one
#     after the other, then SQLITE_TASKS concurrent tasks on that connection.
#   - PostgreSQL: a private server that this script starts (initdb + pg_ctl from
#     /usr/lib/postgresql/*/bin, or PG_BIN), on 127.0.0.1 and a free port, its socket in the temp
#     dir; as the postgres user (runuser) when run as root. Default settings (fsync on,
#     synchronous_commit on), plus PG_OPTS if given, e.g. PG_OPTS='-c synchronous_commit=off'.
#     The fill runs SERIAL rows one after the other, then PG_TASKS tasks over PG_CONNS
#     connections (several server instances, each pipelining concurrent requests on its one
#     connection). Stopped with pg_ctl stop on exit.
#
# Progress goes to stderr, a markdown summary to stdout. Writes only to a temp dir, removed at the
# end unless KEEP=1. Needs python3 (the summary) and, for PostgreSQL, its server package.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
cd "$ROOT"

TARGET=${CARGO_TARGET_DIR:-target}            # relative to the repo root, as cargo reads it
BENCH=$TARGET/release/examples/sweep_bench
ROWS=${ROWS:-1000000}
BATCH=${BATCH:-500}                           # the server's lifecycle.batch default
SERIAL=${SERIAL:-20000}                       # fill rows written one after the other, first
SQLITE_TASKS=${SQLITE_TASKS:-4}
PG_CONNS=${PG_CONNS:-4}
PG_TASKS=${PG_TASKS:-16}
PG_OPTS=${PG_OPTS:-}
ACCESS=${ACCESS:-10000}                       # accesses per record_access batch
ACCESS_ROUNDS=${ACCESS_ROUNDS:-5}
BACKENDS=${BACKENDS:-"sqlite postgres"}
IDLE_WAIT=${IDLE_WAIT:-600}                   # seconds to wait for other cargo/rustc to finish
KEEP=${KEEP:-0}

log() { printf '[sweep] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v python3 >/dev/null || die "python3 is missing"

# ---------------------------------------------------------------- temp dir, PostgreSQL, clean-up
WORK=$(mktemp -d /tmp/refract-sweep.XXXXXX)
PG_DATA=""          # set once initdb has run: pg_ctl stop on exit
AS_PG=()            # runuser -u postgres -- when root (initdb refuses to run as root)
[[ $(id -u) == 0 ]] && AS_PG=(runuser -u postgres --)

WATCHER=""          # the pgrep watcher of the current run (run_bench)

cleanup() {
  local rc=$?
  [[ -n $WATCHER ]] && kill "$WATCHER" 2>/dev/null
  if [[ -n $PG_DATA ]]; then
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [[ $KEEP == 1 ]]; then log "databases and logs kept in $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_pg: initdb + pg_ctl start into $WORK/pg; sets PG_URL, PG_PORT, PG_VERSION.
start_pg() {
  if [[ -z ${PG_BIN:-} ]]; then
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  fi
  [[ -x ${PG_BIN:-}/initdb ]] || die "no initdb under /usr/lib/postgresql/*/bin (apt-get install postgresql), or set PG_BIN"
  local dir=$WORK/pg
  mkdir -p "$dir"
  if ((${#AS_PG[@]})); then
    chmod 711 "$WORK"
    chown postgres "$dir"
  fi
  PG_PORT=$(free_port)
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$dir/data" -U refract --auth=trust -E UTF8 >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
  PG_DATA=$dir/data
  # -w: wait until the server accepts connections.
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$dir/server.log" -w \
    -o "-p $PG_PORT -k $dir -c listen_addresses=127.0.0.1 $PG_OPTS" start >&2 ||
    { cat "$dir/server.log" >&2; die "pg_ctl start failed"; }
  PG_URL="postgres://refract@127.0.0.1:$PG_PORT/postgres"
  PG_VERSION=$("$PG_BIN/postgres" --version)
  log "PostgreSQL: $PG_VERSION on port $PG_PORT"
}
psql_value() { "$PG_BIN/psql" -X -A -t -h 127.0.0.1 -p "$PG_PORT" -U refract -d postgres -c "$1"; }

# ---------------------------------------------------------------- build, then wait for a quiet machine
log "building: cargo build --release -p refract-server --example sweep_bench"
cargo build --release -p refract-server --example sweep_bench >&2
[[ -x $BENCH ]] || die "no binary at $BENCH"

BUSY=()             # backends measured while a cargo/rustc process was running
builds_running() { pgrep -x 'cargo|rustc' >/dev/null; }   # -x: process names, not command lines
waited=0
while builds_running; do
  if ((waited >= IDLE_WAIT)); then
    log "warning: cargo/rustc still running after ${IDLE_WAIT}s; measuring anyway"
    break
  fi
  ((waited % 60 == 0)) && log "waiting for other builds to finish: $(pgrep -x -l 'cargo|rustc' | tr '\n' ' ')"
  sleep 10
  waited=$((waited + 10))
done

# ---------------------------------------------------------------- machine
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
RAM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
DISK=$(df -h --output=fstype,size,avail "$WORK" | tail -1 | awk '{ print $1 ", " $2 " (" $3 " free)" }')
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  COMMIT+=" (work tree has uncommitted changes)"
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $(nproc) CPUs, $CPU_MODEL, $RAM; disk $DISK; commit $COMMIT"

# ---------------------------------------------------------------- runs
# run_bench NAME URL ARGS...: the example, its JSON line into $WORK/NAME.json, wall seconds in WALL.
# A watcher samples pgrep every 2 s during the run; NAME goes into BUSY if it saw cargo or rustc.
run_bench() {
  local name=$1 url=$2 t0
  shift 2
  log "$name: $BENCH --url $url --rows $ROWS --batch $BATCH --serial $SERIAL --access $ACCESS --access-rounds $ACCESS_ROUNDS $*"
  (while true; do builds_running && pgrep -x -l 'cargo|rustc'; sleep 2; done) >"$WORK/$name.busy" 2>/dev/null &
  WATCHER=$!
  t0=$(date +%s.%N)
  "$BENCH" --url "$url" --rows "$ROWS" --batch "$BATCH" --serial "$SERIAL" \
    --access "$ACCESS" --access-rounds "$ACCESS_ROUNDS" "$@" >"$WORK/$name.json"
  WALL=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
  kill "$WATCHER" 2>/dev/null || true
  wait "$WATCHER" 2>/dev/null || true
  WATCHER=""
  if [[ -s $WORK/$name.busy ]]; then
    BUSY+=("$name")
    log "warning: cargo/rustc ran during $name: $(sort -u "$WORK/$name.busy" | tr '\n' ' ')"
  fi
}

declare -A EXTRA    # NAME -> one line of backend facts for the summary
for backend in $BACKENDS; do
  case $backend in
    sqlite)
      mkdir -p "$WORK/sqlite"
      run_bench sqlite "sqlite://$WORK/sqlite/meta.db" --tasks "$SQLITE_TASKS" --conns 1
      size=$(du -cb "$WORK/sqlite"/meta.db* | tail -1 | awk '{ printf "%.0f MiB", $1 / 1048576 }')
      EXTRA[sqlite]="SQLite (rusqlite, bundled): journal_mode=WAL, synchronous=NORMAL, one connection; database + WAL after the run: $size; whole run ${WALL} s"
      ;;
    postgres)
      start_pg
      run_bench postgres "$PG_URL" --tasks "$PG_TASKS" --conns "$PG_CONNS"
      settings=$(psql_value "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'wal_level', 'max_wal_size', 'checkpoint_timeout')")
      size=$(psql_value "SELECT pg_size_pretty(pg_total_relation_size('objects'))")
      EXTRA[postgres]="$PG_VERSION; settings: $settings; table + indexes after the run: $size; whole run ${WALL} s"
      ;;
    *) die "unknown backend $backend (sqlite, postgres)" ;;
  esac
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ================================================================= summary (stdout)
cat <<EOF
## Lifecycle sweeper over $ROWS rows: results of bench/sweep.sh

- Date: $DATE; commit $COMMIT; \`sweep_bench\` release build
- Machine: $(nproc) CPUs ($CPU_MODEL), $RAM RAM, temp dir on $DISK; load average at start $LOAD_START, at end $LOAD_END
- Other builds (cargo/rustc) running during: ${BUSY[*]:-none}
- Batch (rows per scan page, the server's \`lifecycle.batch\`): $BATCH; record_access batches of $ACCESS, $ACCESS_ROUNDS rounds (median)
EOF
for backend in $BACKENDS; do
  echo "- ${EXTRA[$backend]}"
done
echo
python3 - "$WORK" $BACKENDS <<'PY'
import json, sys

work, backends = sys.argv[1], sys.argv[2:]
runs = {b: json.load(open(f"{work}/{b}.json")) for b in backends}

def n(x):
    return f"{x:,.0f}"

def s(x):
    return f"{x:.2f} s" if x >= 1 else f"{x * 1000:.0f} ms"

print("| step | " + " | ".join(backends) + " |")
print("|---|" + "---:|" * len(backends))
def row(label, f):
    print(f"| {label} | " + " | ".join(f(runs[b]) for b in backends) + " |")
row("fill, serial part (1 task): rows/s",
    lambda r: f"{n(r['fill']['serial_rows_per_s'])} ({n(r['fill']['serial_rows'])} rows, {s(r['fill']['serial_secs'])})"
    if r['fill']['serial_rows'] else "–")
row("fill, concurrent part: rows/s",
    lambda r: f"{n(r['fill']['concurrent_rows_per_s'])} ({r['fill']['tasks']} tasks / {r['fill']['conns']} conn., {s(r['fill']['concurrent_secs'])})"
    if r['fill']['concurrent_rows'] else "–")
row("fill, whole: rows/s", lambda r: f"**{n(r['fill']['rows_per_s'])}** ({s(r['fill']['secs'])})")
row("fill: rows/s of each 100,000 rows",
    lambda r: " · ".join(n(x) for x in r['fill']['per_100k_rows_per_s']) or "–")
row("totals (metrics query)", lambda r: s(r['totals']['secs']))
row("plan (scan + planner): time", lambda r: f"**{s(r['plan']['secs'])}**")
row("plan: rows/s", lambda r: n(r['plan']['rows_per_s']))
row("scan only (Index::scan calls): time", lambda r: s(r['scan']['secs']))
row("scan only: rows/s", lambda r: f"{n(r['scan']['rows_per_s'])} ({n(r['scan']['pages'])} pages)")
row("planner alone (plan_record on every row)", lambda r: s(r['scan']['planner_secs']))
row(f"record_access, batch of {n(runs[backends[0]]['access']['batch'])}: time",
    lambda r: f"{s(r['access']['median_secs'])} (rounds: " + ", ".join(s(x) for x in r['access']['rounds_secs']) + ")")
row("record_access: rows/s", lambda r: f"**{n(r['access']['rows_per_s'])}**")
row("bench process peak RSS", lambda r: f"{r['peak_rss_mib']:.0f} MiB")
print()

first = runs[backends[0]]
same = all(r['plan']['actions'] == first['plan']['actions'] for r in runs.values())
print(f"Planned actions at {first['now']} ({n(first['plan']['scanned'])} rows; "
      + ("identical for every backend" if same else "DIFFERENT between backends") + "):")
print()
print("| action | " + " | ".join(backends) + " |")
print("|---|" + "---:|" * len(backends))
keys = sorted({k for r in runs.values() for k in r['plan']['actions']})
for k in keys:
    row(k, lambda r, k=k: n(r['plan']['actions'].get(k, 0)))
row("total", lambda r: n(sum(r['plan']['actions'].values())))
row("bytes concerned", lambda r: f"{r['plan']['planned_bytes'] / 2**30:.1f} GiB")
row("new actions due in the hour after (next hourly sweep)", lambda r: n(r['scan']['new_actions_next_hour']))
keys = sorted({k for r in runs.values() for k in r['plan']['storage_class_transitions']})
for k in keys:
    row(f"storage class {k}", lambda r, k=k: n(r['plan']['storage_class_transitions'].get(k, 0)))
print()
print("Raw JSON lines:")
print()
for b in backends:
    print(f"    {json.dumps(runs[b])}")
PY
