#!/usr/bin/env bash
# A real browser against `refract serve` on its defaults (samples/): headless Chromium loads a
# page with the README's URL in both grammars and must get a 400 px image it can decode, as
# AVIF (Chromium's Accept lists image/avif first), made by exactly one transform.
#
# Usage: tests/e2e-browser.sh <path to the refract binary>
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:?usage: $0 <refract binary>}"
chromium_bin="$(command -v chromium || true)"
[ -n "$chromium_bin" ] || { echo "e2e-browser: chromium is not installed (tests/install-tools.sh)"; exit 1; }

work="$(mktemp -d)"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# Defaults except the ports: originals = samples/, run from the repository root.
mkfifo "$work/out"
env -u REFRACT_CONFIG REFRACT_LOG=warn REFRACT_DATA_DIR="$work/data" "$bin" serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
    > "$work/out" 2> "$work/server.log" &
server_pid=$!
read -r ready < "$work/out"
cat "$work/out" > /dev/null &    # keep draining stdout
http="$(sed -n 's/.*http=\([^ ]*\).*/\1/p' <<< "$ready")"
admin="$(sed -n 's/.*admin=\([^ ]*\).*/\1/p' <<< "$ready")"
[ -n "$http" ] && [ -n "$admin" ] || { echo "e2e-browser: unexpected ready line: $ready"; exit 1; }

cat > "$work/page.html" <<HTML
<!doctype html>
<title>loading</title>
<img id="q" src="http://$http/bird-20mp.jpg?width=400&format=auto">
<img id="p" src="http://$http/cdn-cgi/image/width=400,format=auto/bird-20mp.jpg">
<script>
  window.addEventListener('load', () => {
    const size = (id) => {
      const i = document.getElementById(id);
      return i.complete && i.naturalWidth ? i.naturalWidth + 'x' + i.naturalHeight : 'broken';
    };
    document.title = 'q=' + size('q') + ' p=' + size('p');
  });
</script>
HTML

dom="$(timeout 180 "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --dump-dom "file://$work/page.html" 2> "$work/chromium.log")"
title="$(sed -n 's:.*<title>\(.*\)</title>.*:\1:p' <<< "$dom")"
metrics="$(curl -sf "http://$admin/metrics")"
avif="$(sed -n 's/^refract_transforms_total{format="avif"} \([0-9]*\)$/\1/p' <<< "$metrics")"

echo "e2e-browser: chromium $("$chromium_bin" --version 2>/dev/null | awk '{print $2}') saw '$title'; avif transforms: ${avif:-0}"
fail=0
[ "$title" = "q=400x225 p=400x225" ] || { echo "e2e-browser: FAIL: expected both images at 400x225"; fail=1; }
[ "${avif:-0}" = "1" ] || { echo "e2e-browser: FAIL: expected exactly one AVIF transform for both grammars"; fail=1; }
if [ "$fail" -ne 0 ]; then
    echo "--- server log"; cat "$work/server.log"; echo "--- chromium log"; tail -20 "$work/chromium.log"
    exit 1
fi
echo "e2e-browser: ok"
