"""What each function gets, read from infra/contract.json and the SAM template's parameters, never
retyped here: its environment (template parameters and resource attributes) and its IAM policy
(actions by resource kind, scoped to ARNs the way infra/sam/template.yaml scopes them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "infra" / "contract.json"
TEMPLATE = ROOT / "infra" / "sam" / "template.yaml"

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


def load_contract() -> dict:
    return json.loads(CONTRACT.read_text())


class _TemplateLoader(yaml.SafeLoader):
    """Reads the SAM template, leaving its intrinsic functions (!Ref, !Sub, ...) as None: only the
    Parameters section, which has none, is used."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_defaults() -> dict[str, str]:
    """Each SAM template parameter's default, as the string a function's environment gets."""
    params = yaml.load(TEMPLATE.read_text(), Loader=_TemplateLoader)["Parameters"]
    return {name: str(p["Default"]) for name, p in params.items() if "Default" in p}


@dataclass(frozen=True)
class Resources:
    """The stack's resources as a local run created them."""

    table: str
    queue_url: str
    dlq_url: str
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

    def attribute(self, resource: str) -> str:
        """The value a `{resource: X}` environment entry gets (the template's !Ref / !GetAtt)."""
        values = {"Table": self.table, "Queue": self.queue_url, "DeadLetterQueue": self.dlq_url}
        if resource not in values:
            raise ContractError(f"resource {resource!r} has no local value; add it to Resources.attribute")
        return values[resource]

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
            "connections": [f"{api}/{STAGE}/{m}/@connections/*" for m in ("POST", "GET", "DELETE")],
            "connectionsPost": [f"{api}/{STAGE}/POST/@connections/*"],
            "jwtSecret": [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{self.jwt_secret_name}-??????"],
            "jwtParameter": [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{self.jwt_parameter_name}"],
        }
        if kind not in by_kind:
            raise ContractError(f"permission kind {kind!r} has no local ARN; add it to Resources.arns")
        return by_kind[kind]


def policy_document(function: dict, resources: Resources, without: str | None = None) -> dict:
    """The function's IAM policy: one statement per permission kind, exactly its actions on
    exactly its resources. `without` leaves one action out (the least-privilege tests)."""
    statements = []
    for kind, actions in function["permissions"].items():
        kept = [a for a in actions if a != without]
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
    env = {}
    for name, source in function["environment"].items():
        if "parameter" in source:
            param = source["parameter"]
            if param not in parameters:
                raise ContractError(f"{name} needs template parameter {param}, which has no default: pass it")
            env[name] = parameters[param]
        elif "resource" in source:
            env[name] = resources.attribute(source["resource"])
        else:
            raise ContractError(f"{name}: unknown environment source {source!r}")
    return env
