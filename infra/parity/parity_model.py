"""The model of a template (what SAM and CDK must agree on, in canonical form) and the diff of two models."""

from __future__ import annotations

import json
from typing import Any

from parity_canon import Canon, as_list, refs_in

# Resource types that exist in one tool's output only and are not part of the stack.
IGNORED_TYPES = {"AWS::CDK::Metadata"}


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
