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
from conftest import client

CONTRACT = contract_env.contract()
MAX_RECEIVE_COUNT = int(contract_env.template_defaults()["MaxReceiveCount"])
QUEUE = CONTRACT["queue"]
DELIVER = CONTRACT["deliverQueue"]
DELIVER_NAME = f"starling-dev{DELIVER['localNameSuffix']}.fifo"


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


def test_fifo_queue_matches_the_templates(endpoint: str, ran_twice: list[str]) -> None:
    sqs = client("sqs", endpoint)
    queue_url = sqs.get_queue_url(QueueName="starling-dev.fifo")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="starling-dev-dlq.fifo")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    assert attrs["VisibilityTimeout"] == str(QUEUE["visibilityTimeoutSeconds"])
    assert attrs["MessageRetentionPeriod"] == str(QUEUE["messageRetentionSeconds"])
    assert attrs["DeduplicationScope"] == "messageGroup"
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVE_COUNT
    assert dlq["FifoQueue"] == "true" and dlq["ContentBasedDeduplication"] == "false"
    assert dlq["MessageRetentionPeriod"] == str(QUEUE["dlqMessageRetentionSeconds"])
    # A message needs a dedup id (no content-based deduplication) and a group.
    sqs.send_message(QueueUrl=queue_url, MessageBody="{}", MessageGroupId="room", MessageDeduplicationId="m-1")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    assert len(got.get("Messages", [])) == 1


def test_delivery_queue_matches_the_templates(endpoint: str, ran_twice: list[str]) -> None:
    """Large rooms' shard deliveries: FIFO like the queue, redriven to the same DLQ after MaxReceiveCount."""
    sqs = client("sqs", endpoint)
    url = sqs.get_queue_url(QueueName=DELIVER_NAME)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="starling-dev-dlq.fifo")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    assert attrs["VisibilityTimeout"] == str(DELIVER["visibilityTimeoutSeconds"])
    assert int(attrs["VisibilityTimeout"]) >= 6 * CONTRACT["functions"][DELIVER["consumer"]]["timeoutSeconds"]
    assert attrs["MessageRetentionPeriod"] == str(DELIVER["messageRetentionSeconds"])
    assert attrs["DeduplicationScope"] == "messageGroup"
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == MAX_RECEIVE_COUNT
    # What the fanout puts on it: a group per room shard and an explicit dedup id.
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="room#0", MessageDeduplicationId="d-1")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    assert len(got.get("Messages", [])) == 1


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
