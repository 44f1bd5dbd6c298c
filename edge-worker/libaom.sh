#!/usr/bin/env bash
# Builds libaom's AV1 encoder (the C library only) for wasm32 with Debian's clang, the way
# ../shared/CODECS.md §1.4 measured it: generic C (libaom has no wasm SIMD code; -msimd128
# lets clang vectorize), no decoder, no threads, no runtime CPU detection, 8-bit only, no
# quantization matrices or denoiser (smaller, same output for our settings). The source is the
# one libaom-sys vendors, so native and wasm builds run the same libaom (3.11.0).
#
#   bash edge-worker/libaom.sh     prints the directory holding libaom.a (built once, cached)
#
# The cache key is this script and the libaom-sys version, under ${REFRACT_TOOLS:-~/.cache/refract}.
# Build output goes to stderr; stdout is only the directory.
set -euo pipefail
cd "$(dirname "$0")/.."
version="0.17.2+libaom.3.11.0"
tools="${REFRACT_TOOLS:-$HOME/.cache/refract}"
key=$(cat edge-worker/libaom.sh edge-worker/aom-shim/setjmp.h | sha256sum | cut -c1-12)
dir="$tools/libaom-wasm/$version-$key"
if [ -f "$dir/lib/libaom.a" ]; then
    echo "$dir/lib"
    exit 0
fi

src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"libaom-sys-$version"/vendor 2>/dev/null | head -1 || true)
if [ -z "$src" ]; then
    cargo fetch --quiet >&2
    src=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"libaom-sys-$version"/vendor | head -1)
fi
for tool in cmake clang llvm-ar-14 llvm-ranlib-14; do
    command -v "$tool" >/dev/null || { echo "libaom.sh: $tool is missing (tests/install-tools.sh installs it)" >&2; exit 1; }
done
[ -d /usr/include/wasm32-wasi ] || { echo "libaom.sh: wasi-libc headers are missing (Debian wasi-libc)" >&2; exit 1; }

work="$dir.partial"
rm -rf "$work" && mkdir -p "$work/build"
cat > "$work/wasm32.cmake" <<CMAKE
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
set(CMAKE_C_COMPILER clang)
set(CMAKE_CXX_COMPILER clang++)
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_CXX_COMPILER_TARGET wasm32-wasi)
set(CMAKE_AR llvm-ar-14)
set(CMAKE_RANLIB llvm-ranlib-14)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
CMAKE
shim="$PWD/edge-worker/aom-shim"
started=$(date +%s)
(
    cd "$work/build"
    cmake "$src" -DCMAKE_TOOLCHAIN_FILE="$work/wasm32.cmake" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_FLAGS="-msimd128 -I$shim -isystem /usr/include/wasm32-wasi -D__wasi__" \
        -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
        -DAOM_TARGET_CPU=generic -DCONFIG_AV1_DECODER=0 -DCONFIG_MULTITHREAD=0 \
        -DCONFIG_RUNTIME_CPU_DETECT=0 -DCONFIG_AV1_HIGHBITDEPTH=0 -DCONFIG_WEBM_IO=0 \
        -DCONFIG_LIBYUV=0 -DCONFIG_DENOISE=0 -DCONFIG_QUANT_MATRIX=0 -DCONFIG_TUNE_BUTTERAUGLI=0 \
        -DCONFIG_TUNE_VMAF=0 -DENABLE_DOCS=0 -DENABLE_EXAMPLES=0 -DENABLE_TESTS=0 -DENABLE_TOOLS=0 \
        -DENABLE_TESTDATA=0 >&2
    make -j"$(nproc)" aom >&2
)
mkdir -p "$work/lib"
cp "$work/build/libaom.a" "$work/lib/libaom.a"
rm -rf "$work/build"
mv "$work" "$dir"
echo "libaom.sh: built $dir/lib/libaom.a in $(($(date +%s) - started)) s" >&2
echo "$dir/lib"
