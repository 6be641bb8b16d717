"""Each function's environment as the templates give it, resolved for a stack outside CloudFormation
(LocalStack, moto, the local runners): `{"parameter": P}` takes the SAM template's default for P unless
given, `{"resource": R}` takes the name or URL of R, and `{"resource": R, "condition": C}` (a resource the
stack creates only under C, such as the export's delivery stream) takes R's name when given, else "" (the
feature off). Read from infra/contract.json, never retyped.

    python3 infra/contract_env.py send --resource Table=starling-dev --resource Queue=URL \
        --parameter WsEndpoint=http://127.0.0.1:3001/local      # prints NAME=VALUE lines
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_PATH = ROOT / "infra" / "contract.json"
TEMPLATE_PATH = ROOT / "infra" / "sam" / "template.yaml"

# What each `{"resource": R}` of the contract is, for the error when one is missing.
RESOURCES = {
    "Table": "the DynamoDB table's name",
    "Queue": "the FIFO queue's URL",
    "DeadLetterQueue": "the FIFO dead-letter queue's URL",
    "DeliverQueue": "the FIFO delivery queue's URL (large rooms' shard deliveries)",
    "ExportStream": "the Firehose delivery stream's name (only with export on)",
}


class MissingValue(Exception):
    """A variable's parameter has no template default and was not given, or its resource was not."""


def contract() -> dict:
    return json.loads(CONTRACT_PATH.read_text())


def template_defaults(template: str | None = None) -> dict[str, str]:
    """Every SAM template parameter's default. The template's intrinsic tags (!Ref, !GetAtt) make a plain
    YAML load fail, and only the Parameters block's two-level layout is needed."""
    text = TEMPLATE_PATH.read_text() if template is None else template
    block = re.search(r"^Parameters:\n((?:(?:  .*)?\n)+)", text, re.M)
    if block is None:
        raise MissingValue(f"{TEMPLATE_PATH} has no Parameters block")
    defaults = {}
    for name, body in re.findall(r"^  (\w+):\n((?:    .*\n)+)", block.group(1), re.M):
        default = re.search(r"^    Default: ?(.*)$", body, re.M)
        if default is not None:
            defaults[name] = default.group(1).strip().strip('"')
    return defaults


def resolve(environment: dict, parameters: dict[str, str], resources: dict[str, str], function: str = "") -> dict[str, str]:
    """One function's `environment` section of the contract, resolved: `{"parameter": P}` takes
    `parameters[P]`, `{"resource": R}` takes `resources[R]`."""
    env = {}
    for variable, source in environment.items():
        if "parameter" in source:
            name = source["parameter"]
            if name not in parameters:
                raise MissingValue(f"{function}: {variable} needs the template parameter {name}; give it")
            env[variable] = parameters[name]
        elif "resource" in source:
            name = source["resource"]
            if name not in resources and "condition" in source:
                env[variable] = ""  # created only under its condition: off unless given
                continue
            if name not in resources:
                what = RESOURCES.get(name, "its value")
                raise MissingValue(f"{function}: {variable} needs resource {name} ({what}); give it")
            env[variable] = resources[name]
        else:
            raise MissingValue(f"{function}: {variable} has an unknown source {source!r}")
    return env


def function_environment(
    function: str,
    resources: dict[str, str],
    parameters: dict[str, str] | None = None,
    spec: dict | None = None,
) -> dict[str, str]:
    """The environment `function` gets, the template's parameter defaults under `parameters`."""
    spec = contract() if spec is None else spec
    values = {**template_defaults(), **(parameters or {})}
    return resolve(spec["functions"][function]["environment"], values, resources, function)


def pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected NAME=VALUE, got {item!r}")
        out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("function", choices=sorted(contract()["functions"]))
    parser.add_argument("--resource", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    try:
        env = function_environment(args.function, pairs(args.resource), pairs(args.parameter))
    except MissingValue as e:
        raise SystemExit(str(e)) from None
    for key, value in env.items():
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
