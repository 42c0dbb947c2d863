"""Call queues in the call session (calls/queues.py), with FakeSip as the network: <Enqueue> with
its wait document (looping, with the queue parameters), <Leave>, queue-full, hangup while
queued, <Dial><Queue> with its url document and the bridge, the QueueResult at <Enqueue action>
and the <Dial action> of the caller that dequeued; the Members resource's list, Front and
dequeue on the same live queue."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from tests.calls.conftest import Flow
from tests.conftest import start_api
from wirexa.calls.queues import HOLD_PLAY_ID, Queues
from wirexa.calls.service import CallUpdate, NewCall
from wirexa.store.repo.queues import queue_by_name
from wirexa.store.repo.verbs import verbs_of


def queues(flow: Flow) -> Queues:
    q = flow.dispatcher.deps.queues
    assert q is not None
    return q


def count_wait(flow: Flow, say: str = "please hold") -> list[dict[str, str]]:
    """Serve /wait: a short prompt; returns the requests it got (with their parameters)."""
    seen: list[dict[str, str]] = []

    async def wait(request: web.Request) -> web.Response:
        seen.append({k: str(v) for k, v in (await request.post()).items()})
        return web.Response(text=f"<Response><Say>{say} {len(seen)}</Say></Response>", content_type="text/xml")

    flow.backend.docs["/wait"] = wait
    return seen


async def member_of(flow: Flow, name: str, count: int = 1) -> str:
    """The queue's sid once `count` calls wait in it."""
    row = None
    while row is None:
        row = await flow.store.read(queue_by_name, flow.project.sid, name)
        await asyncio.sleep(0.01)
    await flow.wait_for(lambda: len(queues(flow).members(row.sid)) >= count)
    return row.sid


async def test_enqueue_waits_with_its_wait_document_then_is_bridged_by_dial_queue(flow: Flow) -> None:
    waits = count_wait(flow)
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="/wait" action="/left">support</Enqueue></Response>'
    docs["/left"] = "<Response><Say>thanks</Say></Response>"
    docs["/agent"] = '<Response><Dial action="/agent-after"><Queue url="/about">support</Queue></Dial></Response>'
    docs["/about"] = "<Response><Say>connecting you</Say></Response>"
    docs["/agent-after"] = "<Response><Hangup/></Response>"
    member = await flow.create(url=flow.backend.url("/member"))
    qsid = await member_of(flow, "support")
    # The wait document runs, and is requested again each time it runs out (fast runs wait 1 s).
    deadline = asyncio.get_running_loop().time() + 10
    while len(waits) < 2:
        assert asyncio.get_running_loop().time() < deadline, "the wait document was not requested again"
        flow.dispatcher.clock.fire_within(1.5)  # type: ignore[attr-defined]
        await asyncio.sleep(0.02)
    first = waits[0]
    assert first["CallSid"] == member.sid and first["QueueSid"] == qsid and first["QueuePosition"] == "1"
    assert first["CurrentQueueSize"] == "1" and first["MaxQueueSize"] == "1000"
    assert {"QueueTime", "AvgQueueTime"} <= set(first) and first["CallStatus"] == "in-progress"
    [info] = queues(flow).members(qsid)
    assert info.call_sid == member.sid and info.position == 1
    # An agent takes the caller: the url document runs on the caller's call, then the bridge.
    agent = await flow.create(to="+15005550007", url=flow.backend.url("/agent"))
    await flow.wait_for(lambda: member.sid in flow.sip.calls and flow.sip.calls[member.sid].bridged_to is not None)
    [about] = flow.backend.requests_to("/about")
    assert about["CallSid"] == member.sid and about["QueueSid"] == qsid and about["DequeingCallSid"] == agent.sid
    assert ("connecting you", "man", "en-US") in flow.tts.spoken
    assert flow.sip.calls[agent.sid].bridged_to == member.sid and queues(flow).members(qsid) == []
    # The agent hangs up: the caller's document goes on at <Enqueue action>, QueueResult bridged.
    flow.sip.remote_hangup(agent.sid)
    await flow.wait_status(member.sid, ("completed",))
    [left] = flow.backend.requests_to("/left")
    assert left["QueueResult"] == "bridged" and left["QueueSid"] == qsid and int(left["QueueTime"]) >= 0
    assert ("thanks", "man", "en-US") in flow.tts.spoken
    # The console's timeline shows the queue verbs.
    # (written as the call ends, after its status: wait for them rather than read once)
    for _ in range(100):
        verbs = [(v.verb, v.detail) for v in await flow.store.read(verbs_of, member.sid)]
        if verbs:
            break
        await asyncio.sleep(0.02)
    assert ("Enqueue", "support") in verbs
    await flow.wait_status(agent.sid, ("completed",))
    assert ("Dial", "queue support") in [(v.verb, v.detail) for v in await flow.store.read(verbs_of, agent.sid)]


async def test_the_agents_dial_action_when_the_caller_hangs_up(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="" action="/left">sales</Enqueue></Response>'
    docs["/left"] = "<Response><Say>never run</Say></Response>"
    docs["/agent"] = '<Response><Dial action="/agent-after"><Queue>sales</Queue></Dial></Response>'
    docs["/agent-after"] = "<Response><Say>next</Say></Response>"
    member = await flow.create(url=flow.backend.url("/member"))
    qsid = await member_of(flow, "sales")
    assert flow.sip.calls[member.sid].plays == []  # waitUrl="": silence
    agent = await flow.create(to="+15005550007", url=flow.backend.url("/agent"))
    await flow.wait_for(lambda: flow.sip.calls[member.sid].bridged_to == agent.sid)
    flow.sip.remote_hangup(member.sid)
    await flow.wait_status(agent.sid, ("completed",))
    [after] = flow.backend.requests_to("/agent-after")
    assert after["DialCallStatus"] == "completed" and after["DialCallSid"] == member.sid
    assert after["QueueSid"] == qsid and after["DialBridged"] == "true" and "DialCallDuration" in after
    # The caller's action is still told, with the call over (its answer is not run).
    await flow.wait_for(lambda: bool(flow.backend.requests_to("/left")))
    [left] = flow.backend.requests_to("/left")
    assert left["QueueResult"] == "bridged" and left["CallStatus"] == "completed"
    assert ("never run", "man", "en-US") not in flow.tts.spoken


async def test_leave_from_the_wait_document_runs_the_next_verb(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="/wait">q</Enqueue><Say>after leaving</Say></Response>'
    docs["/wait"] = "<Response><Say>one moment</Say><Leave/></Response>"
    member = await flow.create(url=flow.backend.url("/member"))
    await flow.wait_status(member.sid, ("completed",))
    assert ("after leaving", "man", "en-US") in flow.tts.spoken


async def test_leave_requests_the_action_with_leave(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="/wait" action="/left">q</Enqueue></Response>'
    docs["/wait"] = "<Response><Leave/></Response>"
    docs["/left"] = "<Response><Hangup/></Response>"
    member = await flow.create(url=flow.backend.url("/member"))
    await flow.wait_status(member.sid, ("completed",))
    [left] = flow.backend.requests_to("/left")
    assert left["QueueResult"] == "leave" and left["QueueSid"].startswith("QU")


async def test_a_failing_wait_document_is_an_error_result(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="/missing" action="/left">q</Enqueue></Response>'
    docs["/left"] = "<Response><Hangup/></Response>"
    member = await flow.create(url=flow.backend.url("/member"))
    await flow.wait_status(member.sid, ("completed",))
    [left] = flow.backend.requests_to("/left")
    assert left["QueueResult"] == "error"


async def test_queue_full_and_the_default_hold_music(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue maxQueueSize="1" action="/left">tiny</Enqueue></Response>'
    docs["/left"] = "<Response><Hangup/></Response>"
    first = await flow.create(url=flow.backend.url("/member"))
    qsid = await member_of(flow, "tiny")
    await flow.wait_for(lambda: any(p[0] == HOLD_PLAY_ID for p in flow.sip.calls[first.sid].plays))
    [(_, _, loop)] = [p for p in flow.sip.calls[first.sid].plays if p[0] == HOLD_PLAY_ID]
    assert loop == 0  # until taken out
    second = await flow.create(to="+15005550007", url=flow.backend.url("/member"))
    await flow.wait_status(second.sid, ("completed",))
    [full] = flow.backend.requests_to("/left")
    assert full["QueueResult"] == "queue-full" and "QueueSid" not in full and full["CallSid"] == second.sid
    # Hung up while waiting: removed, and the action is told `hangup`.
    flow.sip.remote_hangup(first.sid)
    await flow.wait_for(lambda: len(flow.backend.requests_to("/left")) == 2)
    hangup = flow.backend.requests_to("/left")[1]
    assert hangup["QueueResult"] == "hangup" and hangup["QueueSid"] == qsid and hangup["CallSid"] == first.sid
    assert queues(flow).members(qsid) == []


async def test_dial_queue_fails_for_a_missing_queue_and_times_out_on_an_empty_one(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/agent"] = '<Response><Dial action="/after" timeout="1"><Queue>nobody</Queue></Dial></Response>'
    docs["/after"] = "<Response><Hangup/></Response>"
    agent = await flow.create(url=flow.backend.url("/agent"))
    await flow.wait_status(agent.sid, ("completed",))
    [after] = flow.backend.requests_to("/after")
    assert after["DialCallStatus"] == "failed"
    # An empty queue that exists: the dial waits its timeout.
    docs["/member"] = '<Response><Enqueue waitUrl="" action="/gone">nobody</Enqueue></Response>'
    docs["/gone"] = "<Response><Hangup/></Response>"
    member = await flow.create(to="+15005550007", url=flow.backend.url("/member"))
    await member_of(flow, "nobody")
    flow.sip.remote_hangup(member.sid)
    await flow.wait_for(lambda: bool(flow.backend.requests_to("/gone")))
    agent = await flow.create(to="+15005550008", url=flow.backend.url("/agent"))
    await flow.hurry(agent.sid, ("completed",))
    assert flow.backend.requests_to("/after")[1]["DialCallStatus"] == "no-answer"


async def test_a_waiting_agent_takes_the_next_caller_in_order(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="">line</Enqueue><Hangup/></Response>'
    docs["/agent"] = '<Response><Dial timeout="30"><Queue>line</Queue></Dial></Response>'
    # The queue exists (one caller came and went), the agent waits in it.
    first = await flow.create(url=flow.backend.url("/member"))
    qsid = await member_of(flow, "line")
    agent = await flow.create(to="+15005550007", url=flow.backend.url("/agent"))
    await flow.wait_for(lambda: flow.sip.calls[first.sid].bridged_to == agent.sid)
    flow.sip.remote_hangup(agent.sid)
    await flow.wait_status(first.sid, ("completed",))
    agent2 = await flow.create(to="+15005550008", url=flow.backend.url("/agent"))
    await flow.wait_for(lambda: agent2.sid in flow.sip.calls and flow.sip.calls[agent2.sid].answered)
    await asyncio.sleep(0.1)
    second = await flow.create(to="+15005550009", url=flow.backend.url("/member"))
    await flow.wait_for(lambda: second.sid in flow.sip.calls and flow.sip.calls[second.sid].bridged_to == agent2.sid)
    assert queues(flow).members(qsid) == []
    flow.sip.remote_hangup(second.sid)
    await flow.wait_status(agent2.sid, ("completed",))


async def test_members_resource_lists_fronts_and_dequeues(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="" action="/left">desk</Enqueue></Response>'
    docs["/left"] = "<Response><Say>ignored</Say></Response>"
    docs["/out"] = "<Response><Say>taken out</Say></Response>"
    first = await flow.create(url=flow.backend.url("/member"))
    qsid = await member_of(flow, "desk")
    second = await flow.create(to="+15005550007", url=flow.backend.url("/member"))
    await member_of(flow, "desk", 2)
    api = await start_api(flow.store, flow.dispatcher.settings, flow.project)
    api.services.queues = queues(flow)
    try:
        base = f"{api.base}/Queues/{qsid}"
        body: Any = await (await api.client.get(f"{base}.json", headers=api.auth)).json()
        assert body["current_size"] == 2 and body["friendly_name"] == "desk" and body["max_size"] == 1000
        body = await (await api.client.get(f"{base}/Members.json", headers=api.auth)).json()
        assert [(m["call_sid"], m["position"]) for m in body["queue_members"]] == [(first.sid, 1), (second.sid, 2)]
        body = await (await api.client.get(f"{base}/Members/Front.json", headers=api.auth)).json()
        assert body["call_sid"] == first.sid and body["queue_sid"] == qsid and body["wait_time"] >= 0
        resp = await api.client.get(f"{base}/Members/{second.sid}", headers=api.auth)
        assert (await resp.json())["position"] == 2
        resp = await api.client.post(
            f"{base}/Members/Front.json", data={"Url": flow.backend.url("/out")}, headers=api.auth
        )
        assert resp.status == 200 and (await resp.json())["call_sid"] == first.sid
        await flow.wait_status(first.sid, ("completed",))
        assert ("taken out", "man", "en-US") in flow.tts.spoken
        [left] = flow.backend.requests_to("/left")  # told at once, its answer not run
        assert left["QueueResult"] == "redirected" and left["CallSid"] == first.sid
        assert ("ignored", "man", "en-US") not in flow.tts.spoken
        body = await (await api.client.get(f"{base}/Members.json", headers=api.auth)).json()
        assert [(m["call_sid"], m["position"]) for m in body["queue_members"]] == [(second.sid, 1)]
        resp = await api.client.delete(f"{base}.json", headers=api.auth)
        assert resp.status == 400  # a caller still waits
        resp = await api.client.get(f"{base}/Members/{first.sid}.json", headers=api.auth)
        assert resp.status == 404
        flow.sip.remote_hangup(second.sid)
        await flow.wait_for(lambda: queues(flow).members(qsid) == [])
        assert (await api.client.delete(f"{base}.json", headers=api.auth)).status == 204
    finally:
        await api.client.close()


async def test_hangup_on_star_and_a_live_update_of_a_bridged_caller(flow: Flow) -> None:
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="" action="/left">star</Enqueue><Say>not reached</Say></Response>'
    docs["/left"] = (
        '<Response><Say>back from the agent</Say><Enqueue waitUrl="" action="/left2">star</Enqueue></Response>'
    )
    docs["/left2"] = "<Response><Say>ignored</Say></Response>"
    docs["/agent"] = '<Response><Dial hangupOnStar="true" action="/after"><Queue>star</Queue></Dial></Response>'
    docs["/after"] = '<Response><Dial action="/after2"><Queue>star</Queue></Dial></Response>'
    docs["/after2"] = "<Response><Hangup/></Response>"
    docs["/new"] = "<Response><Say>updated</Say></Response>"
    member = await flow.create(url=flow.backend.url("/member"))
    await member_of(flow, "star")
    agent = await flow.create(to="+15005550007", url=flow.backend.url("/agent"))
    await flow.wait_for(lambda: member.sid in flow.sip.calls and flow.sip.calls[member.sid].bridged_to == agent.sid)
    flow.sip.press(agent.sid, "*")  # the agent leaves the bridge; the caller's action runs and re-enqueues
    await flow.wait_for(lambda: bool(flow.backend.requests_to("/after")))
    [after] = flow.backend.requests_to("/after")
    assert after["DialCallStatus"] == "completed" and after["DialCallSid"] == member.sid
    assert flow.backend.requests_to("/left")[0]["QueueResult"] == "bridged"
    # The agent's next <Dial><Queue> takes the caller again; a live update of the caller then.
    await flow.wait_for(lambda: flow.sip.calls[member.sid].bridged_to == agent.sid)
    await flow.calls.update(flow.project, member.sid, CallUpdate(url=flow.backend.url("/new")), "/x")
    await flow.wait_status(member.sid, ("completed",))
    assert ("updated", "man", "en-US") in flow.tts.spoken and ("ignored", "man", "en-US") not in flow.tts.spoken
    [left2] = flow.backend.requests_to("/left2")
    assert left2["QueueResult"] == "redirected-from-bridged"
    await flow.wait_status(agent.sid, ("completed",))
    assert flow.backend.requests_to("/after2")[0]["DialCallSid"] == member.sid


async def test_an_inbound_caller_is_answered_once_and_waits(flow: Flow) -> None:
    """<Enqueue> answers a ringing inbound call; its wait documents never answer it again."""
    waits = count_wait(flow)
    flow.backend.docs["/voice"] = '<Response><Enqueue waitUrl="/wait">inbound line</Enqueue></Response>'
    answers: list[str] = []
    answer = flow.sip.answer

    async def counting(call_sid: Any) -> None:
        answers.append(call_sid)
        await answer(call_sid)

    flow.sip.answer = counting  # type: ignore[method-assign]
    call = await flow.calls.store.insert(
        flow.project.sid,
        NewCall(
            to_number="+15005550100", from_number="+14155550123", direction="inbound", url=flow.backend.url("/voice")
        ),
    )
    flow.sip.incoming(call.sid, call.from_number, call.to_number)
    flow.dispatcher.start_inbound(call)
    deadline = asyncio.get_running_loop().time() + 10
    while len(waits) < 2:
        assert asyncio.get_running_loop().time() < deadline
        flow.dispatcher.clock.fire_within(1.5)  # type: ignore[attr-defined]
        await asyncio.sleep(0.02)
    assert answers == [call.sid]
    assert waits[0]["Direction"] == "inbound" and waits[0]["CallStatus"] == "in-progress"
    flow.sip.remote_hangup(call.sid)
    await flow.wait_status(call.sid, ("completed",))


async def test_an_instant_wait_document_is_requested_again_once_a_second(flow: Flow) -> None:
    """A wait document that runs out at once is requested again a second later, not in a loop;
    a caller put back at the front (its agent left during the <Queue url> document) restarts it
    once, and the earlier run's pending request is dropped."""
    waits: list[dict[str, str]] = []
    flow.backend.docs["/wait"] = lambda request: _empty_wait(request, waits)
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="/wait">instant</Enqueue></Response>'
    docs["/agent"] = '<Response><Dial><Queue url="/slow">instant</Queue></Dial></Response>'
    docs["/slow"] = '<Response><Pause length="30"/></Response>'
    member = await flow.create(url=flow.backend.url("/member"))
    await member_of(flow, "instant")
    await flow.wait_for(lambda: len(waits) == 1)
    await asyncio.sleep(0.3)
    assert len(waits) == 1  # not requested again at once
    agent = await flow.create(to="+15005550007", url=flow.backend.url("/agent"))
    await flow.wait_for(lambda: bool(flow.backend.requests_to("/slow")))
    flow.sip.remote_hangup(agent.sid)  # during the url document: the caller goes back to the front
    await flow.wait_for(lambda: len(waits) == 2)
    await asyncio.sleep(0.1)
    flow.dispatcher.clock.fire_within(1.5)  # type: ignore[attr-defined]  # both runs' pending requests
    await asyncio.sleep(0.3)
    assert len(waits) == 3, len(waits)
    flow.sip.remote_hangup(member.sid)
    await flow.wait_status(member.sid, ("completed",))


async def _empty_wait(request: web.Request, seen: list[dict[str, str]]) -> web.Response:
    seen.append({k: str(v) for k, v in (await request.post()).items()})
    return web.Response(text="<Response></Response>", content_type="text/xml")


async def test_a_gather_in_the_wait_document_takes_the_callers_keys(flow: Flow) -> None:
    """Keys pressed while waiting reach the wait document's <Gather> (GET with waitUrlMethod),
    whose action may <Leave>."""
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="/menu" waitUrlMethod="GET" action="/left">keys</Enqueue></Response>'
    docs["/menu"] = (
        '<Response><Gather numDigits="1" action="/pressed" timeout="20"><Say>press 1</Say></Gather></Response>'
    )
    docs["/pressed"] = "<Response><Leave/></Response>"
    docs["/left"] = "<Response><Hangup/></Response>"
    member = await flow.create(url=flow.backend.url("/member"))
    await member_of(flow, "keys")
    await flow.wait_for(lambda: ("press 1", "man", "en-US") in flow.tts.spoken)
    [menu] = [(m, p) for path, m, p in flow.backend.requests if path == "/menu"]
    assert menu[0] == "GET" and menu[1]["QueuePosition"] == "1"
    flow.sip.press(member.sid, "1")
    await flow.wait_status(member.sid, ("completed",))
    [pressed] = flow.backend.requests_to("/pressed")
    assert pressed["Digits"] == "1" and pressed["CallSid"] == member.sid
    assert flow.backend.requests_to("/left")[0]["QueueResult"] == "leave"
