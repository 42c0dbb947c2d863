"""Whole-call recordings in the call flow (fake SIP, real store, real ffmpeg): Record=true on
create (mono and dual), the Recordings API's start / pause (skip, silence) / resume / stop
through CallService, Twilio.CURRENT, several recordings of one call at once, and the session
staying up after the hangup until its recordings are reported."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from tests.calls.conftest import Flow
from tests.fakes.clock import SteppedClock
from wirexa.calls.records import RecordingOptions, RecordingRecord
from wirexa.calls.session import RECORDINGS_GUARD_S
from wirexa.errors import BadRequest
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.recordings import list_recordings

PAUSE = '<Response><Pause length="{n}"/></Response>'


async def recordings_of(flow: Flow, call_sid: str) -> list[RecordingRecord]:
    recs, _ = await flow.store.read(lambda: list_recordings(flow.project.sid, 20, call_sid=call_sid))
    return sorted(recs, key=lambda r: (r.date_created, r.sid))


async def answered(flow: Flow, n: int = 3, **kw: object) -> str:
    flow.backend.docs["/xml"] = PAUSE.format(n=n)
    call = await flow.create(url=flow.backend.url("/xml"), **kw)  # type: ignore[arg-type]
    await flow.wait_status(call.sid, ("in-progress",))
    return call.sid


def channels_and_seconds(path: str | None) -> tuple[int, float]:
    with wave.open(str(path)) as w:
        return w.getnchannels(), w.getnframes() / w.getframerate()


async def test_record_true_records_the_call_from_answer_to_hangup(flow: Flow) -> None:
    sid = await answered(
        flow,
        1,
        record=True,
        recording_status_callback="http://h/rec",
        recording_status_callback_events=("in-progress", "completed"),
    )
    await flow.wait_for(lambda: any(c[1] == "recording-in-progress" for c in flow.callbacks))
    [live] = await recordings_of(flow, sid)
    assert (live.status, live.source, live.channels, live.track) == ("in-progress", "OutboundAPI", 1, "both")
    await flow.wait_status(sid, ("completed",))
    await flow.wait_for(lambda: any(c[1] == "recording-completed" for c in flow.callbacks))
    [rec] = await recordings_of(flow, sid)
    assert rec.sid == live.sid and rec.status == "completed" and rec.start_time == live.start_time
    channels, seconds = channels_and_seconds(rec.wav_path)
    assert channels == 1 and 0.8 < seconds < 2.0 and rec.duration_s == 1
    assert [c[1] for c in flow.callbacks if c[1].startswith("recording-")] == [
        "recording-in-progress",
        "recording-completed",
    ]
    assert sid not in flow.dispatcher.sessions  # the session left once the recording was kept


async def test_record_true_dual_is_one_two_channel_file(flow: Flow) -> None:
    sid = await answered(flow, 1, record=True, recording_channels="dual", trim="do-not-trim")
    await flow.wait_status(sid, ("completed",))
    await flow.wait_for(lambda: sid not in flow.dispatcher.sessions)
    [rec] = await recordings_of(flow, sid)
    assert rec.channels == 2
    channels, seconds = channels_and_seconds(rec.wav_path)
    assert channels == 2 and 0.8 < seconds < 2.0
    assert not Path(str(rec.wav_path)).with_name(f"{rec.sid}.out.wav").exists()  # merged, then removed


async def test_calls_without_record_record_nothing(flow: Flow) -> None:
    sid = await answered(flow, 1)
    await flow.hurry(sid, ("completed",))
    await asyncio.sleep(0.1)
    assert await recordings_of(flow, sid) == []


async def test_api_start_pause_resume_stop(flow: Flow) -> None:
    sid = await answered(flow, 5)
    call = await flow.store.read(get_call, sid)
    options = RecordingOptions(
        source="StartCallRecordingAPI",
        status_callback="http://h/rec",
        status_callback_events=("in-progress", "completed"),
    )
    skip = await flow.calls.start_recording(call, options)
    silence = await flow.calls.start_recording(call, options)
    assert skip.status == silence.status == "in-progress" and skip.sid != silence.sid
    paused = await flow.calls.update_recording(call, skip, "paused", "skip")
    assert paused.status == "paused"
    await flow.calls.update_recording(call, silence, "paused", "silence")
    await asyncio.sleep(1.0)
    for rec in (skip, silence):
        assert (await flow.calls.update_recording(call, rec, "in-progress", "skip")).status == "in-progress"
    await asyncio.sleep(0.6)
    stopped = await flow.calls.update_recording(call, skip, "stopped", "skip")
    assert stopped.status == "stopped"
    with pytest.raises(BadRequest) as err:
        await flow.calls.update_recording(call, stopped, "in-progress", "skip")
    assert err.value.code == 21220
    await flow.wait_for(lambda: sum(c[1] == "recording-completed" for c in flow.callbacks) == 1)
    session = flow.dispatcher.sessions.get(sid)
    assert session is not None
    current = await session.update_recording("Twilio.CURRENT", "stopped", "skip")  # the other one
    assert current is not None and (current.sid, current.status) == (silence.sid, "stopped")
    await flow.wait_for(lambda: sum(c[1] == "recording-completed" for c in flow.callbacks) == 2)
    done = {r.sid: r for r in await recordings_of(flow, sid)}
    skip_s = channels_and_seconds(done[skip.sid].wav_path)[1]
    silence_s = channels_and_seconds(done[silence.sid].wav_path)[1]
    assert done[skip.sid].status == done[silence.sid].status == "completed"
    assert silence_s - skip_s > 0.8  # the skipped second is not in the file; the silent one is


async def test_api_recording_of_a_call_that_is_not_running_here(flow: Flow) -> None:
    sid = await answered(flow, 1)
    await flow.hurry(sid, ("completed",))
    call = await flow.store.read(get_call, sid)
    with pytest.raises(BadRequest) as err:
        await flow.calls.start_recording(call, RecordingOptions(source="StartCallRecordingAPI"))
    assert err.value.code == 21220


async def test_record_verb_and_call_recording_side_by_side(flow: Flow) -> None:
    flow.backend.docs["/xml"] = '<Response><Record action="/after" maxLength="2"/><Pause length="1"/></Response>'
    flow.backend.docs["/after"] = "<Response/>"
    call = await flow.create(url=flow.backend.url("/xml"), record=True)
    await flow.wait_status(call.sid, ("completed",))
    await flow.wait_for(lambda: call.sid not in flow.dispatcher.sessions)
    recs = await recordings_of(flow, call.sid)
    assert sorted(r.source for r in recs) == ["OutboundAPI", "RecordVerb"]
    assert len({r.wav_path for r in recs}) == 2


async def test_a_recording_never_reported_is_closed_from_its_file(flow: Flow) -> None:
    flow.sip.record_close_s = 60.0  # the worker died: no RecordingFinished
    sid = await answered(flow, 1, record=True)
    await flow.hurry(sid, ("completed",))
    session = flow.dispatcher.sessions.get(sid)
    assert session is not None and session.finished.is_set() is False
    path = Path(session.recordings.live[session.recordings.pending()[0]].path)
    from wirexa.media.audio import tone_pcm, wav_bytes

    path.write_bytes(wav_bytes(tone_pcm(440, 1500)))
    clock = flow.dispatcher.clock
    assert isinstance(clock, SteppedClock)
    assert clock.fire_within(RECORDINGS_GUARD_S) >= 1  # the guard, not waited out
    await asyncio.wait_for(session.finished.wait(), 2.0)
    [rec] = await recordings_of(flow, sid)
    assert rec.status == "completed" and rec.duration_s in (1, 2)


async def test_a_recorder_the_worker_cannot_open_ends_absent(flow: Flow) -> None:
    flow.sip.fail_recordings = True
    sid = await answered(
        flow,
        1,
        record=True,
        recording_status_callback="http://h/rec",
        recording_status_callback_events=("in-progress", "completed", "absent"),
    )
    await flow.hurry(sid, ("completed",))
    await flow.wait_for(lambda: sid not in flow.dispatcher.sessions)
    [rec] = await recordings_of(flow, sid)
    assert (rec.status, rec.error_code, rec.wav_path) == ("absent", 12400, None)
    assert [c[1] for c in flow.callbacks if c[1].startswith("recording-")] == [
        "recording-in-progress",
        "recording-absent",
    ]
    notes = await flow.store.read(list_notifications, sid)
    assert [n.error_code for n in notes] == [12400]
