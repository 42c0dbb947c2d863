"""Dialogs both ways, on the engine's side: an inbound call is created `ringing` (state.initial_status),
its session fetches the document while it rings (CallStatus ringing, Direction inbound), answers
when the document first needs media (the interpreter's Answer action, through SipPort.answer), and
ends like any call."""

from __future__ import annotations

from tests.calls.conftest import Flow
from wirexa.calls import state
from wirexa.calls.records import NewCall


def test_inbound_calls_start_ringing_and_ours_queued() -> None:
    assert state.initial_status("inbound") == state.CallStatus.RINGING
    assert state.initial_status("outbound-api") == state.CallStatus.QUEUED
    assert state.initial_status("outbound-dial") == state.CallStatus.QUEUED
    # From ringing an inbound call is answered, or ends as the caller or its document ends it.
    assert state.step("ringing", state.Fact.ANSWERED) == state.CallStatus.IN_PROGRESS
    assert state.step("ringing", state.Fact.ENDED_CANCELED) == state.CallStatus.CANCELED
    assert state.step("ringing", state.Fact.DISPATCHED) is None


async def test_an_inbound_call_runs_its_document_while_ringing_and_answers_for_its_first_verb(flow: Flow) -> None:
    flow.backend.docs["/voice"] = "<Response><Say>Welcome to the office</Say><Hangup/></Response>"
    call = await flow.calls.store.insert(
        flow.project.sid,
        NewCall(
            to_number="+15005550100",
            from_number="+14155550123",
            direction="inbound",
            url=flow.backend.url("/voice"),
            status_callback="http://127.0.0.1:9/status",
            status_callback_events=("ringing", "answered", "completed"),
        ),
    )
    assert call.status == "ringing"
    flow.sip.incoming(call.sid, call.from_number, call.to_number)
    flow.dispatcher.start_inbound(call)
    done = await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/voice")
    assert (params["CallStatus"], params["Direction"], params["From"], params["To"]) == (
        "ringing",
        "inbound",
        "+14155550123",
        "+15005550100",
    )
    fake = flow.sip.calls[call.sid]
    assert fake.answered and len(fake.plays) == 1  # answered, then the Say played
    assert done.answer_time is not None and done.duration_s == 0  # a call of well under a second
    assert [event for sid, event, _ in flow.callbacks if sid == call.sid] == ["answered", "completed"]
