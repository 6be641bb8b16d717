#!/usr/bin/env bash
# The third end-to-end run: the e2e tests written for every backend (`on_every_backend!`), in their
# `bootstraps` variant, through the devstack's gateway and event source mapping in front of the five
# real bootstraps, each under AWS's Runtime Interface Emulator against moto enforcing its IAM policy
# (scripts/lambdas.sh). The tests run one at a time: the bootstraps' environment fixes the gateway's
# port, the table and the queue (tests/src/lambda.rs). scripts/test.sh runs it.
#
#   scripts/e2e-lambda.sh [cargo test args...]      (e.g. --locked)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

log_dir=target/lambdas-e2e env_file=target/lambdas-e2e.env
mkdir -p "$log_dir" && rm -f "$env_file"
port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The same build as `cargo test --workspace` (dev profile); the secret the tests sign tokens with; a
# rate limit the tests' floods stay under, as their devstacks in-process have.
cargo build --workspace --bins "$@"
"$venv/bin/python" scripts/lambdas/run.py --bin-dir target/debug --ws-endpoint "http://127.0.0.1:$port/local" \
  --jwt-secret e2e-secret --param RateLimit=10000 --log-dir "$log_dir" --env-file "$env_file" \
  >"$log_dir/run.log" 2>&1 &
runners=$!
trap 'kill "$runners" 2>/dev/null || true; wait "$runners" 2>/dev/null || true' EXIT

deadline=$((SECONDS + 120))
until [ -s "$env_file" ]; do
  if ((SECONDS > deadline)) || ! kill -0 "$runners" 2>/dev/null; then
    echo "the bootstraps did not start; scripts/lambdas/run.py said:" >&2
    cat "$log_dir/run.log" >&2
    exit 1
  fi
  sleep 0.5
done

set -a
# shellcheck source=/dev/null
source "$env_file"
set +a
# The devstack reads and writes moto as its administrator; each function has its own key.
export AWS_ACCESS_KEY_ID="$STARLING_MOTO_ADMIN_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$STARLING_MOTO_ADMIN_SECRET_ACCESS_KEY"
export AWS_REGION=us-east-1 STARLING_LAMBDAS_ENV="$PWD/$env_file"
export STARLING_E2E_LOG="${STARLING_E2E_LOG:-$PWD/$log_dir/devstack.log}"

status=0
# The targets scripts/test.sh builds, so the dependencies keep its features and nothing is rebuilt
# (`-p starling-e2e` alone resolved other features and compiled 64 crates again, about 2 minutes);
# only the e2e tests have `bootstraps` variants.
cargo test --workspace --lib --bins --tests --examples "$@" -- ::bootstraps || status=$?
if [ "$status" != 0 ]; then
  echo "==> the functions' logs are in $log_dir (one file per function, and moto.log)" >&2
fi
exit "$status"
