"""Least privilege, enforced: each function runs with a key holding exactly its policy from
infra/contract.json (moto checks every DynamoDB, SQS, Secrets Manager and SSM call against it,
resource ARNs included). Removing any one action the binary calls makes one of that function's
invocations fail, as a function error, a 5xx, an error frame, a batch item failure, or an
AccessDenied in its log where the function logs the failure and carries on. The actions the
binary never calls are listed below with who calls them; they stay in the contract for that
caller, and a test fails here if the binary starts calling one."""

from __future__ import annotations

import uuid

import pytest

import contract
from session import Session
from stack import JWT_PARAMETER_NAME, JWT_SECRET_NAME

from conftest import token

# Called with the function's role by AWS itself, never by the binary.
NOT_CALLED_BY_THE_BINARY = {
    "logs:CreateLogStream": "the Lambda service, writing the function's stdout to its log group",
    "logs:PutLogEvents": "the Lambda service, writing the function's stdout to its log group",
    "sqs:ReceiveMessage": "the event source mapping, polling the queue for the fanout",
    "sqs:DeleteMessage": "the event source mapping, deleting what the fanout did not report failed",
    "sqs:GetQueueAttributes": "the event source mapping",
    "sqs:ChangeMessageVisibility": "the event source mapping",
    # Enforced by the Management API in AWS; the local one (the devstack's, this test's) checks no IAM.
    "execute-api:ManageConnections": "the binary, but no local Management API enforces IAM",
}

# Where the authorizer reads its secret from when the action under test is the one that reads it.
SECRET_ID_FOR = {"secretsmanager:GetSecretValue": JWT_SECRET_NAME, "ssm:GetParameter": JWT_PARAMETER_NAME}


def cases() -> list[tuple[str, str]]:
    functions = contract.load_contract()["functions"]
    return [(name, a) for name, f in functions.items() for actions in f["permissions"].values() for a in actions]


def user() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


def exercise_authorizer(s: Session) -> None:
    s.authorize(token("alice"))


def exercise_connect(s: Session) -> None:
    u = user()
    s.connect(u)
    s.connect(u)


def exercise_disconnect(s: Session) -> None:
    u = user()
    cid = s.connect(u)
    s.frame(cid, u, {"action": "join", "room": "lp"})
    s.disconnect(cid, u)


def exercise_send(s: Session) -> None:
    u = user()
    cid = s.connect(u)
    for frame in (
        {"action": "ping"},
        {"action": "join", "room": "lp"},
        {"action": "send", "room": "lp", "body": "hi", "clientMsgId": "c-1"},
        {"action": "history", "room": "lp", "limit": 10},
        {"action": "sync", "rooms": {"lp": None}},
        {"action": "presence", "room": "lp"},
        {"action": "status", "status": "away"},
        {"action": "typing", "room": "lp"},
        {"action": "leave", "room": "lp"},
    ):
        s.frame(cid, u, frame)


def exercise_fanout(s: Session, management) -> None:
    u, v, gone = user(), user(), user()
    cids = {name: s.connect(name) for name in (u, v, gone)}
    management.gone.add(cids[gone])
    for name, cid in cids.items():
        s.frame(cid, name, {"action": "join", "room": "lp"})
    s.frame(cids[u], u, {"action": "send", "room": "lp", "body": "hi", "clientMsgId": "c-1"})
    # A record the fanout can only dead-letter.
    s.lambdas.moto.client("sqs").send_message(
        QueueUrl=s.lambdas.resources.queue_url, MessageBody="not an envelope", MessageGroupId="poison",
        MessageDeduplicationId=uuid.uuid4().hex,
    )
    s.drain_queue()


@pytest.fixture
def fresh_queue(lambdas):
    sqs = lambdas.moto.client("sqs")
    sqs.purge_queue(QueueUrl=lambdas.resources.queue_url)
    yield
    sqs.purge_queue(QueueUrl=lambdas.resources.queue_url)


@pytest.mark.parametrize(("function", "action"), cases(), ids=lambda v: v)
def test_removing_an_action_fails_a_call_of_the_function(lambdas, management, fresh_queue, function, action):
    runner = lambdas.runners[function]
    log_start = runner.log.stat().st_size
    lambdas.restrict(function, without=action)
    try:
        if function == "authorizer":
            # The secret is read at init: a new instance reads it under the restricted policy.
            secret_id = SECRET_ID_FOR.get(action, JWT_SECRET_NAME)
            runner.restart(lambdas.function_env("authorizer", JwtSecretId=secret_id))
        s = Session(lambdas, management.domain)
        if function == "fanout":
            exercise_fanout(s, management)
        else:
            globals()[f"exercise_{function}"](s)
    finally:
        lambdas.restrict(function, without=None)
        if function == "authorizer":
            runner.restart(lambdas.function_env("authorizer"))
    failures = [f"{o.what}: {o.invocation.payload}" for o in s.failures(function)]
    with open(runner.log, "rb") as f:
        f.seek(log_start)
        denied_in_log = f"not authorized to perform: {action}" in f.read().decode(errors="replace")
    if action in NOT_CALLED_BY_THE_BINARY:
        assert not failures and not denied_in_log, (
            f"{function} now calls {action}: move it out of NOT_CALLED_BY_THE_BINARY; {failures}"
        )
    else:
        assert failures or denied_in_log, (
            f"{function} made no call needing {action}: it may leave infra/contract.json "
            f"(or this test's exercise_{function} misses the path that needs it)"
        )


def test_the_functions_work_with_their_whole_policies(lambdas, management, fresh_queue):
    s = Session(lambdas, management.domain)
    exercise_authorizer(s)
    exercise_connect(s)
    exercise_disconnect(s)
    exercise_send(s)
    exercise_fanout(s, management)
    assert not [f"{o.function} {o.what}: {o.invocation.payload}" for o in s.outcomes if o.failed]
