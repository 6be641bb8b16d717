"""Loading the contract and the templates, and translating the SAM template offline (samtranslator)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = ROOT / "infra" / "contract.json"
PLACEHOLDER_REGION = "us-east-1"


# --------------------------------------------------------------------------- loading


def load_contract(path: Path = CONTRACT_PATH) -> dict:
    return json.loads(path.read_text())


def load_sam(path: Path) -> dict:
    from samcli.yamlhelper import yaml_parse  # understands !Ref, !Sub, ... short forms

    return yaml_parse(path.read_text())


def translate_sam(sam: dict, region: str = PLACEHOLDER_REGION) -> dict:
    """The CloudFormation template CloudFormation's SAM transform would produce, computed offline."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(sam)
    # samtranslator wants S3 code locations; `sam build`/`sam package` put them there before a deploy.
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = "s3://placeholder-bucket/placeholder.zip"
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        plugins=[],
        boto_session=boto3.Session(region_name=region),
    )
    translated = translator.translate(sam_template=template, parameter_values={}, get_managed_policy_map=dict)
    return json.loads(json.dumps(translated))  # plain dicts


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())
