"""A SIP command the worker cannot carry out never holds a call up: the session stores a
notification with the code the protocol gives the failure and goes on to the next verb."""

from __future__ import annotations

from pathlib import Path

from tests.calls.conftest import Flow
from wirexa.calls.ports import CommandFailed
from wirexa.store.repo.notifications import list_notifications


async def test_a_play_the_worker_cannot_open_is_reported_and_the_call_goes_on(flow: Flow, tmp_path: Path) -> None:
    # The URL's audio converts fine; the file is then corrupt when the worker opens it.
    flow.sip.corrupt = lambda path: Path(path).parent == tmp_path / "audio"
    flow.backend.docs["/xml"] = f"<Response><Play>{flow.backend.url('/beep.wav')}</Play><Say>after</Say></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",), timeout=5)
    assert flow.tts.spoken == [("after", "man", "en-US")]
    [failed] = [e for e in flow.sip.events if isinstance(e, CommandFailed)]
    assert (failed.call_sid, failed.command, failed.code) == (call.sid, "play", 13420) and failed.ref.isdigit()
    [note] = await flow.store.read(list_notifications, call.sid)
    assert note.error_code == 13420 and "cannot play" in note.message_text
    assert flow.events_of(call.sid) == ["initiated", "ringing", "answered", "completed"]


async def test_a_recorder_the_worker_cannot_open_is_reported_and_the_call_goes_on(flow: Flow) -> None:
    flow.sip.fail_recordings = True
    flow.backend.docs["/xml"] = '<Response><Record action="/after"/><Say>after</Say></Response>'
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",), timeout=5)
    assert flow.backend.requests_to("/after") == []  # nothing was recorded: no action, as for an empty one
    assert ("after", "man", "en-US") in flow.tts.spoken
    [note] = await flow.store.read(list_notifications, call.sid)
    assert note.error_code == 12400 and "cannot record" in note.message_text
