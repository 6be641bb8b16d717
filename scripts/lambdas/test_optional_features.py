"""The optional features of issue #13 in the lambda-mode harness, without the bootstraps: the policies
contract.py builds from infra/contract.json hold no statement of a conditional permission kind while
its template parameter is empty (the defaults), and exactly one, on the one resource, once it is set;
and moto with moto_iam.py enforces each of those statements on that resource, so that a function
calling ssm:GetParameter (moderation rules in SSM), s3:GetObject (rules in S3) or
firehose:PutRecordBatch (the export) without it is refused, and the refusal is logged for
test_least_privilege.py (STARLING_LAMBDAS_FEATURES) to find.

    .venv/bin/python -m pytest scripts/lambdas/test_optional_features.py
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

import contract
import moto_stack
import stack
from moto_iam import DENIED_MARK
from moto_stack import Moto

SPEC = contract.load_contract()
CONDITIONAL = SPEC["conditionalPermissions"]
RESOURCES = contract.Resources(
    table="starling-dev",
    queue_url="http://127.0.0.1/123456789012/starling-dev.fifo",
    dlq_url="http://127.0.0.1/123456789012/starling-dev-dlq.fifo",
    deliver_queue_url="http://127.0.0.1/123456789012/starling-dev-deliver.fifo",
    jwt_secret_name=stack.JWT_SECRET_NAME,
    jwt_parameter_name=stack.JWT_PARAMETER_NAME,
    export_stream_name=stack.EXPORT_STREAM,
)
DEFAULTS = contract.template_defaults()


def kinds_of(document: dict) -> set[str]:
    return {st["Sid"] for st in document["Statement"]}


def test_with_the_defaults_no_optional_statement_and_empty_variables() -> None:
    for name, function in SPEC["functions"].items():
        document = contract.policy_document(function, RESOURCES, parameters=DEFAULTS)
        assert not kinds_of(document) & set(CONDITIONAL), name
        assert kinds_of(document) == set(function["permissions"]) - set(CONDITIONAL), name
        # also when no parameters are given at all (the policies of earlier callers)
        assert contract.policy_document(function, RESOURCES) == document
    env = contract.environment(SPEC["functions"]["fanout"], DEFAULTS, RESOURCES)
    assert env["STARLING_EXPORT_STREAM"] == "" and env["STARLING_EXPORT_BODIES"] == "false"
    env = contract.environment(SPEC["functions"]["send"], DEFAULTS, RESOURCES)
    assert env["STARLING_MODERATION_PARAMETER"] == env["STARLING_MODERATION_OBJECT"] == env["STARLING_MODERATION_HOOK"] == ""


@pytest.mark.parametrize("kind", sorted(stack.FEATURE_PARAMETERS))
def test_a_feature_on_grants_its_statement_on_its_resource_alone(kind: str) -> None:
    parameters = DEFAULTS | stack.FEATURE_PARAMETERS[kind]
    (function_name,) = [n for n, f in SPEC["functions"].items() if kind in f["permissions"]]
    function = SPEC["functions"][function_name]
    document = contract.policy_document(function, RESOURCES, parameters=parameters)
    assert kinds_of(document) & set(CONDITIONAL) == {kind}
    (statement,) = [st for st in document["Statement"] if st["Sid"] == kind]
    assert statement["Action"] == function["permissions"][kind]
    want = {
        "moderationParameter": f"arn:aws:ssm:{contract.REGION}:{contract.ACCOUNT}:parameter{stack.MODERATION_PARAMETER_NAME}",
        "moderationObject": f"arn:aws:s3:::{stack.MODERATION_BUCKET}/{stack.MODERATION_KEY}",
        "exportStream": f"arn:aws:firehose:{contract.REGION}:{contract.ACCOUNT}:deliverystream/{stack.EXPORT_STREAM}",
    }[kind]
    assert statement["Resource"] == [want]
    env = contract.environment(function, parameters, RESOURCES)
    if kind == "exportStream":
        assert env["STARLING_EXPORT_STREAM"] == stack.EXPORT_STREAM
    else:
        variable = {"moderationParameter": "STARLING_MODERATION_PARAMETER", "moderationObject": "STARLING_MODERATION_OBJECT"}
        assert env[variable[kind]] == next(iter(stack.FEATURE_PARAMETERS[kind].values()))


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = Moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        server.start()
        moto_stack.create_moderation_rules(
            server, stack.MODERATION_PARAMETER_NAME, stack.MODERATION_BUCKET, stack.MODERATION_KEY, stack.MODERATION_RULES
        )
        moto_stack.create_export_stream(server, stack.EXPORT_BUCKET, stack.EXPORT_STREAM)
        # Neighbours the statements must not reach.
        server.client("ssm").put_parameter(Name="/starling/local/other", Value="{}", Type="String", Overwrite=True)
        server.client("s3").put_object(Bucket=stack.MODERATION_BUCKET, Key="other.json", Body=b"{}")
        moto_stack.create_export_stream(server, stack.EXPORT_BUCKET, "starling-other-export")
        yield server
    finally:
        server.stop()


# What the function would call, and on a neighbour of the same service it may not touch.
CALLS = {
    "moderationParameter": (
        lambda c: c("ssm").get_parameter(Name=stack.MODERATION_PARAMETER_NAME)["Parameter"]["Value"],
        lambda c: c("ssm").get_parameter(Name="/starling/local/other"),
    ),
    "moderationObject": (
        lambda c: c("s3").get_object(Bucket=stack.MODERATION_BUCKET, Key=stack.MODERATION_KEY)["Body"].read().decode(),
        lambda c: c("s3").get_object(Bucket=stack.MODERATION_BUCKET, Key="other.json"),
    ),
    "exportStream": (
        lambda c: c("firehose").put_record_batch(
            DeliveryStreamName=stack.EXPORT_STREAM, Records=[{"Data": b'{"room":"lp"}\n'}]
        )["FailedPutCount"],
        lambda c: c("firehose").put_record_batch(
            DeliveryStreamName="starling-other-export", Records=[{"Data": b"{}\n"}]
        ),
    ),
}


@pytest.mark.parametrize("kind", sorted(CALLS))
def test_moto_enforces_each_optional_statement_on_its_resource(moto: Moto, kind: str) -> None:
    (name,) = [n for n, f in SPEC["functions"].items() if kind in f["permissions"]]
    function = SPEC["functions"][name]
    parameters = DEFAULTS | stack.FEATURE_PARAMETERS[kind]
    user = f"starling-{name}-{kind}"
    iam = moto.client("iam")
    iam.create_user(UserName=user)
    key = moto_stack.access_key(iam, user)
    client = lambda service: moto.client(service, key)  # noqa: E731
    call, neighbour = CALLS[kind]

    def put_policy(without: str | None) -> None:
        document = contract.policy_document(function, RESOURCES, without, kind, parameters)
        iam.put_user_policy(UserName=user, PolicyName=user, PolicyDocument=json.dumps(document))

    put_policy(None)
    got = call(client)
    if kind == "exportStream":
        assert got == 0
    else:
        assert json.loads(got) == stack.MODERATION_RULES
    with pytest.raises(ClientError, match="AccessDenied|not authorized"):
        neighbour(client)
    for action in function["permissions"][kind]:
        start = moto.log.stat().st_size
        put_policy(action)
        with pytest.raises(ClientError, match="AccessDenied|not authorized"):
            call(client)
        with open(moto.log, "rb") as f:
            f.seek(start)
            logged = [line for line in f.read().decode(errors="replace").splitlines() if line.startswith(DENIED_MARK)]
        assert any(f"user/{user} {action} " in line for line in logged), logged
    # With the feature off, the statement is gone: the call is refused even with the whole policy.
    iam.put_user_policy(
        UserName=user,
        PolicyName=user,
        PolicyDocument=json.dumps(contract.policy_document(function, RESOURCES, parameters=DEFAULTS)),
    )
    with pytest.raises(ClientError, match="AccessDenied|not authorized"):
        call(client)
