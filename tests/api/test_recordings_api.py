"""Recordings over HTTP (account and call level, media with 202), and the twilio-python contract.

Every JSON response is validated by tests/api/conftest.py's SchemaCheck (account-level responses
against 'api.v2010.account.recording', call-level ones against '...call.call_recording')."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import io
import json
import wave
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.api.conftest import Api, SchemaCheck, basic, make_api
from tests.api.test_calls_api import error_of, seed
from wirexa.clock import new_sid, utcnow
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.store.repo import RecordingRecord
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.recordings import get_recording, insert_recording, list_recordings, update_recording

# Keys signalwire 2.1.1's patched account-level RecordingInstance reads with payload[...]
# (reference §3 item 6): a missing one is a KeyError in that client.
SIGNALWIRE_STRICT = {
    "account_sid",
    "api_version",
    "call_sid",
    "conference_sid",
    "date_created",
    "date_updated",
    "start_time",
    "duration",
    "sid",
    "price",
    "uri",
    "price_unit",
    "status",
    "source",
    "error_code",
}


def make_recording(
    api: Api,
    tmp_path: Path,
    call_sid: str,
    status: str = "completed",
    account: str | None = None,
    when: dt.datetime | None = None,
) -> RecordingRecord:
    wav = tmp_path / f"{call_sid}-{new_sid('')}.wav"
    wav.write_bytes(wav_bytes(tone_pcm(440, 1000)))
    return api.store.write_sync(
        lambda: insert_recording(
            account_sid=account or api.project.sid,
            call_sid=call_sid,
            status=status,
            source="RecordVerb",
            duration_s=None if status == "in-progress" else 1,
            start_time=utcnow(),
            wav_path=str(wav),
            now=when,
        )
    )


async def test_account_level_list_fetch_and_strict_keys(api: Api, tmp_path: Path, api_check: SchemaCheck) -> None:
    call = seed(api, 1, status="in-progress")[0]
    rec = make_recording(api, tmp_path, call.sid)
    listed = await (await api.client.get(f"{api.base}/Recordings.json", headers=api.auth)).json()
    assert [r["sid"] for r in listed["recordings"]] == [rec.sid]
    resp = await api.client.get(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth)
    body = await resp.json()
    assert resp.status == 200
    assert SIGNALWIRE_STRICT <= set(body)
    assert body["uri"] == f"{api.base}/Recordings/{rec.sid}.json" and body["channels"] == 1
    assert body["call_sid"] == call.sid and body["duration"] == "1" and body["status"] == "completed"
    assert body["media_url"] == f"http://127.0.0.1:5000{api.base}/Recordings/{rec.sid}"
    assert body["subresource_uris"]["transcriptions"] == f"{api.base}/Recordings/{rec.sid}/Transcriptions.json"
    created = email.utils.parsedate_to_datetime(body["date_created"])
    assert created == rec.date_created.replace(tzinfo=dt.UTC, microsecond=0)  # the stored time, in UTC
    filtered = await (await api.client.get(f"{api.base}/Recordings.json?CallSid=CAnone", headers=api.auth)).json()
    assert filtered["recordings"] == []
    by_call = await (await api.client.get(f"{api.base}/Recordings.json?CallSid={call.sid}", headers=api.auth)).json()
    assert [r["sid"] for r in by_call["recordings"]] == [rec.sid]
    assert api_check.seen["api.v2010.account.recording"] == 3


async def test_call_level_list_and_fetch(api: Api, tmp_path: Path, api_check: SchemaCheck) -> None:
    call, other_call = seed(api, 2)
    rec = make_recording(api, tmp_path, call.sid)
    make_recording(api, tmp_path, other_call.sid)
    per_call = await (await api.client.get(f"{api.base}/Calls/{call.sid}/Recordings.json", headers=api.auth)).json()
    assert [r["sid"] for r in per_call["recordings"]] == [rec.sid]
    assert per_call["recordings"][0]["track"] == "both" and "media_url" not in per_call["recordings"][0]
    one = await (
        await api.client.get(f"{api.base}/Calls/{call.sid}/Recordings/{rec.sid}.json", headers=api.auth)
    ).json()
    assert one["uri"] == f"{api.base}/Calls/{call.sid}/Recordings/{rec.sid}.json"
    assert SIGNALWIRE_STRICT <= set(one)
    # the recording exists, but not under that call
    await error_of(
        await api.client.get(f"{api.base}/Calls/{other_call.sid}/Recordings/{rec.sid}.json", headers=api.auth),
        404,
        20404,
    )
    await error_of(await api.client.get(f"{api.base}/Calls/CAnope/Recordings.json", headers=api.auth), 404, 20404)
    assert api_check.seen["api.v2010.account.call.call_recording"] == 2


async def test_recordings_under_the_laml_prefix(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1)[0]
    rec = make_recording(api, tmp_path, call.sid)
    laml = f"/api/laml/2010-04-01/Accounts/{api.project.sid}"
    listed = await (await api.client.get(f"{laml}/Recordings", headers=api.auth)).json()
    assert listed["recordings"][0]["uri"] == f"{laml}/Recordings/{rec.sid}.json"
    assert listed["uri"].startswith(f"{laml}/Recordings?")
    per_call = await (await api.client.get(f"{laml}/Calls/{call.sid}/Recordings.json", headers=api.auth)).json()
    assert per_call["recordings"][0]["uri"] == f"{laml}/Calls/{call.sid}/Recordings/{rec.sid}.json"
    wav = await api.client.get(f"{laml}/Recordings/{rec.sid}.wav")
    assert wav.status == 200 and (await wav.read())[:4] == b"RIFF"


async def test_recording_list_paging_and_date_filter(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1)[0]
    recs = [make_recording(api, tmp_path, call.sid, when=dt.datetime(2026, 2, 1 + i)) for i in range(5)]
    body = await (await api.client.get(f"{api.base}/Recordings.json?PageSize=2", headers=api.auth)).json()
    seen = [r["sid"] for r in body["recordings"]]
    while body["next_page_uri"]:
        body = await (await api.client.get(body["next_page_uri"], headers=api.auth)).json()
        seen += [r["sid"] for r in body["recordings"]]
    assert seen == [r.sid for r in reversed(recs)]
    ranged = await (
        await api.client.get(
            f"{api.base}/Recordings.json?DateCreated%3E=2026-02-02&DateCreated%3C=2026-02-04", headers=api.auth
        )
    ).json()
    assert [r["sid"] for r in ranged["recordings"]] == [recs[2].sid, recs[1].sid]
    on_day = await (
        await api.client.get(f"{api.base}/Calls/{call.sid}/Recordings.json?DateCreated=2026-02-05", headers=api.auth)
    ).json()
    assert [r["sid"] for r in on_day["recordings"]] == [recs[4].sid]


async def test_other_projects_recordings_are_404(api: Api, tmp_path: Path) -> None:
    other = api.store.write_sync(create_project, "other")
    call = seed(api, 1, account=other.sid)[0]
    theirs = make_recording(api, tmp_path, call.sid, account=other.sid)
    await error_of(await api.client.get(f"{api.base}/Recordings/{theirs.sid}.json", headers=api.auth), 404, 20404)
    await error_of(await api.client.delete(f"{api.base}/Recordings/{theirs.sid}.json", headers=api.auth), 404, 20404)
    await error_of(await api.client.get(f"{api.base}/Calls/{call.sid}/Recordings.json", headers=api.auth), 404, 20404)
    # their media under our account path is not found either
    await error_of(await api.client.get(f"{api.base}/Recordings/{theirs.sid}.wav"), 404, 20404)
    listed = await (await api.client.get(f"{api.base}/Recordings.json", headers=api.auth)).json()
    assert listed["recordings"] == []
    mine = await (
        await api.client.get(
            f"/2010-04-01/Accounts/{other.sid}/Recordings/{theirs.sid}.json", headers=basic(other.sid, other.auth_token)
        )
    ).json()
    assert mine["sid"] == theirs.sid


async def poll_until_200(api: Api, url: str) -> Any:
    for _ in range(200):
        resp = await api.client.get(url)
        if resp.status == 200:
            return resp
        assert resp.status == 202, await resp.text()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} stayed 202")


async def test_media_wav_mp3_and_public_paths(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1)[0]
    rec = make_recording(api, tmp_path, call.sid)
    wav = await api.client.get(f"{api.base}/Recordings/{rec.sid}.wav")  # media needs no credentials
    data = await wav.read()
    assert wav.status == 200 and wav.headers["Content-Type"] == "audio/x-wav"
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 8000, 8000)
    # Twilio's media_url has no extension: the WAV
    plain = await api.client.get(f"{api.base}/Recordings/{rec.sid}")
    assert plain.status == 200 and plain.headers["Content-Type"] == "audio/x-wav" and await plain.read() == data

    first = await api.client.get(f"/recordings/{rec.sid}.mp3")
    body = await first.json()
    assert first.status == 202 and first.headers["Retry-After"] == "1" and body["status"] == 202
    mp3 = await poll_until_200(api, f"/recordings/{rec.sid}.mp3")
    audio = await mp3.read()
    assert mp3.headers["Content-Type"] == "audio/mpeg" and len(audio) > 1000
    assert audio[:3] == b"ID3" or audio[0] == 0xFF  # an MP3 (tag or frame sync)
    again = await api.client.get(f"{api.base}/Recordings/{rec.sid}.mp3")  # converted once, served at once
    assert again.status == 200 and await again.read() == audio

    by_call = await api.client.get(f"/recordings/call/{call.sid}.wav")
    assert by_call.status == 200 and await by_call.read() == data
    by_call_mp3 = await api.client.get(f"/recordings/call/{call.sid}.mp3")
    assert by_call_mp3.status == 200 and by_call_mp3.headers["Content-Type"] == "audio/mpeg"
    assert (await api.client.get(f"/recordings/{rec.sid}")).status == 200  # no extension: WAV
    await error_of(await api.client.get("/recordings/REnope.wav"), 404, 20404)
    await error_of(await api.client.get("/recordings/call/CAnope.mp3"), 404, 20404)
    # JSON metadata needs credentials
    resp = await api.client.get(f"{api.base}/Recordings/{rec.sid}.json")
    await error_of(resp, 401, 20003)
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


async def test_call_level_media(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1)[0]
    rec = make_recording(api, tmp_path, call.sid)
    resp = await api.client.get(f"{api.base}/Calls/{call.sid}/Recordings/{rec.sid}.wav", headers=api.auth)
    assert resp.status == 200 and (await resp.read())[:4] == b"RIFF"


async def test_media_is_202_while_recording_and_404_when_the_file_is_gone(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1, status="in-progress")[0]
    rec = make_recording(api, tmp_path, call.sid, status="in-progress")
    for url in (f"/recordings/{rec.sid}.wav", f"/recordings/{rec.sid}.mp3", f"{api.base}/Recordings/{rec.sid}.wav"):
        resp = await api.client.get(url)
        assert resp.status == 202 and resp.headers["Retry-After"] == "1", url
    body = await (await api.client.get(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth)).json()
    assert body["status"] == "in-progress" and body["duration"] is None
    # The call's public media only ever names a completed recording.
    await error_of(await api.client.get(f"/recordings/call/{call.sid}.wav"), 404, 20404)
    done = make_recording(api, tmp_path, call.sid)
    Path(done.wav_path or "").unlink()
    await error_of(await api.client.get(f"/recordings/{done.sid}.wav"), 404, 20404)


async def test_create_recording_of_a_call_not_live_here(api: Api) -> None:
    """The API only validates; recording is the live call's session's (tests/calls/
    test_call_recordings.py, tests/e2e/test_recordings_e2e.py). Without one: 21220, no row."""
    for status in ("completed", "queued", "ringing", "in-progress"):
        call = seed(api, 1, status=status)[0]
        resp = await api.client.post(f"{api.base}/Calls/{call.sid}/Recordings.json", headers=api.auth)
        await error_of(resp, 400, 21220)
        assert api.store.read_sync(lambda sid=call.sid: list_recordings(api.project.sid, 5, call_sid=sid))[0] == []
    live = seed(api, 1, status="in-progress")[0]
    url = f"{api.base}/Calls/{live.sid}/Recordings.json"
    for bad in (
        {"RecordingChannels": "stereo"},
        {"RecordingTrack": "sideways"},
        {"Trim": "some"},
        {"RecordingStatusCallbackEvent": "finished"},
    ):
        await error_of(await api.client.post(url, data=bad, headers=api.auth), 400, 20001)
    await error_of(
        await api.client.post(url, data={"RecordingStatusCallback": "ftp://x"}, headers=api.auth), 400, 21205
    )
    await error_of(await api.client.post(f"{api.base}/Calls/CAnope/Recordings.json", headers=api.auth), 404, 20404)


async def test_update_call_recording_checks(api: Api, tmp_path: Path) -> None:
    live = seed(api, 1, status="in-progress")[0]
    rec = api.store.write_sync(
        lambda: insert_recording(
            account_sid=api.project.sid, call_sid=live.sid, status="in-progress", source="StartCallRecordingAPI"
        )
    )
    url = f"{api.base}/Calls/{live.sid}/Recordings/{rec.sid}.json"
    await error_of(await api.client.post(url, data={"Status": "bogus"}, headers=api.auth), 400, 21220)
    await error_of(await api.client.post(url, data={}, headers=api.auth), 400, 20001)
    bad = {"Status": "paused", "PauseBehavior": "mute"}
    await error_of(await api.client.post(url, data=bad, headers=api.auth), 400, 20001)
    # a row whose call runs on no session here (an engine that died): not in progress
    await error_of(await api.client.post(url, data={"Status": "paused"}, headers=api.auth), 400, 21220)
    current = f"{api.base}/Calls/{live.sid}/Recordings/Twilio.CURRENT.json"
    await error_of(await api.client.post(current, data={"Status": "paused"}, headers=api.auth), 400, 21220)
    api.store.write_sync(lambda: update_recording(rec.sid, status="completed"))
    await error_of(await api.client.post(url, data={"Status": "in-progress"}, headers=api.auth), 400, 21220)
    await error_of(await api.client.post(current, data={"Status": "paused"}, headers=api.auth), 404, 20404)


async def test_delete_recordings(api: Api, tmp_path: Path) -> None:
    done = seed(api, 1)[0]
    rec = make_recording(api, tmp_path, done.sid)
    mp3 = Path(rec.wav_path or "").with_suffix(".mp3")
    mp3.write_bytes(b"ID3")
    resp = await api.client.delete(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth)
    assert resp.status == 204 and await resp.read() == b""
    assert not Path(rec.wav_path or "").exists() and not mp3.exists()
    await error_of(await api.client.get(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth), 404, 20404)
    await error_of(await api.client.get(f"/recordings/{rec.sid}.wav"), 404, 20404)
    rec2 = make_recording(api, tmp_path, done.sid)
    resp = await api.client.delete(f"{api.base}/Calls/{done.sid}/Recordings/{rec2.sid}.json", headers=api.auth)
    assert resp.status == 204 and api.store.read_sync(get_recording, rec2.sid) is None
    await error_of(await api.client.delete(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth), 404, 20404)


# --- the twilio-python contract ------------------------------------------------------------------


async def test_twilio_python_contract_with_2500_calls(api: Api, tmp_path: Path) -> None:
    """twilio-python 9 (the oracle) against the app on a real socket: create 201, 2,500+ calls
    paged through next_page_uri by the SDK's iterator, a time-range filter, update, delete 204,
    recordings, and 404 / 401 as TwilioRestException."""
    seeded = seed(
        api, 2500, base=dt.datetime(2026, 1, 1), start=dt.datetime(2026, 1, 1, 12), end=dt.datetime(2026, 1, 1, 13)
    )
    rec = make_recording(api, tmp_path, seeded[0].sid)
    base_url = str(api.client.make_url("")).rstrip("/")
    assert base_url.startswith("http://127.0.0.1:")

    def drive() -> dict[str, Any]:
        client = Client(api.project.sid, api.project.auth_token, edge=None, region=None)
        client.api.base_url = base_url
        created = client.calls.create(
            to="+15005550006",
            from_="+15005550100",
            url="http://127.0.0.1:9/x",
            record=True,
            status_callback="http://127.0.0.1:9/cb",
            status_callback_event=["initiated", "answered"],
        )
        fetched = client.calls(created.sid).fetch()
        streamed = [c.sid for c in client.calls.stream(page_size=1000)]
        default_paged = len(client.calls.list(limit=120))
        ranged = client.calls.list(
            start_time_after=dt.datetime(2026, 1, 1, 11),
            start_time_before=dt.datetime(2026, 1, 1, 12, 30),
            page_size=1000,
        )
        updated = client.calls(created.sid).update(status="canceled")
        deleted = client.calls(created.sid).delete()
        recordings = [(r.sid, r.call_sid, r.duration, r.date_created) for r in client.recordings.list()]
        call_recs = [r.sid for r in client.calls(seeded[0].sid).recordings.list()]
        errors: dict[str, Any] = {}
        try:
            client.calls("CAdoesnotexist").fetch()
        except TwilioRestException as exc:
            errors["missing"] = (exc.status, exc.code, exc.msg)
        try:
            client.calls(seeded[0].sid).update(status="canceled")
        except TwilioRestException as exc:
            errors["ended"] = (exc.status, exc.code)
        try:
            client.calls.create(to="nope", from_="+15005550100", url="http://127.0.0.1:9/x")
        except TwilioRestException as exc:
            errors["bad_to"] = (exc.status, exc.code)
        bad_client = Client(api.project.sid, "bad", edge=None, region=None)
        bad_client.api.base_url = base_url  # never the real Twilio: loopback only
        try:
            bad_client.calls(created.sid).fetch()  # (a list would raise TwilioException: SDK quirk)
        except TwilioRestException as exc:
            errors["bad"] = (exc.status, exc.code)
        return {
            "created": created,
            "fetched": fetched,
            "updated": updated.status,
            "streamed": streamed,
            "default_paged": default_paged,
            "ranged": len(ranged),
            "deleted": deleted,
            "recordings": recordings,
            "call_recs": call_recs,
            "errors": errors,
        }

    r = await asyncio.to_thread(drive)
    created = r["created"]
    assert created.status == "queued" and created.sid.startswith("CA") and created.date_created is not None
    assert created.to == "+15005550006" and created._from == "+15005550100"
    stored = api.store.read_sync(get_call, created.sid)
    assert stored is None  # deleted at the end
    assert r["fetched"].to == "+15005550006" and r["fetched"].start_time is None
    assert r["updated"] == "canceled" and r["deleted"] is True
    # newest first, every call exactly once
    assert r["streamed"] == [created.sid] + [c.sid for c in reversed(seeded)]
    assert r["default_paged"] == 120 and r["ranged"] == 2500
    assert r["recordings"] == [(rec.sid, seeded[0].sid, "1", rec.date_created.replace(tzinfo=dt.UTC, microsecond=0))]
    assert r["call_recs"] == [rec.sid]
    assert r["errors"]["missing"][:2] == (404, 20404)
    assert r["errors"]["missing"][2].startswith("Unable to fetch record: The requested resource")
    assert r["errors"]["ended"] == (400, 21220)
    assert r["errors"]["bad_to"] == (400, 21211)
    assert r["errors"]["bad"] == (401, 20003)


@pytest.mark.parametrize("prefix", ["/2010-04-01", "/api/laml/2010-04-01"])
async def test_sdk_follows_next_page_uri_under_either_prefix(api: Api, prefix: str) -> None:
    """next_page_uri is followed verbatim by the SDK: it must keep the prefix of the request."""
    seed(api, 25)
    base_url = str(api.client.make_url("")).rstrip("/")

    def drive() -> list[str]:
        client = Client(api.project.sid, api.project.auth_token, edge=None, region=None)
        client.api.base_url = base_url
        page = client.api.v2010.account.calls.page(page_size=10)
        sids = [c.sid for c in page]
        uri = page._payload["next_page_uri"]
        assert uri.startswith("/2010-04-01/")
        laml_uri = uri.replace("/2010-04-01/", prefix + "/", 1)
        while laml_uri:
            resp = client.request("GET", base_url + laml_uri)
            body = json.loads(resp.text)
            assert body["uri"].startswith(prefix + "/") if body["calls"] else True
            sids += [c["sid"] for c in body["calls"]]
            laml_uri = body["next_page_uri"]
            assert laml_uri is None or laml_uri.startswith(prefix + "/")
        return sids

    sids = await asyncio.to_thread(drive)
    assert len(sids) == len(set(sids)) == 25


# --- media over HTTP: HEAD, byte ranges, 202 bodies, media auth ------------------------------------


async def test_media_head_and_byte_ranges(api: Api, tmp_path: Path) -> None:
    """What a browser's audio player, `curl -I` and `curl -C -` need, on every media route."""
    call = seed(api, 1)[0]
    rec = make_recording(api, tmp_path, call.sid)
    data = Path(rec.wav_path or "").read_bytes()
    for url in (
        f"/recordings/{rec.sid}.wav",
        f"/recordings/{rec.sid}",
        f"{api.base}/Recordings/{rec.sid}",
        f"/recordings/call/{call.sid}.wav",
    ):
        head = await api.client.head(url)
        assert head.status == 200 and await head.read() == b"", url
        assert head.headers["Content-Type"] == "audio/x-wav" and int(head.headers["Content-Length"]) == len(data)
        assert head.headers["Accept-Ranges"] == "bytes"
    url = f"/recordings/{rec.sid}.wav"
    for spec, (start, end) in (
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, len(data) - 1)),
        ("bytes=-10", (len(data) - 10, len(data) - 1)),
        (f"bytes=16000-{10 * len(data)}", (16000, len(data) - 1)),
    ):
        part = await api.client.get(url, headers={"Range": spec})
        assert part.status == 206, spec
        assert part.headers["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
        assert await part.read() == data[start : end + 1] and int(part.headers["Content-Length"]) == end - start + 1
    past = await api.client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"
    auth_call = await api.client.head(f"{api.base}/Calls/{call.sid}/Recordings/{rec.sid}.wav", headers=api.auth)
    assert auth_call.status == 200 and int(auth_call.headers["Content-Length"]) == len(data)


async def test_202_bodies_carry_the_api_error_keys(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1, status="in-progress")[0]
    rec = make_recording(api, tmp_path, call.sid, status="in-progress")
    resp = await api.client.get(f"/recordings/{rec.sid}.wav")
    body = await resp.json()
    assert resp.status == 202 and set(body) == {"code", "message", "more_info", "status", "detail"}
    assert body["status"] == 202 and body["detail"] == body["message"] == "Recording is still being processed"


async def test_a_recording_whose_mp3_is_pending_serves_its_wav_and_202_for_the_mp3(api: Api, tmp_path: Path) -> None:
    """The media job makes the MP3 once (no conversion on request for it); until then 202."""
    call = seed(api, 1)[0]
    rec = make_recording(api, tmp_path, call.sid)
    api.store.write_sync(lambda: update_recording(rec.sid, media_state="pending"))
    assert (await api.client.get(f"/recordings/{rec.sid}.wav")).status == 200
    for _ in range(3):
        resp = await api.client.get(f"/recordings/{rec.sid}.mp3")
        assert resp.status == 202 and (await resp.json())["message"] == "Recording is being converted to MP3"
    await asyncio.sleep(0.3)
    assert not Path(rec.wav_path or "").with_suffix(".mp3").exists()  # the request did not convert it
    mp3 = Path(rec.wav_path or "").with_suffix(".mp3")
    mp3.write_bytes(b"ID3" + bytes(500))
    api.store.write_sync(lambda: update_recording(rec.sid, media_state="ready", mp3_path=str(mp3)))
    done = await api.client.get(f"/recordings/{rec.sid}.mp3", headers={"Range": "bytes=0-2"})
    assert done.status == 206 and done.headers["Content-Type"] == "audio/mpeg" and await done.read() == b"ID3"


async def test_media_auth_setting_requires_the_projects_credentials(tmp_path: Path) -> None:
    async with make_api(tmp_path, recordings_media_auth=True) as api:
        call = seed(api, 1)[0]
        rec = make_recording(api, tmp_path, call.sid)
        other = api.store.write_sync(create_project, "other")
        for url in (
            f"/recordings/{rec.sid}.wav",
            f"{api.base}/Recordings/{rec.sid}.wav",
            f"/recordings/call/{call.sid}.wav",
        ):
            await error_of(await api.client.get(url), 401, 20003)
            assert (await api.client.get(url, headers=api.auth)).status == 200, url
        await error_of(
            await api.client.get(f"/recordings/{rec.sid}.wav", headers=basic(other.sid, other.auth_token)), 404, 20404
        )
        await error_of(
            await api.client.get(f"/recordings/{rec.sid}.wav", headers=basic(api.project.sid, "wrong")), 401, 20003
        )
