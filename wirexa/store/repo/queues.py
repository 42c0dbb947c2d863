"""The queues table: a project's call queues (Twilio's Queue resource, QU...), named by their
friendly_name, unique in the project. Who waits in a queue is not here: members are live calls,
kept in memory by calls/queues.py, which finds or creates a queue by name (`queue_named`) when a
call runs <Enqueue>.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from wirexa.clock import utcnow
from wirexa.store.models import Queue as QueueRow
from wirexa.store.sql import Select, Write, insert_owned, newest_first, sids_with_prefix, update_by_sid

DEFAULT_MAX_SIZE = 1000  # Twilio's default for a queue created by the API or by <Enqueue>
MAX_MAX_SIZE = 5000  # the most Twilio's MaxSize takes


@dataclasses.dataclass(frozen=True, slots=True)
class QueueRecord:
    sid: str
    account_sid: str
    friendly_name: str
    max_size: int
    date_created: dt.datetime
    date_updated: dt.datetime


_QUEUES = Select(QueueRow, QueueRecord)
_WRITE = Write(QueueRow)


def insert_queue(
    account_sid: str, friendly_name: str, max_size: int = DEFAULT_MAX_SIZE, now: dt.datetime | None = None
) -> QueueRecord | None:
    """Create the queue; None when the project has one of that name already (the check and the
    insert are one write: run it through Store.write)."""
    if queue_by_name(account_sid, friendly_name) is not None:
        return None
    fields = {"friendly_name": friendly_name, "max_size": max_size}
    return insert_owned(_WRITE, QueueRecord, "QU", account_sid, fields, now or utcnow())


def queue_named(account_sid: str, friendly_name: str, max_size: int | None = None) -> QueueRecord:
    """The project's queue `friendly_name`, created (with `max_size`, else the default) when it
    has none: what <Enqueue> does. One write: run it through Store.write."""
    found = queue_by_name(account_sid, friendly_name)
    if found is not None:
        return found
    created = insert_queue(account_sid, friendly_name, max_size or DEFAULT_MAX_SIZE)
    assert created is not None  # looked up in the same transaction
    return created


def queue_by_name(account_sid: str, friendly_name: str) -> QueueRecord | None:
    return _QUEUES.one('"account_sid" = ? AND "friendly_name" = ?', (account_sid, friendly_name))  # type: ignore[no-any-return]


def get_queue(sid: str, account_sid: str | None = None) -> QueueRecord | None:
    """The queue `sid` (of the project `account_sid` when given), or None."""
    return _QUEUES.by_sid(sid, account_sid)  # type: ignore[no-any-return]


def update_queue(sid: str, **fields: Any) -> QueueRecord | None:
    """Set friendly_name and/or max_size; None when there is no such queue."""
    unknown = set(fields) - {"friendly_name", "max_size"}
    if unknown:
        raise ValueError(f"unknown queue fields: {sorted(unknown)}")
    return update_by_sid(_WRITE, _QUEUES, sid, {**fields, "date_updated": utcnow()})  # type: ignore[no-any-return]


def delete_queue(sid: str) -> bool:
    """Delete the queue; False when there was no such queue."""
    return bool(QueueRow.delete().where(QueueRow.sid == sid).execute())


def list_queues(
    account_sid: str | None, page_size: int, page: int = 0, after_sid: str | None = None
) -> tuple[list[QueueRecord], bool]:
    """One page of queues (of one project, or every project's for None), newest first, and
    whether another page follows."""
    where, params = (['"account_sid" = ?'], [account_sid]) if account_sid is not None else (["1 = 1"], [])
    return newest_first(_QUEUES, where, params, page_size, page, after_sid)


def queue_sids_with_prefix(prefix: str, limit: int = 2) -> list[str]:
    """SIDs of queues starting with `prefix` (the CLI takes a unique start of a SID)."""
    return sids_with_prefix(QueueRow, prefix, limit)
