#!/usr/bin/env bash
# Runs every test of the project, installing what it needs first. This is the README's test
# command and what .ci/run calls.
#
#   bash tests/run.sh            everything
#   FUZZ_SECONDS=0 bash tests/run.sh   skip the fuzz smoke run
#
# Steps: formatting, clippy, native tests (unit, property, golden, hostile input, CLI, the
# server's router, serving and process tests), the server against a real S3 server
# (SeaweedFS, started and stopped by the test itself), the metadata store's conformance suite
# on PostgreSQL (started by the test), headless Chromium against the server and its playground page,
# the edge worker built for wasm32-unknown-unknown and tested inside workerd (miniflare) against
# R2 and against refract serve as its origin, wrangler deploy --dry-run and wrangler dev in
# Chromium, the core's tests compiled to wasm32-wasip1 and run in Node's WASI (32-bit usize),
# the CLI over every sample in every output format (checked with ImageMagick and libvips), and a
# short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

passed=0
step() {
    echo
    echo "=== $1"
}
ok() {
    passed=$((passed + 1))
}

step "installing tools"
bash tests/install-tools.sh
ok

step "cargo fmt --check"
cargo fmt --all --check
ok

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
ok

step "cargo clippy -- -D warnings for the worker's wasm32 build"
(source edge-worker/wasm-env.sh &&
    cargo clippy -p refract-edge --target wasm32-unknown-unknown -- -D warnings)
ok

step "native tests"
cargo test --workspace
ok

step "origin server against a real S3 server (SeaweedFS)"
cargo test -p refract-server --test s3_delivery --test s3_storage_class --test s3_lifecycle -- --ignored --test-threads=1
ok

step "metadata store conformance, and two instances hearing each other, on a real PostgreSQL (initdb + pg_ctl, private port)"
cargo test -p refract-server --test index --test freshness -- --ignored
ok

step "headless Chromium against refract serve"
bash tests/e2e-browser.sh "${CARGO_TARGET_DIR:-target}/debug/refract"
ok

step "the playground page in headless Chromium (tests/e2e-playground.mjs; Chromium and Node from tests/install-tools.sh)"
node tests/e2e-playground.mjs "${CARGO_TARGET_DIR:-target}/debug/refract"
ok

step "edge worker built for wasm32-unknown-unknown (edge-worker/build.sh)"
bash edge-worker/build.sh
ok

step "edge worker inside workerd (miniflare): R2, HTTP origin, cache, handoff, parity"
REFRACT_BIN="$(realpath "${CARGO_TARGET_DIR:-target}/debug/refract")" bash tests/e2e-edge.sh
ok

step "a fleet: three instances over PostgreSQL and SeaweedFS behind nginx, the worker in front (tests/e2e-fleet.sh)"
FLEET_SKIP_WORKER_BUILD=1 bash tests/e2e-fleet.sh "${CARGO_TARGET_DIR:-target}/debug/refract"
ok

step "wrangler deploy --dry-run, and wrangler dev in headless Chromium"
bash tests/e2e-wrangler.sh "${CARGO_TARGET_DIR:-target}/debug/refract"
ok

step "core tests compiled to WebAssembly (wasm32-wasip1, run by Node's WASI)"
# wasm-env.sh points libaom-sys at the prebuilt wasm32 libaom (the same library as the edge's).
(source edge-worker/wasm-env.sh &&
    CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $PWD/tests/wasi-runner.mjs" \
        cargo test -p refract-core --target wasm32-wasip1 --no-default-features --features avif)
ok

step "refract transform over every sample and format"
bash tests/e2e-cli.sh "${CARGO_TARGET_DIR:-target}/debug/refract"
ok

if [ "${FUZZ_SECONDS:-20}" != "0" ]; then
    step "fuzz smoke run (${FUZZ_SECONDS:-20}s per target)"
    FUZZ_SECONDS="${FUZZ_SECONDS:-20}" bash core/fuzz/smoke.sh
    ok
fi

echo
echo "tests/run.sh: $passed passed, 0 failed"
