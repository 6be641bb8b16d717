"""Fixtures of the real-bootstrap tests: the five functions built (cargo profile
STARLING_LAMBDA_PROFILE, `dev` by default) and running under their emulators against moto with
IAM enforced, and a Management API that records what the functions post.

    .venv/bin/python -m pytest scripts/lambdas      (scripts/test.sh runs it)
"""

from __future__ import annotations

import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contract import ROOT  # noqa: E402
from stack import LocalLambdas, Settings, build  # noqa: E402

JWT_SECRET = "lambdas-test-secret"


class ManagementApi:
    """Answers PostToConnection with 200 (410 Gone for the ids in `gone`) and keeps
    (connection id, body) of each post."""

    def __init__(self):
        posts = self.posts = []
        gone = self.gone = set()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                cid = urllib.parse.unquote(self.path.rsplit("/", 1)[-1])
                posts.append((cid, body.decode()))
                if cid in gone:
                    # As API Gateway answers a post to a closed connection.
                    reply = b'{"message":null}'
                    self.send_response(410)
                    self.send_header("x-amzn-ErrorType", "GoneException")
                else:
                    reply = b""
                    self.send_response(200)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/local"
        self.domain = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, connection_id: str) -> list[str]:
        return [body for cid, body in self.posts if cid == connection_id]


@pytest.fixture(scope="session")
def management():
    api = ManagementApi()
    yield api
    api.server.shutdown()


@pytest.fixture(scope="session")
def lambdas(management, tmp_path_factory):
    bin_dir = build(os.environ.get("STARLING_LAMBDA_PROFILE", "dev"))
    settings = Settings(
        bin_dir=bin_dir,
        log_dir=ROOT / "target" / "lambdas-test",
        ws_endpoint=management.url,
        jwt_secret=JWT_SECRET,
    )
    with LocalLambdas(settings) as stack:
        yield stack


def token(user: str, secret: str = JWT_SECRET) -> str:
    claims = {"sub": user, "exp": int(time.time()) + 600}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret.encode()))


FINDINGS: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="session")
def findings():
    """(function, action) -> what removing the action from the function's policy did."""
    return FINDINGS


def pytest_terminal_summary(terminalreporter):
    if FINDINGS:
        terminalreporter.section("least privilege: each action left out of one function's policy")
        for (function, action), what in FINDINGS.items():
            terminalreporter.write_line(f"{function:<11} {action:<32} {what}")
