"""Call queues end to end (issue 25): `wirexa serve` (the shared engine), twilio-python, the
sandbox's people as callers and agents. Three callers wait in one queue with a wait document that
counts its requests; two agents take the first two in order (<Dial><Queue url>), the third is
taken out with the Members resource's `Front`; a fourth leaves with <Leave>; a fifth hears the
built-in hold music (what the sandbox callee heard) until the Members resource takes it out. Checked: the wait
document's parameters as the queue changes, the REST Queue and Members while they wait, `wirexa
queues show`, the bridges (voice through them), every QueueResult at <Enqueue action> and the agents' <Dial action>."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer, engine_fixture
from tests.e2e.test_engine_e2e import create, wait_final
from tests.e2e.test_streams_e2e import heard
from tests.e2e.webapp import Request, WebApp
from wirexa.media.audio import rms_dbfs

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

engine = engine_fixture(shared=True)
CALLERS = ("+15005550020", "+15005550021", "+15005550022")  # the sandbox's default person
AGENTS = ("+15005550023", "+15005550024")
QUEUE = "e2e support"


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()

    def wait(req: Request) -> str:  # a short prompt and a pause; requested again when it runs out
        return f"<Response><Say>Please hold, {len(app.to('/wait', req.form.get('CallSid')))}</Say><Pause length='1'/></Response>"

    app.docs["/member"] = f'<Response><Enqueue waitUrl="/wait" action="/left">{QUEUE}</Enqueue></Response>'
    app.docs["/wait"] = wait
    app.docs["/left"] = "<Response><Say>Thank you</Say><Hangup/></Response>"
    app.docs["/agent"] = (
        f'<Response><Dial action="/agent-done" timeout="30"><Queue url="/whisper">{QUEUE}</Queue></Dial></Response>'
    )
    app.docs["/whisper"] = "<Response><Say>Connecting</Say></Response>"
    app.docs["/agent-done"] = "<Response><Hangup/></Response>"
    app.docs["/taken-out"] = "<Response><Say>We will call you back</Say><Hangup/></Response>"
    app.docs["/leaver"] = f'<Response><Enqueue waitUrl="/wait-leave" action="/left">{QUEUE}</Enqueue></Response>'
    app.docs["/wait-leave"] = "<Response><Say>Leaving the queue</Say><Leave/></Response>"
    app.docs["/holder"] = f"<Response><Enqueue>{QUEUE}</Enqueue></Response>"
    yield app
    app.close()


def until(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def queues_show(engine: LiveServer) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "queues", "show", QUEUE, "--json", "--data-dir", str(engine.data_dir)],
        capture_output=True,
        text=True,
        check=True,
        env=engine.env,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_three_callers_two_agents_front_and_leave(engine: LiveServer, web: WebApp) -> None:
    client = engine.client()
    started = time.monotonic()
    # Three callers join in turn: each one's first wait request shows its place.
    callers = []
    for n, number in enumerate(CALLERS, 1):
        call = create(engine, to=number, url=web.url("/member"))
        callers.append(call.sid)
        first = web.wait("/wait", call.sid)[0].form
        assert first["QueuePosition"] == str(n) and first["CurrentQueueSize"] == str(n), first
        assert first["MaxQueueSize"] == "1000" and first["QueueSid"].startswith("QU")
        assert int(first["QueueTime"]) <= 1 and "AvgQueueTime" in first and first["CallStatus"] == "in-progress"
    qsid = first["QueueSid"]
    # The wait document loops: the first caller's later requests see the full queue and its time.
    later = until(
        "a later wait request of the first caller",
        lambda: [r.form for r in web.to("/wait", callers[0]) if r.form["CurrentQueueSize"] == "3"],
    )[-1]
    assert later["QueuePosition"] == "1" and int(later["QueueTime"]) >= 1 and int(later["AvgQueueTime"]) >= 1
    # The REST resources and the CLI see them, in order.
    queue = client.queues(qsid).fetch()
    assert (queue.friendly_name, queue.current_size, queue.max_size) == (QUEUE, 3, 1000)
    assert [m.call_sid for m in client.queues(qsid).members.list()] == callers
    assert [m.position for m in client.queues(qsid).members.list()] == [1, 2, 3]
    assert client.queues(qsid).members("Front").fetch().call_sid == callers[0]
    shown = queues_show(engine)
    assert shown["current_size"] == 3 and [m["call_sid"] for m in shown["queue_members"]] == callers

    # Two agents take the first two callers, in order, after the whisper on the caller's call.
    agents = []
    for n, number in enumerate(AGENTS):
        agent = create(engine, to=number, url=web.url("/agent"))
        agents.append(agent.sid)
        whisper = web.wait("/whisper", callers[n])[0].form
        assert whisper["DequeingCallSid"] == agent.sid and whisper["QueueSid"] == qsid
        assert int(whisper["QueueTime"]) >= 1
    until("two bridged", lambda: client.queues(qsid).fetch().current_size == 1)
    assert [m.call_sid for m in client.queues(qsid).members.list()] == [callers[2]]
    time.sleep(3)  # the whispers end and both pairs talk for a moment

    # The first agent hangs up: its caller's document goes on at <Enqueue action> (bridged).
    client.calls(agents[0]).update(status="completed")
    left = web.wait("/left", callers[0])[0].form
    assert left["QueueResult"] == "bridged" and left["QueueSid"] == qsid and int(left["QueueTime"]) >= 1
    assert wait_final(client, callers[0]).status == "completed"
    # The second caller hangs up: the agent's <Dial action> says whom it talked to.
    client.calls(callers[1]).update(status="completed")
    done = web.wait("/agent-done", agents[1])[0].form
    assert done["DialCallStatus"] == "completed" and done["DialCallSid"] == callers[1]
    assert done["QueueSid"] == qsid and done["DialBridged"] == "true" and int(done["DialCallDuration"]) >= 1
    assert web.wait("/left", callers[1])[0].form["QueueResult"] == "bridged"
    assert wait_final(client, agents[1]).status == "completed"
    # The bridges carry voice: an agent's callee heard nothing from the engine (its document is
    # <Dial><Queue> alone), only its caller's person answering the whisper.
    # (Five calls: the pool's workers hold four each, so one of the bridges likely spans two.)
    for agent_sid in agents:
        pcm = heard(engine, agent_sid)
        assert rms_dbfs(pcm) > -40, rms_dbfs(pcm)
        print(f"agent heard its caller at {rms_dbfs(pcm):.1f} dBFS")

    # The third is taken out by the Members resource (Front): redirected, runs the new document.
    member = client.queues(qsid).members("Front").update(url=web.url("/taken-out"), method="POST")
    assert member.call_sid == callers[2]
    assert web.wait("/left", callers[2])[0].form["QueueResult"] == "redirected"
    assert web.wait("/taken-out", callers[2])
    assert wait_final(client, callers[2]).status == "completed"

    # A fourth leaves by itself (<Leave> in its wait document).
    leaver = create(engine, to=CALLERS[0], url=web.url("/leaver"))
    left = web.wait("/left", leaver.sid)[0].form
    assert left["QueueResult"] == "leave" and left["QueueSid"] == qsid
    assert wait_final(client, leaver.sid).status == "completed"
    assert client.queues(qsid).fetch().current_size == 0

    # Without waitUrl the caller hears the built-in hold music until taken out.
    holder = create(engine, to=CALLERS[1], url=web.url("/holder"))
    until("the holder waits", lambda: client.queues(qsid).fetch().current_size == 1)
    time.sleep(3)
    client.queues(qsid).members(holder.sid).update(url=web.url("/taken-out"))
    assert wait_final(client, holder.sid).status == "completed"
    pcm = heard(engine, holder.sid)
    music = pcm[: len(pcm) // 2]  # "We will call you back" comes after the music
    assert rms_dbfs(music) > -40, rms_dbfs(music)
    print(f"hold music heard at {rms_dbfs(music):.1f} dBFS")
    for sid in (*callers, *agents):
        assert wait_final(client, sid).status == "completed"
    print(f"queues e2e: {time.monotonic() - started:.1f} s")


def test_queue_full_hangup_and_error_results(engine: LiveServer, web: WebApp) -> None:
    """The other QueueResults a caller can get here: queue-full (maxQueueSize), hangup (hung up
    while waiting: the action is still told, CallStatus completed) and error (a waitUrl that
    cannot be fetched)."""
    client = engine.client()
    web.docs["/small"] = '<Response><Enqueue maxQueueSize="1" waitUrl="" action="/left2">e2e small</Enqueue></Response>'
    web.docs["/broken"] = '<Response><Enqueue waitUrl="/nowhere" action="/left2">e2e small</Enqueue></Response>'
    web.docs["/left2"] = "<Response><Hangup/></Response>"
    web.statuses["/nowhere"] = 404
    first = create(engine, to=CALLERS[0], url=web.url("/small"))
    qsid = until("the first waits", lambda: [q.sid for q in client.queues.list() if q.friendly_name == "e2e small"])[0]
    until("in the queue", lambda: client.queues(qsid).fetch().current_size == 1)
    second = create(engine, to=CALLERS[1], url=web.url("/small"))
    full = web.wait("/left2", second.sid)[0].form
    assert full["QueueResult"] == "queue-full" and "QueueSid" not in full
    client.calls(first.sid).update(status="completed")
    gone = web.wait("/left2", first.sid)[0].form
    assert gone["QueueResult"] == "hangup" and gone["QueueSid"] == qsid and gone["CallStatus"] == "completed"
    broken = create(engine, to=CALLERS[2], url=web.url("/broken"))
    error = web.wait("/left2", broken.sid)[0].form
    assert error["QueueResult"] == "error" and error["QueueSid"] == qsid
    for sid in (first.sid, second.sid, broken.sid):
        assert wait_final(client, sid).status == "completed"
    # twilio-python manages queues too.
    made = client.queues.create(friendly_name="e2e made", max_size=10)
    assert (made.max_size, made.current_size, made.average_wait_time) == (10, 0, 0)
    assert client.queues(made.sid).update(max_size=20, friendly_name="e2e renamed").max_size == 20
    assert "e2e renamed" in [q.friendly_name for q in client.queues.list()]
    assert client.queues(made.sid).delete() is True
    assert made.sid not in [q.sid for q in client.queues.list()]
