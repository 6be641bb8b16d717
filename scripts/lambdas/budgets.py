"""The Lambda budgets of issue 10, measured and printed, never asserted (scripts/lambda-budgets.sh):

- size: each arm64 `bootstrap.zip` that cargo-lambda built for deployment, zipped and unzipped;
- init: each function's `INIT REPORT (durationMs: ...)` under AWS's Runtime Interface Emulator,
  cold-started round after round beside a hello-world `lambda_runtime` bootstrap
  (benches/hello-lambda) built with the same profile;
- latency: warm invocations through the emulator, as the client of the Invoke API times them:
  `send` with a ping, `send` with a send to a room of 10, and the fanout with a 10-record batch of
  real queued envelopes to those 10 subscribers.

The five functions run exactly as in the tests of scripts/lambdas: their environment from
infra/contract.json, each with its own least-privilege key, against moto enforcing IAM
(stack.LocalLambdas), so every AWS call of an invocation includes moto's policy check.
"""

from __future__ import annotations

import argparse
import json
import math
import ssl
import statistics
import sys
import time
import zipfile
from pathlib import Path

import contract
import events
from management import ManagementApi
from runners import Runner, base_env
from session import Outcome, Session
from stack import LocalLambdas, Settings

HELLO = "hello-lambda"
SUBSCRIBERS = 10
BATCH = 10


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def sizes(lambda_dir: Path, names: list[str]) -> dict[str, tuple[int, int]]:
    """(zipped, unzipped) bytes of each `starling-NAME/bootstrap.zip`."""
    out = {}
    for name in names:
        path = lambda_dir / f"starling-{name}" / "bootstrap.zip"
        with zipfile.ZipFile(path) as z:
            out[name] = (path.stat().st_size, z.getinfo("bootstrap").file_size)
    return out


def first_event(session: Session, name: str) -> tuple[str, dict]:
    """An invocation each bootstrap answers without an error on a cold start."""
    s = session
    if name == HELLO:
        return HELLO, {"hello": "world"}
    if name == "authorizer":
        return name, events.authorizer_request("c1=", events.token("u0", s.lambdas.settings.jwt_secret), s.domain)
    return name, {
        "connect": events.connect("c1=", "u0", s.domain),
        "disconnect": events.disconnect("c1=", "u0", s.domain),
        "send": events.message("c1=", "u0", json.dumps({"action": "ping"}), s.domain),
        "fanout": {"Records": []},
    }[name]


def one_bundle_env() -> dict[str, str]:
    """The trust store as one PEM bundle (`SSL_CERT_FILE`), instead of what rustls-native-certs
    finds on this machine: on Debian the bundle plus /etc/ssl/certs, a directory of one file per
    root certificate, every one of them opened and parsed at init by the SDK's HTTPS client."""
    cafile = ssl.get_default_verify_paths().openssl_cafile
    if not cafile or not Path(cafile).is_file():
        raise SystemExit(f"no CA bundle at {cafile!r} (Python's OpenSSL default) to time init with")
    return {"SSL_CERT_FILE": str(Path(cafile).resolve())}


def measure_init(
    stack: LocalLambdas, hello: Runner, session: Session, rounds: int, extra_env: dict[str, str] | None = None
) -> dict[str, list[float]]:
    """Each round cold-starts every bootstrap once, interleaved, so all share the machine's load.
    `extra_env` is added to every bootstrap's environment for these cold starts."""
    runners = {HELLO: hello, **stack.runners}
    inits: dict[str, list[float]] = {name: [] for name in runners}
    originals = {name: r.env for name, r in runners.items()}
    envs = {name: env | (extra_env or {}) for name, env in originals.items()}
    for _ in range(rounds):
        for name, runner in runners.items():
            runner.restart(envs[name])
            before = len(runner.init_durations_ms())
            _, event = first_event(session, name)
            inv = runner.invoke(event)
            if inv.function_error:
                raise SystemExit(f"{name} failed its first invocation: {inv.payload}")
            deadline = time.monotonic() + 5
            while len(runner.init_durations_ms()) == before and time.monotonic() < deadline:
                time.sleep(0.01)
            reports = runner.init_durations_ms()
            if len(reports) == before:
                raise SystemExit(f"{name}: no INIT REPORT in {runner.log}")
            inits[name].append(reports[-1])
    for name, runner in runners.items():
        runner.env = originals[name]  # the next restart is as the stack configured it
    return inits


def timed(session: Session, function: str, event: dict) -> float:
    started = time.perf_counter()
    inv = session.lambdas.runners[function].invoke(event)
    elapsed = time.perf_counter() - started
    # Failed as its caller would see it: a function error, a 5xx, a batch item failure, an error frame.
    if Outcome(function, "timed", inv).failed:
        raise SystemExit(f"{function} failed: {inv.payload}")
    return elapsed * 1000


def measure_latency(session: Session, management: ManagementApi, iterations: int) -> dict[str, list[float]]:
    ev, s, room = events, session, "budget-room"
    members = [(s.connect(f"user{i}"), f"user{i}") for i in range(SUBSCRIBERS)]
    for cid, user in members:
        if (s.frame(cid, user, {"action": "join", "room": room}) or {}).get("type") != "joined":
            raise SystemExit(f"{user} could not join: {s.outcomes[-1].invocation.payload}")
    s.clear_queue()
    cid, user = members[0]
    ping = lambda: ev.message(cid, user, json.dumps({"action": "ping"}), s.domain)  # noqa: E731
    timed(s, "send", ping())  # warm: every figure is of a warm instance
    out: dict[str, list[float]] = {"send ping": [timed(s, "send", ping()) for _ in range(iterations)]}
    out["send send"], out[f"fanout {BATCH}x{SUBSCRIBERS}"] = [], []
    sqs, url = s.lambdas.moto.client("sqs"), s.lambdas.resources.queue_url
    sent = 0
    while len(out[f"fanout {BATCH}x{SUBSCRIBERS}"]) < max(1, iterations // BATCH):
        for _ in range(BATCH):
            frame = {"action": "send", "room": room, "body": f"m{sent}", "clientMsgId": f"c-{sent}"}
            out["send send"].append(timed(s, "send", ev.message(cid, user, json.dumps(frame), s.domain)))
            sent += 1
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=BATCH, AttributeNames=["All"], VisibilityTimeout=60)
        batch = got.get("Messages", [])
        if len(batch) != BATCH:
            raise SystemExit(f"received {len(batch)} of the {BATCH} queued sends in one batch")
        posts = len(management.posts)
        out[f"fanout {BATCH}x{SUBSCRIBERS}"].append(timed(s, "fanout", ev.sqs(s.lambdas.resources.queue_arn, batch)))
        if len(management.posts) - posts != BATCH * SUBSCRIBERS:
            raise SystemExit(f"a batch posted {len(management.posts) - posts} frames, not {BATCH * SUBSCRIBERS}")
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def report(
    size: dict[str, tuple[int, int]],
    inits: dict[str, list[float]],
    bundle_inits: dict[str, list[float]],
    latency: dict[str, list[float]],
) -> None:
    hello, bundle_hello = statistics.median(inits[HELLO]), statistics.median(bundle_inits[HELLO])
    print(f"\n{'':<13} {'':>10} {'':>12} {'init, system trust store':>30} {'init, one CA bundle':>30}")
    head = f"{'init p50 ms':>12} {'p90 ms':>8} {'x hello':>8}"
    print(f"{'bootstrap':<13} {'zipped MB':>10} {'unzipped MB':>12} {head} {head}")
    for name in inits:
        z, u = size.get(name, (0, 0))
        cells = []
        for runs, base in ((inits[name], hello), (bundle_inits[name], bundle_hello)):
            med = statistics.median(runs)
            cells.append(f"{med:>12.2f} {percentile(runs, 90):>8.2f} {med / base:>8.2f}")
        print(f"{name:<13} {z / 1e6:>10.2f} {u / 1e6:>12.2f} {cells[0]} {cells[1]}")
    print(f"(zips: arm64 as deployed, MB = 10^6 bytes; init: this machine's bootstraps under the RIE, "
          f"{len(inits[HELLO])} cold starts each per trust store, interleaved round by round)")
    print(f"\n{'invocation':<16} {'p50 ms':>8} {'p99 ms':>8} {'n':>5}")
    for name, values in latency.items():
        print(f"{name:<16} {percentile(values, 50):>8.2f} {percentile(values, 99):>8.2f} {len(values):>5}")
    print("(warm instances through the RIE; DynamoDB and SQS on moto with IAM checked; a local Management API)")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="scripts/lambda-budgets.sh", description=__doc__)
    p.add_argument("--lambda-dir", type=Path, required=True, help="cargo-lambda's zips: DIR/starling-NAME/bootstrap.zip")
    p.add_argument("--bin-dir", type=Path, required=True, help="this machine's bootstraps, same profile as the zips")
    p.add_argument("--init-rounds", type=int, default=30)
    p.add_argument("--iterations", type=int, default=200)
    p.add_argument("--log-dir", type=Path, default=contract.ROOT / "target" / "lambda-budgets")
    args = p.parse_args(argv)
    functions = list(contract.load_contract()["functions"])
    size = sizes(args.lambda_dir, [HELLO, *functions])
    management = ManagementApi()
    # One user sends every timed frame: a rate limit above them, or the sends would be refused.
    settings = Settings(
        bin_dir=args.bin_dir,
        log_dir=args.log_dir,
        ws_endpoint=management.url,
        jwt_secret="budgets-jwt-secret",
        parameters={"RateLimit": "1000000"},
    )
    hello = Runner(HELLO, args.bin_dir / f"starling-{HELLO}", base_env(), args.log_dir / f"{HELLO}.log")
    try:
        with LocalLambdas(settings) as stack:
            session = Session(stack, management.domain)
            hello.start()
            inits = measure_init(stack, hello, session, args.init_rounds)
            bundle_inits = measure_init(stack, hello, session, args.init_rounds, one_bundle_env())
            latency = measure_latency(session, management, args.iterations)
    finally:
        hello.stop()
        management.stop()
    report(size, inits, bundle_inits, latency)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
