"""Answering-machine detection in the call flow (the decision itself is media/amd.py's, tested
on its corpus; over SIP in tests/e2e/test_amd_e2e.py):

- synchronous (the default): nothing is fetched before the decision; the Url request carries
  AnsweredBy and MachineDetectionDuration; the `answered` callback waits for the decision and
  carries AnsweredBy, as do the later ones;
- AsyncAmd: the Url is fetched at once; the decision goes to AsyncAmdStatusCallback through the
  outbox and onto the call;
- a call that ends while synchronous AMD listens is `unknown`; calls without AMD never carry
  AnsweredBy."""

from __future__ import annotations

from tests.calls.conftest import Flow
from wirexa.calls.ports import AmdDecided, CallSid
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.webhooks import list_webhooks

DOC = "<Response><Say>Hi</Say><Hangup/></Response>"


async def answered(flow: Flow, sid: str) -> None:
    async def has_answer_time() -> bool:
        call = await flow.store.read(get_call, sid)
        return call is not None and call.answer_time is not None

    for _ in range(500):
        if await has_answer_time():
            return
        await flow.wait_for(lambda: True, timeout=0.01)
    raise AssertionError("never answered")


def decide(flow: Flow, sid: str, answered_by: str, ms: int = 1800, confidence: float = 0.9) -> None:
    flow.sip._emit(AmdDecided(CallSid(sid), answered_by, confidence, ms))


async def test_synchronous_amd_fetches_the_url_after_the_decision(flow: Flow) -> None:
    flow.backend.docs["/xml"] = DOC
    call = await flow.create(url=flow.backend.url("/xml"), machine_detection="Enable", status_callback="http://h/s")
    await answered(flow, call.sid)
    await flow.wait_for(lambda: True, timeout=0.2)
    assert flow.backend.requests_to("/xml") == [] and flow.tts.spoken == []  # waits for the detector
    assert flow.events_of(call.sid) == ["initiated", "ringing"]  # `answered` waits too
    decide(flow, call.sid, "machine_start", ms=2250)
    done = await flow.wait_status(call.sid, ("completed",))
    [fetch] = flow.backend.requests_to("/xml")
    assert fetch["AnsweredBy"] == "machine_start" and fetch["MachineDetectionDuration"] == "2250"
    assert flow.events_of(call.sid) == ["initiated", "ringing", "answered", "completed"]
    assert done.answered_by == "machine_start"


async def test_async_amd_fetches_at_once_and_posts_the_result(flow: Flow) -> None:
    flow.backend.docs["/xml"] = "<Response><Pause length='1'/><Hangup/></Response>"
    call = await flow.create(
        url=flow.backend.url("/xml"),
        machine_detection="Enable",
        async_amd=True,
        async_amd_status_callback="http://h/amd",
    )
    await flow.wait_for(lambda: len(flow.backend.requests_to("/xml")) == 1)
    assert "AnsweredBy" not in flow.backend.requests_to("/xml")[0]  # not decided yet
    decide(flow, call.sid, "human", ms=900, confidence=0.8)
    done = await flow.hurry(call.sid, ("completed",))  # the Pause after the decision fired at once
    assert done.answered_by == "human"
    [amd] = [w for w in await flow.store.read(list_webhooks) if w.kind == "amd"]
    params = dict(amd.params)
    assert amd.url == "http://h/amd" and params["AnsweredBy"] == "human" and params["AmdDetectionTimeMs"] == "900"
    assert params["MachineDetectionDuration"] == "900" and params["AmdConfidence"] == "0.80"


async def test_a_call_ended_during_synchronous_detection_is_unknown(flow: Flow) -> None:
    flow.backend.docs["/xml"] = DOC
    call = await flow.create(
        url=flow.backend.url("/xml"), machine_detection="DetectMessageEnd", status_callback="http://h/s"
    )
    await answered(flow, call.sid)
    await flow.sip.hangup(CallSid(call.sid))  # the callee hangs up while the detector listens
    done = await flow.wait_status(call.sid, ("completed",))
    assert done.answered_by == "unknown" and flow.backend.requests_to("/xml") == []
    assert flow.events_of(call.sid) == ["initiated", "ringing", "answered", "completed"]


async def test_calls_without_amd_carry_no_answered_by(flow: Flow) -> None:
    flow.backend.docs["/xml"] = DOC
    call = await flow.create(url=flow.backend.url("/xml"))
    done = await flow.wait_status(call.sid, ("completed",))
    assert done.answered_by is None and "AnsweredBy" not in flow.backend.requests_to("/xml")[0]
    decide(flow, call.sid, "human")  # a stray report after the end changes nothing
    assert (await flow.store.read(get_call, call.sid)).answered_by is None  # type: ignore[union-attr]
