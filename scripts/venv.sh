# Sourced by scripts/moto.sh and scripts/lambdas.sh: installs the pinned test services into .venv
# (again only when a requirements file changed).
#   scripts/requirements-test.txt  moto's server and what the Python tests import
#   scripts/requirements-rie.txt   aws-sam-cli, for the AWS Lambda Runtime Interface Emulator binary its
#                                  wheel ships; installed without its dependencies, since samcli's own
#                                  Python code is never imported
venv=.venv
venv_stamp=$(cat scripts/requirements-test.txt scripts/requirements-rie.txt)
if ! "$venv/bin/python" -c 'import moto' 2>/dev/null || [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$venv_stamp" ]; then
  echo "==> installing test services into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r scripts/requirements-rie.txt
  printf '%s' "$venv_stamp" > "$venv/.requirements"
fi
