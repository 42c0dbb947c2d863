"""An empty <Record> is discarded as on Twilio (no action, no recording), and the customer gets a
warning notification saying so: 16101 too short, 16102 only silence."""

from __future__ import annotations

from tests.calls.conftest import Flow
from wirexa.store.repo.notifications import list_notifications

DOC = '<Response><Record action="/after"/><Say>Nothing recorded.</Say></Response>'


async def test_a_silent_recording_leaves_a_16102_warning(flow: Flow) -> None:
    flow.sip.record_silent = True
    flow.backend.docs["/xml"] = DOC
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    assert flow.backend.requests_to("/after") == []
    [note] = await flow.store.read(list_notifications, call.sid)
    assert (note.error_code, note.log_level) == (16102, 1) and "silent" in note.message_text


async def test_a_too_short_recording_leaves_a_16101_warning(flow: Flow) -> None:
    flow.sip.record_s = 0.2
    flow.backend.docs["/xml"] = DOC
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    assert flow.backend.requests_to("/after") == []
    [note] = await flow.store.read(list_notifications, call.sid)
    assert (note.error_code, note.log_level) == (16101, 1) and "too short" in note.message_text
