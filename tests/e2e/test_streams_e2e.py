"""Media Streams end to end (issue 24): `wirexa serve` with twilio-python, the sandbox callee as the
far end, and a real aiohttp WebSocket server (tests/e2e/agent.py) as the customer's agent. What
only the whole stack shows: the callee's voice arrives as `media`, what the agent sends is what
the callee hears (its WAV, by a tone's frequency), marks after playback, clear within a frame or
two, the callee's keys as `dtmf`, both tracks of a fork, the REST resource, and the failures."""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, engine_fixture
from tests.e2e.agent import Agent, Conn, tone_seconds
from tests.e2e.test_engine_e2e import create, wait_final
from tests.e2e.test_sandbox_person_e2e import notifications
from tests.e2e.webapp import WebApp
from wirexa.media.audio import rms_dbfs, tone_pcm, wav_bytes
from wirexa.webhooks.signing import signature

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

engine = engine_fixture(shared=True)
PERSON = "+15005550006"  # the default person: "Hello?" on answer, a reply after each prompt
KEYS = "+15005550012"  # presses 1234# after the caller's first prompt


@pytest.fixture(scope="module")
def agent() -> Iterator[Agent]:
    a = Agent()
    yield a
    a.close()


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/after"] = "<Response><Say>Goodbye</Say></Response>"
    app.files["/tone.wav"] = (wav_bytes(tone_pcm(1000, 2000)), "audio/wav")
    yield app
    app.close()


def run(agent: Agent, coro: Any, timeout: float = 30) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, agent.loop).result(timeout)


def heard(engine: LiveServer, call_sid: str) -> bytes:
    """What the sandbox callee heard (its recording of the call), once the file is complete."""
    path = Path(engine.data_dir) / "sandbox" / f"{call_sid}.wav"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with wave.open(str(path)) as w:
                return w.readframes(w.getnframes())
        except (FileNotFoundError, EOFError, wave.Error):
            time.sleep(0.2)
    raise AssertionError(f"no recording of what {call_sid} heard")


def test_connect_stream_both_ways_with_marks_then_action(engine: LiveServer, agent: Agent, web: WebApp) -> None:
    """The callee's "Hello?" arrives as media; 1 s of 700 Hz the agent sends is what the callee
    hears; its mark comes back once that second has played, not before; the agent's close ends
    <Connect> and its action runs."""
    marks: dict[str, float] = {}

    async def speak(conn: Conn) -> None:
        await conn.wait_for("start")
        await conn.wait_for("media", 50)  # a second of the call first
        await conn.send_audio(tone_pcm(700, 1000))
        sid = conn.events("start")[0]["streamSid"]
        marks["sent"] = time.monotonic()
        await conn.send({"event": "mark", "streamSid": sid, "mark": {"name": "spoken"}})
        await conn.wait_for("mark")
        await asyncio.sleep(0.5)
        await conn.ws.close()

    agent.scripts["/bidi"] = speak
    twiml = (
        f'<Response><Connect action="{web.url("/after")}"><Stream url="{agent.url("/bidi")}">'
        '<Parameter name="who" value="e2e"/></Stream></Connect><Say>not this</Say></Response>'
    )
    call = create(engine, to=PERSON, twiml=twiml)
    conn = agent.conn("/bidi")
    [after] = web.wait("/after", call.sid, timeout=30)
    assert after.form["CallStatus"] == "in-progress"
    assert wait_final(engine.client(), call.sid).status == "completed"

    [connected] = conn.events("connected")
    assert connected == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    [start] = conn.events("start")
    assert start["sequenceNumber"] == "1" and start["streamSid"].startswith("MZ")
    assert start["start"]["callSid"] == call.sid and start["start"]["accountSid"] == engine.project_id
    assert start["start"]["tracks"] == ["inbound"] and start["start"]["customParameters"] == {"who": "e2e"}
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    assert conn.headers["X-Twilio-Signature"] == signature(engine.auth_token, agent.url("/bidi"))
    media = conn.events("media")
    assert [m["media"]["chunk"] for m in media[:3]] == ["1", "2", "3"]
    assert all(m["media"]["track"] == "inbound" and len(m["media"]["payload"]) == 216 for m in media)  # 160 B
    seqs = [int(m["sequenceNumber"]) for _, m in conn.messages if "sequenceNumber" in m]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rms_dbfs(conn.audio("inbound")) > -45  # the callee's voice, not silence
    [mark] = conn.events("mark")
    assert mark["mark"] == {"name": "spoken"}
    echoed = conn.times("mark")[0] - marks["sent"]
    assert 0.9 < echoed < 1.6, echoed  # after the second of audio played, not before
    assert 0.8 <= tone_seconds(heard(engine, call.sid), 700) <= 1.2


def test_clear_stops_the_callee_hearing_the_rest_at_once(engine: LiveServer, agent: Agent) -> None:
    timing: dict[str, float] = {}

    async def barge(conn: Conn) -> None:
        await conn.wait_for("start")
        sid = conn.events("start")[0]["streamSid"]
        await conn.send_audio(tone_pcm(1000, 5000))
        await conn.send({"event": "mark", "streamSid": sid, "mark": {"name": "end"}})
        await asyncio.sleep(1.0)
        timing["clear"] = time.monotonic()
        await conn.send({"event": "clear", "streamSid": sid})
        await conn.wait_for("mark")
        await asyncio.sleep(1.0)
        await conn.ws.close()

    agent.scripts["/barge"] = barge
    call = create(
        engine, to=PERSON, twiml=f'<Response><Connect><Stream url="{agent.url("/barge")}"/></Connect></Response>'
    )
    conn = agent.conn("/barge")
    assert wait_final(engine.client(), call.sid).status == "completed"
    assert conn.events("mark") == [
        {
            "event": "mark",
            "sequenceNumber": conn.events("mark")[0]["sequenceNumber"],
            "streamSid": conn.events("start")[0]["streamSid"],
            "mark": {"name": "end"},
        }
    ]
    assert conn.times("mark")[0] - timing["clear"] < 0.1  # the pending mark is echoed at once
    played = tone_seconds(heard(engine, call.sid), 1000)
    assert 0.8 <= played <= 1.3, played  # ~1 s of the 5 s: the rest was dropped within a frame or two


def test_the_callees_keys_arrive_as_dtmf(engine: LiveServer, agent: Agent) -> None:
    async def prompt_then_listen(conn: Conn) -> None:
        await conn.wait_for("start")
        await conn.send_audio(tone_pcm(500, 600))  # the callee presses its keys after a prompt
        await conn.wait_for("dtmf", 5, timeout=20)
        await conn.ws.close()

    agent.scripts["/keys"] = prompt_then_listen
    call = create(
        engine, to=KEYS, twiml=f'<Response><Connect><Stream url="{agent.url("/keys")}"/></Connect></Response>'
    )
    conn = agent.conn("/keys")
    assert wait_final(engine.client(), call.sid).status == "completed"
    dtmf = conn.events("dtmf")
    assert "".join(d["dtmf"]["digit"] for d in dtmf) == "1234#"
    assert {d["dtmf"]["track"] for d in dtmf} == {"inbound_track"}


def test_a_fork_of_both_tracks_and_stop_by_name(engine: LiveServer, agent: Agent, web: WebApp) -> None:
    """<Start><Stream track=both_tracks> while a 1 kHz prompt plays: the outbound track carries the
    prompt, the inbound track the callee's voice; <Stop><Stream name> ends it with `stop` while
    the call goes on; the status callbacks come."""
    twiml = (
        f'<Response><Start><Stream name="fork" url="{agent.url("/fork")}" track="both_tracks" '
        f'statusCallback="{web.url("/scb")}"/></Start><Play>{web.url("/tone.wav")}</Play>'
        '<Pause length="1"/><Stop><Stream name="fork"/></Stop><Pause length="2"/></Response>'
    )
    call = create(engine, to=PERSON, twiml=twiml)
    conn = agent.conn("/fork")
    assert wait_final(engine.client(), call.sid).status == "completed"
    assert conn.events("start")[0]["start"]["tracks"] == ["inbound", "outbound"]
    assert 1.6 <= tone_seconds(conn.audio("outbound"), 1000) <= 2.2
    assert tone_seconds(conn.audio("inbound"), 1000) < 0.3 and rms_dbfs(conn.audio("inbound")) > -45
    [stop] = conn.events("stop")
    assert stop["stop"] == {"accountSid": engine.project_id, "callSid": call.sid}
    callbacks = web.to("/scb", call.sid)
    assert [c.form["StreamEvent"] for c in callbacks] == ["stream-started", "stream-stopped"]
    assert callbacks[0].form["StreamName"] == "fork"


def test_the_streams_resource_starts_and_stops_a_fork_and_the_call_ending_stops_the_rest(
    engine: LiveServer, agent: Agent
) -> None:
    client = engine.client()
    twiml = f'<Response><Start><Stream name="tw" url="{agent.url("/tw")}"/></Start><Pause length="20"/></Response>'
    call = create(engine, to=PERSON, twiml=twiml)
    deadline = time.monotonic() + 20
    while client.calls(call.sid).fetch().status != "in-progress":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stream = client.calls(call.sid).streams.create(
        url=agent.url("/rest"), name="rest", parameter1_name="k", parameter1_value="v"
    )
    assert stream.sid.startswith("MZ") and stream.name == "rest" and stream.status == "in-progress"
    conn = agent.conn("/rest")
    run(agent, conn.wait_for("start"))
    assert conn.events("start")[0]["start"]["customParameters"] == {"k": "v"}
    stopped = client.calls(call.sid).streams("rest").update(status="stopped")
    assert stopped.sid == stream.sid and stopped.status == "stopped"
    run(agent, conn.wait_for("stop"))
    forked = agent.conn("/tw")
    assert forked.events("stop") == []  # the other stream goes on
    client.calls(call.sid).update(status="completed")
    assert wait_final(client, call.sid).status == "completed"
    run(agent, forked.wait_for("stop"))  # the call's end closes its streams with `stop`
    assert forked.events("stop")[0]["stop"]["callSid"] == call.sid


def test_failures_are_notifications_and_the_document_goes_on(engine: LiveServer, agent: Agent, web: WebApp) -> None:
    agent.statuses["/missing"] = 404

    async def garbage(conn: Conn) -> None:
        await conn.wait_for("start")
        await conn.send("not json")
        await conn.send({"event": "dance"})
        await asyncio.sleep(0.5)
        await conn.ws.close()

    agent.scripts["/garbage"] = garbage
    for path, code in (("/missing", 31920), ("/garbage", 31924)):
        twiml = f'<Response><Connect><Stream url="{agent.url(path)}"/></Connect><Say>still here</Say></Response>'
        call = create(engine, to=PERSON, twiml=twiml)
        assert wait_final(engine.client(), call.sid).status == "completed"
        assert [n["error_code"] for n in notifications(engine, call.sid)] == [code], path
    refused = '<Response><Connect><Stream url="ws://127.0.0.1:9/none"/></Connect><Say>still here</Say></Response>'
    call = create(engine, to=PERSON, twiml=refused)
    assert wait_final(engine.client(), call.sid).status == "completed"
    assert [n["error_code"] for n in notifications(engine, call.sid)] == [31902]
