#!/usr/bin/env bash
# Runs the five real Lambda bootstraps locally, each under its own AWS Lambda Runtime Interface
# Emulator, against moto enforcing each function's IAM policy from infra/contract.json. Prints
# STARLING_LAMBDA_URL_<FUNCTION>=URL (where each function's invocations go) and moto's endpoint and
# administrator key; stops everything on Ctrl-C or TERM. docs/devstack.md, "The real Lambda binaries".
#
#   scripts/lambdas.sh [--ws-endpoint http://127.0.0.1:3001/local] [--profile release|dev] [--env-file F]
#                      [--param NAME=VALUE ...]     (--help lists the rest)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
exec "$venv/bin/python" scripts/lambdas/run.py "$@"
