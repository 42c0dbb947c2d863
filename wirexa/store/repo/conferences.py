"""The conferences and conference_participants tables: the rooms and who was in them, as the
engine that runs them writes them (calls/conference.py through store/conferences.py). A write
sets a row whole (made when missing): the engine holds the truth while the room lives."""

from __future__ import annotations

import dataclasses
import datetime as dt

from wirexa.store.models import Conference as ConferenceRow
from wirexa.store.models import ConferenceParticipant as ParticipantRow
from wirexa.store.sql import record


@dataclasses.dataclass(frozen=True, slots=True)
class ConferenceRecord:
    sid: str
    account_sid: str
    friendly_name: str
    status: str
    reason_conference_ended: str | None
    call_sid_ending_conference: str | None
    date_created: dt.datetime
    date_updated: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ParticipantRecord:
    conference_sid: str
    call_sid: str
    label: str | None
    muted: bool
    hold: bool
    call_sid_to_coach: str | None
    end_conference_on_exit: bool
    start_conference_on_enter: bool
    status: str  # connected while in the room, then complete
    date_created: dt.datetime
    date_updated: dt.datetime


def put_conference(room: ConferenceRecord) -> None:
    """Write the room's row (inserted the first time). One write: run it through Store.write."""
    values = dataclasses.asdict(room)
    if not ConferenceRow.update(**values).where(ConferenceRow.sid == room.sid).execute():
        ConferenceRow.insert(**values).execute()


def put_participant(part: ParticipantRecord) -> None:
    """Write a participant's row (inserted when it joins)."""
    values = dataclasses.asdict(part)
    where = (ParticipantRow.conference_sid == part.conference_sid) & (ParticipantRow.call_sid == part.call_sid)
    if not ParticipantRow.update(**values).where(where).execute():
        ParticipantRow.insert(**values).execute()


def get_conference(sid: str) -> ConferenceRecord | None:
    row = ConferenceRow.get_or_none(ConferenceRow.sid == sid)
    return record(ConferenceRecord, row) if row is not None else None


def list_conferences(account_sid: str, limit: int = 1000) -> list[ConferenceRecord]:
    """The project's rooms, newest first."""
    rows = (
        ConferenceRow.select()
        .where(ConferenceRow.account_sid == account_sid)
        .order_by(ConferenceRow.date_created.desc(), ConferenceRow.sid.desc())
        .limit(limit)
    )
    return [record(ConferenceRecord, r) for r in rows]


def conference_participants(conference_sid: str) -> list[ParticipantRecord]:
    """Who was (or is) in the room, in the order they joined."""
    rows = (
        ParticipantRow.select()
        .where(ParticipantRow.conference_sid == conference_sid)
        .order_by(ParticipantRow.date_created, ParticipantRow.call_sid)
    )
    return [record(ParticipantRecord, r) for r in rows]
