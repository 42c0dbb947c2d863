"""Recordings in an S3-compatible bucket (moto in server mode): the media job's MP3, callback and
upload, serving by proxy (HEAD, ranges) and redirect, delete everywhere, retention, and
`wirexa recordings export` to a directory and to a bucket, resumed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from tests.api.conftest import make_api
from tests.api.test_calls_api import error_of
from tests.console.test_pages import login
from wirexa import config
from wirexa.calls.records import NewRecording
from wirexa.cli.main import app as cli_app
from wirexa.clock import new_sid, utcnow
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.media.recording_jobs import RecordingMedia, RetentionJanitor
from wirexa.media.storage import RangeNotSatisfiable, S3Storage, locator, parse_range
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.calls import StoreCalls
from wirexa.store.db import Store
from wirexa.store.recordings import StoreRecordings
from wirexa.store.repo import CallRecord, RecordingRecord
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.recordings import get_recording, insert_recording, update_recording

BUCKET = "wirexa-recs"


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_s3: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh bucket; credentials through the standard AWS chain (the environment)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1")
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []) if BUCKET in _buckets(client) else []:
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    if BUCKET not in _buckets(client):
        client.create_bucket(Bucket=BUCKET)
    return client


def _buckets(client: Any) -> set[str]:
    return {b["Name"] for b in client.list_buckets()["Buckets"]}


def _keys(client: Any, bucket: str = BUCKET) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def _settings(tmp_path: Path, moto_s3: str, **values: Any) -> Any:
    return config.load(
        env={},
        overrides={
            "data_dir": str(tmp_path),
            "recordings_s3_bucket": BUCKET,
            "recordings_s3_prefix": "recs",
            "recordings_s3_endpoint_url": moto_s3,
            "recordings_s3_region": "us-east-1",
            **values,
        },
    )


def _recording(store: Store, sid: str) -> RecordingRecord:
    rec = store.read_sync(get_recording, sid)
    assert rec is not None, sid
    return rec


def _call(store: Store, account: str) -> CallRecord:
    return store.write_sync(
        lambda: insert_call(
            account_sid=account,
            to_number="+15005550006",
            from_number="+15005550100",
            status="in-progress",
            direction="outbound-api",
        )
    )


async def _save(calls: StoreCalls, call: CallRecord, folder: Path, ms: int = 1000) -> RecordingRecord:
    sid = new_sid("RE")
    wav = folder / call.account_sid / f"{sid}.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    wav.write_bytes(wav_bytes(tone_pcm(440, ms)))
    new = NewRecording(
        sid=sid,
        account_sid=call.account_sid,
        call_sid=call.sid,
        source="RecordVerb",
        channels=1,
        track="both",
        duration_s=max(1, ms // 1000),
        start_time=utcnow(),
        wav_path=str(wav),
        status_callback="http://h/rs",
        status_callback_method="POST",
        status_callback_events=("completed",),
    )
    return await calls.save_recording(new, call)


def test_parse_range() -> None:
    assert (
        parse_range(None, 100) is None
        and parse_range("bytes=0-1,5-6", 100) is None
        and parse_range("items=0-1", 100) is None
    )
    assert (
        parse_range("bytes=5-", 100) == (5, 99)
        and parse_range("bytes=-5", 100) == (95, 99)
        and parse_range("bytes=-500", 100) == (0, 99)
    )
    assert parse_range("bytes=10-20", 100) == (10, 20) and parse_range("bytes=20-10", 100) is None
    for bad in ("bytes=100-", "bytes=-0"):
        with pytest.raises(RangeNotSatisfiable):
            parse_range(bad, 100)


async def test_saved_recording_gets_mp3_then_callback_then_upload(tmp_path: Path, moto_s3: str, s3: Any) -> None:
    """save_recording leaves the callback to the media job: it comes after the MP3 exists, in the
    job's own transaction; then both files go to the bucket and (keep_local off) leave the disk.
    The API then serves them from the bucket: proxied with HEAD and ranges, or redirected."""
    settings = _settings(tmp_path, moto_s3, recordings_s3_keep_local=False)
    store = open_store(settings)
    project = ensure_project(store)
    sent: list[tuple[str, str, str | None]] = []

    def callbacks(rec: RecordingRecord, call: CallRecord | None, event: str) -> None:
        sent.append((rec.sid, event, rec.mp3_path))

    rows = StoreRecordings(store, recording_callbacks=callbacks)
    remote = S3Storage(BUCKET, "recs", endpoint_url=moto_s3, region="us-east-1")
    try:
        async with RecordingMedia(rows, remote=remote, keep_local=False, poll_s=0.05) as media:
            calls = StoreCalls(
                store, status_callbacks=lambda *a: None, recording_callbacks=callbacks, recording_saved=media.wake
            )
            call = _call(store, project.sid)
            rec = await _save(calls, call, settings.recordings_path, 1500)
            assert rec.media_state == "pending" and sent == []  # not at save time
            local = (Path(rec.wav_path or ""), Path(rec.wav_path or "").with_suffix(".mp3"))
            for _ in range(200):
                now = _recording(store, rec.sid)
                # The row says where the files are first; the local copies go right after.
                if now.media_state == "ready" and not any(p.exists() for p in local):
                    break
                await asyncio.sleep(0.05)
        assert len(sent) == 1 and sent[0][:2] == (rec.sid, "completed") and sent[0][2] and sent[0][2].endswith(".mp3")
        assert (now.storage_url, now.wav_path, now.mp3_path) == (f"s3://{BUCKET}/recs/", None, None)
        assert _keys(s3) == [f"recs/{project.sid}/{rec.sid}.mp3", f"recs/{project.sid}/{rec.sid}.wav"]
        assert not Path(rec.wav_path or "").exists() and not Path(rec.wav_path or "").with_suffix(".mp3").exists()
        head = s3.head_object(Bucket=BUCKET, Key=f"recs/{project.sid}/{rec.sid}.wav")
        assert head["ContentType"] == "audio/x-wav" and len(head["Metadata"]["sha256"]) == 64
        data = wav_bytes(tone_pcm(440, 1500))
    finally:
        store.close()

    async with make_api(tmp_path, **_api_values(moto_s3)) as api:
        full = await api.client.get(f"/recordings/{rec.sid}.wav")
        assert full.status == 200 and await full.read() == data and full.headers["Content-Type"] == "audio/x-wav"
        head = await api.client.head(f"/recordings/{rec.sid}.mp3")
        assert (
            head.status == 200
            and head.headers["Content-Type"] == "audio/mpeg"
            and int(head.headers["Content-Length"]) > 1000
        )
        assert await head.read() == b""
        part = await api.client.get(f"{api.base}/Recordings/{rec.sid}", headers={"Range": "bytes=-100"})
        assert part.status == 206 and await part.read() == data[-100:]
        assert part.headers["Content-Range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"
        past = await api.client.get(f"/recordings/{rec.sid}.wav", headers={"Range": f"bytes={len(data)}-"})
        assert past.status == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"
        # The console's player takes it from the bucket the same way (its own login, no API auth).
        await login(api)
        page = await api.client.get(f"/console/calls/{call.sid}")
        assert f'src="/console/recordings/{rec.sid}.wav"' in await page.text()
        played = await api.client.get(f"/console/recordings/{rec.sid}.wav", headers={"Range": "bytes=0-99"})
        assert played.status == 206 and await played.read() == data[:100]
    async with make_api(tmp_path, **_api_values(moto_s3), recordings_s3_serve="redirect") as api:
        moved = await api.client.get(f"/recordings/{rec.sid}.wav", allow_redirects=False)
        assert moved.status == 302 and moved.headers["Location"].startswith(f"{moto_s3}/{BUCKET}/recs/")
        resp = await api.client.delete(f"{api.base}/Recordings/{rec.sid}.json", headers=api.auth)
        assert resp.status == 204
        assert _keys(s3) == []  # deleting the recording removed its files everywhere
        await error_of(await api.client.get(f"/recordings/{rec.sid}.wav"), 404, 20404)


def _api_values(moto_s3: str) -> dict[str, Any]:
    return {
        "recordings_s3_bucket": BUCKET,
        "recordings_s3_prefix": "recs",
        "recordings_s3_endpoint_url": moto_s3,
        "recordings_s3_region": "us-east-1",
    }


async def test_an_upload_that_fails_is_retried_and_keeps_the_local_files(tmp_path: Path, moto_s3: str, s3: Any) -> None:
    settings = _settings(tmp_path, moto_s3)
    store = open_store(settings)
    project = ensure_project(store)
    rows = StoreRecordings(store, recording_callbacks=lambda *a: None)
    try:
        media = RecordingMedia(
            rows,
            remote=S3Storage("no-such-bucket", endpoint_url=moto_s3, region="us-east-1"),
            keep_local=False,
            retry_s=0,
        )
        calls = StoreCalls(
            store, status_callbacks=lambda *a: None, recording_callbacks=lambda *a: None, recording_saved=lambda: None
        )
        rec = await _save(calls, _call(store, project.sid), settings.recordings_path)
        await media.run_once()  # MP3, then the upload fails
        after = _recording(store, rec.sid)
        assert (
            after.media_state == "upload"
            and Path(after.wav_path or "").exists()
            and Path(after.mp3_path or "").exists()
        )
        media.remote = S3Storage(BUCKET, "recs", endpoint_url=moto_s3, region="us-east-1")
        await media.run_once()
        assert _recording(store, rec.sid).media_state == "ready" and len(_keys(s3)) == 2
    finally:
        store.close()


async def test_retention_deletes_old_recordings_and_their_files_everywhere(
    tmp_path: Path, moto_s3: str, s3: Any
) -> None:
    settings = _settings(tmp_path, moto_s3)
    store = open_store(settings)
    project = ensure_project(store)
    rows = StoreRecordings(store, recording_callbacks=lambda *a: None)
    remote = S3Storage(BUCKET, "recs", endpoint_url=moto_s3, region="us-east-1")
    try:
        calls = StoreCalls(
            store, status_callbacks=lambda *a: None, recording_callbacks=lambda *a: None, recording_saved=lambda: None
        )
        call = _call(store, project.sid)
        old, new = (
            await _save(calls, call, settings.recordings_path),
            await _save(calls, call, settings.recordings_path),
        )
        await RecordingMedia(rows, remote=remote).run_once()
        store.write_sync(lambda: update_recording(old.sid, date_created=utcnow() - dt.timedelta(days=40)))
        live = store.write_sync(
            lambda: insert_recording(
                account_sid=project.sid,
                call_sid=call.sid,
                status="in-progress",
                source="OutboundAPI",
                now=utcnow() - dt.timedelta(days=90),
            )
        )
        assert len(_keys(s3)) == 4
        async with RetentionJanitor(rows, days=30, locate=locator(settings, remote), interval_s=3600):
            for _ in range(100):
                if store.read_sync(get_recording, old.sid) is None:
                    break
                await asyncio.sleep(0.05)
        assert store.read_sync(get_recording, old.sid) is None
        assert not Path(old.wav_path or "").exists() and not Path(old.wav_path or "").with_suffix(".mp3").exists()
        assert _keys(s3) == [f"recs/{project.sid}/{new.sid}.mp3", f"recs/{project.sid}/{new.sid}.wav"]
        assert _recording(store, new.sid).status == "completed" and Path(new.wav_path or "").exists()
        assert _recording(store, live.sid).status == "in-progress"  # never a recording still going
    finally:
        store.close()


# --- wirexa recordings export ------------------------------------------------------------------------


def _export(*args: str) -> Any:
    return CliRunner().invoke(cli_app, ["recordings", "export", *args], catch_exceptions=False)


def _seed_export(tmp_path: Path) -> tuple[list[RecordingRecord], Path]:
    settings = config.load(env={}, overrides={"data_dir": str(tmp_path)})
    store = open_store(settings)
    project = ensure_project(store)
    call = _call(store, project.sid)
    recs = []
    for day in (1, 2, 3):
        wav = tmp_path / f"r{day}.wav"
        wav.write_bytes(wav_bytes(tone_pcm(300 + day, 700)))
        recs.append(
            store.write_sync(
                lambda wav=wav, day=day: insert_recording(
                    account_sid=project.sid,
                    call_sid=call.sid,
                    status="completed",
                    source="RecordVerb",
                    wav_path=str(wav),
                    now=dt.datetime(2026, 3, day, 12),
                )
            )
        )
    store.close()
    return recs, tmp_path


def test_export_to_a_directory_resumes_and_never_overwrites_a_different_file(tmp_path: Path) -> None:
    recs, data = _seed_export(tmp_path / "data")
    out = tmp_path / "out"
    d = ["--data-dir", str(data)]
    first = _export(str(out), *d, "--since", "2026-03-02", "--until", "2026-03-03T23:00", "--format", "both")
    assert first.exit_code == 0, first.output
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{r.call_sid}_{r.sid}{ext}" for r in recs[1:] for ext in (".wav", ".mp3"))
    assert (out / f"{recs[1].call_sid}_{recs[1].sid}.wav").read_bytes() == Path(recs[1].wav_path or "").read_bytes()
    assert (
        "exported 4 file(s)" in first.stdout
        and [ln.split("\t")[0] for ln in first.stdout.splitlines()[:4]] == ["exported"] * 4
    )
    # Re-run (an interrupted export resumed): identical files are skipped, the new one copied.
    mp3 = out / f"{recs[1].call_sid}_{recs[1].sid}.mp3"
    before = mp3.stat().st_mtime_ns
    again = _export(str(out), *d, "--format", "both", "--json")
    assert again.exit_code == 0, again.output
    results = [json.loads(line) for line in again.stdout.splitlines()]
    assert sorted(r["result"] for r in results) == ["exported", "exported", "same", "same", "same", "same"]
    assert mp3.stat().st_mtime_ns == before
    # A different file under the same name: kept, in red, exit 1; --overwrite replaces it.
    wav = out / f"{recs[0].call_sid}_{recs[0].sid}.wav"
    wav.write_bytes(b"someone else's file")
    clash = _export(str(out), *d)
    assert (
        clash.exit_code == 1
        and "a different file is there" in clash.stderr
        and wav.read_bytes() == b"someone else's file"
    )
    forced = _export(str(out), *d, "--overwrite")
    assert forced.exit_code == 0 and wav.read_bytes() == Path(recs[0].wav_path or "").read_bytes()
    assert not list(out.glob("*.part"))
    bad = _export(str(out), *d, "--since", "yesterday")
    assert bad.exit_code == 1 and "--since" in bad.stderr


def test_export_to_a_bucket_resumes(tmp_path: Path, moto_s3: str, s3: Any) -> None:
    recs, data = _seed_export(tmp_path / "data")
    target = f"s3://{BUCKET}/export/2026"
    d = ["--data-dir", str(data), "--endpoint-url", moto_s3]
    first = _export(target, *d, "--format", "wav", "--until", "2026-03-02")
    assert first.exit_code == 0, first.output
    assert _keys(s3) == [f"export/2026/{recs[0].call_sid}_{recs[0].sid}.wav"]
    again = _export(target, *d, "--json")
    results = sorted(json.loads(line)["result"] for line in again.stdout.splitlines())
    assert again.exit_code == 0 and results == ["exported", "exported", "same"]
    body = s3.get_object(Bucket=BUCKET, Key=f"export/2026/{recs[2].call_sid}_{recs[2].sid}.wav")["Body"].read()
    assert body == Path(recs[2].wav_path or "").read_bytes()
    s3.put_object(Bucket=BUCKET, Key=f"export/2026/{recs[1].call_sid}_{recs[1].sid}.wav", Body=b"other")
    clash = _export(target, *d)
    assert clash.exit_code == 1 and "a different file is there" in clash.stderr
