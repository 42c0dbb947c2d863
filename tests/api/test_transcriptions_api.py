"""Transcriptions over HTTP: account and recording level list (the paging envelope), fetch (.json,
.txt, none), delete, 404s (unknown, another project's, the wrong recording's), both prefixes,
exactly Twilio's keys, twilio-python reading them; a transcription goes with its recording. Runs
on SQLite and PostgreSQL; every JSON response is also checked by tests/api/conftest.py's
SchemaCheck ('api.v2010.account.transcription')."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.api.conftest import REFERENCE, Api, SchemaCheck, validate_in
from tests.api.test_calls_api import seed
from tests.api.test_recordings_api import make_recording
from tests.pg import database_url_on_both  # noqa: F401 - these tests run on SQLite and PostgreSQL
from wirexa.calls.records import TranscriptionRecord
from wirexa.store.db import migrate, open_database
from wirexa.store.models import database_proxy
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.recordings import delete_recording
from wirexa.store.repo.transcriptions import get_transcription, insert_transcription, update_transcription

TRANSCRIPTION = "api.v2010.account.transcription"
PREFIXES = ("/2010-04-01", "/api/laml/2010-04-01")


def make_transcription(
    api: Api, tmp_path: Path, *, text: str | None = "hello world", status: str = "completed", account: str = ""
) -> TranscriptionRecord:
    account = account or api.project.sid
    call = seed(api, 1, account=account)[0]
    rec = make_recording(api, tmp_path, call.sid, account=account)

    def tx() -> TranscriptionRecord:
        tr = insert_transcription(account_sid=account, call_sid=call.sid, recording_sid=rec.sid, callback=None)
        done = update_transcription(tr.sid, status=status, transcription_text=text, duration_s=1, provider="p")
        assert done is not None
        return done

    return api.store.write_sync(tx)


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_list_fetch_txt_and_delete(api: Api, tmp_path: Path, api_check: SchemaCheck, prefix: str) -> None:
    first = make_transcription(api, tmp_path, text="first one")
    second = make_transcription(api, tmp_path, text=None, status="failed")
    base = f"{prefix}/Accounts/{api.project.sid}"
    page = await (await api.client.get(f"{base}/Transcriptions.json", headers=api.auth)).json()
    assert [t["sid"] for t in page["transcriptions"]] == [second.sid, first.sid]  # newest first
    assert page["uri"] == f"{base}/Transcriptions.json?PageSize=50&Page=0" and page["next_page_uri"] is None
    body = page["transcriptions"][1]
    validate_in(REFERENCE, TRANSCRIPTION, body, exact=True)
    assert body == {
        "account_sid": api.project.sid,
        "api_version": "2010-04-01",
        "date_created": body["date_created"],
        "date_updated": body["date_updated"],
        "duration": "1",
        "price": None,
        "price_unit": "USD",
        "recording_sid": first.recording_sid,
        "sid": first.sid,
        "status": "completed",
        "transcription_text": "first one",
        "type": "fast",
        "uri": f"{base}/Transcriptions/{first.sid}.json",
    }
    assert email.utils.parsedate_to_datetime(body["date_created"]) == first.date_created.replace(
        tzinfo=dt.UTC, microsecond=0
    )
    assert page["transcriptions"][0]["transcription_text"] is None and page["transcriptions"][0]["status"] == "failed"
    for suffix in ("", ".json"):
        fetched = await api.client.get(f"{base}/Transcriptions/{first.sid}{suffix}", headers=api.auth)
        assert fetched.status == 200 and await fetched.json() == body
    text = await api.client.get(f"{base}/Transcriptions/{first.sid}.txt", headers=api.auth)
    assert (text.status, text.content_type, await text.text()) == (200, "text/plain", "first one")
    blank = await api.client.get(f"{base}/Transcriptions/{second.sid}.txt", headers=api.auth)
    assert (blank.status, await blank.text()) == (200, "")
    gone = await api.client.delete(f"{base}/Transcriptions/{first.sid}.json", headers=api.auth)
    assert gone.status == 204
    assert api.store.read_sync(get_transcription, first.sid) is None
    again = await api.client.get(f"{base}/Transcriptions/{first.sid}.json", headers=api.auth)
    assert again.status == 404 and (await again.json())["code"] == 20404
    missing = await api.client.delete(f"{base}/Transcriptions/{first.sid}.json", headers=api.auth)
    assert missing.status == 404
    assert api_check.seen[TRANSCRIPTION] == 4 and api_check.seen["error"] == 2


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_recording_level(api: Api, tmp_path: Path, api_check: SchemaCheck, prefix: str) -> None:
    mine = make_transcription(api, tmp_path)
    other = make_transcription(api, tmp_path, text="other")
    base = f"{prefix}/Accounts/{api.project.sid}/Recordings/{mine.recording_sid}/Transcriptions"
    page = await (await api.client.get(f"{base}.json", headers=api.auth)).json()
    assert [t["sid"] for t in page["transcriptions"]] == [mine.sid]
    assert page["uri"] == f"{base}.json?PageSize=50&Page=0"
    # Its uri is the account-level one, as Twilio's.
    assert page["transcriptions"][0]["uri"] == f"{prefix}/Accounts/{api.project.sid}/Transcriptions/{mine.sid}.json"
    fetched = await api.client.get(f"{base}/{mine.sid}", headers=api.auth)
    assert fetched.status == 200 and (await fetched.json())["sid"] == mine.sid
    txt = await api.client.get(f"{base}/{mine.sid}.txt", headers=api.auth)
    assert await txt.text() == "hello world"
    # Another recording's transcription under this recording: 404.
    wrong = await api.client.get(f"{base}/{other.sid}.json", headers=api.auth)
    assert wrong.status == 404
    assert (await api.client.delete(f"{base}/{other.sid}.json", headers=api.auth)).status == 404
    unknown = await api.client.get(
        f"{prefix}/Accounts/{api.project.sid}/Recordings/REnope/Transcriptions.json", headers=api.auth
    )
    assert unknown.status == 404 and (await unknown.json())["code"] == 20404
    assert (await api.client.delete(f"{base}/{mine.sid}.json", headers=api.auth)).status == 204
    empty = await (await api.client.get(f"{base}.json", headers=api.auth)).json()
    assert empty["transcriptions"] == []
    assert api.store.read_sync(get_transcription, other.sid) is not None


async def test_another_projects_transcriptions_are_404(api: Api, tmp_path: Path) -> None:
    stranger = api.store.write_sync(lambda: create_project("stranger"))
    theirs = make_transcription(api, tmp_path, account=stranger.sid)
    for url in (
        f"{api.base}/Transcriptions/{theirs.sid}.json",
        f"{api.base}/Recordings/{theirs.recording_sid}/Transcriptions.json",
        f"{api.base}/Recordings/{theirs.recording_sid}/Transcriptions/{theirs.sid}.json",
    ):
        resp = await api.client.get(url, headers=api.auth)
        assert resp.status == 404, url
    assert (await api.client.delete(f"{api.base}/Transcriptions/{theirs.sid}.json", headers=api.auth)).status == 404
    page = await (await api.client.get(f"{api.base}/Transcriptions.json", headers=api.auth)).json()
    assert page["transcriptions"] == []
    unauthenticated = await api.client.get(f"{api.base}/Transcriptions.json")
    assert unauthenticated.status == 401


async def test_paging_and_a_deleted_recording_takes_its_transcriptions(api: Api, tmp_path: Path) -> None:
    made = [make_transcription(api, tmp_path, text=f"t{i}") for i in range(5)]
    first = await (await api.client.get(f"{api.base}/Transcriptions.json?PageSize=2", headers=api.auth)).json()
    assert [t["transcription_text"] for t in first["transcriptions"]] == ["t4", "t3"]
    assert first["next_page_uri"] is not None and first["page_size"] == 2
    second = await (await api.client.get(first["next_page_uri"], headers=api.auth)).json()
    assert [t["transcription_text"] for t in second["transcriptions"]] == ["t2", "t1"]
    api.store.write_sync(delete_recording, made[0].recording_sid)  # the API's delete, the retention janitor's
    assert api.store.read_sync(get_transcription, made[0].sid) is None


async def test_twilio_python_reads_transcriptions(api: Api, tmp_path: Path) -> None:
    """twilio-python (the oracle) on a real socket: list, the recording's list, fetch, delete, 404."""
    made = [make_transcription(api, tmp_path, text=f"words {i}") for i in range(3)]
    base_url = str(api.client.make_url("")).rstrip("/")

    def drive() -> dict[str, Any]:
        client = Client(api.project.sid, api.project.auth_token, edge=None, region=None)
        client.api.base_url = base_url  # loopback only
        listed = client.transcriptions.list(page_size=2)
        of_recording = client.recordings(made[1].recording_sid).transcriptions.list()
        fetched = client.transcriptions(made[2].sid).fetch()
        deleted = client.transcriptions(made[0].sid).delete()
        try:
            client.transcriptions(made[0].sid).fetch()
            missing = None
        except TwilioRestException as exc:
            missing = (exc.status, exc.code)
        return {
            "listed": listed,
            "of_recording": of_recording,
            "fetched": fetched,
            "deleted": deleted,
            "missing": missing,
        }

    r = await asyncio.to_thread(drive)
    assert [t.sid for t in r["listed"]] == [t.sid for t in reversed(made)]  # all three, two pages
    assert [t.sid for t in r["of_recording"]] == [made[1].sid]
    fetched = r["fetched"]
    assert (fetched.transcription_text, fetched.status, fetched.recording_sid) == (
        "words 2",
        "completed",
        made[2].recording_sid,
    )
    assert fetched.duration == "1" and fetched.price is None and fetched.type == "fast"
    assert fetched.date_created == made[2].date_created.replace(tzinfo=dt.UTC, microsecond=0)
    assert r["deleted"] is True and r["missing"] == (404, 20404)


def test_schema_16_from_schema_15(tmp_path: Path) -> None:
    """The transcriptions table joins a store at version 15 with its recordings; a recording deleted
    there takes its transcriptions."""
    db = open_database(f"sqlite:///{tmp_path / 'w.db'}")
    database_proxy.initialize(db)
    assert migrate(db, target=15) == 15
    for sql in (
        "INSERT INTO projects (sid, auth_token, friendly_name, date_created, date_updated)"
        " VALUES ('AC1', 't', 'p', '2026-01-01', '2026-01-01')",
        "INSERT INTO recordings (sid, account_sid, call_sid, status, source, date_created, date_updated)"
        " VALUES ('RE1', 'AC1', 'CA1', 'completed', 'RecordVerb', '2026-01-01', '2026-01-01')",
    ):
        db.execute_sql(sql)
    assert migrate(db, target=16) == 16
    tr = insert_transcription(account_sid="AC1", call_sid="CA1", recording_sid="RE1", callback=None)
    assert get_transcription(tr.sid) == tr and tr.status == "in-progress"
    delete_recording("RE1")
    assert get_transcription(tr.sid) is None
    db.close()
