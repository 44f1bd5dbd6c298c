#!/usr/bin/env bash
# Builds the edge worker into edge-worker/build/: worker.mjs (the entry wrangler.toml points at,
# the wasm-bindgen glue bundled
# in) and refract_edge_bg.wasm (optimized by wasm-opt).
#
#   bash edge-worker/build.sh          # build (incremental: cargo and wasm-opt skip what is done)
#
# Needs: the wasm32-unknown-unknown target, clang + lld + wasi-libc (Debian) for libwebp,
# wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock, and `npm ci` in
# edge-worker/ (binaryen's wasm-opt). tests/install-tools.sh installs all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=edge-worker/build
target_dir="${CARGO_TARGET_DIR:-$root/target}"

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [ "$have" != "$want" ]; then
    echo "build.sh: wasm-bindgen $want is needed (found: ${have:-none});" \
        "run: cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
fi
wasm_opt=edge-worker/node_modules/.bin/wasm-opt
if [ ! -x "$wasm_opt" ]; then
    echo "build.sh: $wasm_opt is missing; run: npm ci --prefix edge-worker" >&2
    exit 1
fi

source edge-worker/wasm-env.sh
cargo build -p refract-edge --target wasm32-unknown-unknown --profile wasm

raw="$target_dir/wasm32-unknown-unknown/wasm/refract_edge.wasm"
mkdir -p "$out"
stamp="$out/.built-from"
sum=$(sha256sum "$raw" edge-worker/entry.mjs edge-worker/build.sh | sha256sum | cut -c1-64)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -f "$out/refract_edge_bg.wasm" ]; then
    echo "build.sh: $out is up to date"
else
    # wasm-bindgen's glue and its snippets are bundled with the entry into one module by esbuild
    # (wrangler's own, pinned by package-lock.json); the wasm stays a separate module import.
    gen="$out/.bindgen"
    rm -rf "$gen" && mkdir -p "$gen"
    wasm-bindgen --target web --no-typescript --experimental-reset-state-function \
        --out-dir "$gen" "$raw"
    "$wasm_opt" -Oz --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
        --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
        "$gen/refract_edge_bg.wasm" -o "$out/refract_edge_bg.wasm"
    cp edge-worker/entry.mjs "$gen/entry.mjs"
    edge-worker/node_modules/.bin/esbuild "$gen/entry.mjs" --bundle --format=esm \
        --external:./refract_edge_bg.wasm --log-level=warning --outfile="$out/worker.mjs"
    rm -rf "$gen"
    echo "$sum" > "$stamp"
fi
wasm_bytes=$(stat -c %s "$out/refract_edge_bg.wasm")
gz_bytes=$(gzip -9 -c "$out/refract_edge_bg.wasm" | wc -c)
echo "build.sh: $out/refract_edge_bg.wasm: $wasm_bytes bytes, $gz_bytes gzipped"
# The project's budget for the module (docs/edge.md): 2.1 MB gzipped (issue 13: room for
# libaom's encoder and libwebp's SIMD kernels; issue 14: the animation encoders), under
# Cloudflare's free-plan limit of 3 MB compressed.
budget=2100000
if [ "$gz_bytes" -gt "$budget" ]; then
    echo "build.sh: over the budget of $budget bytes gzipped" >&2
    exit 1
fi
