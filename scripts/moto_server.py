"""moto's server, with DynamoDB answering one request at a time, as a linearizable store.

moto runs each request on a thread of its own, and its TransactWriteItems snapshots every table
the transaction names (a deep copy) and, when the transaction is cancelled, puts the snapshot
back: every write other requests made to those tables in between is undone, though each was
acknowledged. DynamoDB never does that. The fanout cancels transactions all the time (a
redelivered message is already stored; another append moved the room's head), so under load a
join's subscription or a stored message could silently vanish on moto alone; a chaos run once
saw a subscriber miss five messages that way. scripts/tests/test_moto_server.py shows the lost
writes and that this server has none.

    python scripts/moto_server.py -H 127.0.0.1 -p PORT      (scripts/moto.sh starts it)

Only DynamoDB is serialized: SQS long polls must still wait side by side.
"""

from __future__ import annotations

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_LOCK = threading.Lock()


def serialize_dynamodb() -> None:
    """Makes every DynamoDB request of this process run alone. Idempotent."""
    if getattr(DynamoHandler.call_action, "_starling_serialized", False):
        return
    call_action = DynamoHandler.call_action

    def serialized(self):
        with _LOCK:
            return call_action(self)

    serialized._starling_serialized = True
    DynamoHandler.call_action = serialized


if __name__ == "__main__":
    serialize_dynamodb()
    sys.exit(main())
