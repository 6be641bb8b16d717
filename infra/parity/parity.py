"""Parity between the SAM template and the CDK app, and between both and infra/contract.json.

The SAM template is translated offline with samtranslator (the library `sam deploy` runs server side,
shipped with aws-sam-cli) using placeholder code locations and region; the CDK side is `cdk synth`'s
JSON. Both are reduced to a model of what matters (routes, authorizer, stage, functions and their
environment and IAM, queue and DLQ, alarm, event source mapping, table, parameters, rules,
conditions, outputs, checkov skips) in which every intrinsic function is put in one canonical form (a `Fn::Sub`
string and the equivalent `Fn::Join` compare equal), and the two models must be equal. Each template
is also checked against the contract (the authoritative list of environment variables, IAM actions
and table properties).

Usage (from the repository root, with the infra venv):
    python infra/parity/parity.py --sam infra/sam/template.yaml --cdk infra/cdk/cdk.out/Starling.template.json \
        [--write-sam-json PATH]
Exit status 0 when everything matches, 1 with the differences listed otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The pieces, one module each beside this file; their names stay importable from here (`import parity`).
from parity_canon import Canon, as_list, refs_in
from parity_contract import check_contract, check_deliver_queue, contract_table, expected_resources
from parity_load import CONTRACT_PATH, PLACEHOLDER_REGION, ROOT, load_contract, load_json, load_sam, translate_sam
from parity_model import IGNORED_TYPES, build_model, checkov_skips, conditional_statement, diff, iam_statements
from parity_monitoring import (
    check_monitoring_and_export,
    contract_alarm,
    contract_delivery_stream,
    contract_export_role_iam,
    dashboard_body,
    metric_spec,
)

__all__ = [
    "CONTRACT_PATH",
    "IGNORED_TYPES",
    "PLACEHOLDER_REGION",
    "ROOT",
    "Canon",
    "as_list",
    "build_model",
    "check_contract",
    "check_deliver_queue",
    "check_monitoring_and_export",
    "checkov_skips",
    "compare",
    "conditional_statement",
    "contract_alarm",
    "contract_delivery_stream",
    "contract_export_role_iam",
    "contract_table",
    "dashboard_body",
    "diff",
    "expected_resources",
    "iam_statements",
    "load_contract",
    "load_json",
    "load_sam",
    "main",
    "metric_spec",
    "refs_in",
    "translate_sam",
]


def compare(sam_translated: dict, cdk_template: dict, contract: dict) -> list[str]:
    """Every difference between the two templates, and between each and the contract. Empty = parity."""
    sam_model, cdk_model = build_model(sam_translated), build_model(cdk_template)
    errors = [f"SAM vs CDK: {d}" for d in diff(sam_model, cdk_model)]
    errors += check_contract(sam_model, contract, "SAM vs contract")
    errors += check_contract(cdk_model, contract, "CDK vs contract")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sam", type=Path, default=ROOT / "infra/sam/template.yaml")
    parser.add_argument("--cdk", type=Path, default=ROOT / "infra/cdk/cdk.out/Starling.template.json")
    parser.add_argument("--contract", type=Path, default=CONTRACT_PATH)
    parser.add_argument("--write-sam-json", type=Path, help="also write the translated SAM template here")
    args = parser.parse_args(argv)
    translated = translate_sam(load_sam(args.sam))
    if args.write_sam_json:
        args.write_sam_json.parent.mkdir(parents=True, exist_ok=True)
        args.write_sam_json.write_text(json.dumps(translated, indent=1) + "\n")
    errors = compare(translated, load_json(args.cdk), load_contract(args.contract))
    if errors:
        print(f"parity: {len(errors)} difference(s)")
        for e in errors:
            print("  - " + e)
        return 1
    sam_model = build_model(translated)
    print(
        f"parity: SAM and CDK agree with each other and with {args.contract.relative_to(ROOT) if args.contract.is_relative_to(ROOT) else args.contract}: "
        f"{len(sam_model['functions'])} functions, {len(sam_model['routes'])} routes, "
        f"{sum(len(f['iam']) for f in sam_model['functions'].values())} IAM grants, "
        f"{len(sam_model['parameters'])} parameters, {len(sam_model['outputs'])} outputs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
