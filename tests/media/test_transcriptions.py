"""Transcriptions for real: a <Record transcribe transcribeCallback> call whose caller speaks (flite's
voice in the recording) -> the real STT chain (pocketsphinx) -> the Transcription row -> the
signed transcribeCallback from the outbox, received by the customer's aiohttp server. Also: a
transcription left in progress by a stopped engine is done by the next engine at its start;
Twilio's 120 s limit (failed, 13617); a recording whose audio is gone; one deleted meanwhile;
reading any WAV as 8 kHz PCM. The job's store tests run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from tests.calls.conftest import Flow, flow  # noqa: F401 - the call-flow harness fixture
from tests.media.test_storage import BUCKET, moto_s3, s3  # noqa: F401 - the bucket (moto) fixtures
from tests.pg import database_url_on_both  # noqa: F401 - the job's store tests run on SQLite and PostgreSQL
from wirexa import config
from wirexa.calls.records import NewRecording
from wirexa.clock import new_sid, utcnow
from wirexa.errors import AudioError
from wirexa.media.audio import wav_bytes
from wirexa.media.storage import locator, remote_from_settings
from wirexa.media.stt.chain import SttChain
from wirexa.media.transcriptions import TranscriptionJob, read_pcm_8k
from wirexa.notices import Notice
from wirexa.runtime import Engine
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.calls import StoreCalls
from wirexa.store.db import Store
from wirexa.store.repo import ProjectRecord
from wirexa.store.repo.calls import delete_call, get_call, insert_call
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.recordings import delete_recording, insert_recording
from wirexa.store.repo.transcriptions import get_transcription, insert_transcription, page_transcriptions
from wirexa.store.repo.webhooks import list_webhooks
from wirexa.store.transcriptions import StoreTranscriptions
from wirexa.webhooks import outbox
from wirexa.webhooks.delivery import DeliveryWorker

BASE = "http://127.0.0.1:5000"
# What the caller says, in flite's voice: pocketsphinx's general model gets flite's speech right
# word for word in telephone audio, while it mangles espeak-ng's ("you are well tomorrow" for
# this sentence), so the tests can ask for the exact text.
PHRASE = "please call me back tomorrow"


def speak(folder: Path, text: str) -> Path:
    """flite's WAV of `text` (16 kHz: read_pcm_8k converts it to the telephone's 8 kHz)."""
    out = folder / f"said-{new_sid('')[:8]}.wav"
    subprocess.run([shutil.which("flite") or "flite", "-t", text, "-o", str(out)], check=True)
    return out


@dataclasses.dataclass
class Receiver:
    """The customer's transcribeCallback endpoint: every POST, its form and signature."""

    server: TestServer
    hits: list[tuple[str, dict[str, str], str | None]]

    def url(self, path: str = "/transcribed") -> str:
        return str(self.server.make_url(path))

    async def wait(self, count: int = 1, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.hits) < count:
            assert time.monotonic() < deadline, f"{len(self.hits)} callback(s) in {timeout_s} s"
            await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hits: list[tuple[str, dict[str, str], str | None]] = []

    async def handle(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        hits.append((str(request.url), form, request.headers.get("X-Twilio-Signature")))
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    server = TestServer(app)
    await server.start_server()
    yield Receiver(server, hits)
    await server.close()


def quick_settings(tmp_path: Path, **overrides: Any) -> Any:
    return config.load(overrides={"data_dir": str(tmp_path), "webhooks_poll_interval_s": 0.05, **overrides}, env={})


async def test_record_transcribe_posts_the_text_to_transcribe_callback(
    flow: Flow,  # noqa: F811 - the fixture
    tmp_path: Path,
    receiver: Receiver,
) -> None:
    """The feature end to end in one process: the call records the caller saying PHRASE, the job
    transcribes the saved WAV with the real chain, the callback arrives signed with Twilio's
    parameters, and the resource says the same."""
    flow.sip.record_pcm = await read_pcm_8k(speak(tmp_path, PHRASE))
    # do-not-trim: ffmpeg's silence trim takes the soft start of "please" with the silence, and
    # pocketsphinx then hears "we'd call me back tomorrow".
    flow.backend.docs["/xml"] = (
        f'<Response><Record transcribe="true" transcribeCallback="{receiver.url()}"'
        ' trim="do-not-trim" action="/after"/></Response>'
    )
    flow.backend.docs["/after"] = "<Response><Hangup/></Response>"
    settings = quick_settings(tmp_path)
    chain = SttChain.from_settings(settings)
    try:
        async with DeliveryWorker(flow.store, settings, worker_id="t") as delivery:
            rows = StoreTranscriptions(
                flow.store, callbacks=outbox.transcription_callbacks(BASE), wake_webhooks=delivery.wake
            )
            async with TranscriptionJob(rows, chain.recognize, poll_s=0.05):
                call = await flow.create(url=flow.backend.url("/xml"))
                await flow.wait_status(call.sid, ("completed",))
                await receiver.wait()
    finally:
        await chain.aclose()
    [after] = flow.backend.requests_to("/after")
    (url, form, signature), *_ = receiver.hits
    assert RequestValidator(flow.project.auth_token).validate(url, form, signature)
    page, _ = await flow.store.read(page_transcriptions, flow.project.sid, 10)
    [tr] = page
    assert tr.sid.startswith("TR") and len(tr.sid) == 34
    assert (tr.status, tr.recording_sid, tr.call_sid, tr.provider) == (
        "completed",
        after["RecordingSid"],
        call.sid,
        "pocketsphinx",
    )
    assert tr.transcription_text == PHRASE
    assert tr.duration_s == int(after["RecordingDuration"])
    ended = await flow.store.read(get_call, call.sid)
    assert ended is not None
    assert form == {
        "CallSid": call.sid,
        "AccountSid": flow.project.sid,
        "From": "+15005550100",
        "To": "+15005550006",
        "CallStatus": "completed",
        "Direction": "outbound-api",
        "ApiVersion": "2010-04-01",
        "Caller": "+15005550100",
        "Called": "+15005550006",
        "TranscriptionSid": tr.sid,
        "TranscriptionText": tr.transcription_text,
        "TranscriptionStatus": "completed",
        "TranscriptionUrl": f"{BASE}/2010-04-01/Accounts/{flow.project.sid}/Transcriptions/{tr.sid}",
        "RecordingSid": tr.recording_sid,
        "RecordingUrl": f"{BASE}/recordings/{tr.recording_sid}",
    }


async def test_a_transcription_left_in_progress_is_done_by_the_next_engine(tmp_path: Path, receiver: Receiver) -> None:
    """The recording was saved (its Transcription in progress, in the same transaction) and the
    engine stopped before transcribing it: the next engine's start picks it up, and its
    callback goes out from the outbox."""
    settings = quick_settings(tmp_path, port=0)
    store = open_store(settings)
    project = ensure_project(store)
    wav = tmp_path / "RE-said.wav"
    wav.write_bytes(wav_bytes(await read_pcm_8k(speak(tmp_path, PHRASE))))
    call = store.write_sync(
        lambda: insert_call(
            account_sid=project.sid,
            to_number="+15005550006",
            from_number="+15005550100",
            status="completed",
            direction="outbound-api",
        )
    )
    saver = StoreCalls(
        store,
        status_callbacks=outbox.call_status_callbacks,
        recording_callbacks=outbox.recording_callbacks(BASE),
        recording_saved=lambda: None,  # the engine that saved it stopped before its jobs ran
    )
    rec = await saver.save_recording(new_recording(call.sid, project.sid, wav, receiver.url()), call)
    [pending] = store.read_sync(lambda: page_transcriptions(project.sid, 10)[0])
    assert (pending.status, pending.recording_sid, pending.callback) == ("in-progress", rec.sid, receiver.url())
    store.close()

    async with Engine(settings, with_sip=False, with_api=False) as engine:
        await receiver.wait()
        assert engine.store is not None
        done = engine.store.read_sync(get_transcription, pending.sid)
    assert done is not None and (done.status, done.transcription_text) == ("completed", PHRASE)
    [(_, form, _)] = receiver.hits
    assert (form["TranscriptionSid"], form["TranscriptionStatus"], form["RecordingSid"]) == (
        pending.sid,
        "completed",
        rec.sid,
    )


def new_recording(call_sid: str, account_sid: str, wav: Path, callback: str | None) -> NewRecording:
    with wave.open(str(wav)) as w:
        seconds = max(1, round(w.getnframes() / w.getframerate()))
    return NewRecording(
        sid=new_sid("RE"),
        account_sid=account_sid,
        call_sid=call_sid,
        source="RecordVerb",
        channels=1,
        track="inbound",
        duration_s=seconds,
        start_time=utcnow(),
        wav_path=str(wav),
        status_callback=None,
        status_callback_method="POST",
        status_callback_events=("completed",),
        transcribe=True,
        transcribe_callback=callback,
    )


@dataclasses.dataclass
class Rows:
    store: Store
    project: ProjectRecord
    call_sid: str

    def transcription(self, wav: Path | None, duration_s: int, callback: str | None = "http://127.0.0.1:9/t") -> Any:
        def tx() -> Any:
            rec = insert_recording(
                account_sid=self.project.sid,
                call_sid=self.call_sid,
                status="completed",
                source="RecordVerb",
                duration_s=duration_s,
                start_time=utcnow(),
                wav_path=str(wav) if wav else None,
            )
            return insert_transcription(
                account_sid=self.project.sid, call_sid=self.call_sid, recording_sid=rec.sid, callback=callback
            )

        return self.store.write_sync(tx)


@pytest.fixture
def rows(store: Store, project: ProjectRecord) -> Rows:
    call = store.write_sync(
        lambda: insert_call(
            account_sid=project.sid,
            to_number="+15005550006",
            from_number="+15005550100",
            status="completed",
            direction="outbound-api",
        )
    )
    return Rows(store, project, call.sid)


async def run_job(store: Store, settings: Any) -> int:
    chain = SttChain.from_settings(settings)
    try:
        job = TranscriptionJob(
            StoreTranscriptions(store, callbacks=outbox.transcription_callbacks(BASE)), chain.recognize
        )
        return await job.run_once()
    finally:
        await chain.aclose()


def callback_params(store: Store, tr_sid: str) -> dict[str, str]:
    [row] = [w for w in store.read_sync(list_webhooks) if w.kind == "transcription"]
    params = dict(row.params)
    assert params["TranscriptionSid"] == tr_sid and row.method == "POST"
    return params


async def test_over_120_seconds_fails_with_13617(rows: Rows, settings: Any, tmp_path: Path) -> None:
    wav = tmp_path / "long.wav"
    wav.write_bytes(wav_bytes(bytes(16000)))  # the row's duration is what counts
    tr = rows.transcription(wav, 121)
    assert await run_job(rows.store, settings) == 1
    done = rows.store.read_sync(get_transcription, tr.sid)
    assert done is not None
    assert (done.status, done.transcription_text, done.error_code, done.duration_s) == ("failed", None, 13617, 121)
    [note] = rows.store.read_sync(list_notifications, rows.call_sid)
    assert note.error_code == Notice.RECORD_TRANSCRIPTION_LENGTH and "120 s" in note.message_text
    params = callback_params(rows.store, tr.sid)
    assert (params["TranscriptionStatus"], params["TranscriptionText"]) == ("failed", "")


async def test_audio_gone_fails_and_a_deleted_recording_is_left_alone(
    rows: Rows, settings: Any, tmp_path: Path
) -> None:
    gone = rows.transcription(tmp_path / "deleted.wav", 3, callback=None)
    deleted = rows.transcription(tmp_path / "other.wav", 3)
    rows.store.write_sync(delete_recording, deleted.recording_sid)  # its transcription goes with it
    assert await run_job(rows.store, settings) == 1
    done = rows.store.read_sync(get_transcription, gone.sid)
    assert done is not None
    assert (done.status, done.error_code) == ("failed", Notice.INTERNAL_FAILURE)
    [note] = rows.store.read_sync(list_notifications, rows.call_sid)
    assert "files are gone" in note.message_text
    assert [w for w in rows.store.read_sync(list_webhooks) if w.kind == "transcription"] == []  # no callback asked
    assert rows.store.read_sync(get_transcription, deleted.sid) is None
    assert await run_job(rows.store, settings) == 0  # nothing left in progress


async def test_read_pcm_8k_converts_any_wav_and_refuses_the_rest(tmp_path: Path) -> None:
    said = tmp_path / "espeak.wav"
    subprocess.run([shutil.which("espeak-ng") or "espeak-ng", "-w", str(said), "one two three"], check=True)
    with wave.open(str(said)) as w:
        seconds = w.getnframes() / w.getframerate()
        assert w.getframerate() != 8000  # espeak-ng's own rate (22.05 kHz): ffmpeg converts it
    pcm = await read_pcm_8k(said)
    assert abs(len(pcm) / 16000 - seconds) < 0.05
    plain = tmp_path / "plain.wav"
    plain.write_bytes(wav_bytes(pcm))
    assert await read_pcm_8k(plain) == pcm  # already 8 kHz mono: read as it is
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n")
    with pytest.raises(AudioError, match="not audio"):
        await read_pcm_8k(text)
    with pytest.raises(AudioError, match="no such file"):
        await read_pcm_8k(tmp_path / "missing.wav")


async def test_a_deleted_call_leaves_the_callback_its_own_parameters(rows: Rows, settings: Any, tmp_path: Path) -> None:
    wav = tmp_path / "long.wav"
    wav.write_bytes(wav_bytes(bytes(16000)))
    tr = rows.transcription(wav, 300)
    rows.store.write_sync(delete_call, rows.call_sid)  # the Calls resource's delete
    assert await run_job(rows.store, settings) == 1
    params = callback_params(rows.store, tr.sid)
    assert list(params) == [
        "AccountSid",
        "TranscriptionSid",
        "TranscriptionText",
        "TranscriptionStatus",
        "TranscriptionUrl",
        "RecordingSid",
        "RecordingUrl",
    ]
    assert params["AccountSid"] == rows.project.sid and params["TranscriptionStatus"] == "failed"


@pytest.mark.slow  # a bucket server and a recognition: over 3 s on a busy machine
async def test_a_recording_held_only_in_the_bucket_is_transcribed_from_it(
    tmp_path: Path,
    moto_s3: str,  # noqa: F811 - the fixture
    s3: Any,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Uploaded with s3_keep_local off: the job fetches the WAV from the bucket (moto in server
    mode, the real S3Storage) into a temporary file, transcribes it, and leaves nothing behind."""
    settings = quick_settings(
        tmp_path,
        recordings_s3_bucket=BUCKET,
        recordings_s3_prefix="recs",
        recordings_s3_endpoint_url=moto_s3,
        recordings_s3_region="us-east-1",
    )
    store = open_store(settings)
    project = ensure_project(store)
    call = store.write_sync(
        lambda: insert_call(
            account_sid=project.sid, to_number="+1", from_number="+2", status="completed", direction="inbound"
        )
    )
    said = wav_bytes(await read_pcm_8k(speak(tmp_path, PHRASE)))

    def tx() -> Any:
        rec = insert_recording(
            account_sid=project.sid,
            call_sid=call.sid,
            status="completed",
            source="RecordVerb",
            duration_s=2,
            storage_url=f"s3://{BUCKET}/recs/",
        )
        return insert_transcription(account_sid=project.sid, call_sid=call.sid, recording_sid=rec.sid, callback=None)

    tr = store.write_sync(tx)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    s3.put_object(Bucket=BUCKET, Key=f"recs/{project.sid}/{tr.recording_sid}.wav", Body=said)
    chain = SttChain.from_settings(settings)
    try:
        job = TranscriptionJob(
            StoreTranscriptions(store, callbacks=outbox.transcription_callbacks(BASE)),
            chain.recognize,
            locate=locator(settings, remote_from_settings(settings)),
        )
        assert await job.run_once() == 1
        done = store.read_sync(get_transcription, tr.sid)
    finally:
        await chain.aclose()
        store.close()
    assert done is not None and (done.status, done.transcription_text) == ("completed", PHRASE)
    assert list(system_tmp.iterdir()) == []  # the fetched copy is gone


async def test_an_empty_recording_has_no_transcription(flow: Flow) -> None:  # noqa: F811 - the fixture
    """Twilio: a silent <Record> saves no recording (16102), so nothing is transcribed or posted."""
    flow.sip.record_silent = True
    flow.backend.docs["/xml"] = '<Response><Record transcribeCallback="/t"/><Say>Nothing.</Say></Response>'
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    page, _ = await flow.store.read(page_transcriptions, flow.project.sid, 10)
    assert page == []
    [note] = await flow.store.read(list_notifications, call.sid)
    assert note.error_code == 16102
