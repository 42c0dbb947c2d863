"""The forwarding middleware (wirexa/api/forward.py) for conference rooms and call queues, between
two API apps in this process on one SQLite store (the pair of tests/cluster/test_forward_api.py):
node-1 holds a room's or queue's name (homes), node-2 gets the requests. Those answered from the
live state go to node-1 (GETs included); a conference's Recordings reads, rooms and queues that
nobody or node-2 holds are served here; the loop guard and an unreachable holder are 503s. The
requests on real rooms and queues are tests/cluster/test_rooms_e2e.py's."""

from __future__ import annotations

import datetime as dt

from tests.cluster import test_forward_api
from tests.cluster.test_forward_api import Pair, closed_port
from wirexa.cluster.forward import FORWARDED_BY, FORWARDED_TO
from wirexa.store.repo.conferences import ConferenceRecord, put_conference
from wirexa.store.repo.nodes import STOPPED, register, set_state, take_home

pair = test_forward_api.pair  # the fixture: two API apps, node-1 registered

CF = "CF0123456789abcdef0123456789abcdef"


async def queue_of(pair: Pair, holder: str | None = "node-1") -> str:
    """A queue (made through node-1's API) whose name `holder` holds."""
    resp = await pair.one.client.post(f"{pair.one.base}/Queues.json", data={"FriendlyName": "q"}, headers=pair.one.auth)
    assert resp.status == 201, await resp.text()
    sid = str((await resp.json())["sid"])
    if holder is not None:
        assert await pair.store.write(take_home, "queue", pair.one.project.sid, "q", sid, holder) is None
    return sid


async def room_of(pair: Pair, holder: str = "node-1") -> str:
    assert await pair.store.write(take_home, "conference", pair.one.project.sid, "room", CF, holder) is None
    return CF


async def test_a_queues_reads_and_changes_go_to_the_engine_holding_it(pair: Pair) -> None:
    sid = await queue_of(pair)
    base = f"{pair.two.base}/Queues/{sid}"
    for path in (f"{base}.json", f"{base}/Members.json"):
        resp = await pair.two.client.get(path, headers=pair.two.auth)
        assert resp.status == 200 and resp.headers[FORWARDED_TO] == "node-1", path
    resp = await pair.two.client.get(f"{base}/Members/Front.json", headers=pair.two.auth)
    assert resp.status == 404 and resp.headers[FORWARDED_TO] == "node-1"  # node-1's answer: nobody waits
    resp = await pair.two.client.post(f"{base}.json", data={"MaxSize": "7"}, headers=pair.two.auth)
    assert resp.status == 200 and resp.headers[FORWARDED_TO] == "node-1"
    assert (await resp.json())["max_size"] == 7
    # The list and the create are every engine's (rows).
    resp = await pair.two.client.get(f"{pair.two.base}/Queues.json", headers=pair.two.auth)
    assert resp.status == 200 and FORWARDED_TO not in resp.headers


async def test_a_rooms_requests_go_to_the_engine_holding_it(pair: Pair) -> None:
    sid = await room_of(pair)
    base = f"{pair.two.base}/Conferences/{sid}"
    for method, path in (
        ("GET", f"{base}.json"),
        ("GET", f"{base}/Participants.json"),
        ("POST", f"{base}/Participants/CA0123456789abcdef0123456789abcdef.json"),
        ("DELETE", f"{base}/Participants/CA0123456789abcdef0123456789abcdef.json"),
    ):
        resp = await pair.two.client.request(method, path, data={"Muted": "true"}, headers=pair.two.auth)
        # node-1 runs no room in this test: its own 404, relayed.
        assert resp.status == 404 and resp.headers[FORWARDED_TO] == "node-1", path
    resp = await pair.two.client.get(f"{base}/Recordings.json", headers=pair.two.auth)  # rows: read here
    assert FORWARDED_TO not in resp.headers


async def test_rooms_and_queues_held_here_or_by_nobody_are_served_here(pair: Pair) -> None:
    await pair.store.write(register, "node-2", str(pair.two.client.make_url("")).rstrip("/"), None, 10)
    own = await queue_of(pair, "node-2")
    resp = await pair.two.client.get(f"{pair.two.base}/Queues/{own}/Members.json", headers=pair.two.auth)
    assert resp.status == 200 and FORWARDED_TO not in resp.headers
    resp = await pair.two.client.get(f"{pair.two.base}/Conferences/{CF}.json", headers=pair.two.auth)
    assert resp.status == 404 and FORWARDED_TO not in resp.headers  # nobody holds it
    # A stopped engine holds nothing (its homes are free): served here.
    await room_of(pair)
    await pair.store.write(set_state, "node-1", pair.generation, STOPPED)
    resp = await pair.two.client.get(f"{pair.two.base}/Conferences/{CF}.json", headers=pair.two.auth)
    assert resp.status == 404 and FORWARDED_TO not in resp.headers


async def test_a_holder_that_cannot_be_reached_and_the_loop_guard_are_503s(pair: Pair) -> None:
    sid = await queue_of(pair)
    path = f"{pair.two.base}/Queues/{sid}/Members.json"
    resp = await pair.two.client.get(path, headers={**pair.two.auth, FORWARDED_BY: "node-3"})
    assert resp.status == 503 and FORWARDED_TO not in resp.headers
    body = await resp.json()
    assert body["code"] == 20503 and f"Queue {sid} lives on engine node-1" in body["message"]
    assert "forwarded here by engine node-3" in body["message"]
    await pair.advertise(f"http://127.0.0.1:{closed_port()}")
    resp = await pair.two.client.get(path, headers=pair.two.auth)
    assert resp.status == 503
    assert "engine node-1 cannot be reached" in (await resp.json())["message"]
    # Deleting it here would lose the callers node-1 has waiting in it: refused too, and kept.
    resp = await pair.two.client.delete(f"{pair.two.base}/Queues/{sid}.json", headers=pair.two.auth)
    assert resp.status == 503
    resp = await pair.one.client.get(f"{pair.one.base}/Queues/{sid}.json", headers=pair.one.auth)
    assert resp.status == 200


async def test_an_ended_room_of_another_engine_is_its_row(pair: Pair) -> None:
    """Its name given back at its end, an ended room is read here: from its row, no participants."""
    now = dt.datetime.now(dt.UTC)
    for sid, status in ((CF, "completed"), (CF[:-1] + "0", "in-progress")):
        room = ConferenceRecord(sid, pair.one.project.sid, "room", status, "last-participant-left", None, now, now)
        await pair.store.write(put_conference, room)
    base = f"{pair.two.base}/Conferences/{CF}"
    resp = await pair.two.client.get(f"{base}.json", headers=pair.two.auth)
    assert resp.status == 200 and FORWARDED_TO not in resp.headers
    body = await resp.json()
    assert (
        body["sid"] == CF
        and body["status"] == "completed"
        and body["reason_conference_ended"] == "last-participant-left"
    )
    resp = await pair.two.client.get(f"{base}/Participants.json", headers=pair.two.auth)
    assert resp.status == 200 and (await resp.json())["participants"] == []
    # A live room's row is not an answer: its engine's memory is (here: nobody holds it, 404).
    resp = await pair.two.client.get(f"{pair.two.base}/Conferences/{CF[:-1]}0.json", headers=pair.two.auth)
    assert resp.status == 404
