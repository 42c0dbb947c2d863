"""Media Streams in the call session (calls/streams.py), with FakeSip as the worker: what the
worker is asked to open, and what each of its stream events means for the customer (the
interpreter's next step, status callbacks in the outbox, notifications)."""

from __future__ import annotations

import asyncio

from tests.calls.conftest import Flow
from wirexa.calls.ports import CallSid, StreamChanged
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.webhooks import list_webhooks
from wirexa.webhooks.signing import signature


async def stream_callbacks(flow: Flow, call_sid: str) -> list[dict[str, str]]:
    rows = await flow.store.read(lambda: list_webhooks(call_sid=call_sid))
    return [dict(w.params) for w in rows if w.kind == "stream"]


async def test_connect_stream_runs_until_the_server_closes_then_its_action(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        '<Response><Connect action="/after"><Stream url="wss://agent.example/ws" statusCallback="/scb">'
        '<Parameter name="FirstName" value="Jane"/></Stream></Connect><Say>not reached</Say></Response>'
    )
    flow.backend.docs["/after"] = "<Response><Say>after</Say></Response>"
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: bool(flow.sip.streams))
    [(sid, stream)] = flow.sip.streams
    assert sid == call.sid and stream.stream_sid.startswith("MZ") and len(stream.stream_sid) == 34
    assert (stream.url, stream.tracks, stream.bidirectional) == ("wss://agent.example/ws", ("inbound",), True)
    assert stream.parameters == (("FirstName", "Jane"),)
    project = flow.project
    assert dict(stream.headers)["X-Twilio-Signature"] == signature(project.auth_token, "wss://agent.example/ws")
    await flow.wait_for(lambda: any(isinstance(e, StreamChanged) for e in flow.sip.events))  # started
    # The agent talks for a while (the session waits), then closes the socket.
    flow.sip.stream_event(StreamChanged(CallSid(call.sid), stream.stream_sid, "stopped", 0, "closed by the server"))
    await flow.wait_status(call.sid, ("completed",))
    [after] = flow.backend.requests_to("/after")
    assert after["CallSid"] == call.sid and after["CallStatus"] == "in-progress"
    assert ("after", "man", "en-US") in flow.tts.spoken and ("not reached", "man", "en-US") not in flow.tts.spoken
    events = await stream_callbacks(flow, call.sid)
    assert [e["StreamEvent"] for e in events] == ["stream-started", "stream-stopped"]
    assert events[0]["StreamSid"] == stream.stream_sid and events[0]["StreamName"] == stream.stream_sid
    assert events[0]["Timestamp"].endswith("Z") and events[0]["AccountSid"] == call.account_sid


async def test_a_stream_that_cannot_open_is_a_notification_and_the_document_goes_on(flow: Flow) -> None:
    flow.backend.docs["/xml"] = (
        '<Response><Connect><Stream url="ws://127.0.0.1:9/x" statusCallback="/scb"/></Connect>'
        "<Say>fallback</Say></Response>"
    )
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: bool(flow.sip.streams))
    [(_, stream)] = flow.sip.streams
    ms = stream.stream_sid
    flow.sip.stream_event(StreamChanged(CallSid(call.sid), ms, "error", 31902, "ws://127.0.0.1:9/x: refused"))
    flow.sip.stream_event(StreamChanged(CallSid(call.sid), ms, "stopped", 0, "not opened"))
    await flow.wait_status(call.sid, ("completed",))
    assert ("fallback", "man", "en-US") in flow.tts.spoken
    notes = await flow.store.read(list_notifications, call.sid)
    assert [(n.error_code, n.request_url) for n in notes] == [(31902, "ws://127.0.0.1:9/x")]
    events = await stream_callbacks(flow, call.sid)
    assert [(e["StreamEvent"], e.get("StreamError")) for e in events if e["StreamEvent"] != "stream-started"] == [
        ("stream-error", "ws://127.0.0.1:9/x: refused"),
        ("stream-stopped", None),
    ]


async def test_start_forks_go_on_at_once_stop_ends_one_and_a_fifth_is_refused(flow: Flow) -> None:
    forks = "".join(f'<Stream name="s{i}" url="ws://h/{i}" track="both_tracks"/>' for i in range(5))
    flow.backend.docs["/xml"] = (
        f'<Response><Start>{forks}</Start><Stop><Stream name="s1"/></Stop><Stop><Stream name="nope"/></Stop>'
        '<Say>going on</Say><Pause length="1"/></Response>'
    )
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_status(call.sid, ("completed",), fire_within_s=2)
    assert [s.url for _, s in flow.sip.streams] == [f"ws://h/{i}" for i in range(4)]
    assert all(s.tracks == ("inbound", "outbound") and not s.bidirectional for _, s in flow.sip.streams)
    assert flow.sip.stopped_streams[0] == flow.sip.streams[1][1].stream_sid  # <Stop> by name
    assert ("going on", "man", "en-US") in flow.tts.spoken
    notes = await flow.store.read(list_notifications, call.sid)
    assert sorted(n.error_code for n in notes) == [20001, 20404]  # the fifth fork; the <Stop> of none


async def test_a_hangup_during_connect_stops_the_stream_once(flow: Flow) -> None:
    flow.backend.docs["/xml"] = '<Response><Connect><Stream url="ws://h/a" statusCallback="/scb"/></Connect></Response>'
    call = await flow.create(url=flow.backend.url("/xml"))
    await flow.wait_for(lambda: bool(flow.sip.streams))
    [(_, stream)] = flow.sip.streams
    await flow.wait_for(lambda: any(isinstance(e, StreamChanged) for e in flow.sip.events))
    session = flow.dispatcher.sessions.get(call.sid)
    assert session is not None
    await session.hangup()
    await flow.wait_status(call.sid, ("completed",))
    for _ in range(200):  # the stream's stop is written just after the call's final status
        if len(await stream_callbacks(flow, call.sid)) == 2:
            break
        await asyncio.sleep(0.01)
    # The worker's own "stopped" comes after the session ended it: final stays final.
    flow.sip.stream_event(StreamChanged(CallSid(call.sid), stream.stream_sid, "stopped", 0, "the call ended"))
    await asyncio.sleep(0.1)
    events = await stream_callbacks(flow, call.sid)
    assert [e["StreamEvent"] for e in events] == ["stream-started", "stream-stopped"]
