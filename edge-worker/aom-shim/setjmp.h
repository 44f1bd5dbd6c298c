/* setjmp.h for libaom's AV1 encoder compiled to wasm32 by edge-worker/libaom.sh.
 *
 * Debian's wasi-libc has no setjmp.h, and wasm32 has no setjmp/longjmp without the exception
 * handling proposal. libaom's encoder longjmps out of a frame only on an internal error
 * (aom_internal_error: a failed allocation or an invalid configuration). Its input here is
 * pixels Refract produced itself, never client bytes, so such an error is a bug or an
 * out-of-memory: `setjmp` answers 0 (the normal path) and `longjmp` traps. A trap ends the
 * request; the worker rebuilds its instance before the next one (edge-worker/src/lib.rs). No
 * decoder of untrusted input is ever compiled against this header. */
#ifndef REFRACT_AOM_SETJMP_H
#define REFRACT_AOM_SETJMP_H
typedef int jmp_buf[1];
#define setjmp(env) ((void)(env), 0)
#define longjmp(env, value) ((void)(env), (void)(value), __builtin_trap())
#endif
