"""moto's server, with IAM policies checked against the resource each request touches.

moto 5.2.5 enforces identity policies (INITIAL_NO_AUTH_ACTION_COUNT) on every service, but it
evaluates DynamoDB, Secrets Manager and SSM requests against the resource "*" only, so a statement
scoped to a table, index, secret or parameter ARN (as the SAM template and the CDK app scope them)
never matches; it checks a DynamoDB transaction as the action `dynamodb:TransactWriteItems`, which
IAM does not have (AWS checks each item's own action); and it reads the `?` wildcard of a
Resource as a regular expression (AWS's `secret:NAME-??????` raises an error). SQS is already
checked against the queue's ARN, S3 against `arn:aws:s3:::bucket/key`. Firehose, like DynamoDB, is
evaluated against "*" only: its requests are checked here against the delivery stream's ARN (the
export's firehose:PutRecordBatch, scoped to the stack's stream). This module fixes those points,
logs each refusal, and runs moto's own server with DynamoDB linearizable and calm SQS long polls (scripts/moto_server.py):

    python scripts/lambdas/moto_iam.py -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from moto.core.responses import BaseResponse
from moto.dynamodb.responses import DynamoHandler
from moto.firehose.responses import FirehoseResponse
from moto.iam.access_control import IAMPolicyStatement, IAMRequest, IAMRequestBase
from moto.secretsmanager.exceptions import SecretNotFoundException
from moto.secretsmanager.responses import SecretsManagerResponse
from moto.server import main
from moto.ssm.responses import SimpleSystemManagerResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from moto_server import calm_long_polls, serialize_dynamodb, snapshot_items_only  # noqa: E402

# The item actions a transaction's items need (TransactWriteItems has no IAM action of its own).
TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def iam_glob(pattern: str, value: str) -> re.Match[str] | None:
    """IAM's wildcards: `*` any run of characters, `?` exactly one; everything else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.match(f"^{regex}$", value)


def request_body(handler: BaseResponse) -> dict:
    try:
        return json.loads(handler.raw_body or b"{}")
    except ValueError:
        return {}


def dynamodb_checks(handler: DynamoHandler) -> Iterator[tuple[str, str]]:
    """(action, resource ARN) pairs one DynamoDB request needs, as IAM evaluates them."""
    action = handler._get_action()
    body = request_body(handler)
    prefix = f"arn:aws:dynamodb:{handler.region}:{handler.current_account}:table/"
    if action in ("TransactWriteItems", "TransactGetItems"):
        for item in body.get("TransactItems", []):
            for kind, op in item.items():
                yield TRANSACT_ITEM_ACTIONS[kind], prefix + op["TableName"]
    elif action in ("BatchGetItem", "BatchWriteItem"):
        for table in body.get("RequestItems", {}):
            yield action, prefix + table
    elif "TableName" in body:
        index = f"/index/{body['IndexName']}" if body.get("IndexName") else ""
        yield action, prefix + body["TableName"] + index
    else:
        yield action, "*"


def request_for(action: str) -> type[IAMRequest]:
    """moto's IAM request, checking `action` instead of the request's own."""

    class ItemRequest(IAMRequest):
        def __init__(self, **kwargs):
            super().__init__(**{**kwargs, "action": action})

    return ItemRequest


def authorize_dynamodb(self: DynamoHandler, resource: str = "*") -> None:
    for action, arn in dynamodb_checks(self):
        self._authenticate_and_authorize_action(request_for(action), arn)


def secret_arn(self: SecretsManagerResponse) -> str:
    secret_id = request_body(self).get("SecretId", "")
    if secret_id.startswith("arn:"):
        return secret_id
    try:
        return self.backend.describe_secret(secret_id).arn
    except SecretNotFoundException:  # the call itself says so, once authorized on "*"
        return "*"


def parameter_arn(self: SimpleSystemManagerResponse) -> str:
    name = request_body(self).get("Name", "")
    if name.startswith("arn:"):
        return name
    path = name if name.startswith("/") else f"/{name}"
    return f"arn:aws:ssm:{self.region}:{self.current_account}:parameter{path}" if name else "*"


def delivery_stream_arn(self: FirehoseResponse) -> str:
    name = request_body(self).get("DeliveryStreamName", "")
    return f"arn:aws:firehose:{self.region}:{self.current_account}:deliverystream/{name}" if name else "*"


# Each refusal, on moto's stderr: the tests learn from it which calls a function made that its
# policy refused, including those the function only logs (best-effort writes) and carries on.
DENIED_MARK = "starling-iam-denied"


def logging_denials(check):
    def checked(self: IAMRequestBase, resource: str) -> None:
        try:
            check(self, resource)
        except Exception:
            # One write, so a line of the server's access log cannot land inside it.
            sys.stderr.write(f"{DENIED_MARK} {self._access_key.arn} {self._action} {resource}\n")
            sys.stderr.flush()
            raise

    return checked


def install() -> None:
    IAMRequestBase.check_action_permitted = logging_denials(IAMRequestBase.check_action_permitted)
    IAMPolicyStatement._match = staticmethod(iam_glob)
    DynamoHandler._authenticate_and_authorize_normal_action = authorize_dynamodb
    SecretsManagerResponse._determine_resource = secret_arn
    SimpleSystemManagerResponse._determine_resource = parameter_arn
    FirehoseResponse._determine_resource = delivery_stream_arn


if __name__ == "__main__":
    install()
    serialize_dynamodb()
    calm_long_polls()
    if os.environ.get("STARLING_MOTO_ITEM_SNAPSHOTS") == "1":
        snapshot_items_only()
    main(sys.argv[1:])
