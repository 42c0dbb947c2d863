"""A call queue lives in one engine (calls/queues.py homes), with FakeSip as the network and the
real store's homes (store/repo/nodes.py): this engine is node-a, another engine (node-b) is a
registered node row whose homes are taken as it. A queue node-b holds refuses <Enqueue>
(QueueResult system-error, a 12400 notification naming node-b) and <Dial><Queue> (DialCallStatus
failed); a dead node's queue is taken; callers enqueuing at once share one take_home; the name
is given back when the queue empties here (its last member hangs up, its waiting dequeuer
times out)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.calls.conftest import Flow
from wirexa.calls.queues import Queues
from wirexa.store.models import Home
from wirexa.store.queues import StoreQueues
from wirexa.store.repo import nodes
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.queues import queue_by_name, queue_named

ME = "node-a"
OTHER = "node-b"


def queues(flow: Flow) -> Queues:
    q = flow.dispatcher.deps.queues
    assert q is not None
    return q


async def given_back(flow: Flow, name: str, timeout_s: float = 5.0) -> None:
    """Wait until the queue's name is given back: the give-back starts when the member's leave is
    processed, which may come after its call's final status."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while await home(flow, name) is not None:
        assert asyncio.get_running_loop().time() < deadline, f"the name {name!r} was not given back"
        await asyncio.sleep(0.02)


@pytest.fixture
async def homed(flow: Flow) -> AsyncIterator[Flow]:
    """The flow's engine as node-a, with node-b registered beside it (both open)."""
    rows = queues(flow).rows
    assert isinstance(rows, StoreQueues)
    rows.node_id = ME
    for node in (ME, OTHER):
        await flow.store.write(nodes.register, node, f"http://127.0.0.1:9/{node}", None, 100)
    yield flow


def home(flow: Flow, name: str) -> Any:
    """The queue `name`'s home row (None: nobody holds it)."""
    key = (Home.kind == "queue") & (Home.account_sid == flow.project.sid) & (Home.name == name)
    return flow.store.read(lambda: Home.select().where(key).first())


async def held_by_other(flow: Flow, name: str) -> str:
    queue = await flow.store.write(queue_named, flow.project.sid, name, None)
    assert await flow.store.write(nodes.take_home, "queue", flow.project.sid, name, queue.sid, OTHER) is None
    return str(queue.sid)


async def test_a_queue_another_engine_holds_refuses_enqueue_with_system_error(homed: Flow) -> None:
    flow = homed
    qsid = await held_by_other(flow, "support")
    flow.backend.docs["/member"] = '<Response><Enqueue action="/left">support</Enqueue></Response>'
    flow.backend.docs["/left"] = "<Response><Hangup/></Response>"
    call = await flow.create(url=flow.backend.url("/member"))
    await flow.wait_status(call.sid, ("completed",))
    [left] = flow.backend.requests_to("/left")
    assert left["QueueResult"] == "system-error" and "QueueSid" not in left  # never entered, as queue-full
    [note] = await flow.store.read(list_notifications, call.sid)
    assert note.error_code == 12400 and OTHER in note.message_text and qsid in note.message_text
    assert queues(flow).members(qsid) == []
    row = await home(flow, "support")
    assert row.node_id == OTHER and row.sid == qsid  # untouched


async def test_without_action_a_refused_enqueue_goes_on_to_the_next_verb(homed: Flow) -> None:
    flow = homed
    await held_by_other(flow, "support")
    flow.backend.docs["/member"] = "<Response><Enqueue>support</Enqueue><Say>sorry</Say></Response>"
    call = await flow.create(url=flow.backend.url("/member"))
    await flow.hurry(call.sid, ("completed",))
    assert ("sorry", "man", "en-US") in flow.tts.spoken
    assert [n.error_code for n in await flow.store.read(list_notifications, call.sid)] == [12400]


async def test_dial_queue_on_an_engine_without_its_members_fails_when_another_holds_it(homed: Flow) -> None:
    flow = homed
    qsid = await held_by_other(flow, "support")
    flow.backend.docs["/agent"] = (
        '<Response><Dial action="/after" timeout="30"><Queue>support</Queue></Dial></Response>'
    )
    flow.backend.docs["/after"] = "<Response><Hangup/></Response>"
    agent = await flow.create(url=flow.backend.url("/agent"))
    await flow.wait_status(agent.sid, ("completed",))  # at once: not the 30 s wait of an empty queue
    [after] = flow.backend.requests_to("/after")
    assert after["DialCallStatus"] == "failed"
    [note] = await flow.store.read(list_notifications, agent.sid)
    assert note.error_code == 12400 and OTHER in note.message_text and qsid in note.message_text
    assert (await home(flow, "support")).node_id == OTHER


async def test_a_dead_engines_queue_is_taken_and_given_back_when_it_empties(homed: Flow) -> None:
    flow = homed
    qsid = await held_by_other(flow, "support")
    [other] = [n for n in await flow.store.read(nodes.list_nodes) if n.node_id == OTHER]
    assert await flow.store.write(nodes.set_state, OTHER, other.generation, "dead")
    flow.backend.docs["/member"] = '<Response><Enqueue waitUrl="">support</Enqueue></Response>'
    call = await flow.create(url=flow.backend.url("/member"))
    await flow.wait_for(lambda: len(queues(flow).members(qsid)) == 1)
    row = await home(flow, "support")
    assert row.node_id == ME and row.sid == qsid
    assert await flow.store.read(nodes.home_of, "queue", qsid) == ME
    # Its last member hangs up: the name is given back, and another engine may take it.
    flow.sip.remote_hangup(call.sid)
    await flow.wait_status(call.sid, ("completed",))
    deadline = asyncio.get_running_loop().time() + 5
    while await home(flow, "support") is not None:
        assert asyncio.get_running_loop().time() < deadline, "the queue's name was not given back"
        await asyncio.sleep(0.02)
    assert await flow.store.write(nodes.take_home, "queue", flow.project.sid, "support", qsid, OTHER) is None


async def test_callers_enqueuing_at_once_share_one_answer_and_the_queue(homed: Flow) -> None:
    flow = homed
    rows = queues(flow).rows
    assert isinstance(rows, StoreQueues)
    taken: list[str] = []
    real = rows.take_home

    async def slow_take_home(account_sid: str, name: str, sid: str) -> str | None:
        taken.append(sid)
        await asyncio.sleep(0.3)  # the other callers arrive while the name is being taken
        return await real(account_sid, name, sid)

    rows.take_home = slow_take_home  # type: ignore[method-assign]
    flow.backend.docs["/member"] = '<Response><Enqueue waitUrl="">support</Enqueue></Response>'
    calls = [await flow.create(to=f"+1500555001{i}", url=flow.backend.url("/member")) for i in range(3)]
    row = None
    while row is None:
        row = await flow.store.read(queue_by_name, flow.project.sid, "support")
        await asyncio.sleep(0.01)
    await flow.wait_for(lambda: len(queues(flow).members(row.sid)) == 3)
    assert taken == [row.sid]
    assert (await home(flow, "support")).node_id == ME
    for call in calls[:2]:
        flow.sip.remote_hangup(call.sid)
        await flow.wait_status(call.sid, ("completed",))
    await asyncio.sleep(0.1)
    assert (await home(flow, "support")).node_id == ME  # one member still waits here
    flow.sip.remote_hangup(calls[2].sid)
    await flow.wait_status(calls[2].sid, ("completed",))
    await given_back(flow, "support")
    # A new member takes it again (the give-back was written first).
    again = await flow.create(url=flow.backend.url("/member"))
    await flow.wait_for(lambda: len(queues(flow).members(row.sid)) == 1)
    assert taken == [row.sid, row.sid] and (await home(flow, "support")).node_id == ME
    flow.sip.remote_hangup(again.sid)
    await flow.wait_status(again.sid, ("completed",))


async def test_a_waiting_dequeuer_holds_the_queue_until_its_dial_times_out(homed: Flow) -> None:
    """An agent waiting here for callers keeps the queue here: a caller on another engine is
    refused there (visible) rather than waiting where no agent will ever look."""
    flow = homed
    qsid = await held_by_other(flow, "support")
    await flow.store.write(nodes.leave_home, "queue", flow.project.sid, "support", qsid, OTHER)
    flow.backend.docs["/agent"] = '<Response><Dial action="/after" timeout="5"><Queue>support</Queue></Dial></Response>'
    flow.backend.docs["/after"] = "<Response><Hangup/></Response>"
    agent = await flow.create(url=flow.backend.url("/agent"))
    deadline = asyncio.get_running_loop().time() + 5
    while (row := await home(flow, "support")) is None:
        assert asyncio.get_running_loop().time() < deadline, "the waiting dequeuer did not take the queue"
        await asyncio.sleep(0.02)
    assert row.node_id == ME
    assert await flow.store.write(nodes.take_home, "queue", flow.project.sid, "support", qsid, OTHER) == ME
    await flow.hurry(agent.sid, ("completed",), within_s=6)
    [after] = flow.backend.requests_to("/after")
    assert after["DialCallStatus"] == "no-answer"
    await given_back(flow, "support")
