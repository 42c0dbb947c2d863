"""Schema 17 (conference recordings): a recording may belong to a conference instead of a call
(call_sid NULL, conference_sid set), on both backends; the rows of schema 16 come through, their
transcriptions too (SQLite builds the table again around them)."""

from __future__ import annotations

import datetime as dt

from wirexa.store.db import Store, migrate, open_database
from wirexa.store.models import database_proxy
from wirexa.store.repo import projects, recordings, transcriptions

NOW = "2026-01-01 00:00:00"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FIELDS = {"status": "completed", "source": "Conference", "duration_s": 3}


def test_schema_17_from_16_keeps_recordings_and_their_transcriptions(db_url: str) -> None:
    db = open_database(db_url)
    database_proxy.initialize(db)
    try:
        assert migrate(db, target=16) == 16
        db.execute_sql(
            "INSERT INTO projects (sid, auth_token, friendly_name, date_created, date_updated)"
            f" VALUES ('AC1', 't', 'p', '{NOW}', '{NOW}')"
        )
        db.execute_sql(
            "INSERT INTO recordings (sid, account_sid, call_sid, status, source, duration_s, wav_path, trim,"
            " date_created, date_updated, media_state)"
            f" VALUES ('RE1', 'AC1', 'CA1', 'completed', 'RecordVerb', 4, '/r/RE1.wav', 'trim-silence', '{NOW}', '{NOW}',"
            " 'upload')"
        )
        db.execute_sql(
            "INSERT INTO transcriptions (sid, account_sid, call_sid, recording_sid, status, date_created, date_updated)"
            f" VALUES ('TR1', 'AC1', 'CA1', 'RE1', 'in-progress', '{NOW}', '{NOW}')"
        )
        assert migrate(db) >= 17
        old = recordings.get_recording("RE1")
        assert old is not None and old.call_sid == "CA1" and old.conference_sid is None
        assert (old.duration_s, old.wav_path, old.trim, old.media_state) == (4, "/r/RE1.wav", "trim-silence", "upload")
        assert [t.sid for t in transcriptions.transcriptions_in_progress(10)] == ["TR1"]
        new = recordings.insert_recording(
            sid="RE2", account_sid="AC1", call_sid=None, conference_sid="CF1", status="completed", source="Conference"
        )
        assert new.call_sid is None and new.conference_sid == "CF1"
        # the transcription still goes with its recording (the foreign key points at the new table)
        recordings.delete_recording("RE1")
        assert transcriptions.transcriptions_in_progress(10) == []
    finally:
        db.close()


def test_a_conference_recording_lists_with_the_account_and_by_its_conference(store: Store) -> None:
    store.write_sync(lambda: projects.create_project("p", sid="AC1"))
    store.write_sync(lambda: recordings.insert_recording(sid="RE8", account_sid="AC1", call_sid="CA8", **FIELDS))
    store.write_sync(
        lambda: recordings.insert_recording(
            sid="RE9", account_sid="AC1", call_sid=None, conference_sid="CF9", start_time=START, **FIELDS
        )
    )
    listed, _ = store.read_sync(recordings.list_recordings, "AC1", 50)
    assert {r.sid for r in listed} == {"RE8", "RE9"}
    by_room, _ = store.read_sync(lambda: recordings.list_recordings("AC1", 50, conference_sid="CF9"))
    assert [(r.sid, r.call_sid, r.conference_sid) for r in by_room] == [("RE9", None, "CF9")]
    assert store.read_sync(lambda: recordings.list_recordings("AC1", 50, conference_sid="CF0"))[0] == []
