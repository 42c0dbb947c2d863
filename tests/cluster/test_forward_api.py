"""The forwarding middleware (wirexa/api/forward.py) between two API apps in this process on one
SQLite store, each on a real socket: node-1 holds a call, node-2 gets the requests. What only a
second engine can show (a real SIP call redirected, recorded and hung up through the other
engine's API) is tests/cluster/test_forward_e2e.py; here are the paths around it, fast: what is
forwarded and what is not, the owner's answers relayed as they are, the loop guard, and an owner
that is stopped or cannot be reached."""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.conftest import SchemaCheck
from tests.conftest import Api, basic, start_api
from wirexa import config
from wirexa.api import forward as api_forward
from wirexa.cluster.forward import FORWARDED_BY, FORWARDED_TO
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.db import Store
from wirexa.store.repo.calls import get_call, update_call
from wirexa.store.repo.nodes import STOPPED, register, set_http_url, set_state


@dataclass
class Pair:
    store: Store
    one: Api  # node-1: holds the calls
    two: Api  # node-2: the engine the requests reach
    generation: int

    async def call(self, status: str = "in-progress", owner: str | None = "node-1") -> str:
        """A call in `status` owned by `owner` (created through node-1's API, then moved on in the
        store as node-1's dispatcher would)."""
        resp = await self.one.create()
        assert resp.status == 201, await resp.text()
        sid = str((await resp.json())["sid"])
        if status != "queued" or owner is not None:
            await self.store.write(functools.partial(update_call, sid, status=status, owner=owner))
        return sid

    async def advertise(self, url: str) -> None:
        await self.store.write(set_http_url, "node-1", self.generation, url)

    def path(self, sid: str, rest: str = ".json") -> str:
        return f"{self.two.base}/Calls/{sid}{rest}"


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    checks = [SchemaCheck(), SchemaCheck()]  # every answer either app sends is Twilio-shaped
    base = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    store = open_store(base)
    try:
        project = ensure_project(store)
        apis: list[Api] = []
        for i, check in enumerate(checks, start=1):
            settings = config.load(overrides={"data_dir": str(tmp_path), "cluster_node_id": f"node-{i}"}, env={})
            apis.append(await start_api(store, settings, project, check=check))
        one, two = apis
        generation = await store.write(register, "node-1", str(one.client.make_url("")).rstrip("/"), None, 10)
        try:
            yield Pair(store, one, two, generation)
        finally:
            for api in apis:
                await api.client.close()
    finally:
        store.close()
    for check in checks:
        assert check.problems == [], "\n".join(check.problems)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_hangup_through_another_engine_is_served_by_the_owner(pair: Pair) -> None:
    sid = await pair.call()
    resp = await pair.two.client.post(pair.path(sid), data={"Status": "completed"}, headers=pair.two.auth)
    assert resp.status == 200, await resp.text()
    assert resp.headers[FORWARDED_TO] == "node-1"
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["sid"] == sid and body["status"] == "completed"
    call = await pair.store.read(get_call, sid)
    assert call is not None and call.status == "completed"
    # The SignalWire prefix too; an ended call is then served here.
    resp = await pair.two.client.post(
        f"/api/laml/2010-04-01/Accounts/{pair.two.project.sid}/Calls/{sid}.json",
        data={"Status": "completed"},
        headers=pair.two.auth,
    )
    assert resp.status == 400 and FORWARDED_TO not in resp.headers
    assert (await resp.json())["code"] == 21220


async def test_the_signalwire_prefix_is_forwarded(pair: Pair) -> None:
    sid = await pair.call()
    path = f"/api/laml/2010-04-01/Accounts/{pair.two.project.sid}/Calls/{sid}/Recordings.json"
    resp = await pair.two.client.post(path, data={}, headers=pair.two.auth)
    # node-1 runs no session in this test (NullController): its own 21220, relayed.
    assert resp.status == 400 and resp.headers[FORWARDED_TO] == "node-1"
    assert (await resp.json())["code"] == 21220


async def test_the_owners_401_comes_back_unchanged(pair: Pair) -> None:
    sid = await pair.call()
    wrong = basic(pair.two.project.sid, "0" * 32)
    resp = await pair.two.client.post(pair.path(sid), data={"Status": "completed"}, headers=wrong)
    assert resp.status == 401 and resp.headers[FORWARDED_TO] == "node-1"
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Wirexa API"'
    assert (await resp.json())["code"] == 20003
    call = await pair.store.read(get_call, sid)
    assert call is not None and call.status == "in-progress"


async def test_reads_queued_and_own_calls_are_served_here(pair: Pair) -> None:
    sid = await pair.call()
    resp = await pair.two.client.get(pair.path(sid), headers=pair.two.auth)  # a GET: rows
    assert resp.status == 200 and FORWARDED_TO not in resp.headers
    queued = await pair.call("queued", None)  # the queue is every engine's
    resp = await pair.two.client.post(pair.path(queued), data={"Status": "canceled"}, headers=pair.two.auth)
    assert resp.status == 200 and FORWARDED_TO not in resp.headers
    assert (await resp.json())["status"] == "canceled"
    own = await pair.call(owner="node-2")
    resp = await pair.two.client.post(pair.path(own), data={"Status": "completed"}, headers=pair.two.auth)
    assert resp.status == 200 and FORWARDED_TO not in resp.headers


async def test_the_loop_guard(pair: Pair) -> None:
    sid = await pair.call()
    headers = {**pair.two.auth, FORWARDED_BY: "node-3"}
    resp = await pair.two.client.post(pair.path(sid), data={"Status": "completed"}, headers=headers)
    assert resp.status == 503 and FORWARDED_TO not in resp.headers
    body = await resp.json()
    assert body["code"] == 20503 and "forwarded here by engine node-3" in body["message"]
    resp = await pair.two.client.post(pair.path(sid, "/Recordings.json"), data={}, headers=headers)
    assert resp.status == 400 and FORWARDED_TO not in resp.headers  # node-2's own answer
    call = await pair.store.read(get_call, sid)
    assert call is not None and call.status == "in-progress"


async def test_an_unreachable_owner(pair: Pair) -> None:
    await pair.advertise(f"http://127.0.0.1:{closed_port()}")
    sid = await pair.call()
    for form in ({"Status": "completed"}, {"Twiml": "<Response><Hangup/></Response>"}, {"Url": "http://x.test/a"}):
        resp = await pair.two.client.post(pair.path(sid), data=form, headers=pair.two.auth)
        assert resp.status == 503, form
        body = await resp.json()
        assert body["code"] == 20503 and "engine node-1 cannot be reached" in body["message"]
    # What needs no session is done here: a row change.
    resp = await pair.two.client.post(pair.path(sid), data={"StatusCallback": "http://x.test/s"}, headers=pair.two.auth)
    assert resp.status == 200 and FORWARDED_TO not in resp.headers
    call = await pair.store.read(get_call, sid)
    assert call is not None and call.status == "in-progress" and call.status_callback == "http://x.test/s"
    # A sub-resource answers for itself: this engine runs no such call.
    resp = await pair.two.client.post(pair.path(sid, "/Recordings.json"), data={}, headers=pair.two.auth)
    assert resp.status == 400 and (await resp.json())["code"] == 21220
    resp = await pair.two.client.post(
        pair.path(sid, "/Streams/MZ0.json"), data={"Status": "stopped"}, headers=pair.two.auth
    )
    assert resp.status == 404


async def test_a_stopped_owner(pair: Pair) -> None:
    sid = await pair.call("ringing")
    await pair.store.write(set_state, "node-1", pair.generation, STOPPED)
    resp = await pair.two.client.post(pair.path(sid), data={"Status": "canceled"}, headers=pair.two.auth)
    assert resp.status == 503 and FORWARDED_TO not in resp.headers
    assert "engine node-1 is stopped" in (await resp.json())["message"]


async def test_an_owner_without_a_node_row(pair: Pair) -> None:
    sid = await pair.call(owner="node-9")
    resp = await pair.two.client.post(pair.path(sid), data={"Status": "completed"}, headers=pair.two.auth)
    assert resp.status == 503
    assert "engine node-9 is not registered" in (await resp.json())["message"]


async def test_an_owner_that_has_not_advertised_its_api(pair: Pair) -> None:
    await pair.store.write(register, "node-3", None, None, 10)
    sid = await pair.call(owner="node-3")
    resp = await pair.two.client.post(pair.path(sid), data={"Status": "completed"}, headers=pair.two.auth)
    assert resp.status == 503
    assert "engine node-3 has not advertised its API address yet" in (await resp.json())["message"]


@pytest.mark.parametrize(("answer", "status"), [("silence", 504), ("close", 502)])
async def test_an_owner_that_took_the_request_and_failed(
    pair: Pair, monkeypatch: pytest.MonkeyPatch, answer: str, status: int
) -> None:
    """Connected, the request may have been applied there: an error, never served here too."""
    monkeypatch.setattr(api_forward, "ANSWER_TIMEOUT_S", 0.5)
    taken: list[bytes] = []

    async def owner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        taken.append(await reader.readuntil(b"\r\n\r\n"))
        if answer == "silence":
            await reader.read()  # until the forwarding engine gives up and closes the connection
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(owner, "127.0.0.1", 0)
    try:
        await pair.advertise(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        sid = await pair.call()
        resp = await pair.two.client.post(pair.path(sid), data={"Status": "completed"}, headers=pair.two.auth)
        assert resp.status == status, await resp.text()
        body = await resp.json()
        assert body["code"] == status and "may have been applied" in body["message"]
        assert len(taken) == 1 and taken[0].startswith(b"POST ") and b"X-Wirexa-Forwarded-By: node-2" in taken[0]
    finally:
        server.close()
        await server.wait_closed()


async def test_query_and_repeated_parameters_cross_as_they_are(pair: Pair) -> None:
    sid = await pair.call("ringing")
    form = [("StatusCallbackEvent", "initiated"), ("StatusCallback", "http://x.test/s?a=1&b=%20")]
    resp = await pair.two.client.post(pair.path(sid) + "?x=%2F", data=form, headers=pair.two.auth)
    assert resp.status == 200 and resp.headers[FORWARDED_TO] == "node-1"
    call = await pair.store.read(get_call, sid)
    assert call is not None and call.status_callback == "http://x.test/s?a=1&b=%20"


async def test_a_multipart_form_goes_on_url_encoded(pair: Pair) -> None:
    import aiohttp

    sid = await pair.call("ringing")
    data = aiohttp.FormData()
    data.add_field("StatusCallback", "http://x.test/multi")
    resp = await pair.two.client.post(pair.path(sid), data=data(), headers=pair.two.auth)
    assert resp.status == 200, await resp.text()
    assert resp.headers[FORWARDED_TO] == "node-1"
    call = await pair.store.read(get_call, sid)
    assert call is not None and call.status_callback == "http://x.test/multi"
