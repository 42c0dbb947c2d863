"""Whole calls in one process: dispatcher + session + interpreter + fetcher over FakeSip."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from tests.calls.conftest import Flow
from wirexa.calls import dispatcher
from wirexa.calls.records import NewCall
from wirexa.calls.service import CallUpdate
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.projects import create_project, update_project
from wirexa.store.repo.recordings import get_recording

GATHER = """<Response>
  <Gather numDigits="1" timeout="2" action="/gather">
    <Say>Press 1 for sales, 2 for support.</Say>
  </Gather>
  <Say>We did not receive your selection. Goodbye.</Say>
  <Hangup/>
</Response>"""


async def test_say_then_hangup_completes_with_all_status_events(flow: Flow) -> None:
    call = await flow.create(twiml="<Response><Say>Hello there</Say></Response>")
    done = await flow.wait_status(call.sid, ("completed",))
    assert flow.events_of(call.sid) == ["initiated", "ringing", "answered", "completed"]
    assert flow.tts.spoken == [("Hello there", "man", "en-US")]
    assert done.start_time is not None and done.answer_time is not None and done.end_time is not None
    assert done.start_time <= done.answer_time <= done.end_time and done.sip_response_code == 200
    assert done.duration_s == int((done.end_time - done.answer_time).total_seconds())  # whole seconds answered
    assert len(flow.sip.calls[call.sid].plays) == 1


async def test_url_fetch_sends_twilio_params(flow: Flow) -> None:
    flow.backend.docs["/xml"] = "<Response><Say>Hi</Say><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/xml")
    assert params["CallSid"] == call.sid
    assert params["CallStatus"] == "in-progress"
    assert params["Direction"] == "outbound-api"
    assert params["AccountSid"] == flow.project.sid
    assert params["ApiVersion"] == "2010-04-01"
    assert params["From"] == "+15005550100" and params["To"] == "+15005550006"


async def test_final_statuses_of_failed_calls(flow: Flow) -> None:
    cases = {"+15005550001": "busy", "+15005550003": "failed", "+15005550004": "busy"}
    sids = {n: (await flow.create(to=n, twiml="<Response/>")).sid for n in cases}
    for number, status in cases.items():
        call = await flow.wait_status(sids[number], (status,))
        assert call.duration_s is None
        assert flow.events_of(call.sid)[-1] == "completed"
        assert "answered" not in flow.events_of(call.sid)


async def test_ring_timeout_gives_no_answer(flow: Flow) -> None:
    call = await flow.create(to="+15005550002", twiml="<Response/>", timeout_s=1)
    done = await flow.wait_status(call.sid, ("no-answer",), timeout=5)
    assert done.sip_response_code == 487


async def test_gather_digit_posts_action(flow: Flow) -> None:
    flow.backend.docs["/xml"] = GATHER
    flow.backend.docs["/gather"] = "<Response><Say>You pressed it.</Say><Hangup/></Response>"
    flow.sip.on_answer["+15005550006"] = lambda sid: asyncio.get_running_loop().call_later(
        0.05, flow.sip.press, sid, "1"
    )
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/gather")
    assert params["Digits"] == "1"
    assert ("You pressed it.", "man", "en-US") in flow.tts.spoken


async def test_gather_without_input_falls_through(flow: Flow) -> None:
    flow.backend.docs["/xml"] = GATHER.replace('timeout="2"', 'timeout="1"')
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.hurry(call.sid, ("completed",))  # the Gather's timeout fired at once
    assert flow.backend.requests_to("/gather") == []
    assert flow.tts.spoken[-1][0] == "We did not receive your selection. Goodbye."


async def test_cancel_queued_call(flow: Flow) -> None:
    flow.dispatcher.settings = flow.dispatcher.settings  # keep the dispatcher running
    flow.sip.capacity = 0  # nothing can start: the call stays queued
    call = await flow.create(twiml="<Response/>")
    await asyncio.sleep(0.05)
    assert (await flow.store.read(get_call, call.sid)).status == "queued"
    updated = await flow.calls.update(flow.project, call.sid, CallUpdate(status="canceled"), "/x")
    assert updated.status == "canceled"
    assert flow.events_of(call.sid) == ["completed"]


async def test_live_redirect_replaces_current_verb(flow: Flow) -> None:
    flow.sip.play_s = 5.0  # a long prompt that the redirect interrupts
    flow.backend.docs["/xml"] = "<Response><Say>A long prompt</Say></Response>"
    flow.backend.docs["/voicemail"] = "<Response><Say>Voicemail</Say><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: len(flow.tts.spoken) == 1)
    flow.sip.play_s = 0.02
    await flow.calls.update(flow.project, call.sid, CallUpdate(url=flow.backend.url("/voicemail"), method="POST"), "/x")
    await flow.wait_status(call.sid, ("completed",))
    assert [t for t, _, _ in flow.tts.spoken] == ["A long prompt", "Voicemail"]


async def test_api_hangup_of_live_call(flow: Flow) -> None:
    flow.backend.docs["/xml"] = '<Response><Pause length="30"/></Response>'
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("in-progress",))
    await flow.calls.update(flow.project, call.sid, CallUpdate(status="completed"), "/x")
    done = await flow.wait_status(call.sid, ("completed",))
    assert done.answer_time is not None and done.end_time is not None
    assert done.duration_s == int((done.end_time - done.answer_time).total_seconds())


async def test_record_posts_recording_to_action(flow: Flow) -> None:
    flow.backend.docs["/xml"] = '<Response><Record maxLength="10" action="/after"/></Response>'
    flow.backend.docs["/after"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/after")
    assert params["RecordingSid"].startswith("RE")
    assert params["RecordingUrl"].endswith("/recordings/" + params["RecordingSid"])
    rec = await flow.store.read(get_recording, params["RecordingSid"])
    assert rec is not None and rec.status == "completed" and rec.source == "RecordVerb"
    assert flow.sip.calls[call.sid].plays[0][0] == "beep"


async def test_dial_bridges_child_and_reports_status(flow: Flow) -> None:
    flow.backend.docs["/xml"] = '<Response><Dial action="/dialed" timeout="5">+15005550007</Dial></Response>'
    flow.backend.docs["/dialed"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: any(c.dial.parent_call_sid == call.sid for c in flow.sip.calls.values()))
    child_sid = next(s for s, c in flow.sip.calls.items() if c.dial.parent_call_sid == call.sid)
    await flow.wait_for(lambda: flow.sip.calls[child_sid].bridged_to == call.sid)
    flow.sip.remote_hangup(child_sid)
    await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/dialed")
    assert params["DialCallStatus"] == "completed"
    assert params["DialCallSid"] == child_sid
    child = await flow.store.read(get_call, child_sid)
    assert child.parent_call_sid == call.sid and child.direction == "outbound-dial"
    assert child.status == "completed"


async def test_dial_busy_without_action_continues(flow: Flow) -> None:
    flow.backend.docs["/xml"] = "<Response><Dial>+15005550001</Dial><Say>Busy, sorry</Say></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    assert flow.tts.spoken[-1][0] == "Busy, sorry"


def legs_of(flow: Flow, parent_sid: str) -> dict[str, str]:
    """The <Dial> legs of a call: To number -> child call sid."""
    return {
        c.dial.to_uri.split(":")[1].split("@")[0]: s
        for s, c in flow.sip.calls.items()
        if c.dial.parent_call_sid == parent_sid
    }


async def test_dial_rings_every_number_at_once_and_connects_the_one_that_answers(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        '<Response><Dial action="/dialed" timeout="5">'
        "<Number>+15005550001</Number><Number>+15005550007</Number><Number>+15005550003</Number>"
        "</Dial></Response>"
    )
    flow.backend.docs["/dialed"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: len(legs_of(flow, call.sid)) == 3)
    legs = legs_of(flow, call.sid)
    await flow.wait_for(lambda: flow.sip.calls[legs["+15005550007"]].bridged_to == call.sid)
    flow.sip.remote_hangup(legs["+15005550007"])
    await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/dialed")
    assert params["DialCallStatus"] == "completed" and params["DialCallSid"] == legs["+15005550007"]
    busy = await flow.store.read(get_call, legs["+15005550001"])
    failed = await flow.store.read(get_call, legs["+15005550003"])
    assert (busy.status, failed.status) == ("busy", "failed")
    assert busy.parent_call_sid == failed.parent_call_sid == call.sid
    assert await flow.store.read(list_notifications, call.sid) == []


async def test_dial_first_answer_wins_and_the_other_legs_are_hung_up(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        '<Response><Dial timeout="5"><Number>+15005550007</Number><Number>+15005550008</Number></Dial></Response>'
    )
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: len(legs_of(flow, call.sid)) == 2)
    legs = list(legs_of(flow, call.sid).values())
    await flow.wait_for(lambda: any(flow.sip.calls[s].bridged_to == call.sid for s in legs))
    winner = next(s for s in legs if flow.sip.calls[s].bridged_to == call.sid)
    [loser] = [s for s in legs if s != winner]
    await flow.wait_for(lambda: flow.sip.calls[loser].ended)
    assert flow.sip.calls[loser].bridged_to is None
    flow.sip.remote_hangup(winner)
    await flow.wait_status(call.sid, ("completed",))


async def test_dial_where_no_leg_connects_reports_the_most_telling_status(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        '<Response><Dial action="/dialed" timeout="1">'
        "<Number>+15005550001</Number><Number>+15005550002</Number></Dial></Response>"
    )
    flow.backend.docs["/dialed"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",), timeout=10)
    [params] = flow.backend.requests_to("/dialed")
    legs = legs_of(flow, call.sid)
    assert params["DialCallStatus"] == "no-answer" and params["DialCallSid"] == legs["+15005550002"]


async def test_backend_500_gives_application_error_and_notification(flow: Flow) -> None:
    async def boom(request: web.Request) -> web.Response:
        return web.Response(status=500, text="oops")

    flow.backend.docs["/xml"] = boom
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    notes = await flow.store.read(list_notifications, call.sid)
    assert [n.error_code for n in notes] == [11200]
    assert "application error" in flow.tts.spoken[-1][0].lower()


async def test_fallback_url_is_used_on_failure(flow: Flow) -> None:
    flow.backend.docs["/xml"] = "<Nope/>"
    flow.backend.docs["/fallback"] = "<Response><Say>Fallback here</Say></Response>"
    call = await flow.create(url=flow.backend.url("/xml"), fallback_url=flow.backend.url("/fallback"))
    await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/fallback")
    assert params["ErrorCode"] == "12102"
    assert flow.tts.spoken[-1][0] == "Fallback here"


async def test_send_digits_after_answer(flow: Flow) -> None:
    call = await flow.create(twiml="<Response><Say>ok</Say></Response>", send_digits="12w#")
    await flow.wait_status(call.sid, ("completed",))
    assert flow.sip.calls[call.sid].dtmf_sent == ["12w#"]


async def test_play_fetches_and_converts_audio(flow: Flow) -> None:
    flow.backend.docs["/xml"] = f'<Response><Play loop="2">{flow.backend.url("/beep.wav")}</Play></Response>'
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    [(play_id, path, loop)] = flow.sip.calls[call.sid].plays
    assert loop == 2 and path.endswith(".wav")


async def slow_doc(request: web.Request) -> web.Response:
    await asyncio.sleep(2)  # the harness' fetcher times out after 1 s
    return web.Response(text="<Response/>", content_type="text/xml")


async def html_doc(request: web.Request) -> web.Response:
    return web.Response(text="<html><body><h1>Welcome</h1></body></html>", content_type="text/html")


async def huge_doc(request: web.Request) -> web.Response:
    return web.Response(text="<Response>" + "<Pause/>" * 140_000 + "</Response>", content_type="text/xml")


@pytest.mark.parametrize(("handler", "code"), [(slow_doc, 11200), (html_doc, 12102), (huge_doc, 11750)])
async def test_bad_backends_give_application_error_and_notification(flow: Flow, handler: object, code: int) -> None:
    flow.backend.docs["/xml"] = handler
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",), timeout=15)
    notes = await flow.store.read(list_notifications, call.sid)
    assert [n.error_code for n in notes] == [code]
    assert "an application error has occurred" in flow.tts.spoken[-1][0].lower()


async def test_time_limit_ends_the_call(flow: Flow) -> None:
    call = await flow.create(twiml='<Response><Pause length="30"/></Response>', time_limit_s=1)
    done = await flow.wait_status(call.sid, ("completed",), timeout=5)
    assert done.duration_s == 1  # hung up 1 s after the answer


async def test_caller_id_must_be_on_the_trunk_list(flow: Flow) -> None:
    from wirexa.calls.admission import Admission
    from wirexa.calls.service import CallService, NewCall
    from wirexa.clock import SystemClock
    from wirexa.errors import BadRequest

    admission = Admission(
        flow.dispatcher.admission.policy, flow.calls.store, SystemClock(), caller_ids=frozenset({"+18005550100"})
    )
    service = CallService(flow.calls.store, flow.dispatcher, admission)
    with pytest.raises(BadRequest) as err:
        await service.create(
            flow.project, NewCall(to_number="+15005550006", from_number="+15005550100", twiml="<Response/>")
        )
    assert err.value.code == 21210
    ok = await service.create(
        flow.project, NewCall(to_number="+15005550006", from_number="+18005550100", twiml="<Response/>")
    )
    assert ok.status == "queued"


async def test_dial_number_send_digits_before_bridging(flow: Flow) -> None:
    flow.backend.docs["/xml"] = '<Response><Dial><Number sendDigits="wwww1928">+15005550007</Number></Dial></Response>'
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: any(c.dial.parent_call_sid == call.sid for c in flow.sip.calls.values()))
    child_sid = next(s for s, c in flow.sip.calls.items() if c.dial.parent_call_sid == call.sid)
    await flow.wait_for(lambda: flow.sip.calls[child_sid].bridged_to == call.sid)
    assert flow.sip.calls[child_sid].dtmf_sent == ["wwww1928"]
    flow.sip.remote_hangup(child_sid)
    await flow.wait_status(call.sid, ("completed",))


async def test_dial_record_reports_the_recording_to_action(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        '<Response><Dial action="/dialed" record="record-from-answer">+15005550007</Dial></Response>'
    )
    flow.backend.docs["/dialed"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: any(c.dial.parent_call_sid == call.sid for c in flow.sip.calls.values()))
    child_sid = next(s for s, c in flow.sip.calls.items() if c.dial.parent_call_sid == call.sid)
    await flow.wait_for(lambda: flow.sip.calls[call.sid].recording is not None)
    assert flow.sip.calls[call.sid].mix_with == child_sid
    flow.sip.remote_hangup(child_sid)
    params = await _first(flow, "/dialed")
    assert params["DialCallStatus"] == "completed" and params["RecordingSid"].startswith("RE")
    assert params["RecordingUrl"].endswith(params["RecordingSid"]) and int(params["RecordingDuration"]) >= 1
    rec = await flow.store.read(get_recording, params["RecordingSid"])
    assert rec is not None and rec.source == "DialVerb" and rec.call_sid == call.sid


async def _first(flow: Flow, path: str) -> dict[str, str]:
    await flow.wait_for(lambda: bool(flow.backend.requests_to(path)))
    return flow.backend.requests_to(path)[0]


async def test_dial_number_url_whispers_to_the_callee_before_bridging(flow: Flow) -> None:
    flow.backend.docs["/xml"] = '<Response><Dial><Number url="/whisper">+15005550007</Number></Dial></Response>'
    flow.backend.docs["/whisper"] = "<Response><Say>You have a call from the website.</Say></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: any(c.dial.parent_call_sid == call.sid for c in flow.sip.calls.values()))
    child_sid = next(s for s, c in flow.sip.calls.items() if c.dial.parent_call_sid == call.sid)
    await flow.wait_for(lambda: flow.sip.calls[child_sid].bridged_to == call.sid)
    [params] = flow.backend.requests_to("/whisper")
    assert (
        params["CallSid"] == child_sid
        and params["ParentCallSid"] == call.sid
        and params["Direction"] == "outbound-dial"
    )
    assert flow.sip.calls[child_sid].plays  # the callee heard the whisper
    flow.sip.remote_hangup(child_sid)
    await flow.wait_status(call.sid, ("completed",))


async def test_dial_whisper_hangup_screens_the_call(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        '<Response><Dial action="/dialed"><Number url="/screen">+15005550007</Number></Dial></Response>'
    )
    flow.backend.docs["/screen"] = "<Response><Hangup/></Response>"
    flow.backend.docs["/dialed"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/dialed")
    assert params["DialBridged"] == "false"


async def test_silent_recording_is_trimmed_away_and_the_call_moves_on(flow: Flow) -> None:
    flow.sip.record_silent = True
    flow.backend.docs["/xml"] = '<Response><Record action="/after"/><Say>Nothing recorded.</Say></Response>'
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    assert flow.backend.requests_to("/after") == []  # Twilio skips the action for an empty recording
    assert flow.tts.spoken[-1][0] == "Nothing recorded."


async def test_do_not_trim_keeps_silence(flow: Flow) -> None:
    flow.sip.record_silent = True
    flow.backend.docs["/xml"] = '<Response><Record trim="do-not-trim" action="/after"/></Response>'
    flow.backend.docs["/after"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",))
    assert len(flow.backend.requests_to("/after")) == 1


async def test_a_project_waiting_on_its_own_cps_does_not_hold_up_the_others(flow: Flow) -> None:
    """The dispatcher reads a few queued rows per pass (QUEUE_PEEK) and looks further down the
    queue only when all of them were skipped: another project's call behind 20 of a CPS-limited
    project's calls still goes at once."""
    await flow.store.write(lambda: update_project(flow.project.sid, cps=0.01))  # one call, then 100 s to wait
    slow = [await flow.create(twiml="<Response><Pause length='30'/></Response>") for _ in range(20)]
    assert len(slow) > dispatcher.QUEUE_PEEK * 2
    other = await flow.store.write(create_project, "other")
    call = await flow.calls.create(
        other, NewCall(to_number="+15005550006", from_number="+15005550100", twiml="<Response/>")
    )
    await flow.wait_status(call.sid, ("completed",), timeout=5)
    statuses = [(await flow.store.read(get_call, c.sid)).status for c in slow]
    assert statuses[0] != "queued" and set(statuses[1:]) == {"queued"}
