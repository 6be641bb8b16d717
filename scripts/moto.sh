# Sourced by scripts/test.sh and scripts/chaos.sh: installs the pinned moto server into .venv
# (once), starts it on a free loopback port, exports what the tests need to reach it, and stops
# it when the calling script exits.

venv=.venv
if ! "$venv/bin/python" -c 'import moto' 2>/dev/null || ! cmp -s scripts/requirements-test.txt "$venv/.requirements"; then
  echo "==> installing test services into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
  cp scripts/requirements-test.txt "$venv/.requirements"
fi

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" > target/moto.log 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT

deadline=$((SECONDS + 60))
until "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; do
  if ((SECONDS > deadline)) || ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto did not start; its log:" >&2
    cat target/moto.log >&2
    exit 1
  fi
  sleep 0.2
done
echo "==> moto on 127.0.0.1:$port"

export STARLING_MOTO_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
