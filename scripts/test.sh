#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: starts the pinned moto server (see
# scripts/moto.sh), runs `cargo test`, and stops it again. The chaos suite runs with
# STARLING_CHAOS_RUNS (10 by default); scripts/chaos.sh runs it longer.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh

# Every test devstack logs here; a failing chaos run prints the lines of its room and connections.
export STARLING_E2E_LOG="${STARLING_E2E_LOG:-$PWD/target/e2e.log}"
mkdir -p "$(dirname "$STARLING_E2E_LOG")" && : >"$STARLING_E2E_LOG"

# The `bootstraps` variants of the e2e tests need the real bootstraps running: scripts/e2e-lambda.sh.
# Every target but the benches, whose criterion harness takes no --skip; then the benches, once each.
cargo test --workspace --lib --bins --tests --examples "$@" -- --skip ::bootstraps
cargo test --workspace --benches "$@"
cargo test --workspace --doc

# The five real bootstraps under the Lambda Runtime Interface Emulator, against moto enforcing each
# function's IAM policy from infra/contract.json (scripts/lambdas; docs/devstack.md).
"$venv/bin/python" -m pytest scripts/lambdas scripts/tests -q -p no:cacheprovider

# The third e2e run: the same tests through the real bootstraps (scripts/e2e-lambda.sh).
bash scripts/e2e-lambda.sh "$@"
