"""Parity tests: drift on either side (a mutated copy of one template), a contract change, the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Callable

import pytest

import parity
from parity_testpaths import CDK_PATH, SAM_PATH


# --------------------------------------------------------------------------- drift is caught

Mutation = Callable[[dict], None]


def _resource(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id]["Properties"]


def _cdk_statement(template: dict, role: str, sid: str) -> dict:
    for statement in _resource(template, role)["Policies"][0]["PolicyDocument"]["Statement"]:
        if statement.get("Sid") == sid:
            return statement
    raise KeyError(sid)


def _sam_statements(template: dict, role: str) -> list:
    return _resource(template, role)["Policies"][0]["PolicyDocument"]["Statement"]


def _sam_statement(template: dict, role: str, sid: str) -> dict:
    return next(st for st in _sam_statements(template, role) if st.get("Sid") == sid)


def _add_action(statement: dict, action: str) -> None:
    actions = statement["Action"]
    statement["Action"] = (actions if isinstance(actions, list) else [actions]) + [action]


# Mutations of the SAM source (as if the YAML were edited), then translated.
SAM_MUTATIONS: dict[str, Mutation] = {
    "iam action dropped from the mapping": lambda t: t["Mappings"]["IamActions"]["send"]["table"].remove(
        "dynamodb:UpdateItem"
    ),
    "iam action added to the mapping": lambda t: t["Mappings"]["IamActions"]["connect"]["table"].append(
        "dynamodb:Scan"
    ),
    "table grant widened to every table": lambda t: _resource(t, "ConnectFunctionRole")["Policies"][0][
        "PolicyDocument"
    ]["Statement"][1].update(Resource="*"),
    "environment variable added": lambda t: _resource(t, "FanoutFunction")["Environment"]["Variables"].update(
        STARLING_EXTRA="1"
    ),
    "environment variable removed": lambda t: _resource(t, "SendFunction")["Environment"]["Variables"].pop(
        "STARLING_MAX_ROOMS"
    ),
    "authorizer identity source": lambda t: _resource(t, "Authorizer").update(
        IdentitySource=["route.request.header.Authorization"]
    ),
    "route key renamed": lambda t: _resource(t, "DisconnectRoute").update(RouteKey="bye"),
    "route response removed": lambda t: t["Resources"].pop("DefaultRouteResponse"),
    "route selection expression": lambda t: _resource(t, "WebSocketApi").update(
        RouteSelectionExpression="$request.body.type"
    ),
    "queue visibility timeout": lambda t: _resource(t, "Queue").update(VisibilityTimeout=60),
    "queue content-based deduplication": lambda t: _resource(t, "Queue").update(ContentBasedDeduplication=True),
    "redrive max receive count": lambda t: _resource(t, "Queue")["RedrivePolicy"].update(maxReceiveCount=3),
    "dlq not fifo": lambda t: _resource(t, "DeadLetterQueue").pop("FifoQueue"),
    "gsi removed": lambda t: _resource(t, "Table").pop("GlobalSecondaryIndexes"),
    "ttl attribute": lambda t: _resource(t, "Table")["TimeToLiveSpecification"].update(AttributeName="ttl"),
    "pitr off": lambda t: _resource(t, "Table")["PointInTimeRecoverySpecification"].update(
        PointInTimeRecoveryEnabled=False
    ),
    "event source batch size": lambda t: _resource(t, "FanoutEventSourceMapping").update(BatchSize=5),
    "event source without partial batch failures": lambda t: _resource(t, "FanoutEventSourceMapping").pop(
        "FunctionResponseTypes"
    ),
    "function architecture": lambda t: t["Globals"]["Function"].update(Architectures=["x86_64"]),
    "function timeout": lambda t: _resource(t, "FanoutFunction").update(Timeout=60),
    "parameter default": lambda t: t["Parameters"]["MaxReceiveCount"].update(Default=7),
    "output removed": lambda t: t["Outputs"].pop("ManagementEndpoint"),
    "checkov skip removed": lambda t: t["Resources"]["Table"].pop("Metadata"),
    # the delivery queue of large rooms, and what the fanout gets of it
    "delivery queue removed": lambda t: t["Resources"].pop("DeliverQueue"),
    "delivery queue visibility timeout": lambda t: _resource(t, "DeliverQueue").update(VisibilityTimeout=60),
    "delivery queue without redrive": lambda t: _resource(t, "DeliverQueue").pop("RedrivePolicy"),
    "delivery queue event source mapping removed": lambda t: t["Resources"].pop("FanoutDeliverEventSourceMapping"),
    "delivery queue event source mapping batch size": lambda t: _resource(
        t, "FanoutDeliverEventSourceMapping"
    ).update(BatchSize=1),
    "delivery queue alarm removed": lambda t: t["Resources"].pop("DeliverQueueAgeAlarm"),
    "delivery queue alarm on the main queue": lambda t: _resource(t, "DeliverQueueAgeAlarm").update(
        Dimensions=[{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}]
    ),
    "delivery queue permission removed": lambda t: _sam_statements(t, "FanoutFunctionRole").remove(
        _sam_statement(t, "FanoutFunctionRole", "DeliverQueue")
    ),
    "delivery queue send action dropped": lambda t: t["Mappings"]["IamActions"]["fanout"]["deliverQueue"].remove(
        "sqs:SendMessage"
    ),
    "delivery queue url variable removed": lambda t: _resource(t, "FanoutFunction")["Environment"]["Variables"].pop(
        "STARLING_DELIVER_QUEUE_URL"
    ),
    "shard threshold variable removed": lambda t: _resource(t, "FanoutFunction")["Environment"]["Variables"].pop(
        "STARLING_SHARD_THRESHOLD"
    ),
    "shards parameter removed": lambda t: [
        t["Parameters"].pop("Shards"),
        _resource(t, "FanoutFunction")["Environment"]["Variables"].update(STARLING_SHARDS="16"),
    ],
    "sharded hold default": lambda t: t["Parameters"]["ShardedHoldSecs"].update(Default=60),
    # the authorizer's OIDC sign-in settings
    "oidc issuer variable removed": lambda t: _resource(t, "AuthorizerFunction")["Environment"]["Variables"].pop(
        "STARLING_OIDC_ISSUER"
    ),
    "oidc audience variable on another function": lambda t: _resource(t, "ConnectFunction")["Environment"][
        "Variables"
    ].update(STARLING_OIDC_AUDIENCE={"Ref": "OidcAudience"}),
    "oidc user claim default": lambda t: t["Parameters"]["OidcUserClaim"].update(Default="email"),
    "oidc issuer allows http": lambda t: t["Parameters"]["OidcIssuer"].update(AllowedPattern="^(https?://\\S+)?$"),
    "oidc audience rule removed": lambda t: t["Rules"].pop("OidcIssuerSet"),
    # issue 13: moderation, metrics, export, alarms, dashboard
    "moderation parameter grant unconditional": lambda t: _sam_statements(t, "SendFunctionRole").append(
        _sam_statements(t, "SendFunctionRole").pop(-3)["Fn::If"][1]
    ),
    "moderation object grant on any object": lambda t: _sam_statements(t, "SendFunctionRole")[-2]["Fn::If"][1].update(
        Resource={"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}
    ),
    "moderation hook grant removed": lambda t: _sam_statements(t, "SendFunctionRole").pop(-1),
    "moderation ttl variable removed": lambda t: _resource(t, "SendFunction")["Environment"]["Variables"].pop(
        "STARLING_MODERATION_TTL_SECS"
    ),
    "moderation hook failure default": lambda t: t["Parameters"]["ModerationHookFailure"].update(Default="closed"),
    "moderation rule removed": lambda t: t["Rules"].pop("ModerationRulesOneSource"),
    "metrics namespace variable removed": lambda t: _resource(t, "ConnectFunction")["Environment"]["Variables"].pop(
        "STARLING_METRICS_NAMESPACE"
    ),
    "export stream variable unconditional": lambda t: _resource(t, "FanoutFunction")["Environment"]["Variables"].update(
        STARLING_EXPORT_STREAM={"Ref": "ExportStream"}
    ),
    "export stream without compression": lambda t: _resource(t, "ExportStream")[
        "ExtendedS3DestinationConfiguration"
    ].update(CompressionFormat="UNCOMPRESSED"),
    "export stream created always": lambda t: t["Resources"]["ExportStream"].pop("Condition"),
    "export role objects on the whole bucket": lambda t: _sam_statements(t, "ExportStreamRole")[1].update(
        Resource={"Fn::Sub": "${ExportBucketArn}/*"}
    ),
    "fanout errors alarm threshold": lambda t: _resource(t, "FanoutErrorsAlarm").update(Threshold=5),
    "throttles alarm misses a function": lambda t: _resource(t, "FunctionThrottlesAlarm")["Metrics"].pop(0),
    "post throttled alarm on the fanout alone": lambda t: _resource(t, "PostThrottledAlarm")["Metrics"].pop(1),
    "dashboard widget removed": lambda t: _resource(t, "Dashboard").update(
        DashboardBody={"Fn::Sub": json.dumps({"widgets": json.loads(
            _resource(t, "Dashboard")["DashboardBody"]["Fn::Sub"])["widgets"][1:]})}
    ),
}


@pytest.mark.parametrize("name", sorted(SAM_MUTATIONS))
def test_drift_in_the_sam_template_fails(name: str, sam_source: dict, cdk: dict, contract: dict) -> None:
    mutated = copy.deepcopy(sam_source)
    SAM_MUTATIONS[name](mutated)
    errors = parity.compare(parity.translate_sam(mutated), cdk, contract)
    assert errors, f"parity missed a SAM-side change: {name}"
    assert any(e.startswith("SAM vs CDK") for e in errors)


# Mutations of the synthesized CDK template.
CDK_MUTATIONS: dict[str, Mutation] = {
    "iam action added": lambda t: _add_action(_cdk_statement(t, "FanoutFunctionRole", "Table"), "dynamodb:Scan"),
    "iam statement removed": lambda t: _resource(t, "FanoutFunctionRole")["Policies"][0]["PolicyDocument"][
        "Statement"
    ].pop(),
    "managed policy attached": lambda t: _resource(t, "SendFunctionRole").update(
        ManagedPolicyArns=["arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"]
    ),
    "environment variable renamed": lambda t: _resource(t, "ConnectFunction")["Environment"]["Variables"].update(
        TABLE_NAME=_resource(t, "ConnectFunction")["Environment"]["Variables"].pop("STARLING_TABLE")
    ),
    "route integrated with another function": lambda t: _resource(t, "DefaultRoute").update(
        Target={"Fn::Join": ["", ["integrations/", {"Ref": "ConnectIntegration"}]]}
    ),
    "connect route without authorizer": lambda t: [
        _resource(t, "ConnectRoute").update(AuthorizationType="NONE"),
        _resource(t, "ConnectRoute").pop("AuthorizerId"),
    ],
    "dlq retention": lambda t: _resource(t, "DeadLetterQueue").update(MessageRetentionPeriod=345600),
    "table sort key": lambda t: _resource(t, "Table")["KeySchema"][1].update(AttributeName="sk2"),
    "sse off": lambda t: _resource(t, "Table")["SSESpecification"].update(SSEEnabled=False),
    "alarm threshold": lambda t: _resource(t, "DeadLetterQueueAlarm").update(Threshold=5),
    "stage throttling literal": lambda t: _resource(t, "Stage")["DefaultRouteSettings"].update(
        ThrottlingRateLimit=100
    ),
    "extra resource": lambda t: t["Resources"].update(
        Extra={"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True}}
    ),
    "parameter removed": lambda t: t["Parameters"].pop("RetentionDays"),
    # the delivery queue of large rooms, and what the fanout gets of it
    "delivery queue removed": lambda t: t["Resources"].pop("DeliverQueue"),
    "delivery queue with content-based deduplication": lambda t: _resource(t, "DeliverQueue").update(
        ContentBasedDeduplication=True
    ),
    "delivery queue redrive to another queue": lambda t: _resource(t, "DeliverQueue")["RedrivePolicy"].update(
        deadLetterTargetArn={"Fn::GetAtt": ["Queue", "Arn"]}
    ),
    "delivery queue event source mapping removed": lambda t: t["Resources"].pop("FanoutDeliverEventSourceMapping"),
    "delivery queue event source mapping without partial batch failures": lambda t: _resource(
        t, "FanoutDeliverEventSourceMapping"
    ).pop("FunctionResponseTypes"),
    "delivery queue alarm removed": lambda t: t["Resources"].pop("DeliverQueueAgeAlarm"),
    "delivery queue alarm threshold literal": lambda t: _resource(t, "DeliverQueueAgeAlarm").update(Threshold=600),
    "delivery queue permission removed": lambda t: _resource(t, "FanoutFunctionRole")["Policies"][0][
        "PolicyDocument"
    ]["Statement"].remove(_cdk_statement(t, "FanoutFunctionRole", "DeliverQueue")),
    "delivery queue receive action dropped": lambda t: _cdk_statement(t, "FanoutFunctionRole", "DeliverQueue").update(
        Action=[a for a in _cdk_statement(t, "FanoutFunctionRole", "DeliverQueue")["Action"] if a != "sqs:ReceiveMessage"]
    ),
    "delivery queue url variable removed": lambda t: _resource(t, "FanoutFunction")["Environment"]["Variables"].pop(
        "STARLING_DELIVER_QUEUE_URL"
    ),
    "shards variable from another parameter": lambda t: _resource(t, "FanoutFunction")["Environment"][
        "Variables"
    ].update(STARLING_SHARDS={"Ref": "MaxRooms"}),
    "shard threshold parameter removed": lambda t: t["Parameters"].pop("ShardThreshold"),
    # the authorizer's OIDC sign-in settings
    "oidc jwks url variable from another parameter": lambda t: _resource(t, "AuthorizerFunction")["Environment"][
        "Variables"
    ].update(STARLING_OIDC_JWKS_URL={"Ref": "OidcIssuer"}),
    "oidc user claim variable as a literal": lambda t: _resource(t, "AuthorizerFunction")["Environment"][
        "Variables"
    ].update(STARLING_OIDC_USER_CLAIM="sub"),
    "oidc audience parameter removed": lambda t: t["Parameters"].pop("OidcAudience"),
    "oidc rule assertion on another parameter": lambda t: t["Rules"]["OidcIssuerSet"]["Assertions"][0].update(
        Assert={"Fn::Not": [{"Fn::Equals": [{"Ref": "OidcUserClaim"}, ""]}]}
    ),
    "oidc issuer default": lambda t: t["Parameters"]["OidcIssuer"].update(
        Default="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example"
    ),
    # issue 13: moderation, metrics, export, alarms, dashboard
    "moderation hook grant unconditional": lambda t: _resource(t, "SendFunctionRole")["Policies"][0]["PolicyDocument"][
        "Statement"
    ].append(_resource(t, "SendFunctionRole")["Policies"][0]["PolicyDocument"]["Statement"].pop()["Fn::If"][1]),
    "moderation parameter condition on another parameter": lambda t: t["Conditions"].update(
        HasModerationParameter={"Fn::Not": [{"Fn::Equals": [{"Ref": "ModerationRulesObject"}, ""]}]}
    ),
    "moderation ttl max": lambda t: t["Parameters"]["ModerationTtlSecs"].update(MaxValue=86400),
    "export grant removed": lambda t: _resource(t, "FanoutFunctionRole")["Policies"][0]["PolicyDocument"][
        "Statement"
    ].pop(),
    "export bodies variable literal": lambda t: _resource(t, "FanoutFunction")["Environment"]["Variables"].update(
        STARLING_EXPORT_BODIES="true"
    ),
    "export stream buffering": lambda t: _resource(t, "ExportStream")["ExtendedS3DestinationConfiguration"][
        "BufferingHints"
    ].update(IntervalInSeconds=60),
    "export role trusts lambda": lambda t: _resource(t, "ExportStreamRole")["AssumeRolePolicyDocument"]["Statement"][0][
        "Principal"
    ].update(Service="lambda.amazonaws.com"),
    "throttles alarm expression": lambda t: _resource(t, "FunctionThrottlesAlarm")["Metrics"][-1].update(
        Expression="MAX([m1,m2,m3,m4,m5])"
    ),
    "post throttled alarm threshold literal": lambda t: _resource(t, "PostThrottledAlarm").update(Threshold=100),
    "fanout errors alarm without actions": lambda t: _resource(t, "FanoutErrorsAlarm").pop("AlarmActions"),
    "dashboard removed": lambda t: t["Resources"].pop("Dashboard"),
    "dashboard widget width": lambda t: _resource(t, "Dashboard")["DashboardBody"]["Fn::Join"][1].__setitem__(
        0, _resource(t, "Dashboard")["DashboardBody"]["Fn::Join"][1][0].replace('"width":8', '"width":12', 1)
    ),
}


@pytest.mark.parametrize("name", sorted(CDK_MUTATIONS))
def test_drift_in_the_cdk_template_fails(name: str, sam: dict, cdk: dict, contract: dict) -> None:
    mutated = copy.deepcopy(cdk)
    CDK_MUTATIONS[name](mutated)
    errors = parity.compare(sam, mutated, contract)
    assert errors, f"parity missed a CDK-side change: {name}"
    assert any(e.startswith("SAM vs CDK") for e in errors)


def test_a_contract_change_fails_both_sides(sam: dict, cdk: dict, contract: dict) -> None:
    changed = copy.deepcopy(contract)
    changed["functions"]["send"]["permissions"]["table"].append("dynamodb:DescribeTable")
    changed["functions"]["connect"]["environment"]["STARLING_NEW"] = {"parameter": "RustLog"}
    errors = parity.compare(sam, cdk, changed)
    for side in ("SAM vs contract", "CDK vs contract"):
        assert any(e.startswith(side) and "DescribeTable" in e for e in errors), errors
        assert any(e.startswith(side) and "STARLING_NEW" in e for e in errors), errors


def test_a_contract_delivery_queue_change_fails_both_sides(sam: dict, cdk: dict, contract: dict) -> None:
    changed = copy.deepcopy(contract)
    changed["deliverQueue"]["batchSize"] = 5
    changed["deliverQueue"]["visibilityTimeoutSeconds"] = 300
    changed["functions"]["fanout"]["permissions"]["deliverQueue"].remove("sqs:SendMessage")
    errors = parity.compare(sam, cdk, changed)
    for side in ("SAM vs contract", "CDK vs contract"):
        assert any(e.startswith(side) and "FanoutDeliverEventSourceMapping batch size" in e for e in errors), errors
        assert any(e.startswith(side) and "DeliverQueue visibility" in e for e in errors), errors
        assert any(e.startswith(side) and "IAM grants more" in e and "DeliverQueue" in e for e in errors), errors


def test_a_contract_table_change_fails_both_sides(sam: dict, cdk: dict, contract: dict) -> None:
    changed = copy.deepcopy(contract)
    changed["table"]["properties"]["GlobalSecondaryIndexes"][0]["Projection"] = {"ProjectionType": "KEYS_ONLY"}
    changed["table"]["properties"]["TimeToLiveSpecification"]["AttributeName"] = "ttl"
    errors = parity.compare(sam, cdk, changed)
    for side in ("SAM vs contract", "CDK vs contract"):
        assert any(e.startswith(side) and "GlobalSecondaryIndexes" in e for e in errors), errors
        assert any(e.startswith(side) and "TimeToLiveSpecification" in e for e in errors), errors


def test_a_contract_monitoring_change_fails_both_sides(sam: dict, cdk: dict, contract: dict) -> None:
    changed = copy.deepcopy(contract)
    changed["alarms"]["FanoutErrorsAlarm"]["periodSeconds"] = 300
    changed["dashboard"]["widgets"][0]["metrics"].pop()
    changed["export"]["compressionFormat"] = "ZIP"
    changed["functions"]["send"]["permissions"]["moderationHook"].append("lambda:InvokeAsync")
    errors = parity.compare(sam, cdk, changed)
    for side in ("SAM vs contract", "CDK vs contract"):
        assert any(e.startswith(side) and "FanoutErrorsAlarm" in e and "Period" in e for e in errors), errors
        assert any(e.startswith(side) and "dashboard Dashboard" in e for e in errors), errors
        assert any(e.startswith(side) and "CompressionFormat" in e for e in errors), errors
        assert any(e.startswith(side) and "InvokeAsync" in e for e in errors), errors


def test_the_cli_fails_on_an_edited_copy_of_the_sam_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """End to end, as CI runs it: a text edit of a copy of template.yaml makes the CLI exit 1."""
    edited = SAM_PATH.read_text().replace("BatchSize: 10", "BatchSize: 9", 1)
    assert edited != SAM_PATH.read_text()
    copy_path = tmp_path / "template.yaml"
    copy_path.write_text(edited)
    assert parity.main(["--sam", str(copy_path), "--cdk", str(CDK_PATH)]) == 1
    assert "BatchSize" in capsys.readouterr().out
    assert parity.main(["--sam", str(SAM_PATH), "--cdk", str(CDK_PATH)]) == 0


def test_the_cli_fails_on_an_edited_copy_of_the_cdk_template(tmp_path: Path) -> None:
    template = json.loads(CDK_PATH.read_text())
    template["Resources"]["Queue"]["Properties"]["VisibilityTimeout"] = 120
    copy_path = tmp_path / "Starling.template.json"
    copy_path.write_text(json.dumps(template))
    assert parity.main(["--sam", str(SAM_PATH), "--cdk", str(copy_path)]) == 1
