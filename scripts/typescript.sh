#!/usr/bin/env bash
# The TypeScript SDK (clients/typescript), from a fresh clone: installs its pinned dev
# dependencies, validates docs/asyncapi.yaml (the AsyncAPI parser, then every example and every
# frame of docs/protocol.md against its schema), checks the generated protocol types are what
# the spec generates, type-checks (strict), builds dist/ (ES module + .d.ts), builds the API
# docs (typedoc, failing on any export without TSDoc) into docs/api/, then runs the
# unit tests (fake sockets) and the integration tests (a devstack per file, on a free port).
#
# The integration tests need the devstack binary: STARLING_DEVSTACK_BIN, default
# target/debug/starling-devstack (`cargo build -p starling-devstack`), and the CLI for the Rust
# member of e2e-interop.test.ts: STARLING_CLI_BIN, default target/debug/starling. Node 20 needs
# --experimental-websocket for the global WebSocket; Node ≥ 22 has it and ignores nothing here.
set -euo pipefail
exec </dev/null
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/clients/typescript"

export STARLING_DEVSTACK_BIN="${STARLING_DEVSTACK_BIN:-$root/target/debug/starling-devstack}"
if [[ ! -x "$STARLING_DEVSTACK_BIN" ]]; then
  echo "scripts/typescript.sh: no devstack binary at $STARLING_DEVSTACK_BIN; run cargo build -p starling-devstack first" >&2
  exit 1
fi
export STARLING_CLI_BIN="${STARLING_CLI_BIN:-$root/target/debug/starling}"
if [[ ! -x "$STARLING_CLI_BIN" ]]; then
  echo "scripts/typescript.sh: no CLI binary at $STARLING_CLI_BIN; run cargo build -p starling-cli first" >&2
  exit 1
fi

step() {
  local name="$1"
  shift
  local began=$SECONDS
  echo "== $name"
  "$@"
  echo "== $name: $((SECONDS - began)) s"
}

websocket_flag=()
if node -e 'process.exit(typeof WebSocket === "function" ? 1 : 0)'; then websocket_flag=(--experimental-websocket); fi

step "npm ci" npm ci --no-audit --no-fund --loglevel=error
step "validate docs/asyncapi.yaml" node scripts/validate-spec.mjs
step "generated types up to date" node scripts/generate.mjs --check
step "type-check (strict)" npx --no-install tsc --noEmit -p tsconfig.json
rm -rf dist .test-build
step "build dist/" npx --no-install tsc -p tsconfig.json
step "API docs: TSDoc on every export (typedoc)" npx --no-install typedoc --logLevel Warn
step "build and type-check the tests" npx --no-install tsc -p tsconfig.test.json
shopt -s nullglob
unit=(.test-build/unit/*.test.js)
integration=(.test-build/integration/*.test.js)
if (( ${#unit[@]} == 0 || ${#integration[@]} == 0 )); then
  echo "scripts/typescript.sh: no compiled tests found" >&2
  exit 1
fi
step "unit tests" node "${websocket_flag[@]}" --test --test-timeout=30000 "${unit[@]}"
step "integration tests" node "${websocket_flag[@]}" --test --test-concurrency=1 --test-timeout=120000 "${integration[@]}"
