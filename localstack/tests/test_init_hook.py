"""Runs the LocalStack ready.d hook against a local moto server (LocalStack itself needs Docker and a
token) and checks what it created against infra/contract.json and the SAM template: the table's
properties, TTL, and the FIFO queue with its settings and DLQ redrive. Run twice to prove it is
idempotent. Then replays the calls the devstack makes at start-up with `--endpoint-url` and
`--visibility-timeout-secs 180 --max-receive-count 100` (DescribeTable, CreateQueue with its
attributes; shared/src/adapters/sqs.rs), which must find the hook's resources rather than conflict.

    .venv-infra/localstack/bin/python -m pytest localstack/tests
"""

from __future__ import annotations

import json

import contract_env
import pytest
from conftest import client, run_hook

CONTRACT = contract_env.contract()
MAX_RECEIVE_COUNT = int(contract_env.template_defaults()["MaxReceiveCount"])
QUEUE = CONTRACT["queue"]
DELIVER = CONTRACT["deliverQueue"]
DELIVER_NAME = f"starling-dev{DELIVER['localNameSuffix']}.fifo"
EXPORT = CONTRACT["export"]
EXPORT_STREAM = f"starling-dev{EXPORT['localNameSuffix']}"
EXPORT_BUCKET = "starling-dev-export"


@pytest.fixture(scope="module")
def ran_twice(hook_runs: list[str]) -> list[str]:
    return hook_runs


def test_hook_is_idempotent(ran_twice: list[str]) -> None:
    assert "created table starling-dev" in ran_twice[0]
    assert "table starling-dev exists" in ran_twice[1]
    assert "STARLING_QUEUE_URL=" in ran_twice[1]
    assert "STARLING_DELIVER_QUEUE_URL=http" in ran_twice[1] and DELIVER_NAME in ran_twice[1]


def test_table_matches_the_contract(endpoint: str, ran_twice: list[str]) -> None:
    want = CONTRACT["table"]["properties"]
    ddb = client("dynamodb", endpoint)
    table = ddb.describe_table(TableName="starling-dev")["Table"]
    by_name = lambda xs: sorted(xs, key=lambda x: x["AttributeName"])  # noqa: E731
    assert by_name(table["AttributeDefinitions"]) == by_name(want["AttributeDefinitions"])
    assert table["KeySchema"] == want["KeySchema"]
    assert table["BillingModeSummary"]["BillingMode"] == want["BillingMode"]
    got_indexes = [
        {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
        for g in table["GlobalSecondaryIndexes"]
    ]
    assert got_indexes == want["GlobalSecondaryIndexes"]
    ttl = ddb.describe_time_to_live(TableName="starling-dev")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == want["TimeToLiveSpecification"]["AttributeName"]
    assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")


def check_consumed_queue(sqs, name: str, spec: dict, group: str) -> None:
    """A queue the fanout consumes, as the templates make it: FIFO with sender-given dedup ids and
    per-group throughput, `spec`'s visibility (>= 6 x the fanout timeout) and retention, redriven to
    the DLQ after MaxReceiveCount receives; and a message with a group and a dedup id goes through."""
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="starling-dev-dlq.fifo")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    assert attrs["VisibilityTimeout"] == str(spec["visibilityTimeoutSeconds"])
    assert int(attrs["VisibilityTimeout"]) >= 6 * CONTRACT["functions"]["fanout"]["timeoutSeconds"]
    assert attrs["MessageRetentionPeriod"] == str(spec["messageRetentionSeconds"])
    assert attrs["DeduplicationScope"] == "messageGroup"
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq_arn
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVE_COUNT
    # A message needs a dedup id (no content-based deduplication) and a group.
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId=group, MessageDeduplicationId=f"{group}-1")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    assert len(got.get("Messages", [])) == 1


def test_fifo_queue_matches_the_templates(endpoint: str, ran_twice: list[str]) -> None:
    sqs = client("sqs", endpoint)
    check_consumed_queue(sqs, "starling-dev.fifo", QUEUE, "room")
    dlq_url = sqs.get_queue_url(QueueName="starling-dev-dlq.fifo")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert dlq["FifoQueue"] == "true" and dlq["ContentBasedDeduplication"] == "false"
    assert dlq["MessageRetentionPeriod"] == str(QUEUE["dlqMessageRetentionSeconds"])


def test_delivery_queue_matches_the_templates(endpoint: str, ran_twice: list[str]) -> None:
    """Large rooms' shard deliveries: like the queue, redriven to the same DLQ; the fanout's groups
    are `{room}#{shard}`."""
    assert DELIVER["consumer"] == "fanout"
    check_consumed_queue(client("sqs", endpoint), DELIVER_NAME, DELIVER, "room#0")


def test_the_devstack_start_up_calls_find_the_hook_resources(endpoint: str, ran_twice: list[str]) -> None:
    """What `starling-devstack --endpoint-url URL --visibility-timeout-secs 180 --max-receive-count 100`
    does first (with its default --table starling-dev and --queue starling-dev)."""
    ddb, sqs = client("dynamodb", endpoint), client("sqs", endpoint)
    ddb.describe_table(TableName="starling-dev")  # exists: the devstack creates nothing
    dlq_url = sqs.create_queue(QueueName="starling-dev-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 100}, separators=(",", ":"))
    url = sqs.create_queue(
        QueueName="starling-dev.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "180", "RedrivePolicy": redrive},
    )["QueueUrl"]
    assert url == sqs.get_queue_url(QueueName="starling-dev.fifo")["QueueUrl"]
    # and the devstack's own defaults (30 s) would conflict, which is why docs/localstack.md passes 180
    with pytest.raises(sqs.exceptions.ClientError):
        sqs.create_queue(
            QueueName="starling-dev.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": "30", "RedrivePolicy": redrive},
        )


def test_no_export_unless_asked(endpoint: str, ran_twice: list[str]) -> None:
    """The templates' default (ExportBucketArn empty): no delivery stream, STARLING_EXPORT_STREAM unset."""
    assert "STARLING_EXPORT_STREAM" not in ran_twice[1]
    names = client("firehose", endpoint).list_delivery_streams()["DeliveryStreamNames"]
    assert EXPORT_STREAM not in names


@pytest.fixture(scope="module")
def exported(endpoint: str, ran_twice: list[str]) -> list[str]:
    """The hook with STARLING_EXPORT_BUCKET, twice (idempotent), after the runs without it."""
    return [run_hook(endpoint, STARLING_EXPORT_BUCKET=EXPORT_BUCKET) for _ in range(2)]


def test_export_stream_matches_the_contract(endpoint: str, exported: list[str]) -> None:
    """With STARLING_EXPORT_BUCKET the hook makes what ExportBucketArn makes in the templates: a DirectPut
    Firehose stream to that bucket with the contract's prefixes, compression and buffering, through a
    role holding the contract's bucket and object actions."""
    assert f"created delivery stream {EXPORT_STREAM}" in exported[0]
    assert f"delivery stream {EXPORT_STREAM} exists" in exported[1]
    assert f"STARLING_EXPORT_STREAM={EXPORT_STREAM}" in exported[1]
    described = client("firehose", endpoint).describe_delivery_stream(DeliveryStreamName=EXPORT_STREAM)
    stream = described["DeliveryStreamDescription"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    (destination,) = stream["Destinations"]
    s3 = destination["ExtendedS3DestinationDescription"]
    assert s3["BucketARN"] == f"arn:aws:s3:::{EXPORT_BUCKET}"
    assert s3["Prefix"] == EXPORT["prefix"]
    assert s3["ErrorOutputPrefix"] == EXPORT["errorOutputPrefix"]
    assert s3["CompressionFormat"] == EXPORT["compressionFormat"]
    assert s3["BufferingHints"] == EXPORT["bufferingHints"]
    client("s3", endpoint).head_bucket(Bucket=EXPORT_BUCKET)
    iam = client("iam", endpoint)
    role_name = s3["RoleARN"].rsplit("/", 1)[-1]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "firehose.amazonaws.com"}
    policy = iam.get_role_policy(RoleName=role_name, PolicyName="starling-export")["PolicyDocument"]
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    assert sorted(by_sid["Bucket"]["Action"]) == sorted(EXPORT["rolePermissions"]["bucket"])
    assert by_sid["Bucket"]["Resource"] == f"arn:aws:s3:::{EXPORT_BUCKET}"
    assert sorted(by_sid["Objects"]["Action"]) == sorted(EXPORT["rolePermissions"]["objects"])
    assert by_sid["Objects"]["Resource"] == f"arn:aws:s3:::{EXPORT_BUCKET}/{EXPORT['objectsUnder']}*"
    # A record the fanout would put goes through (moto delivers it to the bucket at once).
    client("firehose", endpoint).put_record_batch(
        DeliveryStreamName=EXPORT_STREAM, Records=[{"Data": b'{"room":"lp","seq":1}\n'}]
    )
