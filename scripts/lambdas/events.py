"""The events API Gateway (WebSocket API) and the SQS event source mapping send to Lambda, in
AWS's JSON shape (the devstack builds the same ones in devstack/src/events.rs)."""

from __future__ import annotations

import time
import uuid

from joserfc import jwt
from joserfc.jwk import OctKey

from contract import ACCOUNT, API_ID, REGION, STAGE


def token(user: str, secret: str) -> str:
    """A JWT for `user`, valid ten minutes, as a client presents at `$connect`."""
    claims = {"sub": user, "exp": int(time.time()) + 600}
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret.encode()))


def _context(connection_id: str, route: str, event_type: str, domain: str, authorizer: dict | None) -> dict:
    now = int(time.time() * 1000)
    ctx = {
        "routeKey": route,
        "eventType": event_type,
        "extendedRequestId": uuid.uuid4().hex[:16],
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "messageDirection": "IN",
        "stage": STAGE,
        "connectedAt": now,
        "requestTimeEpoch": now,
        "identity": {"sourceIp": "127.0.0.1", "userAgent": "pytest"},
        "requestId": uuid.uuid4().hex[:16],
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": API_ID,
    }
    if authorizer is not None:
        ctx["authorizer"] = authorizer
    return ctx


def authorizer_request(connection_id: str, token: str, domain: str) -> dict:
    """The REQUEST authorizer's event of a `$connect` with `?token=...`."""
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/$connect",
        "headers": {"Host": domain, "Sec-WebSocket-Version": "13"},
        "multiValueHeaders": {"Host": [domain], "Sec-WebSocket-Version": ["13"]},
        "queryStringParameters": {"token": token},
        "multiValueQueryStringParameters": {"token": [token]},
        "stageVariables": {},
        "requestContext": _context(connection_id, "$connect", "CONNECT", domain, None),
    }


def user_context(user: str) -> dict:
    """What API Gateway passes on from the authorizer: its context plus principalId."""
    return {"user": user, "principalId": user, "integrationLatency": 5}


def connect(connection_id: str, user: str, domain: str) -> dict:
    return {
        "headers": {"Host": domain},
        "multiValueHeaders": {"Host": [domain]},
        "requestContext": _context(connection_id, "$connect", "CONNECT", domain, user_context(user)),
        "isBase64Encoded": False,
    }


def message(connection_id: str, user: str, body: str, domain: str) -> dict:
    ctx = _context(connection_id, "$default", "MESSAGE", domain, user_context(user))
    ctx["messageId"] = uuid.uuid4().hex[:16]
    return {"requestContext": ctx, "body": body, "isBase64Encoded": False}


def disconnect(connection_id: str, user: str, domain: str) -> dict:
    ctx = _context(connection_id, "$disconnect", "DISCONNECT", domain, user_context(user))
    ctx["disconnectStatusCode"] = 1000
    ctx["disconnectReason"] = "Client closed"
    return {
        "headers": {"Host": domain},
        "multiValueHeaders": {"Host": [domain]},
        "requestContext": ctx,
        "isBase64Encoded": False,
    }


def sqs(queue_arn: str, messages: list[dict]) -> dict:
    """The event of one batch of ReceiveMessage results (with their system attributes)."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m["Attributes"],
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }
