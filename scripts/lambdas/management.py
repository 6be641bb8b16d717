"""A stand-in for API Gateway's Management API: answers PostToConnection and keeps what the
functions posted (the tests and scripts/lambdas/budgets.py point STARLING_WS_ENDPOINT at it)."""

from __future__ import annotations

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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

    def stop(self) -> None:
        self.server.shutdown()
