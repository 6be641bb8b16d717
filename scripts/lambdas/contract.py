"""What each function gets, read from infra/contract.json and the SAM template's parameters, never
retyped here: its environment (template parameters and resource attributes) and its IAM policy
(actions by resource kind, scoped to ARNs the way infra/sam/template.yaml scopes them)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))
import contract_env  # noqa: E402  (infra/contract_env.py: the one reader of environments)

REGION = "us-east-1"
# moto's default account: the one its IAM users, tables and queues live in.
ACCOUNT = "123456789012"
# The API and stage of the Management API ARNs (the devstack's default --stage); moto does not
# serve that API, so these only complete the policy.
API_ID = "devstack"
STAGE = "local"


class ContractError(Exception):
    """The contract names something a local run cannot give a value: fix the contract or pass
    the value (`--param NAME=VALUE`)."""


load_contract = contract_env.contract
template_defaults = contract_env.template_defaults


@dataclass(frozen=True)
class Resources:
    """The stack's resources as a local run created them."""

    table: str
    queue_url: str
    dlq_url: str
    deliver_queue_url: str
    jwt_secret_name: str
    jwt_parameter_name: str
    log_group_prefix: str = "/aws/lambda/"

    @property
    def table_arn(self) -> str:
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.table}"

    @property
    def queue_arn(self) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.queue_url.rsplit('/', 1)[-1]}"

    @property
    def dlq_arn(self) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.dlq_url.rsplit('/', 1)[-1]}"

    @property
    def deliver_queue_arn(self) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.deliver_queue_url.rsplit('/', 1)[-1]}"

    def attributes(self) -> dict[str, str]:
        """What a `{resource: X}` environment entry gets (the template's !Ref / !GetAtt)."""
        return {
            "Table": self.table,
            "Queue": self.queue_url,
            "DeadLetterQueue": self.dlq_url,
            load_contract()["deliverQueue"]["logicalId"]: self.deliver_queue_url,
        }

    def arns(self, kind: str, binary: str) -> list[str]:
        """The resource ARNs of one permission kind of infra/contract.json, as the SAM template
        scopes it (the Resource of each function role's statement)."""
        api = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}"
        by_kind = {
            "logs": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{self.log_group_prefix}{binary}:*"],
            "table": [self.table_arn],
            "tableIndex": [f"{self.table_arn}/index/gsi1"],
            "queue": [self.queue_arn],
            "deadLetterQueue": [self.dlq_arn],
            "deliverQueue": [self.deliver_queue_arn],
            "connections": [f"{api}/{STAGE}/{m}/@connections/*" for m in ("POST", "GET", "DELETE")],
            "connectionsPost": [f"{api}/{STAGE}/POST/@connections/*"],
            "jwtSecret": [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{self.jwt_secret_name}-??????"],
            "jwtParameter": [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{self.jwt_parameter_name}"],
        }
        if kind not in by_kind:
            raise ContractError(f"permission kind {kind!r} has no local ARN; add it to Resources.arns")
        return by_kind[kind]


def policy_document(
    function: dict, resources: Resources, without: str | None = None, without_kind: str | None = None
) -> dict:
    """The function's IAM policy: one statement per permission kind, exactly its actions on
    exactly its resources. `without` leaves one action out (the least-privilege tests): of every
    kind, or of `without_kind` alone (an action granted on two resources, such as the fanout's
    sqs:SendMessage on the DLQ and on the delivery queue)."""
    statements = []
    for kind, actions in function["permissions"].items():
        kept = [a for a in actions if a != without or (without_kind is not None and kind != without_kind)]
        if kept:
            statements.append(
                {
                    "Sid": kind,
                    "Effect": "Allow",
                    "Action": kept,
                    "Resource": resources.arns(kind, function["binary"]),
                }
            )
    return {"Version": "2012-10-17", "Statement": statements}


def environment(function: dict, parameters: dict[str, str], resources: Resources) -> dict[str, str]:
    """The function's environment as the template sets it: `{parameter: P}` is P's value,
    `{resource: R}` the resource's attribute."""
    try:
        return contract_env.resolve(function["environment"], parameters, resources.attributes(), function["binary"])
    except contract_env.MissingValue as e:
        raise ContractError(str(e)) from None
