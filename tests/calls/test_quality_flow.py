"""A call's quality samples, who hung up and its post-dial delay, in one process (FakeSip)."""

from __future__ import annotations

from tests.calls.conftest import Flow
from wirexa.calls.ports import CallSid, QualitySampled
from wirexa.calls.service import CallUpdate
from wirexa.media.quality import Reading
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.quality import samples_of, summary_of
from wirexa.store.repo.verbs import verbs_of

PAUSE = '<Response><Pause length="30"/></Response>'


async def test_samples_the_summary_and_an_api_hangup(flow: Flow) -> None:
    flow.backend.docs["/xml"] = PAUSE
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("in-progress",))
    sid = CallSid(call.sid)
    flow.sip.quality(QualitySampled(sid, Reading(250, 0, 2000, 250, 0, 2000, 20000, 40)))
    flow.sip.quality(QualitySampled(sid, Reading(480, 20, 2000, 500, 0, 2000, 20000, 40), final=True))
    await flow.wait_for(lambda: len(flow.store.read_sync(samples_of, call.sid)) == 2)
    await flow.calls.update(flow.project, call.sid, CallUpdate(status="completed"), "/x")
    await flow.wait_status(call.sid, ("completed",))
    done = flow.store.read_sync(get_call, call.sid)
    assert done is not None
    assert done.hangup_by == "api"
    # FakeSip rings ring_s after the INVITE: that is the post-dial delay (as the engine heard it)
    assert done.post_dial_delay_ms is not None and done.post_dial_delay_ms >= flow.sip.ring_s * 1000 - 20
    assert done.quality_flags == "high_packet_loss:inbound"  # 20 of 250 in the second interval: 8%
    summary = summary_of(done)
    assert summary is not None and summary.samples == 2 and summary.rtt_max_ms == 20.0
    first, last = flow.store.read_sync(samples_of, call.sid)
    assert first.inbound.loss_pct == 0.0 and last.inbound.loss_pct == 8.0 and last.final


async def test_who_hung_up(flow: Flow) -> None:
    flow.backend.docs["/xml"] = PAUSE
    remote = await flow.create(url=flow.backend.url("/xml"))
    ended = await flow.create(twiml="<Response><Say>Bye</Say></Response>")
    await flow.wait_status(remote.sid, ("in-progress",))
    flow.sip.remote_hangup(remote.sid)
    for sid, by in ((remote.sid, "callee"), (ended.sid, "engine")):  # the far end; the document's end
        done = await flow.wait_status(sid, ("completed",))
        assert done.hangup_by == by and summary_of(done) is None and done.quality_flags is None


async def test_the_verbs_a_document_runs_are_kept_for_the_timeline(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        "<Response><Say>Hello there</Say><Play digits='12'/><Gather numDigits='1' timeout='1'/>"
        "<Dial timeout='1'><Number>+15005550002</Number></Dial><Hangup/></Response>"
    )
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",), timeout=15)
    await flow.wait_for(lambda: len(flow.store.read_sync(verbs_of, call.sid)) == 5)
    verbs = flow.store.read_sync(verbs_of, call.sid)
    assert [(v.seq, v.verb, v.detail) for v in verbs] == [
        (0, "Say", "Hello there"),
        (1, "Play", "digits 12"),
        (2, "Gather", "1 digit(s), timeout 1 s"),
        (3, "Dial", "+15005550002"),
        (4, "Hangup", ""),
    ]
    assert all(a.at <= b.at for a, b in zip(verbs, verbs[1:], strict=False))
