#!/usr/bin/env bash
# The chaos suite, long: every scenario of tests/tests/chaos.rs, N runs each on both backends,
# each run judged by the history checker; prints one line per scenario and the totals.
#   scripts/chaos.sh [--runs N] [--seed S] [--backend memory|moto|both]
# A failing run prints its seed; `--seed S --runs 1` replays it.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=100 seed="" backend=both
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    *) echo "usage: scripts/chaos.sh [--runs N] [--seed S] [--backend memory|moto|both]" >&2; exit 2 ;;
  esac
done
case "$backend" in memory) filter=memory ;; moto) filter=moto ;; both) filter="" ;;
  *) echo "--backend is memory, moto or both" >&2; exit 2 ;; esac

source scripts/moto.sh
export STARLING_CHAOS_RUNS="$runs"
[ -n "$seed" ] && export STARLING_CHAOS_SEED="$seed"

log=target/chaos.log
# The devstacks' log: a failing run prints its own lines from it (tests/src/chaos/evidence.rs).
export STARLING_E2E_LOG="${STARLING_E2E_LOG:-$PWD/target/chaos-devstacks.log}"
mkdir -p target && : >"$STARLING_E2E_LOG"
status=0
cargo test -p starling-e2e --test chaos -- --nocapture $filter 2>&1 | tee "$log" || status=$?
echo
echo "==> chaos summary ($runs runs per scenario and backend)"
grep '^CHAOS ' "$log" | sort || true
grep '^CHAOS ' "$log" | awk '{split($4,r,"="); split($5,f,"="); runs+=r[2]; failed+=f[2]} END {printf "total: %d runs, %d failed\n", runs, failed}'
exit "$status"
