/* Refract's own shim, not a copy of any header: <tmmintrin.h> for wasm32 through SIMDe.
 *
 * The edge worker compiles libwebp's SSE2/SSE4.1 kernels for wasm SIMD (simd128). Clang's own
 * x86 intrinsic headers cannot target wasm32, so edge-worker/wasm-env.sh puts this directory
 * first on libwebp's include path (-I), and each x86 header libwebp asks for becomes SIMDe's
 * portable version of it (SIMDe 0.8.2, installed by tests/install-tools.sh), whose wasm SIMD
 * paths implement the same intrinsics with the same results. SIMDE_ENABLE_NATIVE_ALIASES
 * makes SIMDe define the _mm_* names libwebp uses. See docs/edge.md, "WebP SIMD".
 * libwebp 1.3.1 includes only <emmintrin.h> and <smmintrin.h>; this one is here for a libwebp
 * that also asks for it (clang's own header would fail to compile for wasm32). */
#ifndef REFRACT_SIMD_SHIM_TMMINTRIN_H
#define REFRACT_SIMD_SHIM_TMMINTRIN_H
#ifndef SIMDE_ENABLE_NATIVE_ALIASES
#define SIMDE_ENABLE_NATIVE_ALIASES
#endif
#include <simde/x86/ssse3.h>
#endif
