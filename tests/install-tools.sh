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
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
echo "tools ready: $(rustc --version), $(/usr/bin/convert -version | head -1)"
