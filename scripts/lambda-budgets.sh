#!/usr/bin/env bash
# The Lambda budgets of issue 10, measured (never asserted): each function's zipped and unzipped arm64
# bootstrap, its init duration under AWS's Runtime Interface Emulator next to a hello-world
# lambda_runtime bootstrap (benches/hello-lambda) built with the same profile, and per-invocation
# latency through the emulator (send: ping, send; fanout: a 10-record batch to 10 subscribers) on moto.
#
#   bash scripts/lambda-budgets.sh          # 30 cold starts per bootstrap, 200 invocations per latency row
#   bash scripts/lambda-budgets.sh --ci     # 5 and 20: the figures of a short run, for CI logs
#   bash scripts/lambda-budgets.sh --no-build   # reuse the last build (local iteration)
#
# Builds: the deployed artifacts (`cargo lambda build --release --arm64 --output-format zip`, as SAM and
# CDK deploy them) for the sizes, and the same `release` profile for the host (x86_64) for the emulator.
# Fails if a build, an emulator or an invocation fails; timings only print. docs/deploy.md has the method.
set -euo pipefail
exec </dev/null
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

init_rounds=30 iterations=200 build=1
for arg in "$@"; do
  case "$arg" in
    --ci) init_rounds=5 iterations=20 ;;
    --no-build) build=0 ;;
    *) echo "usage: $0 [--ci] [--no-build]" >&2; exit 2 ;;
  esac
done

# The SAM venv of scripts/infra-check.sh: the RIE (inside aws-sam-cli), cargo-lambda and zig.
VENV="${STARLING_INFRA_VENVS:-$ROOT/.venv-infra}/sam"
REQ=infra/requirements/sam.txt
if [ ! -x "$VENV/bin/cargo-lambda" ] || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$(sha256sum "$REQ" | cut -d' ' -f1)" ]; then
  echo "==> installing $REQ into $VENV"
  rm -rf "$VENV" && python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ"
  sha256sum "$REQ" | cut -d' ' -f1 >"$VENV/.requirements.sha256"
fi
export PATH="$VENV/bin:$PATH"
RIE="$("$VENV/bin/python" -c 'import os, samcli; print(os.path.join(os.path.dirname(samcli.__file__), "local/rapid/aws-lambda-rie-x86_64"))')"

# Same target dir as infra-check's arm64 build in CI, so after it the arm64 build here only zips.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ "${CI:-}" = "true" ]; then
  export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/starling/lambda-target"
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
bins=()
for name in hello-lambda authorizer connect disconnect send fanout; do bins+=(--bin "starling-$name"); done

if [ "$build" = 1 ]; then
  if command -v rustup >/dev/null; then rustup target add aarch64-unknown-linux-gnu; fi
  t0=$SECONDS
  cargo lambda build --release --arm64 --output-format zip --locked "${bins[@]}"
  t1=$SECONDS
  cargo build --release --locked "${bins[@]}"
  echo "==> builds: arm64 zips $((t1 - t0))s, host release $((SECONDS - t1))s"
fi

export STARLING_MOTO_SERVERS=1
# shellcheck source=scripts/moto.sh
source scripts/moto.sh
.venv/bin/python scripts/lambda_budgets.py --lambda-dir "$TARGET/lambda" --bin-dir "$TARGET/release" \
  --rie "$RIE" --moto "$STARLING_MOTO_ENDPOINT" --init-rounds "$init_rounds" --iterations "$iterations"
