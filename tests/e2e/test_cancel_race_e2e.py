"""A cancel races the engine (`wirexa serve`, twilio-python, the sandbox carrier): whatever the call is
doing when `Status=canceled` arrives (queued, being taken out of the queue, waiting for a worker
that is starting, INVITE just sent, 100, 180), the answer is `canceled`, no INVITE reaches the
callee after that answer, one already there is CANCELed at once (not rung for the whole
`Timeout`), the status is still `canceled` after every timer has run, and a restart after a kill -9
dials none of them."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from twilio.rest import Client

from tests.conftest import LiveServer, engine_fixture, make_live_server

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

RING_TIMEOUT_S = 6  # each call's Timeout: a hangup that got lost shows as a ring this long
STEP_MS = 4  # cancel 0, 4, 8 ... ms after the create's answer
CALLS = 76  # up to 300 ms


# Its own engine (workers that leave after 1 s idle, no API rate limit, 50 calls a second), with the
# sandbox's default callees: +15005550002 rings until it is CANCELed.
engine = engine_fixture(
    "cancel",
    env={"WIREXA_API_RATE_LIMIT_PER_S": "0", "WIREXA_CALLS_CPS": "50", "WIREXA_SIP_WORKER_IDLE_S": "1"},
)


def client_of(server: LiveServer) -> Client:
    client = Client(server.project_id, server.auth_token)
    client.api.base_url = server.base_url
    return client


def create_and_cancel(client: Client, delay_s: float) -> tuple[str, str, float]:
    """Create a ringing call, cancel it `delay_s` after create answered; (sid, answered status, when)."""
    call = client.calls.create(
        to="+15005550002",
        from_="+15005550100",
        twiml="<Response><Pause length='20'/></Response>",
        timeout=RING_TIMEOUT_S,
    )
    time.sleep(delay_s)
    answered = client.calls(call.sid).update(status="canceled")
    return call.sid, answered.status, time.time()


def sandbox_log(server: LiveServer, sid: str) -> dict[str, Any] | None:
    path = server.data_dir / "sandbox" / f"{sid}.json"
    return json.loads(path.read_text()) if path.exists() else None


def race(server: LiveServer, calls: int) -> list[tuple[str, str, float]]:
    client = client_of(server)
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda i: create_and_cancel(client, (i * STEP_MS % 300) / 1000), range(calls)))


def check(server: LiveServer, results: list[tuple[str, str, float]]) -> None:
    assert [status for _, status, _ in results] == ["canceled"] * len(results)
    time.sleep(RING_TIMEOUT_S + 2)  # every ring timeout of a call whose hangup got lost has fired
    client = client_of(server)
    phantoms, long_rings, changed = [], [], []
    for sid, _, answered_at in results:
        now = client.calls(sid).fetch()
        if now.status != "canceled":
            changed.append((sid, now.status))
        log = sandbox_log(server, sid)
        if log is None:
            continue  # withdrawn before its INVITE left
        if log["invited_at"] > answered_at:
            phantoms.append(sid)
        ends = [e["t"] for e in log["events"] if e["event"] == "hung up"]
        if not ends or ends[0] > RING_TIMEOUT_S - 1:
            long_rings.append((sid, log["events"]))
    assert (phantoms, long_rings, changed) == ([], [], [])


def test_a_cancel_wins_at_every_moment_with_workers_starting_then_warm(engine: LiveServer) -> None:
    time.sleep(2)  # only worker 0 is up: the first calls wait for more to start
    check(engine, race(engine, CALLS))  # workers starting
    check(engine, race(engine, CALLS))  # workers up (they stop after 1 s idle, not within a race)


def test_a_restart_after_kill_dials_no_canceled_call(tmp_path: Path) -> None:
    server = make_live_server(tmp_path, extra_env={"WIREXA_API_RATE_LIMIT_PER_S": "0", "WIREXA_CALLS_CPS": "5"})
    try:
        # At 5 calls a second most of these are still queued (or being dispatched) when canceled.
        results = race(server, 40)
        server.kill_tree()
        server.start()
        check(server, results)
    finally:
        server.stop()
