# Sourced by edge-worker/build.sh and tests/run.sh: how to compile for wasm32-unknown-unknown.
# SIMD everywhere: Rust code through target-feature, libwebp's C through -msimd128. libwebp is
# compiled by Debian's clang against wasi-libc's headers; the five libc functions it calls are
# provided in Rust (edge-worker/src/libc.rs).
export CC_wasm32_unknown_unknown=clang
export AR_wasm32_unknown_unknown=llvm-ar-14
export CFLAGS_wasm32_unknown_unknown="-isystem /usr/include/wasm32-wasi -D__wasi__ -msimd128 -O2"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128"
