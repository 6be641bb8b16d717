"""Measures the Lambda budgets of issue 10 for scripts/lambda-budgets.sh: the zipped and unzipped
size of each arm64 bootstrap, each function's init duration as AWS's Runtime Interface Emulator
(RIE) reports it next to a hello-world bootstrap's, and per-invocation latency through the RIE.

Stdlib only, plus boto3 (moto's own dependency) to create the table and queues in moto. Each
function gets only the environment it needs to init (see ENVIRONMENT); a runner that reads
infra/contract.json can replace that table.
"""

import argparse
import base64
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FUNCTIONS = ["authorizer", "connect", "disconnect", "send", "fanout"]
HELLO = "hello-lambda"
REGION = "us-east-1"
TABLE = "starling-budgets"
QUEUE = "starling-budgets"
JWT_SECRET = "budgets-secret"
JWT_SECRET_ID = "starling/budgets/jwt"
ROOM = "lobby"
SUBSCRIBERS = 10
INIT_RE = re.compile(r"INIT REPORT.*?durationMs:\s*([0-9.]+)")


def mb(n):
    return n / 1_000_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# ------------------------------------------------------------------ sizes


def sizes(lambda_dir):
    rows = {}
    for name in [HELLO] + FUNCTIONS:
        path = os.path.join(lambda_dir, f"starling-{name}", "bootstrap.zip")
        with zipfile.ZipFile(path) as z:
            unzipped = z.getinfo("bootstrap").file_size
        rows[name] = (os.path.getsize(path), unzipped)
    return rows


# ------------------------------------------------------------------ local services


class ManagementApi(BaseHTTPRequestHandler):
    """Answers every Management API call (POST/GET/DELETE @connections/...) with 200."""

    posts = 0
    lock = threading.Lock()

    def _ok(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.command == "POST":
            with ManagementApi.lock:
                ManagementApi.posts += 1
        body = b"{}" if self.command == "GET" else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET = do_DELETE = _ok

    def log_message(self, *args):
        pass


def start_management_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ManagementApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def moto_resources(endpoint):
    """The table (as infra/contract.json describes it), the FIFO queue and its DLQ, the JWT secret."""
    import boto3

    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    props = json.load(open("infra/contract.json"))["table"]["properties"]
    ddb = boto3.client("dynamodb", **kw)
    if TABLE not in ddb.list_tables()["TableNames"]:
        keep = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
        ddb.create_table(TableName=TABLE, **{k: props[k] for k in keep})
    sqs = boto3.client("sqs", **kw)
    dlq = sqs.create_queue(QueueName=f"{QUEUE}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue = sqs.create_queue(QueueName=f"{QUEUE}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    sm = boto3.client("secretsmanager", **kw)
    try:
        sm.create_secret(Name=JWT_SECRET_ID, SecretString=JWT_SECRET)
    except sm.exceptions.ResourceExistsException:
        pass
    return queue, dlq, sqs


def environment(name, moto, queue, dlq, ws):
    """What each function needs to init and run here; the names are infra/contract.json's."""
    common = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": moto,
        "RUST_LOG": "info",
    }
    per = {
        HELLO: {},
        # As deployed: the secret's id, read from Secrets Manager (moto) at init.
        "authorizer": {"STARLING_JWT_SECRET_ID": JWT_SECRET_ID},
        "connect": {"STARLING_TABLE": TABLE, "STARLING_QUEUE_URL": queue},
        "disconnect": {"STARLING_TABLE": TABLE, "STARLING_QUEUE_URL": queue},
        # A rate limit no run reaches, so every `send` takes the same path.
        "send": {"STARLING_TABLE": TABLE, "STARLING_QUEUE_URL": queue, "STARLING_WS_ENDPOINT": ws,
                 "STARLING_RATE_LIMIT": "1000000"},
        "fanout": {"STARLING_TABLE": TABLE, "STARLING_DLQ_URL": dlq, "STARLING_WS_ENDPOINT": ws},
    }[name]
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **common, **per}


# ------------------------------------------------------------------ events


def jwt(sub):
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"sub": sub, "exp": int(time.time()) + 3600}).encode())
    sig = hmac.new(JWT_SECRET.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(sig)}"


def context(conn, route, event_type, user):
    now = int(time.time() * 1000)
    rid = secrets.token_hex(8)
    ctx = {
        "routeKey": route, "eventType": event_type, "extendedRequestId": rid, "requestId": rid,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "messageDirection": "IN",
        "stage": "local", "connectedAt": now, "requestTimeEpoch": now, "identity": {"sourceIp": "127.0.0.1"},
        "domainName": "127.0.0.1", "connectionId": conn, "apiId": "budgets0001",
    }
    if user:
        ctx["authorizer"] = {"principalId": user, "user": user, "integrationLatency": 1}
    return ctx


def authorizer_event(user):
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:000000000000:budgets0001/local/$connect",
        "headers": {}, "multiValueHeaders": {},
        "queryStringParameters": {"token": jwt(user)}, "multiValueQueryStringParameters": {"token": [jwt(user)]},
        "stageVariables": {}, "requestContext": context("c-auth", "$connect", "CONNECT", None),
    }


def connect_event(conn, user):
    return {"headers": {}, "multiValueHeaders": {}, "isBase64Encoded": False,
            "requestContext": context(conn, "$connect", "CONNECT", user)}


def message_event(conn, user, frame):
    ctx = context(conn, "$default", "MESSAGE", user)
    ctx["messageId"] = secrets.token_hex(8)
    return {"requestContext": ctx, "body": json.dumps(frame), "isBase64Encoded": False}


def disconnect_event(conn, user):
    ctx = context(conn, "$disconnect", "DISCONNECT", user)
    ctx.update(disconnectStatusCode=1000, disconnectReason="bye")
    return {"headers": {}, "multiValueHeaders": {}, "isBase64Encoded": False, "requestContext": ctx}


def ulid():
    ms = int(time.time() * 1000)
    n = (ms << 80) | int.from_bytes(secrets.token_bytes(10), "big")
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "".join(alphabet[(n >> (5 * i)) & 31] for i in reversed(range(26)))


def sqs_batch(template, size):
    """`size` records of distinct publishes cut from one real `send` envelope."""
    records = []
    for _ in range(size):
        body = dict(template, id=ulid())
        mid = secrets.token_hex(16)
        records.append({
            "messageId": mid, "receiptHandle": mid, "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(time.time() * 1000)),
                           "SenderId": "AIDABUDGETS", "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
                           "MessageGroupId": body["room"], "MessageDeduplicationId": body["id"],
                           "SequenceNumber": str(time.time_ns())},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:{REGION}:000000000000:{QUEUE}.fifo", "awsRegion": REGION,
        })
    return {"Records": records}


# ------------------------------------------------------------------ the emulator


class Emulator:
    """One RIE running one bootstrap, each on its own ports so runs elsewhere on the machine
    (9001 is the RIE's default Runtime API port) do not collide with it."""

    def __init__(self, rie, bootstrap, env):
        self.port = free_port()
        args = [rie, "--runtime-interface-emulator-address", f"127.0.0.1:{self.port}",
                "--runtime-api-address", f"127.0.0.1:{free_port()}", bootstrap]
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log = []
        threading.Thread(target=self._drain, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise SystemExit(f"the RIE did not listen on {self.port}: {''.join(self.log)}")

    def _drain(self):
        for line in self.proc.stdout:
            self.log.append(line)

    def invoke(self, event):
        """(seconds, decoded response); a function error (errorType in the answer) fails the run."""
        req = urllib.request.Request(self.url, data=json.dumps(event).encode(), method="POST")
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        elapsed = time.perf_counter() - t0
        answer = json.loads(body) if body else None
        if isinstance(answer, dict) and "errorType" in answer:
            raise SystemExit(f"invocation failed: {answer}\n{''.join(self.log[-20:])}")
        return elapsed, answer

    def init_ms(self):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for line in self.log:
                m = INIT_RE.search(line)
                if m:
                    return float(m.group(1))
            time.sleep(0.01)
        raise SystemExit(f"no INIT REPORT in the RIE's log:\n{''.join(self.log)}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def first_event(name, user="u0"):
    """An event each function answers without error on a fresh table."""
    conn = f"init-{secrets.token_hex(4)}"
    return {
        HELLO: {"hello": "world"},
        "authorizer": authorizer_event(user),
        "connect": connect_event(conn, user),
        "disconnect": disconnect_event(conn, user),
        "send": message_event(conn, user, {"action": "ping"}),
        "fanout": {"Records": []},
    }[name]


def measure_init(args, bins, envs):
    """Each round starts every bootstrap once, interleaved, so all see the same machine load."""
    inits = {n: [] for n in bins}
    for _ in range(args.init_rounds):
        for name, path in bins.items():
            emu = Emulator(args.rie, path, envs[name])
            try:
                emu.invoke(first_event(name))
                inits[name].append(emu.init_ms())
            finally:
                emu.stop()
    return inits


def measure_latency(args, bins, envs, sqs, queue):
    out = {}
    send = Emulator(args.rie, bins["send"], envs["send"])
    connect = Emulator(args.rie, bins["connect"], envs["connect"])
    try:
        conns = [(f"sub-{i}-{secrets.token_hex(4)}", f"user{i}") for i in range(SUBSCRIBERS)]
        for conn, user in conns:
            connect.invoke(connect_event(conn, user))
            send.invoke(message_event(conn, user, {"action": "join", "room": ROOM}))
        conn, user = conns[0]
        send.invoke(message_event(conn, user, {"action": "ping"}))  # warm: the timings are of a warm instance
        out["send ping"] = [send.invoke(message_event(conn, user, {"action": "ping"}))[0]
                            for _ in range(args.iterations)]
        out["send send"] = [send.invoke(message_event(conn, user, {"action": "send", "room": ROOM, "body": f"m{i}",
                                                                  "clientMsgId": f"c-{i}"}))[0]
                            for i in range(args.iterations)]
    finally:
        send.stop()
        connect.stop()
    template = None
    while template is None:
        msgs = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not msgs:
            raise SystemExit("no publish envelope on the queue after the sends")
        template = next((json.loads(m["Body"]) for m in msgs if json.loads(m["Body"]).get("kind") == "publish"), None)
    fanout = Emulator(args.rie, bins["fanout"], envs["fanout"])
    try:
        posts0 = ManagementApi.posts
        fanout.invoke(sqs_batch(template, 10))
        if ManagementApi.posts - posts0 < SUBSCRIBERS * 10:
            raise SystemExit(f"a 10-record batch posted {ManagementApi.posts - posts0} frames, not {SUBSCRIBERS * 10}")
        out[f"fanout 10x{SUBSCRIBERS}"] = [fanout.invoke(sqs_batch(template, 10))[0] for _ in range(args.iterations)]
    finally:
        fanout.stop()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--lambda-dir", required=True, help="cargo-lambda's zips: DIR/starling-<name>/bootstrap.zip")
    p.add_argument("--bin-dir", required=True, help="the host (x86_64) release binaries the RIE runs")
    p.add_argument("--rie", required=True)
    p.add_argument("--moto", required=True, help="moto's endpoint URL")
    p.add_argument("--init-rounds", type=int, default=30)
    p.add_argument("--iterations", type=int, default=200)
    args = p.parse_args()

    size = sizes(args.lambda_dir)
    ws = start_management_api()
    queue, dlq, sqs = moto_resources(args.moto)
    bins = {n: os.path.join(args.bin_dir, f"starling-{n}") for n in [HELLO] + FUNCTIONS}
    envs = {n: environment(n, args.moto, queue, dlq, ws) for n in bins}
    inits = measure_init(args, bins, envs)
    hello = statistics.median(inits[HELLO])

    print(f"\n{'function':<13} {'zipped MB':>10} {'unzipped MB':>12} {'init p50 ms':>12} {'init p90 ms':>12} "
          f"{'x hello':>8}")
    for name in [HELLO] + FUNCTIONS:
        z, u = size[name]
        med = statistics.median(inits[name])
        print(f"{name:<13} {mb(z):>10.2f} {mb(u):>12.2f} {med:>12.2f} {percentile(inits[name], 90):>12.2f} "
              f"{med / hello:>8.2f}")
    print(f"(arm64 zips, MB = 10^6 bytes; init: x86_64 under the RIE, {args.init_rounds} cold starts each)")

    lat = measure_latency(args, bins, envs, sqs, queue)
    print(f"\n{'invocation':<16} {'p50 ms':>8} {'p99 ms':>8} {'n':>5}")
    for name, values in lat.items():
        ms = [v * 1000 for v in values]
        print(f"{name:<16} {percentile(ms, 50):>8.2f} {percentile(ms, 99):>8.2f} {len(ms):>5}")
    print("(warm instance, through the RIE, moto for DynamoDB/SQS, a local 200 for the Management API)")


if __name__ == "__main__":
    sys.exit(main())
