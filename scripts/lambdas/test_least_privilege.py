"""Least privilege, enforced: each function runs with a key holding exactly its policy from
infra/contract.json (moto checks every DynamoDB, SQS, Secrets Manager and SSM call against it,
resource ARNs included). Removing any one action the binary calls makes one of that function's
invocations fail, as a function error, a 5xx, an error frame, a batch item failure, or an
AccessDenied in its log where the function logs the failure and carries on. The actions the
binary never calls are listed below with who calls them; they stay in the contract for that
caller, and a test fails here if the binary starts calling one.

An action granted on two resources (the fanout's sqs:SendMessage on the DLQ and on the delivery
queue; the event source mapping's actions on both queues it consumes) is left out of one permission
kind at a time, and its refusal must name that kind's resource. The fanout runs here with a shard
threshold of SHARD_THRESHOLD subscribers, so exercise_fanout reaches both of its paths: a small room
posted to directly, and a large one delivered through its shards on the delivery queue.

The optional features' kinds (infra/contract.json conditionalPermissions: moderation rules from SSM or
S3, the moderation hook, the export stream) have no statement with the template defaults. Those of
FEATURES are cases too, each run with its feature turned on (stack.FEATURE_PARAMETERS) for that
function: by default the moderation rules from SSM and from S3 (send reads them) and the export
(the fanout's firehose:PutRecordBatch); the comma-separated kinds of STARLING_LAMBDAS_FEATURES
instead when it is set (empty: none). The hook has no local function to invoke (moto runs no Lambda
code), so moderationHook is not a case."""

from __future__ import annotations

import json
import os
import uuid

import pytest

import contract
import moto_stack
from moto_iam import DENIED_MARK, iam_glob
from session import Session
from stack import FEATURE_PARAMETERS, JWT_PARAMETER_NAME, JWT_SECRET_NAME

from conftest import token

# Called with the function's role by AWS itself, never by the binary.
NOT_CALLED_BY_THE_BINARY = {
    "logs:CreateLogStream": "the Lambda service, writing the function's stdout to its log group",
    "logs:PutLogEvents": "the Lambda service, writing the function's stdout to its log group",
    "sqs:ReceiveMessage": "the event source mapping, polling the queue (or the delivery queue) for the fanout",
    "sqs:DeleteMessage": "the event source mapping, deleting what the fanout did not report failed",
    "sqs:GetQueueAttributes": "the event source mapping",
    "sqs:ChangeMessageVisibility": "the event source mapping",
    # Enforced by the Management API in AWS; the local one (the devstack's, this test's) checks no IAM.
    "execute-api:ManageConnections": "the binary, but no local Management API enforces IAM",
}

# Actions the binary calls on paths this file's exercises do not reach yet (found by this test; the
# exercise of each should grow until this is empty). Asserted unrefused, so a path that starts
# reaching one fails here and moves it to the checked set.
NOT_REACHED_BY_THE_EXERCISE = {
    ("connect", "dynamodb:BatchWriteItem"): "removing connections presence drops (a user over the connection cap)",
    ("connect", "dynamodb:Query"): "removing connections presence drops (a user over the connection cap)",
    ("disconnect", "dynamodb:DeleteItem"): "not identified",
    ("send", "dynamodb:BatchWriteItem"): "not identified",
    ("fanout", "dynamodb:ConditionCheckItem"): "not identified",
    ("fanout", "dynamodb:DeleteItem"): "not identified",
}

# Where the authorizer reads its secret from when the action under test is the one that reads it.
SECRET_ID_FOR = {"secretsmanager:GetSecretValue": JWT_SECRET_NAME, "ssm:GetParameter": JWT_PARAMETER_NAME}


# The fanout's shard settings in this file (template parameters named by infra/contract.json): a room
# of SHARD_THRESHOLD subscribers or more goes through SHARDS shard deliveries on the delivery queue.
SHARD_THRESHOLD = 3
SHARDS = 2
FANOUT_ENV = contract.load_contract()["functions"]["fanout"]["environment"]
SHARD_PARAMETERS = {
    FANOUT_ENV["STARLING_SHARD_THRESHOLD"]["parameter"]: str(SHARD_THRESHOLD),
    FANOUT_ENV["STARLING_SHARDS"]["parameter"]: str(SHARDS),
}


# The optional features (conditional permission kinds) whose cases run: none by default.
DEFAULT_FEATURES = "moderationParameter,moderationObject,exportStream"
FEATURES = {k for k in os.environ.get("STARLING_LAMBDAS_FEATURES", DEFAULT_FEATURES).split(",") if k}
CONDITIONAL = contract.load_contract().get("conditionalPermissions", {})
assert FEATURES <= set(CONDITIONAL), f"STARLING_LAMBDAS_FEATURES names unknown kinds {FEATURES - set(CONDITIONAL)}"


def cases() -> list[tuple[str, str, str]]:
    """(function, permission kind, action): every action of every kind of every function, the
    optional features' kinds only when turned on (FEATURES)."""
    functions = contract.load_contract()["functions"]
    return [
        (name, kind, a)
        for name, f in functions.items()
        for kind, actions in f["permissions"].items()
        if kind not in CONDITIONAL or kind in FEATURES
        for a in actions
    ]


def feature_parameters(kind: str) -> dict[str, str]:
    """The template parameters that turn on the feature of a conditional kind (none for the others)."""
    if kind not in CONDITIONAL:
        return {}
    if kind not in FEATURE_PARAMETERS:
        raise AssertionError(f"no local resources for the optional kind {kind} (stack.FEATURE_PARAMETERS)")
    return FEATURE_PARAMETERS[kind]


def kinds_granting(function: str, action: str) -> list[str]:
    permissions = contract.load_contract()["functions"][function]["permissions"]
    return [kind for kind, actions in permissions.items() if action in actions]


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
        # Joining again renews the subscription (a conditional write on the connection).
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


def exercise_fanout(s: Session, management) -> dict[str, str]:
    """A small room (fewer than SHARD_THRESHOLD subscribers: posted to directly) and a large one
    (delivered through its shards), each with a gone connection, a message to each, and a poison
    record. Returns the rooms and connection ids by name."""
    u, v, w, gone = user(), user(), user(), user()
    cids = {name: s.connect(name) for name in (u, v, w, gone)}
    management.gone.add(cids[gone])
    # Rooms of their own: a room stays on its shards for a while once sharded.
    small, large = f"small-{uuid.uuid4().hex[:8]}", f"large-{uuid.uuid4().hex[:8]}"
    members = {small: (u, gone), large: (u, v, w, gone)}
    assert len(members[small]) < SHARD_THRESHOLD <= len(members[large]) - 1  # large even without `gone`
    for room, names in members.items():
        for name in names:
            s.frame(cids[name], name, {"action": "join", "room": room})
    for room in members:
        s.frame(cids[u], u, {"action": "send", "room": room, "body": "hi", "clientMsgId": f"c-{room}"})
    # A record the fanout can only dead-letter.
    s.lambdas.moto.client("sqs").send_message(
        QueueUrl=s.lambdas.resources.queue_url, MessageBody="not an envelope", MessageGroupId="poison",
        MessageDeduplicationId=uuid.uuid4().hex,
    )
    s.drain_queue()
    return {"small": small, "large": large, **{k: cids[n] for k, n in (("u", u), ("v", v), ("w", w))}}


@pytest.fixture(scope="module", autouse=True)
def sharding_fanout(lambdas):
    """The fanout with a low shard threshold for this file's tests, its defaults again after."""
    runner = lambdas.runners["fanout"]
    runner.restart(lambdas.function_env("fanout", **SHARD_PARAMETERS))
    yield
    runner.restart(lambdas.function_env("fanout"))


@pytest.fixture
def fresh_queue(lambdas, management):
    """Each test's fanout sees only that test's records."""
    Session(lambdas, management.domain).clear_queue()


def new_text(path, start: int) -> str:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace")


def exercise(lambdas, management, function: str, kind: str, action: str) -> Session:
    """Runs the function's exercise with `action` left out of its policy's `kind` statement (an
    optional feature's kind: with that feature on, in a new instance of the function)."""
    runner = lambdas.runners[function]
    feature = feature_parameters(kind)
    lambdas.restrict(function, without=action, kind=kind, **feature)
    try:
        if feature:
            runner.restart(lambdas.function_env(function, **feature, **(SHARD_PARAMETERS if function == "fanout" else {})))
        if function == "authorizer":
            # The secret is read at init: a new instance reads it under the restricted policy.
            runner.restart(lambdas.function_env("authorizer", JwtSecretId=SECRET_ID_FOR.get(action, JWT_SECRET_NAME)))
        s = Session(lambdas, management.domain)
        if function == "fanout":
            exercise_fanout(s, management)
        else:
            globals()[f"exercise_{function}"](s)
        return s
    finally:
        lambdas.restrict(function, without=None)
        if function == "authorizer":
            runner.restart(lambdas.function_env("authorizer"))
        if feature:
            runner.restart(lambdas.function_env(function, **(SHARD_PARAMETERS if function == "fanout" else {})))


def refused_on(line: str, action: str, arns: list[str]) -> bool:
    """Whether a refusal of `action` logged by moto_iam.py names one of these resources (IAM wildcards
    allowed). The resource is the word after the action."""
    words = line.split(f" {action} ", 1)[-1].split()
    return bool(words) and any(iam_glob(arn, words[0]) for arn in arns)


@pytest.mark.parametrize(("function", "kind", "action"), cases(), ids=lambda v: v)
def test_removing_an_action_fails_a_call_of_the_function(
    lambdas, management, fresh_queue, findings, function, kind, action
):
    moto_log_start = lambdas.moto.log.stat().st_size
    s = exercise(lambdas, management, function, kind, action)
    user_arn = f"user/{moto_stack.function_user(function)}"
    denied = [
        line for line in new_text(lambdas.moto.log, moto_log_start).splitlines()
        if line.startswith(DENIED_MARK) and user_arn in line and f" {action} " in line
    ]
    if len(kinds_granting(function, action)) > 1:
        # Granted on other resources too: only a refusal on this kind's resource counts.
        arns = lambdas.resources.arns(kind, lambdas.functions[function]["binary"], feature_parameters(kind))
        denied = [line for line in denied if refused_on(line, action, arns)]
    failures = [o.what for o in s.failures(function)]
    not_reached = NOT_REACHED_BY_THE_EXERCISE.get((function, action))
    findings[(function, f"{action} ({kind})")] = (
        f"not called by the binary ({NOT_CALLED_BY_THE_BINARY[action]})" if action in NOT_CALLED_BY_THE_BINARY
        else f"NOT REACHED by exercise_{function}: {not_reached}" if not_reached and not denied
        else f"refused {len(denied)}x; failed: {', '.join(failures)}" if failures
        else f"refused {len(denied)}x; the function logged it and carried on"
    )
    if action in NOT_CALLED_BY_THE_BINARY:
        assert not denied and not failures, f"{function} now calls {action}: take it out of NOT_CALLED_BY_THE_BINARY"
    elif not_reached:
        assert not denied, f"exercise_{function} now reaches {action}: take it out of NOT_REACHED_BY_THE_EXERCISE"
    else:
        assert denied, (
            f"{function} made no call needing {action}: it may leave infra/contract.json "
            f"(or exercise_{function} misses the path that needs it)"
        )


def test_the_functions_work_with_their_whole_policies(lambdas, management, fresh_queue):
    s = Session(lambdas, management.domain)
    exercise_authorizer(s)
    exercise_connect(s)
    exercise_disconnect(s)
    exercise_send(s)
    fanout = exercise_fanout(s, management)
    assert not [f"{o.function} {o.what}: {o.invocation.payload}" for o in s.outcomes if o.failed]
    # The large room went through its shards: the fanout consumed its own delivery records.
    assert [o for o in s.outcomes if o.function == "fanout" and o.what.startswith("delivery queue batch")]
    for name in ("v", "w"):
        posted = [json.loads(p) for p in management.to(fanout[name])]
        assert any(f.get("room") == fanout["large"] and f.get("body") == "hi" for f in posted), (name, posted)


@pytest.mark.parametrize("kind", sorted(FEATURES))
def test_the_functions_work_with_a_feature_on_and_their_whole_policies(lambdas, management, fresh_queue, kind):
    """With an optional feature on, the function it is for works with its whole policy (the feature's
    statement included): no call fails."""
    feature = feature_parameters(kind)
    (function,) = [n for n, f in lambdas.functions.items() if kind in f["permissions"]]
    runner = lambdas.runners[function]
    shards = SHARD_PARAMETERS if function == "fanout" else {}
    moto_log_start = lambdas.moto.log.stat().st_size
    lambdas.restrict(function, without=None, **feature)
    try:
        runner.restart(lambdas.function_env(function, **feature, **shards))
        s = Session(lambdas, management.domain)
        if function == "fanout":
            exercise_fanout(s, management)
        else:
            globals()[f"exercise_{function}"](s)
    finally:
        lambdas.restrict(function, without=None)
        runner.restart(lambdas.function_env(function, **shards))
    assert not [f"{o.function} {o.what}: {o.invocation.payload}" for o in s.outcomes if o.failed]
    user_arn = f"user/{moto_stack.function_user(function)}"
    denied = [
        line for line in new_text(lambdas.moto.log, moto_log_start).splitlines()
        if line.startswith(DENIED_MARK) and user_arn in line
    ]
    assert not denied, denied
