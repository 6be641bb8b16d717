#!/usr/bin/env bash
# The soak benchmark (not a CI test): a release devstack, CLIENTS connections in one room, RATE
# messages per second over all senders for SECS seconds; reports lost and duplicate deliveries,
# p50/p99 latency, and the devstack's resident memory: at the start, once joined, its peak while sending,
# when every delivery is in, and after the clients left (flat: "sent" close to "joined"). Sending starts
# once the join storm (every join announced to every member: ~N²/2 presence posts) has drained.
#   scripts/soak.sh [CLIENTS] [RATE] [SECS]      (defaults: 1000 10 60)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-1000} rate=${2:-10} secs=${3:-60}
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cargo build --release --locked -p starling-devstack -p starling-cli
bin="${CARGO_TARGET_DIR:-target}/release"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$bin/starling-devstack" --port "$port" --rate-limit 1000000 > "${TMPDIR:-/tmp}/starling-soak-devstack.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
"$bin/starling" bench --url "ws://127.0.0.1:$port/local" --clients "$clients" --rate "$rate" \
  --duration-secs "$secs" --timeout-secs $((secs + 600)) \
  --settle-ms 3000 --rss-pid "$pid" --quiet
