#!/usr/bin/env bash
# Infrastructure checks for Starling (issue 4): the SAM template and the CDK app validated, linted,
# synthesized, tested, compared (parity), scanned (checkov), the LocalStack init hook run against moto,
# and every function built for arm64 by `sam build`.
#
#   bash scripts/infra-check.sh
#
# Idempotent and non-interactive. Installs what it needs: Python venvs under .venv-infra/ (pinned in
# infra/requirements/), `npm ci` in infra/cdk, the aarch64 Rust target. Needs no AWS credentials and
# no network beyond the package registries (PyPI, npm, crates.io, rustup's target download once).
#
# STARLING_SKIP_SAM_BUILD=1 skips the `sam build` step, for local iteration only (CI never sets it).
set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENVS="${STARLING_INFRA_VENVS:-$ROOT/.venv-infra}"   # override to keep the venvs outside the clone
REQS="$ROOT/infra/requirements"
CDK_DIR="$ROOT/infra/cdk"
SAM_DIR="$ROOT/infra/sam"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/starling-infra.XXXXXX")"

# Offline, credential-free AWS tooling: a region for the validators, no telemetry, no update checks.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export SAM_CLI_TELEMETRY=0 SAM_CLI_BETA_RUST_CARGO_LAMBDA=1
export CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

T0=$(date +%s)
PASSED=0
SKIPPED=0
declare -a SUMMARY=()
step_start() {
  STEP="$1"
  STEP_T0=$(date +%s.%N)
  printf '\n=== %s\n' "$STEP"
}
step_end() {
  local dt
  dt=$(awk -v a="$STEP_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  SUMMARY+=("$(printf '%-58s %7ss' "$STEP" "$dt")")
  PASSED=$((PASSED + 1))
  printf -- '--- %s: ok (%ss)\n' "$STEP" "$dt"
}
fail() {
  echo "infra-check: FAILED in step: ${STEP:-setup}: $*" >&2
  exit 1
}
trap 'rc=$?; [ $rc -ne 0 ] && echo "infra-check: FAILED in step: ${STEP:-setup} (exit $rc)" >&2; rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------- installs
# One venv per requirements file (checkov's boto3 pin conflicts with aws-sam-cli's), each rebuilt only
# when its pinned requirements change.
ensure_venv() {
  local name="$1" req="$REQS/$1.txt" dir="$VENVS/$1" stamp
  stamp="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.requirements.sha256" 2>/dev/null)" = "$stamp" ]; then
    echo "venv $name: up to date"
    return 0
  fi
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip
  "$dir/bin/python" -m pip install -q -r "$req"
  echo "$stamp" >"$dir/.requirements.sha256"
  echo "venv $name: installed"
}

step_start "install: Python venvs (.venv-infra/)"
command -v python3 >/dev/null || fail "python3 is required"
mkdir -p "$VENVS"
# Three independent installs, mostly waiting on downloads: run them side by side.
venv_names=(sam checkov localstack)
pids=()
for name in "${venv_names[@]}"; do
  ensure_venv "$name" >"$WORK/venv-$name.log" 2>&1 &
  pids+=("$!")
done
for i in "${!venv_names[@]}"; do
  if ! wait "${pids[$i]}"; then
    cat "$WORK/venv-${venv_names[$i]}.log" >&2
    fail "installing the ${venv_names[$i]} venv"
  fi
  cat "$WORK/venv-${venv_names[$i]}.log"
done
SAM_BIN="$VENVS/sam/bin"
"$SAM_BIN/sam" --version
"$SAM_BIN/cfn-lint" --version
"$VENVS/checkov/bin/checkov" --version | sed 's/^/checkov /'
step_end

step_start "install: npm ci (infra/cdk)"
command -v node >/dev/null || fail "node is required"
lock_stamp="$(sha256sum "$CDK_DIR/package-lock.json" | cut -d' ' -f1)"
if [ -d "$CDK_DIR/node_modules" ] && [ "$(cat "$CDK_DIR/node_modules/.starling-lock.sha256" 2>/dev/null)" = "$lock_stamp" ]; then
  echo "node_modules: up to date"
else
  (cd "$CDK_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_stamp" >"$CDK_DIR/node_modules/.starling-lock.sha256"
fi
(cd "$CDK_DIR" && echo "aws-cdk-lib $(node -p "require('aws-cdk-lib/package.json').version"), cdk CLI $(npx --no-install cdk --version 2>/dev/null)")
step_end

# ---------------------------------------------------------------- SAM
step_start "sam validate (translate) and sam validate --lint"
(cd "$SAM_DIR" && "$SAM_BIN/sam" validate --template-file template.yaml --region us-east-1)
(cd "$SAM_DIR" && "$SAM_BIN/sam" validate --lint --template-file template.yaml --region us-east-1)
step_end

step_start "cfn-lint: SAM template"
"$SAM_BIN/cfn-lint" -- "$SAM_DIR/template.yaml"
echo "cfn-lint: clean"
step_end

# ---------------------------------------------------------------- CDK
step_start "tsc --noEmit (infra/cdk)"
(cd "$CDK_DIR" && npx --no-install tsc --noEmit)
step_end

# CI synthesizes without compiling Rust: placeholder zips stand in for cargo-lambda's output, in a temp
# dir used for this synth only (they fail loudly if ever deployed). Real deploys: docs/deploy.md.
step_start "cdk synth (offline, placeholder assets)"
(cd "$CDK_DIR" && node --import tsx scripts/placeholder-assets.ts "$WORK/lambda-assets")
rm -rf "$CDK_DIR/cdk.out"
(cd "$CDK_DIR" && npx --no-install cdk synth --quiet --no-notices -c lambdaAssetDir="$WORK/lambda-assets")
CDK_TEMPLATE="$CDK_DIR/cdk.out/Starling.template.json"
[ -s "$CDK_TEMPLATE" ] || fail "cdk synth wrote no $CDK_TEMPLATE"
# CDK adds an explicit DependsOn on each function's role beside the GetAtt (W3005): harmless.
"$SAM_BIN/cfn-lint" --ignore-checks W3005 -- "$CDK_TEMPLATE"
echo "cfn-lint (CDK template): clean"
step_end

step_start "CDK assertion tests"
(cd "$CDK_DIR" && node --import tsx --test test/*.test.ts)
step_end

# ---------------------------------------------------------------- parity
step_start "parity: SAM (samtranslator) vs CDK vs infra/contract.json"
"$SAM_BIN/python" infra/parity/parity.py --sam "$SAM_DIR/template.yaml" --cdk "$CDK_TEMPLATE" \
  --write-sam-json "$WORK/sam-translated.json"
STARLING_CDK_TEMPLATE="$CDK_TEMPLATE" "$SAM_BIN/python" -m pytest infra/parity -p no:cacheprovider -q
step_end

# ---------------------------------------------------------------- checkov
step_start "checkov: SAM template, its translation, CDK template"
for tpl in "$SAM_DIR/template.yaml" "$WORK/sam-translated.json" "$CDK_TEMPLATE"; do
  echo "checkov $tpl"
  if ! "$VENVS/checkov/bin/checkov" --compact --skip-download --framework cloudformation -f "$tpl" \
    >"$WORK/checkov.log" 2>&1; then
    cat "$WORK/checkov.log"
    fail "checkov found failing checks in $tpl"
  fi
  # Passed/failed/skipped counts, then which checks were skipped (the reasons are in the templates).
  grep -E 'Passed checks' "$WORK/checkov.log"
  awk '/^Check: /{c=$0} /SKIPPED for resource/{print "  skipped " substr(c, 8)}' "$WORK/checkov.log" | sort | uniq -c
done
step_end

# ---------------------------------------------------------------- LocalStack: init hook, function deploy
step_start "LocalStack ready.d hook and deploy_functions.py against moto (checked against infra/contract.json)"
bash -n localstack/init/ready.d/*.sh
"$VENVS/localstack/bin/python" -m pytest localstack/tests -p no:cacheprovider -q
step_end

# ---------------------------------------------------------------- sam build
if [ "${STARLING_SKIP_SAM_BUILD:-}" = "1" ]; then
  echo
  echo "=== sam build: SKIPPED (STARLING_SKIP_SAM_BUILD=1; local iteration only)"
  SKIPPED=1
else
  step_start "sam build (5 Rust functions, arm64, cargo-lambda)"
  if command -v rustup >/dev/null; then rustup target add aarch64-unknown-linux-gnu; fi
  # In CI (a fresh clone each run) the arm64 release build goes to a target dir outside the clone, so
  # a later run on the same machine recompiles only what changed. Locally the workspace's target/ is
  # used, as by a hand-run `sam build`. CARGO_TARGET_DIR, when set, always wins.
  if [ -z "${CARGO_TARGET_DIR:-}" ] && [ "${CI:-}" = "true" ]; then
    export CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/starling/lambda-target"
  fi
  echo "cargo target dir: ${CARGO_TARGET_DIR:-$ROOT/target}"
  # cargo-lambda (and the zig it cross-links with) come from the sam venv.
  export PATH="$SAM_BIN:$PATH"
  cargo lambda --version
  build_t0=$(date +%s.%N)
  # All five binaries in one cargo invocation first: the dependency graph is compiled once and the
  # five LTO links share the cores; sam build's own per-function `cargo lambda build --bin` calls then
  # find everything fresh and only copy. Same profile, flags and target as sam build's, so the
  # artifacts are the ones sam build would make.
  bins=()
  while read -r bin; do bins+=(--bin "$bin"); done < <(
    "$SAM_BIN/python" -c 'import json; [print(f["binary"]) for f in json.load(open("infra/contract.json"))["functions"].values()]'
  )
  cargo lambda build --release --arm64 --locked "${bins[@]}"
  prebuild_t=$(awk -v a="$build_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  sam_t0=$(date +%s.%N)
  (cd "$SAM_DIR" && sam build --beta-features --build-dir "$SAM_DIR/.aws-sam/build" --template-file template.yaml)
  sam_t=$(awk -v a="$sam_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  build_t=$(awk -v a="$build_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo
  echo "sam build wall time: ${build_t}s (cargo lambda build of all five: ${prebuild_t}s, then sam build: ${sam_t}s)"
  "$SAM_BIN/python" - "$SAM_DIR/.aws-sam/build" <<'PY'
import io, json, os, sys, zipfile
build = sys.argv[1]
contract = json.load(open("infra/contract.json"))
print(f"{'function':<22} {'binary':<22} {'bootstrap':>12} {'zipped':>12}  arch")
too_big = []
for key, fn in contract["functions"].items():
    path = os.path.join(build, fn["logicalId"], "bootstrap")
    data = open(path, "rb").read()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:  # as `sam deploy`/`sam package` zip it
        z.writestr("bootstrap", data)
    zipped = len(buf.getvalue())
    # ELF e_machine 0xB7 = AArch64
    arch = "arm64" if data[:4] == b"\x7fELF" and int.from_bytes(data[18:20], "little") == 0xB7 else "NOT arm64"
    print(f"{fn['logicalId']:<22} {fn['binary']:<22} {len(data):>12,} {zipped:>12,}  {arch}")
    if arch != "arm64":
        sys.exit(f"{path} is not an arm64 ELF executable")
    if zipped > 2 * 1024 * 1024:
        too_big.append(fn["binary"])
if too_big:
    print(f"note: over the 2 MB zipped target: {', '.join(too_big)}")
PY
  step_end
fi

echo
echo "=== infra-check summary"
printf '%s\n' "${SUMMARY[@]}"
echo "total: $(( $(date +%s) - T0 ))s"
if [ "$SKIPPED" -gt 0 ]; then
  echo "infra-check: $PASSED passed, 0 failed, $SKIPPED skipped"
else
  echo "infra-check: $PASSED passed, 0 failed"
fi
