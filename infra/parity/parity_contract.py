"""The check of one template's model against the contract: functions, IAM, routes, stage, queues, table."""

from __future__ import annotations

import json

from parity_canon import Canon
from parity_monitoring import check_monitoring_and_export


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
