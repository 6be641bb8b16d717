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

Only DynamoDB is serialized: SQS long polls must still wait side by side. They also wait without
spinning (calm_long_polls): moto's spin beside a FIFO group in flight held the GIL, and a
SendMessage next to two waiting pollers took 0.5-0.9 s instead of 4 ms.

With STARLING_MOTO_ITEM_SNAPSHOTS=1 (scripts/cost.sh), a transaction saves only the items it names
instead of deep-copying every table it names, and a cancelled one puts those items back. Serialized,
that undoes exactly what the transaction wrote; it takes the cost benchmark's 10,000-connection
tables from seconds per transaction (the copy grows with the table) to milliseconds.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
import types

from moto.dynamodb import models
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.server import main
from moto.sqs.models import Queue

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


# How often a waiting long poll looks again for messages no SendMessage announced: those whose
# visibility timeout ran out, and those of a FIFO group another consumer just deleted its batch of.
LONG_POLL_RECHECK_S = 0.05


def calm_long_polls() -> None:
    """Makes a ReceiveMessage long poll sleep until a message is sent (SendMessage notifies) or
    LONG_POLL_RECHECK_S passes. moto waits until the queue has any visible message: in a FIFO
    queue whose group is in flight with another consumer those are visible but not deliverable,
    so the wait returns at once and the poll spins, holding the GIL, until the group is free.
    Idempotent."""
    if getattr(Queue.wait_for_messages, "_starling_calm", False):
        return

    def wait_for_messages(self, timeout):
        with self._messages_lock:
            self._messages_lock.wait(min(timeout, LONG_POLL_RECHECK_S))

    wait_for_messages._starling_calm = True
    Queue.wait_for_messages = wait_for_messages


def snapshot_items_only() -> None:
    """Makes TransactWriteItems save and restore only the items it names. Needs
    serialize_dynamodb: no other request may write while a transaction runs. Idempotent."""
    backend = models.DynamoDBBackend
    if getattr(backend.transact_write_items, "_starling_items_only", False):
        return
    transact = backend.transact_write_items
    saving = threading.local()

    def deepcopy(value, memo=None):
        # moto's own snapshot of a whole table; the touched items are saved instead.
        if getattr(saving, "on", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)

    models.copy = types.SimpleNamespace(copy=copy.copy, deepcopy=deepcopy)

    def items_only(self, transact_items):
        try:
            saved = [_saved_item(self, entry) for entry in transact_items]
        except Exception:  # noqa: BLE001 moto's own validation answers malformed requests
            return transact(self, transact_items)
        saving.on = True
        try:
            return transact(self, transact_items)
        except Exception:
            for table_name, key, item in reversed(saved):
                if item is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, item.to_json()["Attributes"])
            raise
        finally:
            saving.on = False

    items_only._starling_items_only = True
    backend.transact_write_items = items_only


def _saved_item(backend, entry):
    """(table name, key, a copy of the item or None) for one TransactItems entry."""
    _, op = next(iter(entry.items()))
    table_name = op["TableName"]
    table = backend.get_table(table_name)
    key = op.get("Key")
    if key is None:
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        key = {name: op["Item"][name] for name in names}
    item = backend.get_item(table_name, key)
    return table_name, key, copy.deepcopy(item) if item is not None else None


if __name__ == "__main__":
    serialize_dynamodb()
    calm_long_polls()
    if os.environ.get("STARLING_MOTO_ITEM_SNAPSHOTS") == "1":
        snapshot_items_only()
    sys.exit(main())
