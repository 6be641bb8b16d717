#!/usr/bin/env bash
# The chat page (clients/web): type-checks it, checks that the committed bundle (dist/) is what
# its sources build to, then runs the browser test in headless Chromium against a devstack.
#   scripts/web.sh
# Chromium is Debian's `chromium` package, installed here when missing; the test never downloads
# a browser. The devstack is target/debug/starling-devstack, built here, unless
# STARLING_DEVSTACK_BIN names another. Screenshots: target/browser/*.png.
exec </dev/null
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] && [ -z "${STARLING_CHROMIUM:-}" ]; then
  echo "==> installing Debian's chromium"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "==> npm ci (clients/web, and clients/typescript: the page bundles the SDK and its ts-mls)"
(cd clients/web && npm ci --no-audit --no-fund --loglevel=error)
(cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error)

echo "==> type-check the page and the SDK sources it bundles"
(cd clients/web && npm run --silent typecheck)

echo "==> the committed bundle matches its sources"
(cd clients/web && npm run --silent check-dist)

if [ -z "${STARLING_DEVSTACK_BIN:-}" ]; then
  # The page is compiled into the devstack, so the binary is rebuilt whenever dist/ changed.
  # --workspace: the features `cargo test --workspace` built the dependencies with, so after
  # scripts/test.sh this only relinks (with -p the whole graph would build a second time).
  echo "==> cargo build --workspace --bin starling-devstack"
  cargo build -q --locked --workspace --bin starling-devstack
  export STARLING_DEVSTACK_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/starling-devstack"
fi

echo "==> browser test"
(cd clients/web && npm test)
