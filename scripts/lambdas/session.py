"""A client's life through the real functions, invoked as API Gateway and the event source mapping
invoke them: the authorizer and `$connect`, frames to `send`, queue batches to the fanout,
`$disconnect`. Each call keeps what the function answered, so a test can ask whether any of one
function's invocations failed."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import events
from runners import Invocation
from stack import LocalLambdas


@dataclass
class Outcome:
    """One invocation, and whether it failed the way a caller would see it."""

    function: str
    what: str
    invocation: Invocation

    @property
    def failed(self) -> bool:
        inv = self.invocation
        if inv.status != 200 or inv.function_error or not isinstance(inv.payload, dict):
            return True
        if inv.payload.get("statusCode", 200) >= 500:
            return True
        if inv.payload.get("batchItemFailures"):
            return True
        reply = reply_of(inv)
        return bool(reply and reply.get("type") == "error")


def reply_of(invocation: Invocation) -> dict | None:
    """The frame `send` answered through the route response."""
    body = invocation.payload.get("body") if isinstance(invocation.payload, dict) else None
    return json.loads(body) if body else None


@dataclass
class Session:
    lambdas: LocalLambdas
    domain: str
    outcomes: list[Outcome] = field(default_factory=list)

    def call(self, function: str, what: str, event: dict) -> Invocation:
        invocation = self.lambdas.runners[function].invoke(event)
        self.outcomes.append(Outcome(function, what, invocation))
        return invocation

    def failures(self, function: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.function == function and o.failed]

    def authorize(self, token: str) -> Invocation:
        cid = new_connection_id()
        return self.call("authorizer", "authorize", events.authorizer_request(cid, token, self.domain))

    def connect(self, user: str) -> str:
        cid = new_connection_id()
        self.call("connect", f"$connect {user}", events.connect(cid, user, self.domain))
        return cid

    def frame(self, cid: str, user: str, frame: dict) -> dict | None:
        inv = self.call("send", f"{frame['action']} by {user}", events.message(cid, user, json.dumps(frame), self.domain))
        return reply_of(inv) if isinstance(inv.payload, dict) else None

    def disconnect(self, cid: str, user: str) -> Invocation:
        return self.call("disconnect", f"$disconnect {user}", events.disconnect(cid, user, self.domain))

    def fanout_queues(self) -> list[tuple[str, str, str]]:
        """(name, URL, ARN) of each queue the fanout consumes: the queue, then the delivery queue of
        large rooms' shard deliveries, which the fanout itself fills."""
        r = self.lambdas.resources
        return [("queue", r.queue_url, r.queue_arn), ("delivery queue", r.deliver_queue_url, r.deliver_queue_arn)]

    def drain_queue(self, max_batches: int = 10) -> list[Invocation]:
        """Plays both event source mappings: receives what is queued (admin key), invokes the fanout
        with each batch, deletes what it did not report failed; the queue first, then the delivery
        queue, round after round until both are empty or a batch reports a failure."""
        sqs = self.lambdas.moto.client("sqs")
        results = []
        for _ in range(max_batches):
            received = False
            for name, url, arn in self.fanout_queues():
                # Invisible for longer than any invocation takes on a loaded machine: a batch that came
                # back during its own fanout invocation would be invoked twice and its deletes refused.
                got = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=120
                ).get("Messages", [])
                if not got:
                    continue
                received = True
                what = f"batch of {len(got)}" if name == "queue" else f"{name} batch of {len(got)}"
                inv = self.call("fanout", what, events.sqs(arn, got))
                results.append(inv)
                failed = {f["itemIdentifier"] for f in (inv.payload or {}).get("batchItemFailures", [])}
                done = [m for m in got if m["MessageId"] not in failed]
                for m in done:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                if failed:
                    # Visible again at once, for whoever reads the queue next (the ESM would wait out
                    # the visibility timeout).
                    for m in got:
                        if m["MessageId"] in failed:
                            sqs.change_message_visibility(
                                QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                            )
                    return results
            if not received:
                break
        return results

    def clear_queue(self) -> None:
        """Deletes what is queued on the queues the fanout consumes (PurgeQueue is allowed once a minute)."""
        sqs = self.lambdas.moto.client("sqs")
        for _, url, _ in self.fanout_queues():
            while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get("Messages"):
                for m in got:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def new_connection_id() -> str:
    # API Gateway's are 12 base64 characters and a trailing '='.
    return uuid.uuid4().hex[:12] + "="
