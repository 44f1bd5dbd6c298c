#!/usr/bin/env bash
# Smoke-runs every cargo-fuzz target of refract-core for a bounded time; for CI.
#
#   bash core/fuzz/smoke.sh                  # FUZZ_SECONDS=30 per target
#   FUZZ_SECONDS=60 bash core/fuzz/smoke.sh
#   FUZZ_TARGETS="transform" bash core/fuzz/smoke.sh
#
# Exits non-zero when a target finds a crash (panic, sanitizer report), a timeout or an
# out-of-memory input: each is a bug under the small limits the targets use. The input is
# saved in core/fuzz/artifacts/<target>/ and printed in base64; reproduce it with
#   cd core && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=fuzz/target \
#     cargo fuzz run -O --sanitizer address <target> fuzz/artifacts/<target>/<file>
#
# Toolchain: this project has only the stable toolchain. cargo-fuzz 0.13 instruments with
# -Cpasses=sancov-module and -Cllvm-args=-sanitizer-coverage-*, which stable rustc accepts, so
# `--sanitizer none` builds on plain stable. AddressSanitizer is passed as -Zsanitizer=address,
# a nightly-only flag: RUSTC_BOOTSTRAP=1 lets stable rustc accept it, and the stable toolchain
# ships the runtime (lib/rustlib/<host>/lib/librustc-stable_rt.asan.a), so ASan works here and
# is the default: it catches memory errors in the unsafe code of the decoders/resizer (C code,
# libwebp, is not instrumented either way). Without that runtime the script falls back to
# `--sanitizer none` (coverage-guided fuzzing still works; panics, timeouts and OOMs are still
# caught). Override with FUZZ_SANITIZER=none|address. ASan costs about 5x on spec_parse and
# 1.3x on transform in exec/s, and about 2.5x in build time (cold: ~7 min vs ~3 min here).
set -euo pipefail

FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CORE_DIR="$(cd "$FUZZ_DIR/.." && pwd)"

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
FUZZ_TARGETS="${FUZZ_TARGETS:-spec_parse url_resolve transform progressive}"
CARGO_FUZZ_VERSION="0.13.2"

export RUSTC_BOOTSTRAP=1
# Its own target dir (gitignored): the instrumented build shares nothing with the main one.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$FUZZ_DIR/target}"

max_len() {
    case "$1" in
        spec_parse) echo 512 ;;
        url_resolve) echo 2048 ;;
        transform) echo 65536 ;;
        progressive) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

# cargo-fuzz: installing it builds from source (about 30 s to several minutes), so only
# when it is missing.
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "smoke.sh: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
echo "smoke.sh: $(cargo fuzz --version), $(rustc --version)"

if [ -z "${FUZZ_SANITIZER:-}" ]; then
    host="$(rustc -vV | sed -n 's/^host: //p')"
    if ls "$(rustc --print sysroot)/lib/rustlib/$host/lib/"*rt.asan.a >/dev/null 2>&1; then
        FUZZ_SANITIZER=address
    else
        FUZZ_SANITIZER=none
    fi
fi
echo "smoke.sh: sanitizer $FUZZ_SANITIZER, $FUZZ_SECONDS s per target"

cd "$CORE_DIR"

start=$(date +%s)
for t in $FUZZ_TARGETS; do
    cargo fuzz build -O --sanitizer "$FUZZ_SANITIZER" "$t"
done
echo "smoke.sh: build took $(($(date +%s) - start)) s"

# The corpus is not in git: seed it when a target has none.
for t in $FUZZ_TARGETS; do
    if [ -z "$(ls -A "$FUZZ_DIR/corpus/$t" 2>/dev/null)" ]; then
        bash "$FUZZ_DIR/seed.sh"
        break
    fi
done

failed=()
for t in $FUZZ_TARGETS; do
    mkdir -p "$FUZZ_DIR/corpus/$t" "$FUZZ_DIR/artifacts/$t"
    # Not inside artifacts/<target>/: cargo-fuzz reports every file there as a failing input.
    log="$FUZZ_DIR/artifacts/$t.smoke.log"
    echo "smoke.sh: fuzzing $t for $FUZZ_SECONDS s (log: $log)"
    before="$(ls "$FUZZ_DIR/artifacts/$t" | sort)"
    set +e
    cargo fuzz run -O --sanitizer "$FUZZ_SANITIZER" "$t" "$FUZZ_DIR/corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" \
        -rss_limit_mb=2048 \
        -max_len="$(max_len "$t")" \
        -timeout=10 \
        -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^#[0-9]+\s+(INITED|DONE)|^Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|cov:' "$log" \
        | grep -vE 'NEW|REDUCE|RELOAD|pulse' | tail -n 6 || true
    if [ "$rc" -ne 0 ]; then
        failed+=("$t")
        echo "smoke.sh: $t FAILED (exit $rc); the report from its log:"
        # The panic message or sanitizer report and its backtrace, then libFuzzer's summary.
        first="$(grep -n -m 1 -E "panicked at|==[0-9]+==ERROR|ERROR: libFuzzer|^SUMMARY:" "$log" | cut -d: -f1 || true)"
        if [ -n "$first" ]; then
            sed -n "${first},$((first + 80))p" "$log"
        else
            tail -n 60 "$log"
        fi
        after="$(ls "$FUZZ_DIR/artifacts/$t" | sort)"
        for f in $(comm -13 <(echo "$before") <(echo "$after")); do
            echo "smoke.sh: input $FUZZ_DIR/artifacts/$t/$f (base64):"
            base64 -w 0 "$FUZZ_DIR/artifacts/$t/$f"
            echo
        done
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "smoke.sh: failed: ${failed[*]}"
    exit 1
fi
echo "smoke.sh: all targets ran ${FUZZ_SECONDS} s without a crash"
