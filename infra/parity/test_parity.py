"""Parity tests: the SAM template and the CDK synth output describe the same stack, both match
infra/contract.json, and any drift on either side (a mutated copy of one template) is caught.

Run from the repository root with the infra venv, after `cdk synth` (scripts/infra-check.sh does both):
    .venv-infra/sam/bin/python -m pytest infra/parity
STARLING_CDK_TEMPLATE overrides where the synthesized CDK template is read from.

The tests are split by concept: this file (the real templates, the rules, the canonical form, the Rust
side), test_parity_monitoring.py (moderation, metrics, export, alarms, dashboard) and
test_parity_drift.py (drift on either side, a contract change, the CLI). Fixtures: conftest.py.
"""

from __future__ import annotations

import pytest

import parity
from parity_testpaths import ROOT


# --------------------------------------------------------------------------- the real templates


def test_sam_and_cdk_agree_with_each_other_and_the_contract(sam: dict, cdk: dict, contract: dict) -> None:
    errors = parity.compare(sam, cdk, contract)
    assert errors == [], "\n".join(errors)


def test_sam_iam_mapping_is_the_contract(sam_source: dict, contract: dict) -> None:
    mapping = sam_source["Mappings"]["IamActions"]
    assert mapping == {key: fn["permissions"] for key, fn in contract["functions"].items()}


def test_sam_build_metadata_names_each_binary(sam_source: dict, contract: dict) -> None:
    for fn in contract["functions"].values():
        resource = sam_source["Resources"][fn["logicalId"]]
        assert resource["Type"] == "AWS::Serverless::Function"
        assert resource["Metadata"]["BuildMethod"] == "rust-cargolambda"
        assert resource["Metadata"]["BuildProperties"] == {"Binary": fn["binary"]}
        assert resource["Properties"]["CodeUri"] == "../..", "CodeUri must be the workspace root"
        assert (ROOT / fn["crateDir"] / "Cargo.toml").exists()


def test_the_model_covers_what_the_issue_lists(sam: dict) -> None:
    model = parity.build_model(sam)
    assert set(model["routes"]) == {"$connect", "$disconnect", "$default"}
    assert model["routes"]["$connect"]["authorizer"]["IdentitySource"] == ["route.request.querystring.token"]
    assert model["queues"]["Queue"]["FifoQueue"] == "true"
    assert model["queues"]["Queue"]["RedrivePolicy"]["maxReceiveCount"] == "${MaxReceiveCount}"
    assert model["tables"]["Table"]["TimeToLiveSpecification"]["AttributeName"] == "expiresAt"
    assert model["eventSourceMappings"]["FanoutEventSourceMapping"]["BatchSize"] == "10"
    assert model["queues"]["DeliverQueue"]["RedrivePolicy"] == model["queues"]["Queue"]["RedrivePolicy"]
    assert model["eventSourceMappings"]["FanoutDeliverEventSourceMapping"]["EventSourceArn"] == "${DeliverQueue.Arn}"
    assert "DeliverQueueAgeAlarm" in model["alarms"]
    fanout = model["functions"]["FanoutFunction"]
    assert fanout["environment"]["STARLING_DELIVER_QUEUE_URL"] == "${DeliverQueue}"
    assert sorted(e["action"] for e in fanout["iam"] if e["resource"] == "${DeliverQueue.Arn}") == [
        "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage",
        "sqs:SendMessage",
    ]
    assert len(model["functions"]) == 5
    assert all(f["iam"] for f in model["functions"].values())
    # OIDC sign-in: four settings of the authorizer alone, HS256 (empty issuer) by default, no new grant
    authorizer = model["functions"]["AuthorizerFunction"]
    oidc = {
        "STARLING_OIDC_ISSUER": ("OidcIssuer", ""),
        "STARLING_OIDC_AUDIENCE": ("OidcAudience", ""),
        "STARLING_OIDC_JWKS_URL": ("OidcJwksUrl", ""),
        "STARLING_OIDC_USER_CLAIM": ("OidcUserClaim", "sub"),
    }
    for variable, (parameter, default) in oidc.items():
        assert authorizer["environment"][variable] == "${%s}" % parameter
        assert model["parameters"][parameter]["Default"] == default
        assert model["parameterDescriptions"][parameter].startswith(variable + ", ")
    for logical_id, fn in model["functions"].items():
        if logical_id != "AuthorizerFunction":
            assert not any(name.startswith("STARLING_OIDC_") for name in fn["environment"]), logical_id
    assert sorted({e["action"] for e in authorizer["iam"]}) == [
        "logs:CreateLogStream", "logs:PutLogEvents", "secretsmanager:GetSecretValue", "ssm:GetParameter",
    ]


def _holds(expression, values: dict[str, str]) -> bool:
    """A rule's condition or assertion (canonical form) for these parameter values."""
    if isinstance(expression, str):
        raise AssertionError(f"not a condition: {expression}")
    (key, args), = expression.items()

    def value(v):
        return values[v[2:-1]] if isinstance(v, str) and v.startswith("${") and v.endswith("}") else v

    if key == "Fn::Equals":
        return value(args[0]) == value(args[1])
    if key == "Fn::Not":
        return not _holds(args[0], values)
    if key == "Fn::And":
        return all(_holds(a, values) for a in args)
    if key == "Fn::Or":
        return any(_holds(a, values) for a in args)
    raise AssertionError(f"unexpected {key} in a rule")


def _refused(model: dict, **overrides: str) -> list[str]:
    """The rules' assertion messages that fail for these parameter values (the defaults otherwise)."""
    values = {name: p.get("Default") for name, p in model["parameters"].items()} | overrides
    failed = []
    for rule in model["rules"].values():
        if "RuleCondition" not in rule or _holds(rule["RuleCondition"], values):
            failed += [a["AssertDescription"] for a in rule["Assertions"] if not _holds(a["Assert"], values)]
    return failed


@pytest.mark.parametrize("side", ["sam", "cdk"])
def test_the_rules_refuse_oidc_settings_the_authorizer_could_not_use(side: str, sam: dict, cdk: dict) -> None:
    model = parity.build_model(sam if side == "sam" else cdk)
    assert set(model["rules"]) == {"OidcIssuerSet", "OidcIssuerEmpty", "ModerationRulesOneSource"}
    issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example"
    # HS256 (the defaults) and OIDC with its audience deploy.
    assert _refused(model) == []
    assert _refused(model, OidcIssuer=issuer, OidcAudience="client") == []
    assert _refused(model, OidcIssuer=issuer, OidcAudience="a,b", OidcJwksUrl=issuer + "/keys") == []
    # An issuer without audience, or an audience or JWKS URL without issuer, does not.
    assert any("OidcAudience is required" in m for m in _refused(model, OidcIssuer=issuer))
    assert _refused(model, OidcAudience="client") and _refused(model, OidcJwksUrl=issuer + "/keys")


@pytest.mark.parametrize("side", ["sam", "cdk"])
def test_the_rules_refuse_both_moderation_sources(side: str, sam: dict, cdk: dict) -> None:
    model = parity.build_model(sam if side == "sam" else cdk)
    parameter, obj = "/starling/moderation", "my-bucket/moderation.json"
    assert _refused(model, ModerationRulesParameter=parameter) == []
    assert _refused(model, ModerationRulesObject=obj) == []
    assert any("not both" in m for m in _refused(model, ModerationRulesParameter=parameter, ModerationRulesObject=obj))



def test_canonical_form_equates_sub_and_join() -> None:
    canon = parity.Canon({"Mappings": {"M": {"a": {"b": ["x", "y"]}}}})
    sub = {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${Queue.QueueName}/x"}
    join = {
        "Fn::Join": [
            "",
            ["arn:", {"Ref": "AWS::Partition"}, ":sqs:", {"Ref": "AWS::Region"}, ":",
             {"Fn::GetAtt": ["Queue", "QueueName"]}, "/x"],
        ]
    }
    assert canon(sub) == canon(join) == "arn:${AWS::Partition}:sqs:${AWS::Region}:${Queue.QueueName}/x"
    assert canon({"Fn::FindInMap": ["M", "a", "b"]}) == ["x", "y"]
    assert canon(10) == canon("10") and canon(True) == "true"


# --------------------------------------------------------------------------- the Rust side


def test_every_variable_a_function_requires_is_in_the_contract(contract: dict) -> None:
    """`config::required("X")` panics at init when X is unset: each one must be set by both stacks."""
    import re

    for key, fn in contract["functions"].items():
        sources = sorted((ROOT / fn["crateDir"] / "src").rglob("*.rs"))
        assert sources, f"no Rust sources for {key} in {fn['crateDir']}"
        required = {
            name
            for path in sources
            for name in re.findall(r'required\(\s*"([A-Z0-9_]+)"\s*\)', path.read_text())
        }
        missing = required - set(fn["environment"])
        assert not missing, f"{key} requires {sorted(missing)}, which infra/contract.json does not set"
