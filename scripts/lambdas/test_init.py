"""Init does no network I/O: each bootstrap, with the environment the template gives it, reaches
the Runtime API's `next` without opening a connection to any AWS endpoint; its first event then
does (which shows the endpoints were watched). The authorizer is given a secret *id*, so reading
its secret at init would show here.

The bootstraps run directly against a fake Runtime API (this file), not under the emulator: the
emulator only starts a bootstrap when an invocation arrives, which would mix init with it.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import threading
import time

import events
import pytest

SERVICES = ("DYNAMODB", "SQS", "SECRETS_MANAGER", "SSM")
# What the emulator (and Lambda) set besides the function's own variables; lambda_runtime reads them.
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/init-test",
    "AWS_LAMBDA_LOG_STREAM_NAME": "init-test",
}


class Endpoint:
    """A TCP listener standing in for every AWS endpoint: it counts connections and closes them."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


class RuntimeApi:
    """The Lambda Runtime API of one bootstrap: `next` is held until `deliver`."""

    def __init__(self) -> None:
        self.polled = threading.Event()
        self.event: dict | None = None
        self.release = threading.Event()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                api.polled.set()
                if not api.release.wait(30) or api.event is None:
                    self.send_error(500)
                    return
                body = json.dumps(api.event).encode()
                api.event = None  # one event; a second `next` waits out the release timeout
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "init-test-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:x")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def deliver(self, event: dict) -> None:
        self.event = event
        self.release.set()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()


def first_event(lambdas, name: str) -> dict:
    """An event whose handling calls AWS (the fanout's is an empty batch: it only needs init)."""
    domain = "example.execute-api.us-east-1.amazonaws.com"
    return {
        "authorizer": events.authorizer_request("c1=", events.token("u0", "unused"), domain),
        "connect": events.connect("c1=", "u0", domain),
        "disconnect": events.disconnect("c1=", "u0", domain),
        "send": events.message("c1=", "u0", json.dumps({"action": "ping"}), domain),
        "fanout": {"Records": []},
    }[name]


@pytest.mark.parametrize("name", ["authorizer", "connect", "disconnect", "send", "fanout"])
def test_init_opens_no_connection_before_asking_for_its_first_event(lambdas, name):
    endpoint, runtime = Endpoint(), RuntimeApi()
    env = lambdas.function_env(name) | {f"AWS_ENDPOINT_URL_{s}": endpoint.url for s in SERVICES}
    env |= {"AWS_LAMBDA_RUNTIME_API": runtime.address, "STARLING_WS_ENDPOINT": endpoint.url} | LAMBDA_ENV
    if name == "authorizer":
        env.pop("STARLING_JWT_SECRET", None)
        env["STARLING_JWT_SECRET_ID"] = "starling/jwt"
    bootstrap = lambdas.settings.bin_dir / lambdas.functions[name]["binary"]
    log = open(lambdas.settings.log_dir / f"init-{name}.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([str(bootstrap)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert runtime.polled.wait(20), f"{name} never asked for its first event (see {log.name})"
        time.sleep(0.5)  # anything init started in the background has had time to connect
        assert endpoint.connections == 0, f"{name} connected to AWS during init"
        if name != "fanout":
            runtime.deliver(first_event(lambdas, name))
            deadline = time.monotonic() + 20
            while endpoint.connections == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert endpoint.connections > 0, f"{name}'s first event made no AWS call: the test watched nothing"
    finally:
        process.kill()
        process.wait()
        log.close()
        runtime.stop()
        endpoint.sock.close()
