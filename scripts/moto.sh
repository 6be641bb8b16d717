# Sourced by scripts/test.sh and scripts/chaos.sh: installs the pinned moto server into .venv
# (scripts/venv.sh), starts it on free loopback ports, exports what the tests need to reach it, and stops
# it when the calling script exits.

source scripts/venv.sh

# moto answers on one thread (the GIL), so a busy suite saturates one server while the other
# core idles: STARLING_MOTO_SERVERS servers (2 by default) share the tests between them.
servers=${STARLING_MOTO_SERVERS:-2}
# Transactions save only the items they name instead of deep-copying their tables: the same
# result, as DynamoDB is serialized (scripts/moto_server.py), but not seconds per transaction once
# a suite has filled the table. The Lambda-mode moto (scripts/lambdas) inherits it.
export STARLING_MOTO_ITEM_SNAPSHOTS="${STARLING_MOTO_ITEM_SNAPSHOTS:-1}"
mkdir -p target
moto_pids=() endpoints=()
for i in $(seq "$servers"); do
  port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # moto's server with DynamoDB linearizable (a cancelled transaction undoes concurrent writes on
  # plain moto): scripts/moto_server.py.
  "$venv/bin/python" scripts/moto_server.py -H 127.0.0.1 -p "$port" > "target/moto-$i.log" 2>&1 &
  moto_pids+=("$!") endpoints+=("http://127.0.0.1:$port")
done
trap 'kill "${moto_pids[@]}" 2>/dev/null || true' EXIT

for i in "${!endpoints[@]}"; do
  deadline=$((SECONDS + 60))
  until "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('${endpoints[$i]}/moto-api/')" 2>/dev/null; do
    if ((SECONDS > deadline)) || ! kill -0 "${moto_pids[$i]}" 2>/dev/null; then
      echo "moto did not start; its log:" >&2
      cat "target/moto-$((i + 1)).log" >&2
      exit 1
    fi
    sleep 0.2
  done
done
echo "==> moto on ${endpoints[*]}"

# The first server for whatever takes one endpoint; the e2e devstacks take turns over all.
export STARLING_MOTO_ENDPOINT="${endpoints[0]}"
STARLING_MOTO_ENDPOINTS=$(IFS=,; echo "${endpoints[*]}")
export STARLING_MOTO_ENDPOINTS
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
