"""Parity tests of issue 13: moderation, metrics, the export, the alarms and the dashboard in the templates."""

from __future__ import annotations

import parity
from parity_testpaths import ROOT, SAM_PATH


def _when(model: dict, function: str, action: str) -> list:
    return sorted((e["when"], e["resource"]) for e in model["functions"][function]["iam"] if e["action"] == action)


def test_the_model_covers_issue_13(sam: dict, contract: dict) -> None:
    """Moderation (send), metrics (every function), the export (fanout), the alarms and the dashboard."""
    model = parity.build_model(sam)
    send, fanout = model["functions"]["SendFunction"], model["functions"]["FanoutFunction"]
    for variable, parameter in {
        "STARLING_MODERATION_PARAMETER": "ModerationRulesParameter",
        "STARLING_MODERATION_OBJECT": "ModerationRulesObject",
        "STARLING_MODERATION_TTL_SECS": "ModerationTtlSecs",
        "STARLING_MODERATION_HOOK": "ModerationHookArn",
        "STARLING_MODERATION_HOOK_TIMEOUT_MS": "ModerationHookTimeoutMs",
        "STARLING_MODERATION_HOOK_FAILURE": "ModerationHookFailure",
    }.items():
        assert send["environment"][variable] == "${%s}" % parameter
        assert model["parameterDescriptions"][parameter].startswith(variable + ", ")
    defaults = {name: p.get("Default") for name, p in model["parameters"].items()}
    assert defaults["ModerationTtlSecs"] == "60" and defaults["ModerationHookTimeoutMs"] == "200"
    assert defaults["ModerationHookFailure"] == "open" and model["parameters"]["ModerationHookFailure"]["AllowedValues"] == ["open", "closed"]
    assert defaults["ModerationRulesParameter"] == defaults["ModerationRulesObject"] == defaults["ModerationHookArn"] == ""
    assert defaults["ExportBucketArn"] == "" and defaults["ExportBodies"] == "false" and defaults["MetricsNamespace"] == "Starling"
    for fn in model["functions"].values():
        assert fn["environment"]["STARLING_METRICS_NAMESPACE"] == "${MetricsNamespace}"
    arn = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}"
    assert _when(model, "SendFunction", "ssm:GetParameter") == [
        ("HasModerationParameter", (arn % "ssm") + ":parameter${ModerationRulesParameter}")
    ]
    assert _when(model, "SendFunction", "s3:GetObject") == [("HasModerationObject", "arn:${AWS::Partition}:s3:::${ModerationRulesObject}")]
    assert _when(model, "SendFunction", "lambda:InvokeFunction") == [("HasModerationHook", "${ModerationHookArn}")]
    assert _when(model, "FanoutFunction", "firehose:PutRecordBatch") == [("ExportEnabled", "${ExportStream.Arn}")]
    # With the features off, no statement of theirs: every other grant is unconditional.
    conditional = {c["condition"] for c in contract["conditionalPermissions"].values()}
    for fn in model["functions"].values():
        assert {e["when"] for e in fn["iam"]} <= conditional | {None}
    assert fanout["environment"]["STARLING_EXPORT_STREAM"] == {"Fn::If": ["ExportEnabled", "${ExportStream}", ""]}
    assert fanout["environment"]["STARLING_EXPORT_BODIES"] == "${ExportBodies}"
    assert model["resources"]["ExportStream"]["condition"] == model["resources"]["ExportStreamRole"]["condition"] == "ExportEnabled"
    stream = model["deliveryStreams"]["ExportStream"]["ExtendedS3DestinationConfiguration"]
    assert stream["BucketARN"] == "${ExportBucketArn}" and stream["CompressionFormat"] == "GZIP"
    assert {e["resource"] for e in model["otherRoles"]["ExportStreamRole"]["iam"]} == {
        "${ExportBucketArn}", "${ExportBucketArn}/starling/*"
    }
    assert set(contract["alarms"]) <= set(model["alarms"])
    assert {"DeadLetterQueueAlarm", "QueueAgeAlarm", "DeliverQueueAgeAlarm"} <= set(model["alarms"])
    body = model["dashboards"]["Dashboard"]["DashboardBody"]
    shown = {(row[1], row[3]) for w in body["widgets"] for row in w["properties"]["metrics"]}
    for function, names in contract["metrics"]["counters"].items():
        for name in names:
            assert (name, function) in shown, (name, function)
    for name in contract["metrics"]["histograms"]["fanout"]:
        assert (name, "fanout") in shown
    for queue in ("${Queue.QueueName}", "${DeliverQueue.QueueName}", "${DeadLetterQueue.QueueName}"):
        assert ("ApproximateNumberOfMessagesVisible", queue) in shown
    for fn in contract["functions"].values():
        for metric in ("Errors", "Throttles", "Duration"):
            assert (metric, "${%s}" % fn["logicalId"]) in shown


def test_the_contract_metrics_are_the_ones_the_functions_record(contract: dict) -> None:
    """Every metric name of shared/src/telemetry/metric.rs (where the Rust code spells them) is in the
    contract, which the alarms and the dashboard are checked against, and the contract names no other;
    and the namespace variable, its default and the dimension are the code's."""
    import re

    source = (ROOT / "shared" / "src" / "telemetry" / "metric.rs").read_text()
    consts = dict(re.findall(r'pub const ([A-Z_]+): &str = "([^"]+)";', source))
    dimension = consts.pop("FUNCTION_DIMENSION")
    m = contract["metrics"]
    named = {n for names in m["counters"].values() for n in names} | {
        n for h in m["histograms"].values() for n in h
    }
    assert named == set(consts.values())
    assert m["dimension"] == dimension
    for function, names in m["counters"].items():
        assert "cold_start" in names, function
    lam = (ROOT / "shared" / "src" / "telemetry" / "lambda.rs").read_text()
    assert 'NAMESPACE_VAR: &str = "STARLING_METRICS_NAMESPACE"' in lam
    default = re.search(r'DEFAULT_NAMESPACE: &str = "([^"]+)"', lam).group(1)
    model = parity.build_model(parity.translate_sam(parity.load_sam(SAM_PATH)))
    assert model["parameters"][m["namespaceParameter"]]["Default"] == default
    for fn in contract["functions"].values():
        assert fn["environment"]["STARLING_METRICS_NAMESPACE"] == {"parameter": m["namespaceParameter"]}
