"""<Dial><Conference> in the call session, with FakeSip as the network. Until the conference
runtime lands, the session answers the DialConference action with a 12200 notification the user
can see and a failed <Dial>: <Dial action> is requested with DialCallStatus failed, or the
document goes on."""

from __future__ import annotations

from tests.calls.conftest import Flow
from wirexa.store.repo.notifications import list_notifications


async def test_dial_conference_is_notified_and_the_dial_fails(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/room"] = '<Response><Dial action="/after"><Conference>room</Conference></Dial></Response>'
    docs["/after"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/room"))
    await flow.wait_status(call.sid, ("completed",))
    [after] = flow.backend.requests_to("/after")
    assert after["DialCallStatus"] == "failed" and after["CallSid"] == call.sid
    notes = await flow.store.read(list_notifications, call.sid)
    assert [n.error_code for n in notes] == [12200]
    assert "<Dial><Conference>room</Conference>" in notes[0].message_text
