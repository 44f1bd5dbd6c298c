# Sourced by edge-worker/build.sh and tests/run.sh: how to compile for wasm32-unknown-unknown.
# SIMD everywhere: Rust code through target-feature, libwebp's C through -msimd128. libwebp is
# compiled by Debian's clang against wasi-libc's headers; the five libc functions it calls are
# provided in Rust (edge-worker/src/libc.rs).
#
# WebP SIMD (docs/edge.md, "WebP SIMD"): libwebp has no wasm kernels of its own, but its SSE2
# and SSE4.1 kernels compile for wasm SIMD through SIMDe, header-only (tests/install-tools.sh
# installs 0.8.2; Debian's 0.7.4 is 4x slower than scalar C). edge-worker/simd/ holds our
# <emmintrin.h>, <smmintrin.h>, ... that map the x86 intrinsics to SIMDe's wasm code.
#   -D__SSE2__ -D__SSE4_1__  libwebp's cpu.h then compiles its *_sse2.c / *_sse41.c kernels
#   -DEMSCRIPTEN             only cpu.c reads it: VP8GetCPUInfo = wasmCPUInfo, which reports
#                            SSE2/SSE4.1 from those flags (without it VP8GetCPUInfo is NULL
#                            and the C kernels run, whatever was compiled)
#   -DSIMDE_FLOAT16_API=1    SIMDe 0.8.2 with clang 14 otherwise uses _Float16, unsupported here
# The output is byte-identical to the scalar C code (tests/edge/webp-simd.test.mjs), 2x faster.
# libwebp-sys is the only crate that compiles C through these CFLAGS (libaom below is built by
# libaom.sh with its own flags and linked prebuilt; its generic C reads none of these macros
# and includes no x86 header anyway). cc splits CFLAGS at spaces, hence the check on the paths.
_refract_edge_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_refract_simde="${REFRACT_TOOLS:-$HOME/.cache/refract}/simde-0.8.2"
case "$_refract_edge_dir$_refract_simde" in
    *[[:space:]]*)
        echo "wasm-env.sh: $_refract_edge_dir or $_refract_simde has a space; cc would split it" >&2
        unset _refract_edge_dir _refract_simde
        return 1 2>/dev/null || exit 1 ;;
esac
if [ ! -f "$_refract_simde/simde/x86/sse4.1.h" ]; then
    echo "wasm-env.sh: SIMDe 0.8.2 is missing ($_refract_simde/simde/x86/sse4.1.h);" \
        "run: bash tests/install-tools.sh" >&2
    unset _refract_edge_dir _refract_simde
    return 1 2>/dev/null || exit 1
fi
export CC_wasm32_unknown_unknown=clang
export AR_wasm32_unknown_unknown=llvm-ar-14
export CFLAGS_wasm32_unknown_unknown="-isystem /usr/include/wasm32-wasi -D__wasi__ -msimd128 -O2 \
-D__SSE2__ -D__SSE4_1__ -DEMSCRIPTEN -DSIMDE_FLOAT16_API=1 \
-I$_refract_edge_dir/simd -I$_refract_simde"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
unset _refract_edge_dir _refract_simde

# AVIF: libaom's encoder, built for wasm32 once by edge-worker/libaom.sh (cached under
# ~/.cache/refract) and linked through libaom-sys's prebuilt-library switch (its own cmake
# build cannot target wasm32-unknown-unknown). The same library serves wasm32-wasip1 (the
# core's tests in Node's WASI). Its few libc needs are in edge-worker/src/libc*.rs.
if ! _refract_aom="$(bash "$(dirname "${BASH_SOURCE[0]}")/libaom.sh")"; then
    echo "wasm-env.sh: building libaom for wasm32 failed (edge-worker/libaom.sh)" >&2
    unset _refract_aom
    return 1 2>/dev/null || exit 1
fi
export LIB_AOM_STATIC_LIB_PATH="$_refract_aom"
export LIB_AOM_INCLUDE_PATH="$_refract_aom"
export LIB_AOM_PKG_CONFIG_PATH="$_refract_aom"
unset _refract_aom
