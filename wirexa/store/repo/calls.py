"""The calls table: calls and their <Dial> legs, their statuses, callback sequence numbers and
heartbeats, and the Calls listing's filters."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import peewee as pw

from wirexa.calls.records import CallRecord
from wirexa.calls.state import DIALING, CallStatus
from wirexa.clock import new_sid, utcnow
from wirexa.store.models import Call, CallQuality, CallVerb
from wirexa.store.sql import Select, TimeBound, Write, marks, newest_first, sids_with_prefix, time_where

CALL_COLUMNS = frozenset(f.name for f in dataclasses.fields(CallRecord))

_CALLS = Select(Call, CallRecord)
_CALL_VERSIONS = Select(Call, None, ("sid", "date_updated"))  # raw tuples
_CALL_SEQUENCE = Select(Call, None, ("sequence_number",))
_CALL_WRITE = Write(Call)


def insert_call(**fields: Any) -> CallRecord:
    now = fields.pop("now", None) or utcnow()
    fields.setdefault("sid", new_sid("CA"))
    fields.setdefault("date_created", now)
    fields.setdefault("date_updated", now)
    unknown = set(fields) - CALL_COLUMNS
    if unknown:
        raise TypeError(f"unknown call fields: {sorted(unknown)}")
    _CALL_WRITE.insert(_CALL_WRITE.defaults(fields))
    return CallRecord(**fields)


def get_call(sid: str, account_sid: str | None = None) -> CallRecord | None:
    return _CALLS.by_sid(sid, account_sid)  # type: ignore[no-any-return]


def call_sids_with_prefix(prefix: str, limit: int = 2) -> list[str]:
    """SIDs of calls starting with `prefix` (case-sensitive, no wildcards), at most `limit`, in
    SID order: the CLI's `show` commands take a unique prefix of a SID."""
    return sids_with_prefix(Call, prefix, limit)


def update_call(sid: str, *, expect_status: Iterable[str] | None = None, **fields: Any) -> CallRecord | None:
    """Update a call's columns; with expect_status only when its status is one of those.

    Returns the updated record, or None when no row matched (unknown sid or status moved on).
    """
    unknown = set(fields) - CALL_COLUMNS
    if unknown:
        raise TypeError(f"unknown call fields: {sorted(unknown)}")
    fields.setdefault("date_updated", utcnow())
    if expect_status is None:
        changed = _CALL_WRITE.update(fields, '"sid" = ?', (sid,))
    else:
        statuses = tuple(expect_status)
        if not statuses:
            return None
        changed = _CALL_WRITE.update(fields, f'"sid" = ? AND "status" IN ({marks(len(statuses))})', (sid, *statuses))
    if changed == 0:
        return None
    return get_call(sid)


def mark_alive(sids: Sequence[str], at: dt.datetime) -> None:
    """The engine's heartbeat: these live calls were up at `at` (date_updated stays: nothing of
    the resource changed)."""
    for i in range(0, len(sids), 500):  # bound the IN list
        chunk = list(sids[i : i + 500])
        _CALL_WRITE.update({"alive_at": at}, f'"sid" IN ({marks(len(chunk))})', chunk)


def next_sequence_number(sid: str) -> int:
    """Return the call's next callback SequenceNumber (0, 1, 2 ...) and advance it. Runs inside
    the caller's write transaction; reads one column, not the row (this runs for every status
    callback, and reading the whole call made it 39% of the store writer's time at ~30 CPS)."""
    _CALL_WRITE.execute('UPDATE "calls" SET "sequence_number" = "sequence_number" + 1 WHERE "sid" = ?', (sid,))
    row = _CALL_SEQUENCE.one('"sid" = ?', (sid,))
    if row is None:
        raise pw.DoesNotExist(f"no call {sid}")
    return int(row[0]) - 1


def delete_call(sid: str) -> None:
    Call.delete().where(Call.sid == sid).execute()
    CallQuality.delete().where(CallQuality.call_sid == sid).execute()
    CallVerb.delete().where(CallVerb.call_sid == sid).execute()


@dataclasses.dataclass(frozen=True, slots=True)
class CallFilter:
    account_sid: str
    to_number: str | None = None
    from_number: str | None = None
    statuses: tuple[str, ...] = ()  # any of these stored statuses; () = every status
    parent_call_sid: str | None = None
    # Bounds (operator, value, date_only) with operator one of "=", "<", ">", all applied; dates
    # are compared on UTC days for "=" and as instants otherwise.
    start_time: tuple[TimeBound, ...] = ()
    end_time: tuple[TimeBound, ...] = ()


def _call_where(f: CallFilter) -> tuple[list[str], list[Any]]:
    where, params = ['"account_sid" = ?'], [f.account_sid]
    for column, value in (
        ("to_number", f.to_number),
        ("from_number", f.from_number),
        ("parent_call_sid", f.parent_call_sid),
    ):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    if f.statuses:
        where.append(f'"status" IN ({marks(len(f.statuses))})')
        params += list(f.statuses)
    time_where("start_time", Call.start_time, f.start_time, where, params)
    time_where("end_time", Call.end_time, f.end_time, where, params)
    return where, params


def list_calls(
    f: CallFilter, page_size: int, page: int = 0, after_sid: str | None = None
) -> tuple[list[CallRecord], bool]:
    """One page of calls, newest first, and whether another page follows."""
    return newest_first(_CALLS, *_call_where(f), page_size, page, after_sid)


CallVersion = tuple[str, str]  # (sid, date_updated as text): a call row's identity and version


def list_call_versions(
    f: CallFilter, page_size: int, page: int = 0, after_sid: str | None = None
) -> tuple[list[CallVersion], bool]:
    """list_calls for a caller that keeps rendered calls: each row's (sid, version) only, the
    version being date_updated as text (it changes on every write to the row)."""
    rows, more = newest_first(_CALL_VERSIONS, *_call_where(f), page_size, page, after_sid)
    return [(sid, str(updated)) for sid, updated in rows], more


def get_calls(sids: Sequence[str]) -> list[CallRecord]:
    """The calls with these sids that exist, in no particular order."""
    out: list[CallRecord] = []
    for i in range(0, len(sids), 500):  # bound the IN list
        chunk = list(sids[i : i + 500])
        out += _CALLS.all(f'"sid" IN ({marks(len(chunk))})', chunk)
    return out


def count_live_calls(account_sid: str | None = None) -> int:
    q = Call.status.in_(sorted(str(s) for s in DIALING))
    if account_sid is not None:
        q &= Call.account_sid == account_sid
    return int(Call.select().where(q).count())


def queued_calls(limit: int) -> list[CallRecord]:
    """Queued top-level calls, oldest first (the dispatcher's queue)."""
    return _CALLS.all(  # type: ignore[no-any-return]
        '"status" = ? AND "parent_call_sid" IS NULL ORDER BY "date_created", "sid" LIMIT ?',
        (str(CallStatus.QUEUED), limit),
    )


def call_usage_since(account_sid: str, since: dt.datetime) -> tuple[int, list[dt.datetime]]:
    """For the daily minutes cap: the seconds of the project's calls (and <Dial> legs) created
    since `since` that ended answered, and the answer times of those still up."""
    q = (Call.account_sid == account_sid) & (Call.date_created >= since)
    done = Call.select(pw.fn.SUM(Call.duration_s)).where(q & Call.duration_s.is_null(False)).scalar()
    live = Call.select(Call.answer_time).where(q & Call.answer_time.is_null(False) & Call.end_time.is_null(True))
    return int(done or 0), [r.answer_time for r in live if r.answer_time is not None]
