#!/usr/bin/env bash
# Measures the devstack's resident memory while a client floods it with `history` requests and
# never reads the replies (issue #9, defect 5). Not part of CI: a figure for people, not a test
# (tests/tests/slow_clients.rs asserts the bound itself).
#
#   scripts/rss-slow-client.sh [REQUESTS]      (default 1000)
#
# DEVSTACK_ARGS adds devstack flags, e.g. DEVSTACK_ARGS="--outbox-bytes 100000000000" to see the
# growth the bound prevents.
# Builds the devstack (debug, into CARGO_TARGET_DIR or target/), starts it on a free port, fills a
# room with 100 messages of 8 KB (so each history page is ~800 KB), then opens a raw WebSocket
# that sends REQUESTS history requests without reading, and prints VmRSS before, at the peak and
# after. Needs only bash, python3 (standard library) and cargo.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
REQUESTS="${1:-1000}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build -q -p starling-devstack --manifest-path "$ROOT/Cargo.toml"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$TARGET/debug/starling-devstack" --port "$PORT" --jwt-secret rss-secret --rate-limit 1000000 ${DEVSTACK_ARGS:-} >/dev/null 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true' EXIT
python3 - "$PORT" "$PID" "$REQUESTS" <<'PY'
import base64, hashlib, hmac, json, os, socket, struct, sys, threading, time

port, pid, requests = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def rss_mb():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def token(user):
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": user, "exp": int(time.time()) + 3600}).encode())
    sig = hmac.new(b"rss-secret", f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"

def connect(user):
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            time.sleep(0.1)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /local?token={token(user)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    return s

def send(s, text):
    data, mask = text.encode(), os.urandom(4)
    n = len(data)
    header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    s.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

def recv_frame(s):
    def exact(n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            if not chunk:
                raise EOFError
            b += chunk
        return b
    h = exact(2)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack(">H", exact(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", exact(8))[0]
    return exact(n).decode(errors="replace")

writer = connect("writer")
send(writer, json.dumps({"action": "join", "room": "big"}))
recv_frame(writer)
for i in range(100):
    send(writer, json.dumps({"action": "send", "room": "big", "body": "m" * 8192, "clientMsgId": f"c{i}"}))
seen = 0
while seen < 100:  # the writer's own messages come back once stored
    if '"type":"message"' in recv_frame(writer):
        seen += 1

before = rss_mb()
flooder = connect("flooder")
send(flooder, json.dumps({"action": "join", "room": "big"}))
peak, stop = [before], threading.Event()
def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb())
        time.sleep(0.02)
threading.Thread(target=sample, daemon=True).start()
sent = 0
try:
    for _ in range(requests):
        send(flooder, json.dumps({"action": "history", "room": "big", "limit": 100}))
        sent += 1
except OSError:
    pass  # closed by the devstack
time.sleep(2)
stop.set()
print(f"history requests sent before the devstack closed the socket: {sent} of {requests}")
print(f"devstack VmRSS: before {before:.0f} MB, peak {peak[0]:.0f} MB, after {rss_mb():.0f} MB")
PY
