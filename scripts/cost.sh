#!/usr/bin/env bash
# The cost benchmark (issue #12, point 5): one workload through Starling and through the Scan-and-post
# design of AWS's chat sample, on moto, with DynamoDB units, SQS requests and posts counted per
# delivered message as AWS bills them (benches/cost; docs/deploy.md, "Cost benchmark").
#   scripts/cost.sh [--release] [--quick] [--json] [starling-cost options]
# Without --quick: 10,000 connections in rooms of 10, 100 and 1,000, one message per room (1,110
# messages; over an hour on moto, most of it the Scan design's 1,000 Scans for rooms of 10;
# `--room-sizes 100` alone took 13 minutes).
# --quick, for CI: the first 10 rooms of each size, at most 1,000 connections' worth (the Scan's
# table still holds all 10,000); about two to three minutes.
# --release builds the bench with the release profile (slower to build; moto is the bottleneck).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=() args=()
for a in "$@"; do
  if [ "$a" = "--release" ]; then profile=(--release); else args+=("$a"); fi
done

source scripts/moto.sh

# Every binary of the workspace, as scripts/test.sh builds them: the same features, so after it
# nothing compiles (`-p starling-cost` resolved other features and compiled the graph again,
# about 100 s in CI; `--bin` alone does too).
cargo build --locked "${profile[@]}" --workspace --bins
dir=debug
[ ${#profile[@]} -eq 0 ] || dir=release
"${CARGO_TARGET_DIR:-target}/$dir/starling-cost" "${args[@]}"
