"""moto with IAM enforced (moto_iam.py), Starling's resources on it, and one IAM user per
function holding exactly that function's policy from infra/contract.json.

moto starts with INITIAL_NO_AUTH_ACTION_COUNT=3: the first three requests (CreateUser,
PutUserPolicy and CreateAccessKey of an administrator) pass unauthenticated, every later one is
signed and checked, the setup's with the administrator's key."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3

from contract import REGION, Resources, load_contract, policy_document

MOTO_IAM = Path(__file__).resolve().parent / "moto_iam.py"
ADMIN = "starling-admin"
ADMIN_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
UNAUTHENTICATED_SETUP_REQUESTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


class Moto:
    """A moto server enforcing IAM; `admin` holds the administrator's key once started."""

    def __init__(self, log: Path, port: int = 0):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen | None = None
        self.admin: Credentials | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED_SETUP_REQUESTS),
            # The Lambda-mode e2e tests purge the queues before each test (tests/src/lambda.rs);
            # SQS allows one purge a minute, which moto enforces unless told not to.
            "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false",
            # As scripts/moto.sh sets it for every test's moto: transactions save only their items
            # (scripts/moto_server.py), or each fanout append deep-copies the whole table.
            "STARLING_MOTO_ITEM_SNAPSHOTS": os.environ.get("STARLING_MOTO_ITEM_SNAPSHOTS", "1"),
        }
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(MOTO_IAM), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"moto did not start; see {self.log}") from None
                time.sleep(0.2)
        iam = self.client("iam", Credentials("setup", "setup"))
        iam.create_user(UserName=ADMIN)
        iam.put_user_policy(UserName=ADMIN, PolicyName=ADMIN, PolicyDocument=json.dumps(ADMIN_POLICY))
        self.admin = access_key(iam, ADMIN)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a loaded machine: do not fail the run on it
                self.process.kill()
                self.process.wait()

    def client(self, service: str, credentials: Credentials | None = None):
        creds = credentials or self.admin
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
        )

    def sdk_env(self) -> dict[str, str]:
        """What points the AWS SDK for Rust at this server for the services the functions call.
        Per service, so the Management API client keeps its own endpoint."""
        services = ("DYNAMODB", "SQS", "SECRETS_MANAGER", "SSM", "S3", "FIREHOSE")
        return {f"AWS_ENDPOINT_URL_{s}": self.endpoint for s in services} | {"AWS_REGION": REGION}


def access_key(iam, user: str) -> Credentials:
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def create_table(moto: Moto, name: str, properties: dict) -> None:
    """The table of infra/contract.json (PITR and SSE exist only in a deployed stack)."""
    ddb = moto.client("dynamodb")
    keep = ("BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")
    try:
        ddb.create_table(TableName=name, **{k: properties[k] for k in keep})
    except ddb.exceptions.ResourceInUseException:
        pass
    ttl = properties["TimeToLiveSpecification"]
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": ttl["Enabled"]}
    )


def create_queues(
    moto: Moto, name: str, visibility_timeout: int, max_receive_count: int
) -> tuple[str, str, str]:
    """`{name}.fifo` and `{name}-dlq.fifo` with exactly the attributes the devstack's CreateQueue
    passes (SqsQueue::create_fifo_with_dlq), so a devstack started on the same names finds them;
    and the delivery queue of large rooms, `{name}{deliverQueue.localNameSuffix}.fifo` of
    infra/contract.json, with the queue's attributes (the same DLQ and redrive limit), as the
    templates create it. Returns the queue's, the DLQ's and the delivery queue's URLs."""
    sqs = moto.client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
    attributes = {"FifoQueue": "true", "VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": redrive}
    url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes=attributes)["QueueUrl"]
    suffix = load_contract()["deliverQueue"]["localNameSuffix"]
    deliver_url = sqs.create_queue(QueueName=f"{name}{suffix}.fifo", Attributes=attributes)["QueueUrl"]
    return url, dlq_url, deliver_url


def create_jwt_secret(moto: Moto, secret_name: str, parameter_name: str, value: str) -> None:
    """The JWT secret both ways the authorizer reads it: a Secrets Manager secret and an SSM
    SecureString parameter."""
    sm = moto.client("secretsmanager")
    try:
        sm.create_secret(Name=secret_name, SecretString=value)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=secret_name, SecretString=value)
    moto.client("ssm").put_parameter(Name=parameter_name, Value=value, Type="SecureString", Overwrite=True)


def create_moderation_rules(moto: Moto, parameter_name: str, bucket: str, key: str, rules: dict) -> None:
    """The moderation rules both places send may read them from (docs/moderation.md): an SSM String
    parameter (ModerationRulesParameter) and an S3 object (ModerationRulesObject = bucket/key)."""
    document = json.dumps(rules)
    moto.client("ssm").put_parameter(Name=parameter_name, Value=document, Type="String", Overwrite=True)
    s3 = moto.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    s3.put_object(Bucket=bucket, Key=key, Body=document.encode(), ContentType="application/json")


def create_export_stream(moto: Moto, bucket: str, name: str) -> str:
    """The export as the templates make it with ExportBucketArn set (infra/contract.json export): the
    bucket, a role Firehose may assume, and the DirectPut delivery stream `name` to that bucket.
    Returns the stream's name."""
    export = load_contract()["export"]
    s3, iam, firehose = moto.client("s3"), moto.client("iam"), moto.client("firehose")
    try:
        s3.create_bucket(Bucket=bucket)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    try:
        role_arn = iam.get_role(RoleName=f"{name}-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role_arn = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if name not in firehose.list_delivery_streams()["DeliveryStreamNames"]:
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": role_arn,
                "BucketARN": f"arn:aws:s3:::{bucket}",
                "Prefix": export["prefix"],
                "ErrorOutputPrefix": export["errorOutputPrefix"],
                "CompressionFormat": export["compressionFormat"],
                "BufferingHints": export["bufferingHints"],
            },
        )
    return name


def function_user(name: str) -> str:
    return f"starling-{name}"


def put_function_policy(
    moto: Moto,
    name: str,
    function: dict,
    resources: Resources,
    without: str | None = None,
    without_kind: str | None = None,
    parameters: dict[str, str] | None = None,
):
    """Sets the function user's one inline policy, for these template parameters (which optional
    features are on); `without` leaves one action out (of the permission kind `without_kind` alone,
    when given)."""
    moto.client("iam").put_user_policy(
        UserName=function_user(name),
        PolicyName=function_user(name),
        PolicyDocument=json.dumps(policy_document(function, resources, without, without_kind, parameters)),
    )


def create_function_user(
    moto: Moto, name: str, function: dict, resources: Resources, parameters: dict[str, str] | None = None
) -> Credentials:
    """An IAM user holding exactly the function's policy, and its access key."""
    iam = moto.client("iam")
    iam.create_user(UserName=function_user(name))
    put_function_policy(moto, name, function, resources, parameters=parameters)
    return access_key(iam, function_user(name))
