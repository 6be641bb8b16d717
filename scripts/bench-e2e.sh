#!/usr/bin/env bash
# The end-to-end encryption benchmark (issue #14, point 4; docs/e2e.md, "Benchmark"): the Rust
# members (mls-rs, as `starling chat --e2e` uses it) and the TypeScript SDK's (ts-mls), side by
# side in one run, for groups of 2, 50 and 500 members:
#   - per message: encrypt and send (through the send function on memory), receive and decrypt;
#   - adding one member to a group of 500: the Commit's and the Welcome's size and time.
#   scripts/bench-e2e.sh [--quick]
# --quick shortens criterion's measurement (2 s per case). The Rust benchmark is built with
# optimisation but without the deploy profile's LTO, which would take far longer to build.
# Measured, never asserted. Not part of CI (the release build of the shared crate takes minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

criterion=()
[ "${1:-}" = "--quick" ] && criterion=(--warm-up-time 1 --measurement-time 2)

echo "== Rust: mls-rs through the send function (cargo bench -p starling-shared --bench mls)"
CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 CARGO_PROFILE_BENCH_OPT_LEVEL=3 \
  cargo bench --locked -p starling-shared --bench mls -- "${criterion[@]}"

echo "== TypeScript: ts-mls as the SDK uses it (clients/typescript/scripts/bench-e2e.mjs)"
(cd clients/typescript && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && node scripts/bench-e2e.mjs)
