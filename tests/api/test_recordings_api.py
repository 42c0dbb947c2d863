"""Recordings over HTTP (account and call level, media with 202), and the twilio-python contract."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.api.conftest import Api, validate
from tests.api.test_calls_api import error_of, seed
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.store import repo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# Keys signalwire 2.1.1's patched account-level RecordingInstance reads with payload[...].
SIGNALWIRE_STRICT = {
    "account_sid", "api_version", "call_sid", "conference_sid", "date_created", "date_updated", "start_time",
    "duration", "sid", "price", "uri", "price_unit", "status", "source", "error_code",
}


def make_recording(api: Api, tmp_path: Path, call_sid: str, status: str = "completed") -> repo.RecordingRecord:
    wav = tmp_path / f"{call_sid}.wav"
    wav.write_bytes(wav_bytes(tone_pcm(440, 1000)))
    return api.store.write_sync(
        lambda: repo.insert_recording(
            account_sid=api.project.sid, call_sid=call_sid, status=status, source="RecordVerb", duration_s=1,
            start_time=repo.utcnow(), wav_path=str(wav),
        )
    )


async def test_account_and_call_level_recordings(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1, status="in-progress")[0]
    rec = make_recording(api, tmp_path, call.sid)
    listed = await (await api.client.get(f"{api.base}/Recordings.json", headers=api.auth)).json()
    assert [r["sid"] for r in listed["recordings"]] == [rec.sid]
    body = await (await api.client.get(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth)).json()
    validate("api.v2010.account.recording", body)
    assert SIGNALWIRE_STRICT <= set(body)
    assert body["uri"] == f"{api.base}/Recordings/{rec.sid}.json" and body["channels"] == 1
    per_call = await (await api.client.get(f"{api.base}/Calls/{call.sid}/Recordings.json", headers=api.auth)).json()
    validate("api.v2010.account.call.call_recording", per_call["recordings"][0])
    one = await (await api.client.get(f"{api.base}/Calls/{call.sid}/Recordings/{rec.sid}.json", headers=api.auth)).json()
    assert one["uri"] == f"{api.base}/Calls/{call.sid}/Recordings/{rec.sid}.json"
    filtered = await (await api.client.get(f"{api.base}/Recordings.json?CallSid=CAnone", headers=api.auth)).json()
    assert filtered["recordings"] == []


async def test_media_wav_mp3_and_public_paths(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1)[0]
    rec = make_recording(api, tmp_path, call.sid)
    wav = await api.client.get(f"{api.base}/Recordings/{rec.sid}.wav")  # media needs no credentials
    assert wav.status == 200 and wav.headers["Content-Type"] == "audio/x-wav" and (await wav.read())[:4] == b"RIFF"
    first = await api.client.get(f"/recordings/{rec.sid}.mp3")
    assert first.status == 202 and first.headers["Retry-After"] == "1"
    for _ in range(100):
        mp3 = await api.client.get(f"/recordings/{rec.sid}.mp3")
        if mp3.status == 200:
            break
        await asyncio.sleep(0.1)
    assert mp3.status == 200 and mp3.headers["Content-Type"] == "audio/mpeg" and len(await mp3.read()) > 1000
    by_call = await api.client.get(f"/recordings/call/{call.sid}.wav")
    assert by_call.status == 200 and (await by_call.read())[:4] == b"RIFF"
    assert (await api.client.get(f"/recordings/{rec.sid}")).status == 200  # no extension: WAV
    await error_of(await api.client.get("/recordings/REnope.wav"), 404, 20404)
    # JSON metadata needs credentials
    await error_of(await api.client.get(f"{api.base}/Recordings/{rec.sid}.json"), 401, 20003)


async def test_media_is_202_while_recording(api: Api, tmp_path: Path) -> None:
    call = seed(api, 1, status="in-progress")[0]
    rec = make_recording(api, tmp_path, call.sid, status="in-progress")
    assert (await api.client.get(f"/recordings/{rec.sid}.wav")).status == 202


async def test_create_update_delete_call_recording(api: Api, tmp_path: Path) -> None:
    done = seed(api, 1)[0]
    resp = await api.client.post(f"{api.base}/Calls/{done.sid}/Recordings.json", headers=api.auth)
    await error_of(resp, 400, 21220)
    live = seed(api, 1, status="in-progress")[0]
    resp = await api.client.post(
        f"{api.base}/Calls/{live.sid}/Recordings.json", data={"RecordingStatusCallback": "http://h/r"}, headers=api.auth
    )
    body = await resp.json()
    assert resp.status == 201 and body["status"] == "in-progress" and body["source"] == "StartCallRecordingAPI"
    upd = await api.client.post(f"{api.base}/Calls/{live.sid}/Recordings/{body['sid']}.json", data={"Status": "paused"}, headers=api.auth)
    assert (await upd.json())["status"] == "paused"
    await error_of(
        await api.client.post(f"{api.base}/Calls/{live.sid}/Recordings/{body['sid']}.json", data={"Status": "bogus"}, headers=api.auth),
        400, 21220,
    )
    rec = make_recording(api, tmp_path, done.sid)
    resp = await api.client.delete(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth)
    assert resp.status == 204 and not Path(rec.wav_path or "").exists()
    await error_of(await api.client.get(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth), 404, 20404)


async def test_twilio_python_contract_with_2500_calls(api: Api) -> None:
    seed(api, 2500)
    base_url = str(api.client.make_url("")).rstrip("/")

    def drive() -> dict[str, Any]:
        client = Client(api.project.sid, api.project.auth_token, edge=None, region=None)
        client.api.base_url = base_url
        created = client.calls.create(to="+15005550006", from_="+15005550100", url="http://127.0.0.1:9/x", record=True)
        fetched = client.calls(created.sid).fetch()
        updated = client.calls(created.sid).update(status="canceled")
        total = sum(1 for _ in client.calls.stream(page_size=1000))
        deleted = client.calls(created.sid).delete()
        try:
            client.calls("CAdoesnotexist").fetch()
            missing: Any = None
        except TwilioRestException as exc:
            missing = (exc.status, exc.code)
        try:
            bad_client = Client(api.project.sid, "bad", edge=None, region=None)
            bad_client.api.base_url = base_url  # never the real Twilio: loopback only
            bad_client.calls(created.sid).fetch()  # (a list would raise TwilioException: SDK quirk)
            bad: Any = None
        except TwilioRestException as exc:
            bad = (exc.status, exc.code)
        return {
            "created": (created.status, created.sid[:2]), "fetched": fetched.to, "updated": updated.status,
            "total": total, "deleted": deleted, "missing": missing, "bad": bad,
        }

    result = await asyncio.to_thread(drive)
    assert result["created"] == ("queued", "CA")
    assert result["fetched"] == "+15005550006" and result["updated"] == "canceled"
    assert result["total"] == 2501
    assert result["deleted"] is True
    assert result["missing"] == (404, 20404)
    assert result["bad"] == (401, 20003)
