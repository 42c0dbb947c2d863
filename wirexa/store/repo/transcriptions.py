"""The transcriptions table: <Record transcribe> recordings' transcriptions (Twilio's
Transcription resource) and the transcription job's queue (the rows still in progress)."""

from __future__ import annotations

import dataclasses
from typing import Any

from wirexa.calls.records import TranscriptionRecord
from wirexa.calls.statuses import TranscriptionStatus
from wirexa.clock import new_sid, utcnow
from wirexa.store.models import Transcription
from wirexa.store.sql import Select, newest_first, record

TRANSCRIPTION_COLUMNS = frozenset(f.name for f in dataclasses.fields(TranscriptionRecord))

_TRANSCRIPTIONS = Select(Transcription, TranscriptionRecord)


def insert_transcription(
    *, account_sid: str, call_sid: str, recording_sid: str, callback: str | None
) -> TranscriptionRecord:
    """A new transcription of `recording_sid`, in progress (the job's to do)."""
    now = utcnow()
    row = Transcription.create(
        sid=new_sid("TR"),
        account_sid=account_sid,
        call_sid=call_sid,
        recording_sid=recording_sid,
        status=str(TranscriptionStatus.IN_PROGRESS),
        callback=callback,
        date_created=now,
        date_updated=now,
    )
    return record(TranscriptionRecord, row)


def get_transcription(
    sid: str, account_sid: str | None = None, recording_sid: str | None = None
) -> TranscriptionRecord | None:
    where, params = ['"sid" = ?'], [sid]
    for column, value in (("account_sid", account_sid), ("recording_sid", recording_sid)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return _TRANSCRIPTIONS.one(" AND ".join(where), params)  # type: ignore[no-any-return]


def update_transcription(sid: str, **fields: Any) -> TranscriptionRecord | None:
    unknown = set(fields) - TRANSCRIPTION_COLUMNS
    if unknown:
        raise TypeError(f"unknown transcription fields: {sorted(unknown)}")
    fields.setdefault("date_updated", utcnow())
    Transcription.update(**fields).where(Transcription.sid == sid).execute()
    return get_transcription(sid)


def delete_transcription(sid: str) -> None:
    Transcription.delete().where(Transcription.sid == sid).execute()


def page_transcriptions(
    account_sid: str,
    page_size: int,
    page: int = 0,
    after_sid: str | None = None,
    recording_sid: str | None = None,
) -> tuple[list[TranscriptionRecord], bool]:
    """One page of an account's (or one recording's) transcriptions, newest first, and whether
    another page follows."""
    where, params = ['"account_sid" = ?'], [account_sid]
    if recording_sid is not None:
        where.append('"recording_sid" = ?')
        params.append(recording_sid)
    return newest_first(_TRANSCRIPTIONS, where, params, page_size, page, after_sid)


def transcriptions_in_progress(limit: int) -> list[TranscriptionRecord]:
    """Transcriptions still to do, oldest first (the job's queue, also after a restart)."""
    return _TRANSCRIPTIONS.all(  # type: ignore[no-any-return]
        '"status" = ? ORDER BY "date_created", "sid" LIMIT ?', (str(TranscriptionStatus.IN_PROGRESS), limit)
    )
