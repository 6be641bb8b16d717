#!/usr/bin/env bash
# The Lambda budgets of issue 10, measured and printed, never asserted (scripts/lambdas/budgets.py):
# each arm64 bootstrap's zipped and unzipped size as deployed; each function's init under AWS's
# Runtime Interface Emulator next to a hello-world lambda_runtime bootstrap (benches/hello-lambda)
# built with the same profile; warm per-invocation latency (send: ping and send; fanout: a
# 10-record batch to 10 subscribers) against moto enforcing each function's IAM policy.
#
#   bash scripts/lambda-budgets.sh            # release, as deployed: 30 cold starts each, 200 invocations
#   bash scripts/lambda-budgets.sh --ci       # CI's short run: 5 and 40, on the dev-profile bootstraps
#   bash scripts/lambda-budgets.sh --no-build # reuse the last build (local iteration)
#
# Builds the deployed artifacts (`cargo lambda build --release --arm64 --output-format zip`, the
# profile SAM and CDK deploy) for the sizes, and the same release profile for this machine's
# bootstraps under the emulator. That host build (fat LTO, six binaries) takes longer than CI can
# spare, so --ci times the dev-profile bootstraps scripts/test.sh built (hello world included):
# its ratios compare like with like, its absolute times are not the deployed ones.
# docs/deploy.md ("Size, cold start and latency budgets").
set -euo pipefail
exec </dev/null
cd "$(dirname "$0")/.."

init_rounds=30 iterations=200 build=1 profile=release
for arg in "$@"; do
  case "$arg" in
    --ci) init_rounds=5 iterations=40 profile=dev ;;
    --no-build) build=0 ;;
    *) echo "usage: $0 [--ci] [--no-build]" >&2; exit 2 ;;
  esac
done

# cargo-lambda and zig: the SAM venv of scripts/infra-check.sh.
SAM_VENV="${STARLING_INFRA_VENVS:-$PWD/.venv-infra}/sam"
REQ=infra/requirements/sam.txt
if [ ! -x "$SAM_VENV/bin/cargo-lambda" ] || [ "$(cat "$SAM_VENV/.requirements.sha256" 2>/dev/null)" != "$(sha256sum "$REQ" | cut -d' ' -f1)" ]; then
  echo "==> installing $REQ into $SAM_VENV"
  rm -rf "$SAM_VENV" && python3 -m venv "$SAM_VENV"
  "$SAM_VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  sha256sum "$REQ" | cut -d' ' -f1 >"$SAM_VENV/.requirements.sha256"
fi
# The RIE and moto: the test venv (scripts/venv.sh).
source scripts/venv.sh

# In CI, infra-check's arm64 target dir: its release build of the five is already there.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ "${CI:-}" = "true" ]; then
  export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/starling/lambda-target"
fi
target="${CARGO_TARGET_DIR:-$PWD/target}"
bins=()
for name in hello-lambda authorizer connect disconnect send fanout; do bins+=(--bin "starling-$name"); done

if [ "$build" = 1 ]; then
  if command -v rustup >/dev/null; then rustup target add aarch64-unknown-linux-gnu; fi
  t0=$SECONDS
  PATH="$SAM_VENV/bin:$PATH" cargo lambda build --release --arm64 --output-format zip --locked "${bins[@]}"
  t1=$SECONDS
  if [ "$profile" = release ]; then
    cargo build --release --locked "${bins[@]}"
  else
    # The build scripts/e2e-lambda.sh made (every binary, the workspace's features): a no-op in CI.
    CARGO_TARGET_DIR="$PWD/target" cargo build --locked --workspace --bins
  fi
  echo "==> builds: arm64 zips $((t1 - t0)) s, this machine's $profile bootstraps $((SECONDS - t1)) s"
fi
bin_dir="$target/release"
[ "$profile" = dev ] && bin_dir="$PWD/target/debug"

echo "==> bootstraps timed: $profile profile ($bin_dir)"
"$venv/bin/python" scripts/lambdas/budgets.py --lambda-dir "$target/lambda" --bin-dir "$bin_dir" \
  --init-rounds "$init_rounds" --iterations "$iterations"
