"""Runs the LocalStack ready.d hook against a local moto server (LocalStack itself needs Docker and a
token) and checks what it created: the table shape, TTL, and the FIFO queue with its DLQ redrive.
Run twice to prove it is idempotent. Then replays the calls the devstack makes at start-up with
`--endpoint-url` (DescribeTable, CreateQueue with its attributes; shared/src/adapters/sqs.rs), which must
find the hook's resources rather than conflict with them.

    .venv-infra/localstack/bin/python -m pytest localstack/tests
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

HOOK = Path(__file__).resolve().parents[1] / "init" / "ready.d" / "10-starling-resources.sh"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto_server did not start")
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def env_for(endpoint: str) -> dict:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AWSLOCAL": f"aws --endpoint-url {endpoint}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "STARLING_MAX_RECEIVE_COUNT": "5",
    }


def client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def ran_twice(endpoint: str) -> list[str]:
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            ["bash", str(HOOK)], env=env_for(endpoint), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    return outputs


def test_hook_is_idempotent(ran_twice: list[str]) -> None:
    assert "created table starling-dev" in ran_twice[0]
    assert "table starling-dev exists" in ran_twice[1]
    assert "STARLING_QUEUE_URL=" in ran_twice[1]


def test_table_has_keys_gsi_and_ttl(endpoint: str, ran_twice: list[str]) -> None:
    ddb = client("dynamodb", endpoint)
    table = ddb.describe_table(TableName="starling-dev")["Table"]
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert gsi["KeySchema"] == [
        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"]["ProjectionType"] == "ALL"
    ttl = ddb.describe_time_to_live(TableName="starling-dev")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"
    assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")


def test_fifo_queue_redrives_to_fifo_dlq(endpoint: str, ran_twice: list[str]) -> None:
    sqs = client("sqs", endpoint)
    queue_url = sqs.get_queue_url(QueueName="starling-dev.fifo")["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName="starling-dev-dlq.fifo")["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    assert attrs["VisibilityTimeout"] == "30"  # the devstack's --visibility-timeout-secs default
    assert attrs["DeduplicationScope"] == "messageGroup"
    assert attrs["FifoThroughputLimit"] == "perMessageGroupId"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    assert dlq["FifoQueue"] == "true" and dlq["MessageRetentionPeriod"] == "1209600"
    # A message needs a dedup id (no content-based deduplication) and a group.
    sqs.send_message(QueueUrl=queue_url, MessageBody="{}", MessageGroupId="room", MessageDeduplicationId="m-1")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
    assert len(got.get("Messages", [])) == 1


def test_the_devstack_start_up_calls_find_the_hook_resources(endpoint: str, ran_twice: list[str]) -> None:
    """What `starling-devstack --endpoint-url` does first, with its defaults (--table starling-dev,
    --queue starling-dev, --visibility-timeout-secs 30, --max-receive-count 5)."""
    ddb, sqs = client("dynamodb", endpoint), client("sqs", endpoint)
    ddb.describe_table(TableName="starling-dev")  # exists: the devstack creates nothing
    dlq_url = sqs.create_queue(QueueName="starling-dev-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}, separators=(",", ":"))
    url = sqs.create_queue(
        QueueName="starling-dev.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "30", "RedrivePolicy": redrive},
    )["QueueUrl"]
    assert url == sqs.get_queue_url(QueueName="starling-dev.fifo")["QueueUrl"]
    # and a different setting would conflict, which is why the hook mirrors the devstack's defaults
    with pytest.raises(sqs.exceptions.ClientError):
        sqs.create_queue(
            QueueName="starling-dev.fifo",
            Attributes={"FifoQueue": "true", "VisibilityTimeout": "180", "RedrivePolicy": redrive},
        )
