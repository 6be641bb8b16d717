"""Deploys Starling's five functions to LocalStack (any edition with Lambda, SQS and DynamoDB), shaped as
the templates deploy them: names starling-<function>, runtime provided.al2023, handler bootstrap, the
contract's timeout and environment (infra/contract_env.py), and the queue -> fanout and delivery queue ->
fanout event source mappings with the contract's batch sizes and ReportBatchItemFailures. Idempotent: existing functions get the new
code and configuration. Run the ready.d hook first (it makes the table and the queues); then serve the
WebSocket API with the devstack's gateway (docs/localstack.md, path b):

    cargo lambda build --release --arm64 --output-format zip
    python3 localstack/deploy_functions.py --endpoint-url http://localhost:4566 \
        --jwt-secret-id starling/jwt --jwt-secret "$(openssl rand -hex 32)" \
        --ws-endpoint http://host.docker.internal:3001/local
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra"))
import contract_env  # noqa: E402

ROLE = "starling-local-lambda"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint-url", default="http://localhost:4566")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--zips", type=Path, default=ROOT / "target" / "lambda",
                   help="cargo lambda's output: DIR/<binary>/bootstrap.zip")
    p.add_argument("--arch", choices=["arm64", "x86_64"], default="arm64")
    p.add_argument("--table", default="starling-dev")
    p.add_argument("--queue", default="starling-dev", help="the queue's name without .fifo, as the hook's")
    p.add_argument("--jwt-secret-id", required=True, help="the Secrets Manager secret the authorizer reads")
    p.add_argument("--jwt-secret", help="create or update that secret with this value")
    p.add_argument("--ws-endpoint", default="",
                   help="where send and fanout post (the devstack's management API, as the containers reach it)")
    p.add_argument("--prefix", default="starling-", help="function names are PREFIX<function>")
    p.add_argument("--export-stream", default="",
                   help="the hook's Firehose delivery stream (STARLING_EXPORT_BUCKET set): the fanout's STARLING_EXPORT_STREAM")
    p.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="a template parameter over its default (ModerationRulesParameter=/starling/moderation, ...)")
    return p.parse_args(argv)


def ensure_role(iam) -> str:
    try:
        return iam.get_role(RoleName=ROLE)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]


def ensure_secret(sm, secret_id: str, value: str) -> None:
    try:
        sm.put_secret_value(SecretId=secret_id, SecretString=value)
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(Name=secret_id, SecretString=value)


def deploy_function(lam, name: str, zip_path: Path, role: str, arch: str, timeout: int, env: dict) -> None:
    code = zip_path.read_bytes()
    config = {
        "Role": role,
        "Handler": "bootstrap",
        "Runtime": "provided.al2023",
        "Timeout": timeout,
        "MemorySize": 128,
        "Environment": {"Variables": env},
    }
    try:
        lam.get_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        lam.create_function(FunctionName=name, Code={"ZipFile": code}, Architectures=[arch], **config)
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        return
    lam.update_function_code(FunctionName=name, ZipFile=code, Architectures=[arch])
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, **config)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)


def ensure_mapping(lam, function: str, queue_arn: str, queue: dict) -> str:
    existing = lam.list_event_source_mappings(EventSourceArn=queue_arn, FunctionName=function)["EventSourceMappings"]
    settings = {"BatchSize": queue["batchSize"], "FunctionResponseTypes": queue["functionResponseTypes"]}
    if existing:
        uuid = existing[0]["UUID"]
        lam.update_event_source_mapping(UUID=uuid, **settings)
        return uuid
    return lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=function, **settings)["UUID"]


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    session = boto3.session.Session(region_name=args.region)
    client = lambda service: session.client(service, endpoint_url=args.endpoint_url)  # noqa: E731
    sqs, lam = client("sqs"), client("lambda")
    spec = contract_env.contract()
    queue_url = sqs.get_queue_url(QueueName=f"{args.queue}.fifo")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=f"{args.queue}-dlq.fifo")["QueueUrl"]
    deliver = spec["deliverQueue"]
    deliver_url = sqs.get_queue_url(QueueName=f"{args.queue}{deliver['localNameSuffix']}.fifo")["QueueUrl"]
    arn_of = lambda url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]  # noqa: E731
    if args.jwt_secret:
        ensure_secret(client("secretsmanager"), args.jwt_secret_id, args.jwt_secret)
    role = ensure_role(client("iam"))
    resources = {"Table": args.table, "Queue": queue_url, "DeadLetterQueue": dlq_url, deliver["logicalId"]: deliver_url}
    if args.export_stream:
        resources[spec["export"]["logicalId"]] = args.export_stream
    parameters = {"JwtSecretId": args.jwt_secret_id, "WsEndpoint": args.ws_endpoint} | contract_env.pairs(args.parameter)
    for function, f in spec["functions"].items():
        zip_path = args.zips / f["binary"] / "bootstrap.zip"
        if not zip_path.is_file():
            raise SystemExit(f"{zip_path} is missing: run `cargo lambda build --release --{args.arch} --output-format zip`")
        env = contract_env.function_environment(function, resources, parameters, spec)
        deploy_function(lam, args.prefix + function, zip_path, role, args.arch, f["timeoutSeconds"], env)
        print(f"starling: deployed {args.prefix}{function}")
    for arn, settings, function in (
        (arn_of(queue_url), spec["queue"], "fanout"),
        (arn_of(deliver_url), deliver, deliver["consumer"]),
    ):
        uuid = ensure_mapping(lam, args.prefix + function, arn, settings)
        print(f"starling: {arn} -> {args.prefix}{function} (event source mapping {uuid})")


if __name__ == "__main__":
    main()
