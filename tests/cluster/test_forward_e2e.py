"""Two `wirexa serve` engines on one PostgreSQL database (issue 27 item 2): a live call held by
one engine is redirected, recorded and hung up through the other engine's API, with the real
twilio-python client; a wrong Auth Token gets the owner's 401; a request that says it was
forwarded already is not forwarded again. The decision's cases are tests/cluster/test_forward.py
and the middleware's tests/cluster/test_forward_api.py; this file holds what only real engines
show (the owner's SIP call and XML session act on the forwarded request)."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest

from tests.cluster import query, wait_for
from tests.conftest import LiveServer
from tests.e2e.webapp import WebApp
from wirexa.cluster.forward import FORWARDED_BY, FORWARDED_TO

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

UNFINISHED = ("in-progress", "paused", "stopped", "processing")
HOLD = '<Response><Pause length="30"/></Response>'  # the sandbox's default callee answers and stays


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/next"] = HOLD
    yield app
    app.close()


@pytest.fixture
def cluster(engine_pair: tuple[str, list[LiveServer]]) -> tuple[str, list[LiveServer]]:
    """The session's pair of engines (tests/cluster/conftest.py)."""
    return engine_pair


def _live_call(url: str, nodes: list[LiveServer], web: WebApp) -> tuple[str, LiveServer, LiveServer]:
    """A call created through node-1, answered: its sid, the engine holding it, the other one."""
    sid = (
        nodes[0]
        .client()
        .calls.create(to="+15005550006", from_="+15005550100", twiml=HOLD, status_callback=web.url("/status"))
        .sid
    )
    owner = wait_for(
        lambda: [o for s, o in query(url, "SELECT status, owner FROM calls WHERE sid = %s", sid) if s == "in-progress"],
        30,
        f"{sid} to be answered",
    )[0]
    held, other = (nodes[0], nodes[1]) if owner == "node-1" else (nodes[1], nodes[0])
    return sid, held, other


def _post(node: LiveServer, path: str, form: dict[str, str], token: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """POST a form to `node` (raw HTTP: the answer's headers are looked at); (status, headers, body)."""
    req = urllib.request.Request(node.base_url + path, data=urllib.parse.urlencode(form).encode(), method="POST")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{node.project_id}:{token}".encode()).decode())
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 - loopback
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _status(url: str, sid: str) -> str:
    return str(query(url, "SELECT status FROM calls WHERE sid = %s", sid)[0][0])


def test_a_call_is_redirected_recorded_and_hung_up_through_the_other_engine(
    cluster: tuple[str, list[LiveServer]], web: WebApp
) -> None:
    url, nodes = cluster
    sid, held, other = _live_call(url, nodes, web)
    client = other.client()
    # Redirect: the new document sends the call to /next, which only its engine's session can fetch.
    redirect = f'<Response><Redirect method="POST">{web.url("/next")}</Redirect></Response>'
    assert client.calls(sid).update(twiml=redirect).sid == sid
    fetched = wait_for(lambda: web.to("/next", sid), 10, "the redirected call to fetch /next")
    assert fetched[0].form["CallStatus"] == "in-progress"
    # A recording started through the other engine records the owner's call.
    rec = client.calls(sid).recordings.create()
    assert rec.call_sid == sid and rec.status == "in-progress"
    assert query(url, "SELECT call_sid, status FROM recordings WHERE sid = %s", rec.sid) == [(sid, "in-progress")]
    time.sleep(2)  # two seconds of the callee's line in the file
    # Hang up: the owner ends the SIP call and answers with the final status.
    assert client.calls(sid).update(status="completed").status in ("in-progress", "completed")
    wait_for(lambda: _status(url, sid) == "completed", 5, f"{sid} completed")
    ended = wait_for(
        lambda: [
            r
            for r in query(url, "SELECT status, duration_s, error_code FROM recordings WHERE sid = %s", rec.sid)
            if r[0] not in UNFINISHED
        ],
        20,
        "the recording to end",
    )
    assert ended[0][0] == "completed" and ended[0][1] >= 1, ended
    # Ended, the call is rows only: any engine answers for it.
    status, headers, _ = _post(other, f"/2010-04-01/Accounts/{other.project_id}/Calls/{sid}.json", {}, other.auth_token)
    assert status == 200 and FORWARDED_TO not in headers


def test_the_owners_401_and_the_loop_guard(cluster: tuple[str, list[LiveServer]], web: WebApp) -> None:
    url, nodes = cluster
    sid, held, other = _live_call(url, nodes, web)
    owner = "node-1" if held is nodes[0] else "node-2"
    path = f"/api/laml/2010-04-01/Accounts/{other.project_id}/Calls/{sid}.json"
    try:
        status, headers, body = _post(other, path, {"Status": "completed"}, "0" * 32)
        assert status == 401 and headers[FORWARDED_TO] == owner, (status, headers, body)
        assert b'"code": 20003' in body
        # Said to be forwarded already: not forwarded again; this engine has no session for it.
        status, headers, body = _post(other, path, {"Status": "completed"}, other.auth_token, {FORWARDED_BY: "node-9"})
        assert status == 503 and FORWARDED_TO not in headers, (status, body)
        assert b"forwarded here by engine node-9" in body
        assert _status(url, sid) == "in-progress"
    finally:
        held.client().calls(sid).update(status="completed")
    wait_for(lambda: _status(url, sid) == "completed", 5, f"{sid} completed")
