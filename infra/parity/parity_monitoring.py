"""The contract's alarms, dashboard and export delivery stream, and the check of them (and of the conditions)."""

from __future__ import annotations

import json

from parity_model import diff


# --------------------------------------------------------------------------- monitoring and export, from the contract


def metric_spec(metric: dict, contract: dict) -> tuple[str, str, list[dict]]:
    """(namespace, metric name, dimensions) of a metric of the contract's alarms or dashboard, canonical."""
    if "namespace" not in metric:  # Starling's own (EMF): one dimension, the function's key
        m = contract["metrics"]
        if metric["metric"] not in m["counters"].get(metric["function"], []) + list(
            m["histograms"].get(metric["function"], {})
        ):
            raise ValueError(f"contract: {metric['function']} has no metric {metric['metric']}")
        return "${%s}" % m["namespaceParameter"], metric["metric"], [{"Name": m["dimension"], "Value": metric["function"]}]
    if metric["namespace"] == "AWS/Lambda":
        fn = contract["functions"][metric["function"]]["logicalId"]
        return "AWS/Lambda", metric["metric"], [{"Name": "FunctionName", "Value": "${%s}" % fn}]
    if metric["namespace"] == "AWS/SQS":
        return "AWS/SQS", metric["metric"], [{"Name": "QueueName", "Value": "${%s.QueueName}" % metric["queue"]}]
    raise ValueError(f"contract: unknown metric namespace {metric['namespace']}")


def contract_alarm(spec: dict, contract: dict) -> dict:
    """An alarm of contract["alarms"] as the templates must write it (canonical form)."""
    threshold = spec["threshold"]
    out = {
        "AlarmDescription": spec["description"],
        "EvaluationPeriods": str(spec["evaluationPeriods"]),
        "Threshold": "${%s}" % threshold["parameter"] if isinstance(threshold, dict) else str(threshold),
        "ComparisonOperator": spec["comparison"],
        "TreatMissingData": spec["treatMissingData"],
        "AlarmActions": {"Fn::If": ["HasAlarmTopic", ["${AlarmTopicArn}"], "${AWS::NoValue}"]},
    }
    metrics = [metric_spec(m, contract) for m in spec["metrics"]]
    if len(metrics) == 1:
        (namespace, name, dimensions), = metrics
        return {**out, "Namespace": namespace, "MetricName": name, "Dimensions": dimensions,
                "Statistic": spec["statistic"], "Period": str(spec["periodSeconds"])}
    ids = [f"m{i}" for i in range(1, len(metrics) + 1)]
    queries = [
        {
            "Id": i,
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": name, "Dimensions": dimensions},
                "Period": str(spec["periodSeconds"]),
                "Stat": spec["statistic"],
            },
            "ReturnData": "false",
        }
        for i, (namespace, name, dimensions) in zip(ids, metrics)
    ]
    total = {"Id": "total", "Expression": "SUM([%s])" % ",".join(ids), "Label": spec["label"], "ReturnData": "true"}
    return {**out, "Metrics": queries + [total]}


def dashboard_body(contract: dict) -> dict:
    """The dashboard's body as contract["dashboard"] describes it, intrinsics as `${...}`."""
    d = contract["dashboard"]
    widgets = []
    for w in d["widgets"]:
        rows = []
        for metric in w["metrics"]:
            namespace, name, dimensions = metric_spec(metric, contract)
            row: list = [namespace, name]
            for dim in dimensions:
                row += [dim["Name"], dim["Value"]]
            options = {k: metric[k] for k in ("stat", "label") if k in metric}
            if options:
                row.append(options)
            rows.append(row)
        widgets.append(
            {
                "type": "metric",
                "width": w["width"],
                "height": d["widgetHeight"],
                "properties": {
                    "title": w["title"],
                    "view": "timeSeries",
                    "region": "${AWS::Region}",
                    "stat": w["stat"],
                    "period": d["periodSeconds"],
                    "metrics": rows,
                },
            }
        )
    return {"widgets": widgets}


def contract_delivery_stream(contract: dict) -> dict:
    """The Firehose delivery stream's properties as contract["export"] describes them (canonical)."""
    e = contract["export"]
    return {
        "DeliveryStreamType": "DirectPut",
        "DeliveryStreamEncryptionConfigurationInput": {"KeyType": e["encryptionKeyType"]},
        "ExtendedS3DestinationConfiguration": {
            "BucketARN": "${%s}" % e["bucketParameter"],
            "RoleARN": "${%s.Arn}" % e["roleLogicalId"],
            "Prefix": e["prefix"],
            "ErrorOutputPrefix": e["errorOutputPrefix"],
            "CompressionFormat": e["compressionFormat"],
            "BufferingHints": {k: str(v) for k, v in e["bufferingHints"].items()},
        },
    }


def contract_export_role_iam(contract: dict) -> list[dict]:
    """The delivery stream role's grants: bucket actions on the bucket, object actions under objectsUnder."""
    e = contract["export"]
    bucket = "${%s}" % e["bucketParameter"]
    grants = [(a, bucket) for a in e["rolePermissions"]["bucket"]]
    grants += [(a, f"{bucket}/{e['objectsUnder']}*") for a in e["rolePermissions"]["objects"]]
    return sorted(
        (
            {"effect": "Allow", "action": a, "resource": r, "condition": None, "when": None}
            for a, r in grants
        ),
        key=lambda x: json.dumps(x, sort_keys=True),
    )


def check_monitoring_and_export(model: dict, contract: dict) -> list[str]:
    """The contract's alarms, dashboard, conditional permissions' conditions, the export's delivery
    stream and its role, and the moderation rule, in one template's model."""
    errors: list[str] = []
    for logical_id, spec in contract["alarms"].items():
        got, want = model["alarms"].get(logical_id), contract_alarm(spec, contract)
        if got != want:
            errors += [f"alarm {logical_id}: {d}" for d in diff(got or {}, want)] or [f"alarm {logical_id} missing"]
    d = contract["dashboard"]
    got = model["dashboards"].get(d["logicalId"])
    if not got:
        errors.append(f"dashboard {d['logicalId']} missing")
    else:
        if got.get("DashboardName") != d["name"]:
            errors.append(f"dashboard name {got.get('DashboardName')} != contract {d['name']}")
        if got.get("DashboardBody") != dashboard_body(contract):
            differences = diff(got.get("DashboardBody"), dashboard_body(contract), "DashboardBody")
            errors += [f"dashboard {d['logicalId']}: {x}" for x in differences] or [f"dashboard body differs"]
    if len(model["dashboards"]) != 1:
        errors.append(f"dashboards {sorted(model['dashboards'])}: expected one, {d['logicalId']}")
    for kind, c in contract["conditionalPermissions"].items():
        want = {"Fn::Not": [{"Fn::Equals": ["${%s}" % c["parameter"], ""]}]}
        if model["conditions"].get(c["condition"]) != want:
            errors.append(f"condition {c['condition']} ({kind}) {model['conditions'].get(c['condition'])} != {want}")
        if not any(kind in fn["permissions"] for fn in contract["functions"].values()):
            errors.append(f"conditional permission kind {kind} is granted to no function")
    e = contract["export"]
    for logical_id in (e["logicalId"], e["roleLogicalId"]):
        if model["resources"].get(logical_id, {}).get("condition") != e["condition"]:
            errors.append(f"{logical_id} is not created under the condition {e['condition']} alone")
    stream = model["deliveryStreams"].get(e["logicalId"])
    if stream != contract_delivery_stream(contract):
        errors += [f"delivery stream {e['logicalId']}: {x}" for x in diff(stream or {}, contract_delivery_stream(contract))]
    role = model["otherRoles"].get(e["roleLogicalId"])
    if not role:
        errors.append(f"{e['roleLogicalId']} missing")
    else:
        trust = role.get("AssumeRolePolicyDocument", {}).get("Statement", [])
        if len(trust) != 1 or trust[0].get("Principal") != {"Service": "firehose.amazonaws.com"} or trust[0].get(
            "Condition"
        ) != {"StringEquals": {"aws:SourceAccount": "${AWS::AccountId}"}}:
            errors.append(f"{e['roleLogicalId']} must trust firehose.amazonaws.com of this account alone: {trust}")
        if role.get("ManagedPolicyArns"):
            errors.append(f"{e['roleLogicalId']} has managed policies")
        if role["iam"] != contract_export_role_iam(contract):
            errors += [f"{e['roleLogicalId']} IAM: {x}" for x in diff(role["iam"], contract_export_role_iam(contract))] or [
                f"{e['roleLogicalId']} IAM {role['iam']} != contract"
            ]
    rule = model["rules"].get("ModerationRulesOneSource")
    want_rule = {
        "RuleCondition": {"Fn::Not": [{"Fn::Equals": ["${ModerationRulesParameter}", ""]}]},
        "Assertions": [
            {
                "Assert": {"Fn::Equals": ["${ModerationRulesObject}", ""]},
                "AssertDescription": "Set ModerationRulesParameter or ModerationRulesObject, not both: send refuses to start with both.",
            }
        ],
    }
    if rule != want_rule:
        errors.append(f"rule ModerationRulesOneSource {rule} != {want_rule}")
    return errors
