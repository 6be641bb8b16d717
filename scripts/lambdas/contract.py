"""What each function gets, read from infra/contract.json and the SAM template's parameters, never
retyped here: its environment (template parameters and resource attributes) and its IAM policy
(actions by resource kind, scoped to ARNs the way infra/sam/template.yaml scopes them).

The kinds of the contract's conditionalPermissions (moderation rules from SSM or S3, the moderation
hook, the export stream) are granted, as by the templates, only when their parameter is set: with the
template defaults (every optional feature off) the policy holds no statement of theirs."""

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
    # The export's Firehose delivery stream, when a local run created one (moto_stack.create_export_stream).
    export_stream_name: str = ""

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

    def attributes(self, parameters: dict[str, str] | None = None) -> dict[str, str]:
        """What a `{resource: X}` environment entry gets (the template's !Ref / !GetAtt). The export
        stream only when export is on (its condition's parameter set in `parameters`) and created;
        contract_env gives the variable "" otherwise, as the templates' Fn::If does."""
        spec = load_contract()
        out = {
            "Table": self.table,
            "Queue": self.queue_url,
            "DeadLetterQueue": self.dlq_url,
            spec["deliverQueue"]["logicalId"]: self.deliver_queue_url,
        }
        if feature_on("exportStream", parameters or {}):
            if not self.export_stream_name:
                raise ContractError("export is on (ExportBucketArn set) but no delivery stream was created")
            out[spec["export"]["logicalId"]] = self.export_stream_name
        return out

    @property
    def export_stream_arn(self) -> str:
        return f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{self.export_stream_name}"

    def arns(self, kind: str, binary: str, parameters: dict[str, str] | None = None) -> list[str]:
        """The resource ARNs of one permission kind of infra/contract.json, as the SAM template
        scopes it (the Resource of each function role's statement). A kind of conditionalPermissions
        has none (no statement) unless its parameter is set in `parameters`."""
        parameters = parameters or {}
        conditional = load_contract().get("conditionalPermissions", {})
        if kind in conditional:
            if not feature_on(kind, parameters):
                return []
            value = parameters[conditional[kind]["parameter"]]
            optional = {
                "moderationParameter": lambda: [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{value}"],
                "moderationObject": lambda: [f"arn:aws:s3:::{value}"],
                "moderationHook": lambda: [value],
                "exportStream": lambda: [self.export_stream_arn],
            }
            if kind not in optional:
                raise ContractError(f"permission kind {kind!r} has no local ARN; add it to Resources.arns")
            return optional[kind]()
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


def feature_on(kind: str, parameters: dict[str, str]) -> bool:
    """Whether a conditionalPermissions kind is granted for these template parameters (its condition:
    the parameter not empty). Other kinds always are."""
    conditional = load_contract().get("conditionalPermissions", {})
    return kind not in conditional or bool(parameters.get(conditional[kind]["parameter"], ""))


def policy_document(
    function: dict,
    resources: Resources,
    without: str | None = None,
    without_kind: str | None = None,
    parameters: dict[str, str] | None = None,
) -> dict:
    """The function's IAM policy: one statement per permission kind, exactly its actions on
    exactly its resources; a conditional kind only when `parameters` turn its feature on. `without`
    leaves one action out (the least-privilege tests): of every kind, or of `without_kind` alone (an
    action granted on two resources, such as the fanout's sqs:SendMessage on the DLQ and on the
    delivery queue, or send's ssm:GetParameter on the moderation rules beside the authorizer's)."""
    statements = []
    for kind, actions in function["permissions"].items():
        kept = [a for a in actions if a != without or (without_kind is not None and kind != without_kind)]
        arns = resources.arns(kind, function["binary"], parameters)
        if kept and arns:
            statements.append({"Sid": kind, "Effect": "Allow", "Action": kept, "Resource": arns})
    return {"Version": "2012-10-17", "Statement": statements}


def environment(function: dict, parameters: dict[str, str], resources: Resources) -> dict[str, str]:
    """The function's environment as the template sets it: `{parameter: P}` is P's value,
    `{resource: R}` the resource's attribute (a conditional one "" while its feature is off)."""
    try:
        return contract_env.resolve(
            function["environment"], parameters, resources.attributes(parameters), function["binary"]
        )
    except contract_env.MissingValue as e:
        raise ContractError(str(e)) from None
