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
import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = ROOT / "infra" / "contract.json"
PLACEHOLDER_REGION = "us-east-1"

# Resource types that exist in one tool's output only and are not part of the stack.
IGNORED_TYPES = {"AWS::CDK::Metadata"}


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


# --------------------------------------------------------------------------- canonical values


class Canon:
    """Puts CloudFormation values in one canonical form.

    Strings built from references become `${Logical.Attr}` templates (what Fn::Sub would say), so a
    Sub and the equivalent Join are equal; Fn::FindInMap is resolved from the template's Mappings;
    scalars become strings (CloudFormation passes numbers and booleans to properties as strings).
    """

    def __init__(self, template: dict):
        self.mappings = template.get("Mappings", {})

    def __call__(self, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), = value.items()
                handled = self._intrinsic(key, arg)
                if handled is not None:
                    return handled
            return {k: self(v) for k, v in value.items()}
        return value

    def _intrinsic(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            return "${%s}" % arg
        if key == "Fn::GetAtt":
            name, attr = arg.split(".", 1) if isinstance(arg, str) else arg
            return "${%s.%s}" % (name, self(attr))
        if key == "Fn::Sub":
            if isinstance(arg, str):
                return self._sub(arg, {})
            text, variables = arg
            return self._sub(text, {k: self(v) for k, v in variables.items()})
        if key == "Fn::Join":
            sep, parts = arg
            parts = [self(p) for p in parts] if isinstance(parts, list) else self(parts)
            if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                return sep.join(parts)
            return {"Fn::Join": [sep, parts]}
        if key == "Fn::FindInMap":
            name, top, second = (self(a) for a in arg[:3])
            try:
                return self(self.mappings[name][top][second])
            except (KeyError, TypeError):
                return {"Fn::FindInMap": [name, top, second]}
        if key in ("Fn::If", "Fn::Select", "Fn::Split", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or",
                   "Fn::Base64", "Fn::GetAZs", "Fn::ImportValue", "Condition"):
            return {key: self(arg)}
        return None

    @staticmethod
    def _sub(text: str, variables: dict) -> str:
        def repl(match: re.Match) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner + "}"
            if inner in variables:
                value = variables[inner]
                return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            return "${%s}" % inner

        return re.sub(r"\$\{([^}]*)\}", repl, text)


def refs_in(value: Any) -> set[str]:
    """Logical ids (and parameters) a canonical value refers to."""
    found: set[str] = set()
    if isinstance(value, str):
        for inner in re.findall(r"\$\{([^}!]*)\}", value):
            found.add(inner.split(".", 1)[0])
    elif isinstance(value, list):
        for v in value:
            found |= refs_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            found |= refs_in(v)
    return found


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------- the model


def checkov_skips(resource: dict) -> list[str]:
    skips = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    return sorted(s["id"] for s in skips)


def conditional_statement(st: Any) -> tuple[str | None, Any]:
    """A statement written `Fn::If [condition, statement, AWS::NoValue]` (granted only under that
    condition): (condition, statement); any other statement: (None, itself)."""
    if isinstance(st, dict) and set(st) == {"Fn::If"}:
        condition, then, otherwise = st["Fn::If"]
        if otherwise == {"Ref": "AWS::NoValue"}:
            return condition, then
    return None, st


def iam_statements(canon: Canon, policy_documents: list[dict]) -> list[dict]:
    """One entry per (effect, action, resource), so equivalent groupings compare equal. `when` is the
    template condition a statement is granted under (None: always)."""
    out = []
    for doc in policy_documents:
        for raw in as_list(doc.get("Statement", [])):
            when, st = conditional_statement(raw)
            actions = as_list(canon(st.get("Action", [])))
            resources = as_list(canon(st.get("Resource", [])))
            for action in actions:
                for resource in resources:
                    out.append(
                        {
                            "effect": st.get("Effect"),
                            "action": action,
                            "resource": resource,
                            "condition": canon(st.get("Condition")),
                            "when": when,
                        }
                    )
    out.sort(key=lambda e: json.dumps(e, sort_keys=True))
    return out


def build_model(template: dict) -> dict:
    """Everything the two tools must agree on, in canonical form."""
    canon = Canon(template)
    resources = template.get("Resources", {})

    def of_type(type_name: str) -> dict[str, dict]:
        return {k: v for k, v in resources.items() if v.get("Type") == type_name}

    def props(resource: dict) -> dict:
        return resource.get("Properties", {})

    model: dict[str, Any] = {}

    model["parameters"] = {
        name: canon({k: v for k, v in p.items() if k != "Description"})
        for name, p in template.get("Parameters", {}).items()
        if name != "BootstrapVersion"  # CDK's bootstrap-version check, not part of the stack
    }
    model["parameterDescriptions"] = {
        name: p.get("Description", "") for name, p in template.get("Parameters", {}).items()
        if name != "BootstrapVersion"
    }
    model["conditions"] = canon(template.get("Conditions", {}))
    model["rules"] = {
        name: canon(rule)
        for name, rule in template.get("Rules", {}).items()
        if name != "CheckBootstrapVersion"  # CDK's bootstrap-version check, not part of the stack
    }
    model["outputs"] = {name: canon(o.get("Value")) for name, o in template.get("Outputs", {}).items()}

    # Both tools use the same logical ids for every resource (the CDK app pins them), so an added,
    # removed or renamed resource on one side shows here; and the resource-level policies.
    model["resources"] = {
        k: {
            "type": v["Type"],
            "condition": v.get("Condition"),
            "deletionPolicy": v.get("DeletionPolicy", "Delete"),
            "updateReplacePolicy": v.get("UpdateReplacePolicy", "Delete"),
            "checkovSkips": checkov_skips(v),
        }
        for k, v in resources.items()
        if v.get("Type") not in IGNORED_TYPES
    }
    model["checkovSkipsByType"] = {}
    for v in resources.values():
        if checkov_skips(v):
            model["checkovSkipsByType"].setdefault(v["Type"], set()).update(checkov_skips(v))
    model["checkovSkipsByType"] = {k: sorted(v) for k, v in model["checkovSkipsByType"].items()}

    # ---- table
    model["tables"] = {
        k: canon(
            {
                key: props(v).get(key)
                for key in (
                    "BillingMode",
                    "AttributeDefinitions",
                    "KeySchema",
                    "GlobalSecondaryIndexes",
                    "TimeToLiveSpecification",
                    "PointInTimeRecoverySpecification",
                    "SSESpecification",
                    "StreamSpecification",
                    "DeletionProtectionEnabled",
                )
            }
        )
        for k, v in of_type("AWS::DynamoDB::Table").items()
    }
    for table in model["tables"].values():
        table["AttributeDefinitions"] = sorted(table["AttributeDefinitions"] or [], key=lambda a: a["AttributeName"])

    # ---- queues and alarm
    queue_defaults = {"ContentBasedDeduplication": "false", "VisibilityTimeout": "30", "MessageRetentionPeriod": "345600"}
    model["queues"] = {}
    for k, v in of_type("AWS::SQS::Queue").items():
        q = {**queue_defaults, **canon(props(v))}
        q.pop("QueueName", None)
        model["queues"][k] = q
    model["alarms"] = {
        k: canon({key: val for key, val in props(v).items() if key != "AlarmName"})
        for k, v in of_type("AWS::CloudWatch::Alarm").items()
    }

    # ---- event source mappings
    model["eventSourceMappings"] = {
        k: canon({**{"Enabled": True}, **props(v)}) for k, v in of_type("AWS::Lambda::EventSourceMapping").items()
    }

    # ---- functions, their roles and who may invoke them
    roles = of_type("AWS::IAM::Role")
    extra_policies: dict[str, list[dict]] = {}
    for v in of_type("AWS::IAM::Policy").values():
        for role_ref in canon(as_list(props(v).get("Roles", []))):
            for ref in refs_in(role_ref):
                extra_policies.setdefault(ref, []).append(props(v)["PolicyDocument"])
    permissions: dict[str, list] = {}
    for v in of_type("AWS::Lambda::Permission").values():
        p = canon(props(v))
        for ref in refs_in(p.get("FunctionName")):
            permissions.setdefault(ref, []).append(
                {"action": p.get("Action"), "principal": p.get("Principal"), "sourceArn": p.get("SourceArn")}
            )
    model["functions"] = {}
    for k, v in of_type("AWS::Lambda::Function").items():
        p = props(v)
        role_ids = refs_in(canon(p.get("Role")))
        role_id = next(iter(role_ids)) if len(role_ids) == 1 else None
        role = roles.get(role_id, {}) if role_id else {}
        documents = [pol["PolicyDocument"] for pol in props(role).get("Policies", [])]
        documents += extra_policies.get(role_id, [])
        model["functions"][k] = {
            "Runtime": p.get("Runtime"),
            "Architectures": canon(p.get("Architectures", ["x86_64"])),
            "Handler": p.get("Handler"),
            "MemorySize": canon(p.get("MemorySize", 128)),
            "Timeout": canon(p.get("Timeout", 3)),
            "Description": p.get("Description"),
            "LoggingConfig": canon(p.get("LoggingConfig")),
            "environment": canon(p.get("Environment", {}).get("Variables", {})),
            "role": role_id,
            "assumeRole": canon(props(role).get("AssumeRolePolicyDocument")),
            "managedPolicies": canon(props(role).get("ManagedPolicyArns", [])),
            "iam": iam_statements(canon, documents),
            "invokePermissions": sorted(permissions.get(k, []), key=lambda e: json.dumps(e, sort_keys=True)),
            "ReservedConcurrentExecutions": canon(p.get("ReservedConcurrentExecutions")),
        }

    # ---- the WebSocket API
    apis = of_type("AWS::ApiGatewayV2::Api")
    model["apis"] = {k: canon(props(v)) for k, v in apis.items()}
    integrations = {}
    for k, v in of_type("AWS::ApiGatewayV2::Integration").items():
        p = canon(props(v))
        uri_refs = sorted(r for r in refs_in(p.get("IntegrationUri")) if not r.startswith("AWS::"))
        integrations[k] = {
            "IntegrationType": p.get("IntegrationType"),
            "functions": uri_refs,
            "IntegrationUri": p.get("IntegrationUri"),
            "ApiId": p.get("ApiId"),
            "rest": {key: val for key, val in p.items() if key not in ("IntegrationUri", "ApiId", "IntegrationType")},
        }
    authorizers = {}
    for k, v in of_type("AWS::ApiGatewayV2::Authorizer").items():
        p = canon(props(v))
        authorizers[k] = {
            "Name": p.get("Name"),
            "AuthorizerType": p.get("AuthorizerType"),
            "IdentitySource": p.get("IdentitySource"),
            "functions": sorted(r for r in refs_in(p.get("AuthorizerUri")) if not r.startswith("AWS::")),
            "AuthorizerUri": p.get("AuthorizerUri"),
            "ApiId": p.get("ApiId"),
        }
    responses: dict[str, list] = {}
    for v in of_type("AWS::ApiGatewayV2::RouteResponse").values():
        p = canon(props(v))
        for ref in refs_in(p.get("RouteId")):
            responses.setdefault(ref, []).append({"RouteResponseKey": p.get("RouteResponseKey"), "ApiId": p.get("ApiId")})
    model["routes"] = {}
    for k, v in of_type("AWS::ApiGatewayV2::Route").items():
        p = canon(props(v))
        target_refs = refs_in(p.get("Target"))
        integration = next((integrations[r] for r in target_refs if r in integrations), None)
        authorizer = next((authorizers[r] for r in refs_in(p.get("AuthorizerId")) if r in authorizers), None)
        model["routes"][p.get("RouteKey")] = {
            "logicalId": k,
            "ApiId": p.get("ApiId"),
            "AuthorizationType": p.get("AuthorizationType", "NONE"),
            "RouteResponseSelectionExpression": p.get("RouteResponseSelectionExpression"),
            "integration": integration,
            "authorizer": authorizer,
            "routeResponses": sorted(responses.get(k, []), key=lambda e: json.dumps(e, sort_keys=True)),
        }
    model["stages"] = {}
    for k, v in of_type("AWS::ApiGatewayV2::Stage").items():
        p = canon(props(v))
        access = p.get("AccessLogSettings") or {}
        fmt = access.get("Format")
        if isinstance(fmt, str):
            try:
                access = {**access, "Format": json.loads(fmt)}
            except json.JSONDecodeError:
                pass
        model["stages"][k] = {**p, "AccessLogSettings": access}
    model["logGroups"] = {k: canon(props(v)) for k, v in of_type("AWS::Logs::LogGroup").items()}
    model["apiGatewayAccounts"] = {k: canon(props(v)) for k, v in of_type("AWS::ApiGateway::Account").items()}
    model["otherRoles"] = {
        k: {
            **canon({key: val for key, val in props(v).items() if key != "Policies"}),
            "iam": iam_statements(canon, [pol["PolicyDocument"] for pol in props(v).get("Policies", [])]),
        }
        for k, v in roles.items()
        if k not in {f["role"] for f in model["functions"].values()}
    }
    model["deliveryStreams"] = {
        k: canon(props(v)) for k, v in of_type("AWS::KinesisFirehose::DeliveryStream").items()
    }
    model["dashboards"] = {}
    for k, v in of_type("AWS::CloudWatch::Dashboard").items():
        p = canon(props(v))
        body = p.get("DashboardBody")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except json.JSONDecodeError:
                pass
        model["dashboards"][k] = {**p, "DashboardBody": body}
    model["otherResourceTypes"] = sorted(
        {v["Type"] for v in resources.values()}
        - IGNORED_TYPES
        - {
            "AWS::DynamoDB::Table",
            "AWS::SQS::Queue",
            "AWS::CloudWatch::Alarm",
            "AWS::Lambda::Function",
            "AWS::Lambda::EventSourceMapping",
            "AWS::Lambda::Permission",
            "AWS::IAM::Role",
            "AWS::IAM::Policy",
            "AWS::Logs::LogGroup",
            "AWS::ApiGatewayV2::Api",
            "AWS::ApiGatewayV2::Stage",
            "AWS::ApiGatewayV2::Route",
            "AWS::ApiGatewayV2::RouteResponse",
            "AWS::ApiGatewayV2::Integration",
            "AWS::ApiGatewayV2::Authorizer",
            "AWS::ApiGateway::Account",
            "AWS::CloudWatch::Dashboard",
            "AWS::KinesisFirehose::DeliveryStream",
        }
    )
    return model


# --------------------------------------------------------------------------- comparisons


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Readable differences between two models (a = SAM, b = CDK)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in a:
                out.append(f"{sub}: only in CDK: {json.dumps(b[key], sort_keys=True)[:300]}")
            elif key not in b:
                out.append(f"{sub}: only in SAM: {json.dumps(a[key], sort_keys=True)[:300]}")
            else:
                out.extend(diff(a[key], b[key], sub))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff(x, y, f"{path}[{i}]"))
        return out
    if a != b:
        return [f"{path}: SAM {json.dumps(a, sort_keys=True)[:400]} != CDK {json.dumps(b, sort_keys=True)[:400]}"]
    return []


def expected_resources(kind: str, fn: dict, contract: dict) -> list:
    """Canonical IAM resources of a permission kind (see contract.json)."""
    arn = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}"
    if kind == "logs":
        return ["${%sLogGroup.Arn}" % fn["logicalId"]]
    if kind == "table":
        return ["${Table.Arn}"]
    if kind == "tableIndex":
        return ["${Table.Arn}/index/gsi1"]
    if kind == "queue":
        return ["${Queue.Arn}"]
    if kind == "deadLetterQueue":
        return ["${DeadLetterQueue.Arn}"]
    if kind == "deliverQueue":
        return ["${%s.Arn}" % contract["deliverQueue"]["logicalId"]]
    if kind in ("connections", "connectionsPost"):
        methods = contract["api"]["connectionMethods"] if kind == "connections" else ["POST"]
        return [(arn % "execute-api") + ":${WebSocketApi}/${StageName}/%s/@connections/*" % m for m in methods]
    if kind == "jwtSecret":
        return [{"Fn::If": ["JwtSecretIsArn", "${JwtSecretId}", (arn % "secretsmanager") + ":secret:${JwtSecretId}-??????"]}]
    if kind == "jwtParameter":
        return [
            {
                "Fn::If": [
                    "JwtSecretIsArn",
                    "${JwtSecretId}",
                    {
                        "Fn::If": [
                            "JwtSecretIsSsmName",
                            (arn % "ssm") + ":parameter${JwtSecretId}",
                            (arn % "ssm") + ":parameter/${JwtSecretId}",
                        ]
                    },
                ]
            }
        ]
    if kind == "moderationParameter":
        return [(arn % "ssm") + ":parameter${ModerationRulesParameter}"]
    if kind == "moderationObject":
        return ["arn:${AWS::Partition}:s3:::${ModerationRulesObject}"]
    if kind == "moderationHook":
        return ["${ModerationHookArn}"]
    if kind == "exportStream":
        return ["${%s.Arn}" % contract["export"]["logicalId"]]
    raise ValueError(f"unknown permission kind {kind}")


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


def contract_table(contract: dict) -> dict:
    """The table's properties as the contract lists them, in the model's canonical form."""
    want = Canon({})(contract["table"]["properties"])
    want["AttributeDefinitions"] = sorted(want.get("AttributeDefinitions") or [], key=lambda a: a["AttributeName"])
    return want


def check_contract(model: dict, contract: dict, label: str) -> list[str]:
    """Differences between one template's model and the contract."""
    errors: list[str] = []
    err = lambda msg: errors.append(f"{label}: {msg}")  # noqa: E731
    functions = model["functions"]
    fanout_timeout = None
    for key, fn in contract["functions"].items():
        got = functions.get(fn["logicalId"])
        if got is None:
            err(f"function {fn['logicalId']} ({key}) is missing")
            continue
        if got["Runtime"] != "provided.al2023" or got["Architectures"] != ["arm64"] or got["Handler"] != "bootstrap":
            err(f"{key}: runtime/arch/handler {got['Runtime']}/{got['Architectures']}/{got['Handler']}")
        if got["Timeout"] != str(fn["timeoutSeconds"]):
            err(f"{key}: timeout {got['Timeout']} != contract {fn['timeoutSeconds']}")
        if key == "fanout":
            fanout_timeout = int(got["Timeout"])
        # environment: names and where each value comes from
        want_env = {
            name: {"Fn::If": [src["condition"], "${%s}" % src["resource"], ""]}
            if "condition" in src
            else "${%s}" % (src["parameter"] if "parameter" in src else src["resource"])
            for name, src in fn["environment"].items()
        }
        if set(got["environment"]) != set(want_env):
            err(
                f"{key}: environment variables {sorted(got['environment'])} != contract {sorted(want_env)} "
                f"(missing {sorted(set(want_env) - set(got['environment']))}, "
                f"extra {sorted(set(got['environment']) - set(want_env))})"
            )
        for name, value in want_env.items():
            if name in got["environment"] and got["environment"][name] != value:
                err(f"{key}: {name} = {got['environment'][name]} != contract {value}")
        # IAM: exactly the contract's actions, each on its resource; no managed policies, no wildcards
        want_iam = sorted(
            (
                {
                    "effect": "Allow",
                    "action": action,
                    "resource": resource,
                    "condition": None,
                    "when": contract.get("conditionalPermissions", {}).get(kind, {}).get("condition"),
                }
                for kind, actions in fn["permissions"].items()
                for action in actions
                for resource in expected_resources(kind, fn, contract)
            ),
            key=lambda e: json.dumps(e, sort_keys=True),
        )
        if got["iam"] != want_iam:
            have = {json.dumps(e, sort_keys=True) for e in got["iam"]}
            want = {json.dumps(e, sort_keys=True) for e in want_iam}
            for extra in sorted(have - want):
                err(f"{key}: IAM grants more than the contract: {extra}")
            for missing in sorted(want - have):
                err(f"{key}: IAM lacks what the contract lists: {missing}")
        if got["managedPolicies"]:
            err(f"{key}: role has managed policies {got['managedPolicies']}")
        for st in got["iam"]:
            if st["resource"] == "*" or "*" in str(st["action"]):
                err(f"{key}: wildcard IAM statement {st}")
        # invoked by API Gateway exactly where the contract says
        route = fn["invokedByApiGateway"]
        perms = got["invokePermissions"]
        if route is None:
            if perms:
                err(f"{key}: unexpected invoke permissions {perms}")
        else:
            suffix = "/authorizers/${" if route == "authorizer" else "/*" + route
            if len(perms) != 1 or perms[0]["principal"] != "apigateway.amazonaws.com" or suffix not in str(
                perms[0]["sourceArn"]
            ):
                err(f"{key}: invoke permission {perms} is not API Gateway's for {route}")

    # routes
    api = contract["api"]
    if set(model["routes"]) != set(api["routes"]):
        err(f"routes {sorted(model['routes'])} != contract {sorted(api['routes'])}")
    for route_key, want in api["routes"].items():
        got = model["routes"].get(route_key)
        if got is None:
            continue
        fn_id = contract["functions"][want["function"]]["logicalId"]
        if not got["integration"] or got["integration"]["functions"] != [fn_id]:
            err(f"route {route_key} is not integrated with {fn_id}: {got['integration']}")
        elif got["integration"]["IntegrationType"] != "AWS_PROXY":
            err(f"route {route_key} integration type {got['integration']['IntegrationType']}")
        if want["authorizer"]:
            auth = got["authorizer"]
            want_auth = contract["functions"]["authorizer"]["logicalId"]
            if (
                got["AuthorizationType"] != "CUSTOM"
                or not auth
                or auth["AuthorizerType"] != "REQUEST"
                or auth["IdentitySource"] != api["authorizer"]["identitySource"]
                or auth["functions"] != [want_auth]
            ):
                err(f"route {route_key} authorizer {got['AuthorizationType']} {auth} != REQUEST {want_auth} "
                    f"on {api['authorizer']['identitySource']}")
        elif got["AuthorizationType"] != "NONE":
            err(f"route {route_key} has authorization {got['AuthorizationType']}")
        keys = [r["RouteResponseKey"] for r in got["routeResponses"]]
        if want["routeResponse"] and (keys != ["$default"] or got["RouteResponseSelectionExpression"] != "$default"):
            err(f"route {route_key} must have a $default route response (two-way), has {keys}")
        if not want["routeResponse"] and keys:
            err(f"route {route_key} has route responses {keys}")
    for api_model in model["apis"].values():
        if api_model.get("ProtocolType") != "WEBSOCKET" or api_model.get("RouteSelectionExpression") != api[
            "routeSelectionExpression"
        ]:
            err(f"API {api_model} is not a WebSocket API selecting on {api['routeSelectionExpression']}")
    for stage in model["stages"].values():
        if stage.get("AccessLogSettings", {}).get("Format") != api["accessLogFormat"]:
            err("stage access log format differs from the contract")
        if not str(stage.get("AccessLogSettings", {}).get("DestinationArn", "")).endswith(".Arn}"):
            err("stage access logs go to no log group")
        throttle = stage.get("DefaultRouteSettings", {})
        if throttle.get("ThrottlingBurstLimit") != "${ThrottlingBurstLimit}" or throttle.get(
            "ThrottlingRateLimit"
        ) != "${ThrottlingRateLimit}":
            err(f"stage throttling {throttle} does not come from the parameters")

    # queue, DLQ, event source mapping
    q = contract["queue"]
    queue, dlq = model["queues"].get("Queue"), model["queues"].get("DeadLetterQueue")
    if not queue or not dlq:
        err("Queue or DeadLetterQueue missing")
    else:
        for name, got in (("Queue", queue), ("DeadLetterQueue", dlq)):
            if got.get("FifoQueue") != "true" or got.get("ContentBasedDeduplication") != "false":
                err(f"{name} must be FIFO without content-based deduplication: {got}")
        if int(queue["VisibilityTimeout"]) != q["visibilityTimeoutSeconds"]:
            err(f"queue visibility {queue['VisibilityTimeout']} != contract {q['visibilityTimeoutSeconds']}")
        if fanout_timeout is not None and int(queue["VisibilityTimeout"]) < 6 * fanout_timeout:
            err(f"queue visibility {queue['VisibilityTimeout']} < 6 x fanout timeout {fanout_timeout}")
        if queue.get("RedrivePolicy") != {
            "deadLetterTargetArn": "${DeadLetterQueue.Arn}",
            "maxReceiveCount": "${MaxReceiveCount}",
        }:
            err(f"queue redrive policy {queue.get('RedrivePolicy')}")
        if int(queue["MessageRetentionPeriod"]) != q["messageRetentionSeconds"] or int(
            dlq["MessageRetentionPeriod"]
        ) != q["dlqMessageRetentionSeconds"]:
            err("queue or DLQ retention differs from the contract")
    alarm = model["alarms"].get("DeadLetterQueueAlarm")
    if not alarm or alarm.get("MetricName") != "ApproximateNumberOfMessagesVisible" or alarm.get(
        "Dimensions"
    ) != [{"Name": "QueueName", "Value": "${DeadLetterQueue.QueueName}"}] or alarm.get(
        "ComparisonOperator"
    ) != "GreaterThanThreshold" or alarm.get("Threshold") != "0":
        err(f"DLQ alarm (ApproximateNumberOfMessagesVisible > 0 on the DLQ) wrong: {alarm}")
    age = q["oldestMessageAlarm"]
    age_alarm = model["alarms"].get(age["logicalId"])
    if not age_alarm or age_alarm.get("MetricName") != "ApproximateAgeOfOldestMessage" or age_alarm.get(
        "Dimensions"
    ) != [{"Name": "QueueName", "Value": "${Queue.QueueName}"}] or age_alarm.get(
        "ComparisonOperator"
    ) != "GreaterThanThreshold" or age_alarm.get("Threshold") != "${%s}" % age["thresholdParameter"]:
        err(f"queue age alarm (ApproximateAgeOfOldestMessage > {age['thresholdParameter']} on the queue) wrong: {age_alarm}")
    esm = model["eventSourceMappings"].get("FanoutEventSourceMapping")
    fanout_id = contract["functions"]["fanout"]["logicalId"]
    if not esm:
        err("FanoutEventSourceMapping missing")
    else:
        if esm.get("EventSourceArn") != "${Queue.Arn}" or esm.get("FunctionName") not in (
            "${%s}" % fanout_id,
            "${%s.Arn}" % fanout_id,
        ):
            err(f"event source mapping wires {esm.get('EventSourceArn')} to {esm.get('FunctionName')}")
        if esm.get("BatchSize") != str(q["batchSize"]) or int(q["batchSize"]) > 10:
            err(f"event source batch size {esm.get('BatchSize')} != contract {q['batchSize']} (<= 10)")
        if esm.get("FunctionResponseTypes") != q["functionResponseTypes"]:
            err(f"event source response types {esm.get('FunctionResponseTypes')}")
        if esm.get("Enabled") != "true":
            err("event source mapping disabled")

    errors += [f"{label}: {e}" for e in check_deliver_queue(model, contract)]
    errors += [f"{label}: {e}" for e in check_monitoring_and_export(model, contract)]

    # table: exactly the contract's properties (the Rust code's table is held to them by shared/tests/schema.rs)
    table_id = contract["table"]["logicalId"]
    table = model["tables"].get(table_id)
    if not table:
        err(f"{table_id} missing")
    else:
        for field, want in contract_table(contract).items():
            if table.get(field) != want:
                err(f"table {field} {table.get(field)} != contract {want}")
    for name in ("WebSocketUrl", "ManagementEndpoint"):
        if name not in model["outputs"]:
            err(f"output {name} missing")
    if model["outputs"].get("WebSocketUrl", "").split("://")[0] != "wss":
        err("WebSocketUrl is not a wss:// URL")
    return errors


def check_deliver_queue(model: dict, contract: dict) -> list[str]:
    """The delivery queue of large rooms' shard deliveries: a FIFO queue like the queue (sender-given
    dedup ids, per-group throughput, the same DLQ and redrive limit, visibility >= 6 x its consumer's
    timeout), its oldest-message alarm, and its event source mapping to the function that sends to it."""
    errors: list[str] = []
    d = contract["deliverQueue"]
    qid = d["logicalId"]
    consumer = contract["functions"][d["consumer"]]
    got = model["queues"].get(qid)
    if not got:
        errors.append(f"{qid} missing")
    else:
        if got.get("FifoQueue") != "true" or got.get("ContentBasedDeduplication") != "false":
            errors.append(f"{qid} must be FIFO without content-based deduplication: {got}")
        if got.get("DeduplicationScope") != "messageGroup" or got.get("FifoThroughputLimit") != "perMessageGroupId":
            errors.append(f"{qid} must have per-message-group deduplication and throughput: {got}")
        if int(got["VisibilityTimeout"]) != d["visibilityTimeoutSeconds"]:
            errors.append(f"{qid} visibility {got['VisibilityTimeout']} != contract {d['visibilityTimeoutSeconds']}")
        if int(got["VisibilityTimeout"]) < 6 * consumer["timeoutSeconds"]:
            errors.append(f"{qid} visibility {got['VisibilityTimeout']} < 6 x {d['consumer']} timeout {consumer['timeoutSeconds']}")
        if int(got["MessageRetentionPeriod"]) != d["messageRetentionSeconds"]:
            errors.append(f"{qid} retention {got['MessageRetentionPeriod']} != contract {d['messageRetentionSeconds']}")
        if got.get("RedrivePolicy") != {"deadLetterTargetArn": "${DeadLetterQueue.Arn}", "maxReceiveCount": "${MaxReceiveCount}"}:
            errors.append(f"{qid} redrive policy {got.get('RedrivePolicy')} (must be the DeadLetterQueue after MaxReceiveCount)")
    age = d["oldestMessageAlarm"]
    alarm = model["alarms"].get(age["logicalId"])
    if not alarm or alarm.get("MetricName") != "ApproximateAgeOfOldestMessage" or alarm.get("Dimensions") != [
        {"Name": "QueueName", "Value": "${%s.QueueName}" % qid}
    ] or alarm.get("ComparisonOperator") != "GreaterThanThreshold" or alarm.get("Threshold") != "${%s}" % age[
        "thresholdParameter"
    ]:
        errors.append(f"{age['logicalId']} (ApproximateAgeOfOldestMessage > {age['thresholdParameter']} on {qid}) wrong: {alarm}")
    esm = model["eventSourceMappings"].get(d["eventSourceMapping"])
    fn_id = consumer["logicalId"]
    if not esm:
        errors.append(f"{d['eventSourceMapping']} missing")
    else:
        if esm.get("EventSourceArn") != "${%s.Arn}" % qid or esm.get("FunctionName") not in ("${%s}" % fn_id, "${%s.Arn}" % fn_id):
            errors.append(f"{d['eventSourceMapping']} wires {esm.get('EventSourceArn')} to {esm.get('FunctionName')}")
        if esm.get("BatchSize") != str(d["batchSize"]) or int(d["batchSize"]) > 10:
            errors.append(f"{d['eventSourceMapping']} batch size {esm.get('BatchSize')} != contract {d['batchSize']} (<= 10)")
        if esm.get("FunctionResponseTypes") != d["functionResponseTypes"]:
            errors.append(f"{d['eventSourceMapping']} response types {esm.get('FunctionResponseTypes')}")
        if esm.get("Enabled") != "true":
            errors.append(f"{d['eventSourceMapping']} disabled")
    # The consumer sends to the queue it consumes, and is told where it is.
    if "deliverQueue" not in consumer["permissions"]:
        errors.append(f"{d['consumer']} has no deliverQueue permissions in the contract")
    if consumer["environment"].get("STARLING_DELIVER_QUEUE_URL") != {"resource": qid}:
        errors.append(f"{d['consumer']}: STARLING_DELIVER_QUEUE_URL is not {{resource: {qid}}} in the contract")
    return errors


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
