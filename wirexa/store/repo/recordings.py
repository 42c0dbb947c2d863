"""The recordings table: each recording's status, files and callback settings."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

from wirexa.calls.records import RecordingRecord
from wirexa.calls.statuses import UNFINISHED_RECORDING, MediaState, RecordingStatus
from wirexa.clock import new_sid, utcnow
from wirexa.store.models import Recording
from wirexa.store.sql import Select, TimeBound, marks, newest_first, record, time_where

RECORDING_COLUMNS = frozenset(f.name for f in dataclasses.fields(RecordingRecord))

_RECORDINGS = Select(Recording, RecordingRecord)
_UNFINISHED = tuple(str(s) for s in UNFINISHED_RECORDING)  # plain str: the database drivers' own type


def insert_recording(**fields: Any) -> RecordingRecord:
    now = fields.pop("now", None) or utcnow()
    fields.setdefault("sid", new_sid("RE"))
    fields.setdefault("date_created", now)
    fields.setdefault("date_updated", now)
    unknown = set(fields) - RECORDING_COLUMNS
    if unknown:
        raise TypeError(f"unknown recording fields: {sorted(unknown)}")
    return record(RecordingRecord, Recording.create(**fields))


def get_recording(sid: str, account_sid: str | None = None, call_sid: str | None = None) -> RecordingRecord | None:
    where, params = ['"sid" = ?'], [sid]
    for column, value in (("account_sid", account_sid), ("call_sid", call_sid)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return _RECORDINGS.one(" AND ".join(where), params)  # type: ignore[no-any-return]


def update_recording(sid: str, **fields: Any) -> RecordingRecord | None:
    fields.setdefault("date_updated", utcnow())
    Recording.update(**fields).where(Recording.sid == sid).execute()
    return get_recording(sid)


def delete_recording(sid: str) -> None:
    Recording.delete().where(Recording.sid == sid).execute()


def list_recordings(
    account_sid: str,
    page_size: int,
    page: int = 0,
    after_sid: str | None = None,
    call_sid: str | None = None,
    date_created: Iterable[TimeBound] = (),
    conference_sid: str | None = None,
) -> tuple[list[RecordingRecord], bool]:
    where, params = ['"account_sid" = ?'], [account_sid]
    for column, value in (("call_sid", call_sid), ("conference_sid", conference_sid)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    time_where("date_created", Recording.date_created, date_created, where, params)
    return newest_first(_RECORDINGS, where, params, page_size, page, after_sid)


def first_completed_recording(call_sid: str) -> RecordingRecord | None:
    row = (
        Recording.select()
        .where((Recording.call_sid == call_sid) & (Recording.status == str(RecordingStatus.COMPLETED)))
        .order_by(Recording.date_created, Recording.sid)
        .first()
    )
    return record(RecordingRecord, row) if row else None


def recordings_media_due(limit: int) -> list[RecordingRecord]:
    """Recordings whose files still need work (media_state pending or upload), oldest first."""
    return _RECORDINGS.all(  # type: ignore[no-any-return]
        '"media_state" IN (?, ?) ORDER BY "date_created", "sid" LIMIT ?',
        (str(MediaState.PENDING), str(MediaState.UPLOAD), limit),
    )


def unfinished_recordings() -> list[RecordingRecord]:
    """Recordings in an UNFINISHED_RECORDING status, oldest first (what a restart repairs)."""
    return _RECORDINGS.all(  # type: ignore[no-any-return]
        f'"status" IN ({marks(len(_UNFINISHED))}) ORDER BY "date_created", "sid"', _UNFINISHED
    )


def recordings_created_before(before: dt.datetime, limit: int) -> list[RecordingRecord]:
    """Finished recordings created before `before`, oldest first (the retention janitor's)."""
    return _RECORDINGS.all(  # type: ignore[no-any-return]
        f'"date_created" < ? AND "status" NOT IN ({marks(len(_UNFINISHED))}) ORDER BY "date_created", "sid" LIMIT ?',
        (Recording.date_created.db_value(before), *_UNFINISHED, limit),  # type: ignore[no-untyped-call]
    )
