"""The five real bootstraps, each under its own emulator with its own least-privilege key, answer
API Gateway's and SQS's events as deployed functions would."""

from __future__ import annotations

import json

from conftest import token
from session import Session


def test_the_authorizer_allows_a_valid_token_and_passes_the_user_on(lambdas, management):
    inv = Session(lambdas, management.domain).authorize(token("alice"))
    assert inv.function_error is None, inv.payload
    assert inv.payload["principalId"] == "alice"
    # The user, and whether the connection opted in to `messages` frames (`?batch=1`; not here).
    assert inv.payload["context"] == {"user": "alice", "batch": False}
    [statement] = inv.payload["policyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == ["execute-api:Invoke"]
    assert statement["Resource"][0].endswith("/local/$connect")


def test_the_authorizer_refuses_a_token_signed_with_another_secret_as_unauthorized(lambdas, management):
    inv = Session(lambdas, management.domain).authorize(token("mallory", secret="not-the-secret"))
    assert inv.function_error is not None
    assert inv.error_message == "Unauthorized"


def test_send_answers_ping_with_pong(lambdas, management):
    s = Session(lambdas, management.domain)
    cid = s.connect("alice")
    assert s.frame(cid, "alice", {"action": "ping"})["type"] == "pong"
    assert not s.failures("connect") and not s.failures("send")


def test_a_message_goes_through_send_the_queue_and_the_fanout_to_every_subscriber(lambdas, management):
    s = Session(lambdas, management.domain)
    alice, bob = s.connect("alice"), s.connect("bob")
    for cid, user in ((alice, "alice"), (bob, "bob")):
        assert s.frame(cid, user, {"action": "join", "room": "fanout-room"})["type"] != "error"
    ack = s.frame(alice, "alice", {"action": "send", "room": "fanout-room", "body": "hi", "clientMsgId": "c-1"})
    assert ack["type"] != "error", ack
    batches = s.drain_queue()
    assert batches and all(b.payload == {"batchItemFailures": []} for b in batches), [b.payload for b in batches]
    delivered = [json.loads(p) for p in management.to(bob)]
    assert any(f.get("type") == "message" and f.get("body") == "hi" for f in delivered), delivered


def test_disconnect_removes_the_connection(lambdas, management):
    s = Session(lambdas, management.domain)
    cid = s.connect("carol")
    assert s.disconnect(cid, "carol").payload["statusCode"] == 200
    items = lambdas.moto.client("dynamodb").scan(TableName=lambdas.resources.table)["Items"]
    assert not [i for i in items if cid in json.dumps(i)]
    assert not s.failures("disconnect")


def test_all_five_emulators_run_at_once_on_their_own_ports(lambdas):
    ports = {p for r in lambdas.runners.values() for p in (r.invoke_port, r.runtime_api_port)}
    assert len(ports) == 10
    assert all(r.process.poll() is None for r in lambdas.runners.values())


def test_the_authorizer_with_an_oidc_issuer_verifies_its_tokens_against_the_issuers_keys(lambdas, management):
    """The real bootstrap, configured by the template's OIDC parameters, fetches a local issuer's
    JWKS on its first token, accepts RS256 and ES256 tokens of the issuer and the audience, refuses
    HS256 and foreign tokens with 401, and fails (API Gateway's 500, not 401) when a new instance
    cannot fetch the keys."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from joserfc import jwt
    from joserfc.jwk import ECKey, RSAKey

    issuer = "https://issuer.example/"
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1", "alg": "RS256", "use": "sig"}, private=True)
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1", "alg": "ES256", "use": "sig"}, private=True)
    served = {"keys": [rsa.as_dict(private=False), ec.as_dict(private=False)]}

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = json.dumps(served).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    runner = lambdas.runners["authorizer"]
    runner.restart(lambdas.function_env("authorizer", OidcIssuer=issuer, OidcAudience="web-app", OidcJwksUrl=url))
    session = Session(lambdas, management.domain)

    def signed(key, alg: str, kid: str, **claims) -> str:
        now = int(time.time())
        body = {"sub": "alice", "iss": issuer, "aud": "web-app", "exp": now + 600, "iat": now} | claims
        return jwt.encode({"alg": alg, "kid": kid}, body, key)

    try:
        for key, alg, kid in [(rsa, "RS256", "rsa-1"), (ec, "ES256", "ec-1")]:
            inv = session.authorize(signed(key, alg, kid))
            assert inv.function_error is None, inv.payload
            assert inv.payload["principalId"] == "alice"
        for refused in [token("alice"), signed(rsa, "RS256", "rsa-1", aud="other-app"), signed(rsa, "RS256", "rsa-1", iss="https://evil.example/")]:
            inv = session.authorize(refused)
            assert inv.function_error is not None and inv.error_message == "Unauthorized", inv.payload
        # The issuer is down when a new instance gets its first token: 500 (retry), not 401.
        server.shutdown()
        server.server_close()
        runner.restart(lambdas.function_env("authorizer", OidcIssuer=issuer, OidcAudience="web-app", OidcJwksUrl=url))
        inv = session.authorize(signed(rsa, "RS256", "rsa-1"))
        assert inv.function_error is not None
        assert inv.error_message != "Unauthorized", inv.payload
    finally:
        runner.restart(lambdas.function_env("authorizer"))


def test_send_moderates_with_the_rules_of_the_ssm_parameter_or_the_s3_object(lambdas, management):
    """The real send bootstrap, configured by the template's moderation parameters and granted what
    the templates grant for them, reads stack.MODERATION_RULES from SSM and from S3: a blocked term
    is refused with `rejected` and its reason and never queued; a masked one is delivered masked."""
    from stack import FEATURE_PARAMETERS

    runner = lambdas.runners["send"]
    try:
        for kind in ("moderationParameter", "moderationObject"):
            parameters = FEATURE_PARAMETERS[kind]
            lambdas.restrict("send", None, **parameters)
            runner.restart(lambdas.function_env("send", **parameters))
            s = Session(lambdas, management.domain)
            room = f"moderated-{kind}"
            alice, bob = s.connect("alice"), s.connect("bob")
            for cid, user in ((alice, "alice"), (bob, "bob")):
                assert s.frame(cid, user, {"action": "join", "room": room})["type"] == "joined"
            refused = s.frame(alice, "alice", {"action": "send", "room": room, "body": "a B4DW0RD", "clientMsgId": "m-1"})
            assert (refused.get("code"), refused.get("reason"), refused.get("clientMsgId")) == ("rejected", "blocked_term", "m-1"), refused
            ack = s.frame(alice, "alice", {"action": "send", "room": room, "body": "oh darn", "clientMsgId": "m-2"})
            assert ack["type"] == "accepted", ack
            batches = s.drain_queue()
            assert batches and all(b.payload == {"batchItemFailures": []} for b in batches), [b.payload for b in batches]
            bodies = [f.get("body") for f in map(json.loads, management.to(bob)) if f.get("type") == "message" and f.get("room") == room]
            assert bodies == ["oh ****"], (kind, bodies)
            # The refusal is the one failed outcome: every other invocation of send succeeded.
            assert [o.what for o in s.failures("send")] == ["send by alice"], s.failures("send")
    finally:
        lambdas.restrict("send", None)
        runner.restart(lambdas.function_env("send"))
