"""Two `wirexa serve` engines on one PostgreSQL database (issue 27): a conference room and a call
queue live in one engine. Calls created through both engines' APIs land on either (the queue of
calls is shared, each engine places the ones it claims); each runs `<Dial><Conference>` into one
room, or `<Enqueue>`s into one queue. The first joiner's engine holds the name (`homes`): its
calls are the room's participants, the queue's members, and the Participants and Members lists
agree through EITHER engine's API (the other one forwards them); the calls on the other engine
got a 12400 notification naming the holder and their <Dial> failed (DialCallStatus failed) or
their <Enqueue> ended with QueueResult system-error. Hung up (through the other engine's API,
forwarded to the holder), the room ends and the queue empties: the names are given back, and
the ended room reads the same through both engines. The unit and flow tests of each part:
tests/calls/test_queue_homes_flow.py, tests/cluster/test_forward.py and test_forward_homes_api.py."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster import query, wait_for
from tests.conftest import LiveServer
from tests.e2e.webapp import WebApp
from wirexa.cluster.forward import FORWARDED_TO

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PER_ENGINE = 2  # calls created through each engine's API (a few more if one engine placed them all)
MAX_CALLS = 10


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/after"] = "<Response><Hangup/></Response>"
    app.docs["/left"] = "<Response><Hangup/></Response>"
    yield app
    app.close()


@pytest.fixture
def cluster(engine_pair: tuple[str, list[LiveServer]]) -> tuple[str, list[LiveServer]]:
    """The session's pair of engines (tests/cluster/conftest.py)."""
    return engine_pair


def _get(node: LiveServer, path: str) -> tuple[int, dict[str, str], Any]:
    """GET `path` of `node`'s API: (status, headers, JSON body)."""
    req = urllib.request.Request(node.base_url + f"/2010-04-01/Accounts/{node.project_id}{path}")
    req.add_header(
        "Authorization", "Basic " + base64.b64encode(f"{node.project_id}:{node.auth_token}".encode()).decode()
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 - loopback
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def _owner(url: str, sid: str) -> str | None:
    rows = query(url, "SELECT owner FROM calls WHERE sid = %s AND owner IS NOT NULL", sid)
    return str(rows[0][0]) if rows else None


def _place(url: str, nodes: list[LiveServer], twiml: str) -> dict[str, str]:
    """Calls running `twiml`, created through both engines' APIs until each engine placed one:
    {call sid: the engine (node id) that placed it}."""
    owners: dict[str, str] = {}
    made = 0
    while made < MAX_CALLS and (made < 2 * PER_ENGINE or len(set(owners.values())) < 2):
        node = nodes[made % 2]
        sid = node.client().calls.create(to="+15005550006", from_="+15005550100", twiml=twiml).sid
        made += 1
        owners[sid] = wait_for(lambda sid=sid: _owner(url, sid), 20, f"{sid} to be placed")
    assert set(owners.values()) == {"node-1", "node-2"}, f"one engine placed every call: {owners}"
    return owners


def _home(url: str, kind: str, name: str) -> tuple[str, str]:
    """(the holding engine, the room's or queue's SID)."""
    rows = wait_for(
        lambda: query(url, "SELECT node_id, sid FROM homes WHERE kind = %s AND name = %s", kind, name),
        20,
        f"the {kind} {name!r} to be held",
    )
    return str(rows[0][0]), str(rows[0][1])


def _refused(url: str, nodes: list[LiveServer], sid: str, holder: str) -> None:
    """`sid` got the 12400 notification naming `holder` (the Notifications resource, any engine)."""
    codes = wait_for(
        lambda: [n for n in _get(nodes[0], f"/Calls/{sid}/Notifications.json")[2]["notifications"]],
        20,
        f"{sid}'s notification",
    )
    assert [n["error_code"] for n in codes] == ["12400"], codes
    assert f"engine {holder}" in codes[0]["message_text"]


def _hang_up(url: str, nodes: list[LiveServer], sids: list[str], via: LiveServer) -> None:
    client = via.client()
    for sid in sids:
        client.calls(sid).update(status="completed")
    for sid in sids:
        wait_for(
            lambda sid=sid: query(url, "SELECT status FROM calls WHERE sid = %s", sid)[0][0] == "completed", 10, sid
        )


def _engine(nodes: list[LiveServer], node_id: str) -> LiveServer:
    return nodes[int(node_id.split("-")[1]) - 1]


def test_a_room_lives_in_one_engine(cluster: tuple[str, list[LiveServer]], web: WebApp) -> None:
    url, nodes = cluster
    twiml = f'<Response><Dial action="{web.url("/after")}"><Conference>Room</Conference></Dial></Response>'
    owners = _place(url, nodes, twiml)
    holder, cf = _home(url, "conference", "Room")
    inside = sorted(s for s, o in owners.items() if o == holder)
    outside = sorted(s for s, o in owners.items() if o != holder)
    # The other engine's calls were refused: a 12400 naming the holder, and their <Dial> failed.
    for sid in outside:
        [after] = web.wait("/after", sid)
        assert after.form["DialCallStatus"] == "failed", after.form
        _refused(url, nodes, sid, holder)
    # The holder's calls are the room's participants, whichever engine's API is asked.
    wait_for(
        lambda: (
            sorted(p["call_sid"] for p in _get(nodes[0], f"/Conferences/{cf}/Participants.json")[2]["participants"])
            == inside
        ),
        20,
        "the holder's calls to join the room",
    )
    for node in nodes:
        status, headers, body = _get(node, f"/Conferences/{cf}/Participants.json")
        assert status == 200 and sorted(p["call_sid"] for p in body["participants"]) == inside
        assert (FORWARDED_TO in headers) is (node is not _engine(nodes, holder))
        status, _, room = _get(node, f"/Conferences/{cf}.json")
        assert status == 200 and room["friendly_name"] == "Room" and room["status"] == "in-progress"
    assert not any(web.to("/after", sid) for sid in inside)  # still in the room
    # Hung up through the other engine's API (forwarded to the holder): the room ends, its name is free.
    other = next(n for n in nodes if n is not _engine(nodes, holder))
    _hang_up(url, nodes, inside, other)
    wait_for(lambda: not query(url, "SELECT 1 FROM homes WHERE kind = 'conference'"), 10, "the room's name given back")
    for node in nodes:  # ended: the holder from its memory, the other from the room's row
        status, _, room = _get(node, f"/Conferences/{cf}.json")
        assert status == 200 and room["status"] == "completed", room
        assert _get(node, f"/Conferences/{cf}/Participants.json")[2]["participants"] == []


def test_a_queue_lives_in_one_engine(cluster: tuple[str, list[LiveServer]], web: WebApp) -> None:
    url, nodes = cluster
    twiml = f'<Response><Enqueue action="{web.url("/left")}">support</Enqueue></Response>'
    owners = _place(url, nodes, twiml)
    holder, qu = _home(url, "queue", "support")
    inside = sorted(s for s, o in owners.items() if o == holder)
    outside = sorted(s for s, o in owners.items() if o != holder)
    for sid in outside:
        [left] = web.wait("/left", sid)
        assert left.form["QueueResult"] == "system-error", left.form
        _refused(url, nodes, sid, holder)
    wait_for(
        lambda: (
            sorted(m["call_sid"] for m in _get(nodes[0], f"/Queues/{qu}/Members.json")[2]["queue_members"]) == inside
        ),
        20,
        "the holder's calls to wait in the queue",
    )
    for node in nodes:
        status, headers, body = _get(node, f"/Queues/{qu}/Members.json")
        assert status == 200 and sorted(m["call_sid"] for m in body["queue_members"]) == inside
        assert (FORWARDED_TO in headers) is (node is not _engine(nodes, holder))
        status, _, queue = _get(node, f"/Queues/{qu}.json")
        assert status == 200 and queue["current_size"] == len(inside)
    other = next(n for n in nodes if n is not _engine(nodes, holder))
    _hang_up(url, nodes, inside, other)
    for sid in inside:
        [left] = web.wait("/left", sid)
        assert left.form["QueueResult"] == "hangup", left.form
    wait_for(lambda: not query(url, "SELECT 1 FROM homes WHERE kind = 'queue'"), 10, "the queue's name given back")
