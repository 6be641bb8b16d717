"""scripts/moto_server.py: under concurrent requests, no acknowledged DynamoDB write is undone
by another request's cancelled transaction, and SQS long polls still wait side by side, without
spinning beside a FIFO group in flight.

Plain `moto_server` 5.2.5 fails the first test: run against it twice on this machine, it lost 3
and then 1 of the 450 acknowledged puts. Run: .venv/bin/python -m pytest scripts/tests
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

SCRIPTS = Path(__file__).resolve().parents[1]
FILLERS = 1000
WRITERS = 3
PUTS = 150


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tmp_path_factory, env=None):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "moto_server.py"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/")
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"moto_server.py did not start: {log.read_text()}") from None
            time.sleep(0.2)
    return server, url


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    server, url = serve(tmp_path_factory)
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The server process too, for its CPU time."""
    server, url = serve(tmp_path_factory)
    yield server, url
    server.terminate()
    server.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def item_snapshots_endpoint(tmp_path_factory):
    server, url = serve(tmp_path_factory, {"STARLING_MOTO_ITEM_SNAPSHOTS": "1"})
    yield url
    server.terminate()
    server.wait(timeout=10)


def client(endpoint: str, service: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(max_pool_connections=50, retries={"max_attempts": 10}),
    )


def test_no_acknowledged_write_is_undone_by_a_cancelled_transaction(endpoint):
    ddb = client(endpoint, "dynamodb")
    table = "lost-writes"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    # A big table makes moto's snapshot slow, so writes land while a transaction holds one.
    for i in range(FILLERS):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"filler-{i}"}, "v": {"S": "x" * 200}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "taken"}})
    stop = threading.Event()
    cancelled = []

    def cancel_forever():
        # As a redelivered append: the condition fails, so the transaction is cancelled.
        while not stop.is_set():
            try:
                ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": table,
                                "Item": {"pk": {"S": "taken"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        }
                    ]
                )
            except ddb.exceptions.TransactionCanceledException:
                cancelled.append(1)

    acknowledged = []

    def write(w: int):
        for i in range(PUTS):
            key = f"w{w}-{i}"
            ddb.put_item(TableName=table, Item={"pk": {"S": key}})
            acknowledged.append(key)

    cancellers = [threading.Thread(target=cancel_forever) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for t in cancellers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in cancellers:
        t.join()
    lost = [
        k
        for k in acknowledged
        if "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": k}}, ConsistentRead=True)
    ]
    assert len(acknowledged) == WRITERS * PUTS
    assert len(cancelled) > 10, "the cancelled transactions must overlap the writes"
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged puts were undone"


def test_sqs_long_polls_are_not_held_up_by_dynamodb(endpoint):
    sqs, ddb = client(endpoint, "sqs"), client(endpoint, "dynamodb")
    queue = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    polls = []

    def poll():
        started = time.monotonic()
        sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=3)
        polls.append(time.monotonic() - started)

    pollers = [threading.Thread(target=poll) for _ in range(3)]
    started = time.monotonic()
    for t in pollers:
        t.start()
    time.sleep(0.5)
    ddb.list_tables()
    answered = time.monotonic() - started
    for t in pollers:
        t.join()
    total = time.monotonic() - started
    assert answered < 2.5, f"DynamoDB answered after {answered:.1f}s, behind the long polls"
    assert all(p >= 2.5 for p in polls), polls
    assert total < 6, f"three 3 s long polls took {total:.1f}s: they ran one after another"


def test_item_snapshots_undo_exactly_what_a_cancelled_transaction_wrote(item_snapshots_endpoint):
    ddb = client(item_snapshots_endpoint, "dynamodb")
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="t", Item={"pk": {"S": "counted"}, "n": {"N": "1"}})
    ddb.put_item(TableName="t", Item={"pk": {"S": "taken"}})
    count = {
        "Update": {
            "TableName": "t",
            "Key": {"pk": {"S": "counted"}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }
    taken = {"Put": {"TableName": "t", "Item": {"pk": {"S": "taken"}}, "ConditionExpression": "attribute_not_exists(pk)"}}
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[count, {"Put": {"TableName": "t", "Item": {"pk": {"S": "new"}}}}, taken])

    def get(key):
        return ddb.get_item(TableName="t", Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")

    assert get("counted") == {"pk": {"S": "counted"}, "n": {"N": "1"}}
    assert get("new") is None
    assert get("taken") == {"pk": {"S": "taken"}}
    ddb.transact_write_items(TransactItems=[count])
    assert get("counted") == {"pk": {"S": "counted"}, "n": {"N": "2"}}


def test_fifo_long_polls_behind_a_group_in_flight_wait_without_spinning(served):
    # Plain moto 5.2.5 waits until the queue has a visible message; a message of a group another
    # consumer holds is visible but not deliverable, so its long polls spin: two of them used
    # about 2 s of CPU in these 2 s, and a SendMessage beside them took 0.5-0.9 s.
    server, url = served
    sqs = client(url, "sqs")
    queue = sqs.create_queue(
        QueueName="calm.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="first", MessageGroupId="room")
    held = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=30)["Messages"]
    sqs.send_message(QueueUrl=queue, MessageBody="second", MessageGroupId="room")

    received = []
    pollers = [
        threading.Thread(
            target=lambda: received.extend(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", []))
        )
        for _ in range(2)
    ]
    cpu_before = cpu_seconds(server.pid)
    for t in pollers:
        t.start()
    for t in pollers:
        t.join()
    used = cpu_seconds(server.pid) - cpu_before
    assert received == [], "nothing of a group in flight is delivered"
    assert used < 0.8, f"two 2 s long polls used {used:.2f} s of moto's CPU: they spin"

    # Once the held batch is deleted, a waiting poll finds the group's next message.
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=held[0]["ReceiptHandle"])
    later = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert [m["Body"] for m in later] == ["second"]
