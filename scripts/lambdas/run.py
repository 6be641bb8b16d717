"""Runs the five real bootstraps locally until interrupted; see scripts/lambdas.sh and
docs/devstack.md ("The real Lambda binaries")."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from stack import LocalLambdas, Settings, build


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts/lambdas.sh", description=__doc__)
    p.add_argument(
        "--ws-endpoint",
        default="",
        help="STARLING_WS_ENDPOINT of send and fanout: the devstack's Management API URL "
        "(http://127.0.0.1:3001/local); empty derives it from each event, as the template's default",
    )
    p.add_argument("--profile", default="release", help="cargo profile of the bootstraps (default: release)")
    p.add_argument("--bin-dir", type=Path, help="use the bootstraps in this directory instead of building them")
    p.add_argument("--jwt-secret", default="dev-secret", help="the JWT secret stored in Secrets Manager and SSM")
    p.add_argument("--moto-port", type=int, default=0, help="moto's port (default: a free one)")
    p.add_argument("--log-dir", type=Path, default=Path("target/lambdas"), help="moto's and each function's log")
    p.add_argument("--env-file", type=Path, help="also write the interface below to this file (KEY=VALUE lines)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a SAM template parameter's value (RustLog=debug, RateLimit=1000, ...)",
    )
    return p.parse_args(argv)


def interface(stack: LocalLambdas) -> list[str]:
    """What the devstack and the tests need, as KEY=VALUE lines."""
    lines = [f"STARLING_LAMBDA_URL_{name.upper()}={runner.url}" for name, runner in stack.runners.items()]
    admin = stack.moto.admin
    lines += [
        f"STARLING_MOTO_ENDPOINT={stack.moto.endpoint}",
        f"STARLING_MOTO_ADMIN_ACCESS_KEY_ID={admin.access_key_id}",
        f"STARLING_MOTO_ADMIN_SECRET_ACCESS_KEY={admin.secret_access_key}",
        f"STARLING_TABLE={stack.resources.table}",
        f"STARLING_QUEUE_URL={stack.resources.queue_url}",
        f"STARLING_DLQ_URL={stack.resources.dlq_url}",
        # The fanout sends large rooms' shard deliveries here and consumes them: whoever plays its
        # event source mappings polls this queue too.
        f"STARLING_DELIVER_QUEUE_URL={stack.resources.deliver_queue_url}",
    ]
    if stack.settings.ws_endpoint:
        lines.append(f"STARLING_WS_ENDPOINT={stack.settings.ws_endpoint}")
    return lines


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    parameters = dict(p.split("=", 1) for p in args.param)
    bin_dir = args.bin_dir or build(args.profile)
    settings = Settings(
        bin_dir=bin_dir,
        log_dir=args.log_dir,
        ws_endpoint=args.ws_endpoint,
        jwt_secret=args.jwt_secret,
        moto_port=args.moto_port,
        parameters=parameters,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LocalLambdas(settings) as stack:
        lines = interface(stack)
        if args.env_file:
            args.env_file.write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        print(f"==> five functions running from {bin_dir}; logs in {args.log_dir}; Ctrl-C stops them", flush=True)
        while not stop.wait(1):
            dead = [n for n, r in stack.runners.items() if r.process.poll() is not None]
            if dead or stack.moto.process.poll() is not None:
                print(f"stopped unexpectedly: {dead or ['moto']}; see {args.log_dir}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
