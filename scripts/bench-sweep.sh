#!/usr/bin/env bash
# A latency sweep of the release devstack (not a CI test): one devstack, then `starling bench`
# at each rate in turn, each run in a fresh room, and for each the p50/p99 and the devstack's CPU
# over the run (user + system time of its process / wall time; 100% = one core), and the bench
# client's own CPU (it shares the machine: 200 clients parsing every delivery). Rates are
# messages/s; deliveries/s = rate × clients. Runs follow each other on the same devstack, so a
# rate that overloads it also shows whether the runs after it recover.
#   scripts/bench-sweep.sh [--clients N] [--secs S] [--settle-ms MS] [--] RATE...
#   e.g. scripts/bench-sweep.sh 10 20 30 40 50 75 100 10 10
# Devstack flags go in DEVSTACK_ARGS (e.g. DEVSTACK_ARGS="--pollers 2"); BIN_DIR=DIR runs the
# binaries in DIR as they are (an earlier build, to compare) instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=200 secs=5 settle=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --clients) clients=$2; shift 2 ;;
    --secs) secs=$2; shift 2 ;;
    --settle-ms) settle=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
rates=("$@")
[[ ${#rates[@]} -gt 0 ]] || rates=(10 20 30 40 50 75 100)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

if [[ -n ${BIN_DIR:-} ]]; then
  bin=$BIN_DIR
else
  cargo build --release --locked -p starling-devstack -p starling-cli >&2
  bin="${CARGO_TARGET_DIR:-target}/release"
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log="${TMPDIR:-/tmp}/starling-sweep-devstack.log"
# shellcheck disable=SC2086 # DEVSTACK_ARGS is a list of flags
"$bin/starling-devstack" --port "$port" --rate-limit 1000000 ${DEVSTACK_ARGS:-} > "$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
# It prints its URLs once it listens.
for _ in $(seq 300); do
  grep -q "WebSocket:" "$log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done

# The process's user + system CPU time in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

bench_cpu="${TMPDIR:-/tmp}/starling-sweep-bench-cpu"
printf '%-6s %-12s %-8s %-8s %-8s %-10s %-10s %s\n' rate deliveries/s p50_ms p99_ms max_ms devstack% bench% result
for rate in "${rates[@]}"; do
  messages=$(python3 -c "print(max(50, round($rate * $secs)))")
  t0=$(date +%s.%N) c0=$(cpu_ticks)
  out=$(/usr/bin/time -f '%P' -o "$bench_cpu" "$bin/starling" bench --url "ws://127.0.0.1:$port/local" --clients "$clients" --rate "$rate" \
    --messages "$messages" --timeout-secs 120 --settle-ms "$settle" --quiet 2>&1) && ok=ok || ok=FAILED
  t1=$(date +%s.%N) c1=$(cpu_ticks)
  cpu=$(python3 -c "print(round(100 * ($c1 - $c0) / $hz / ($t1 - $t0)))")
  read -r p50 p99 max < <(sed -n 's/.*p50 \([0-9.]*\).*p99 \([0-9.]*\).*max \([0-9.]*\).*/\1 \2 \3/p' <<< "$out")
  printf '%-6s %-12s %-8s %-8s %-8s %-10s %-10s %s\n' "$rate" "$(python3 -c "print(round($rate * $clients))")" \
    "${p50:--}" "${p99:--}" "${max:--}" "$cpu" "$(tail -1 "$bench_cpu")" "$ok"
  [[ $ok == ok ]] || echo "$out" | tail -3 >&2
done
