"""Two `wirexa serve` engines on one PostgreSQL database (issue 27): calls created through either
API are placed by both; the project's CPS holds across them; a recording made on one is served by
the other (a shared recordings directory); a stalled engine is fenced and rejoins; a SIGKILLed
engine's live calls are finalized by the other within node_timeout_s + 10 s, its queued calls
placed and every webhook delivered. One pair of engines for the module (the kill is last)."""

from __future__ import annotations

import collections
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.rest import Client

from tests.cluster import nodes_running, query, start_node, wait_for
from tests.conftest import LiveServer
from tests.e2e.webapp import WebApp
from tests.pg import PgCluster

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

FINAL = ("completed", "failed", "busy", "no-answer", "canceled")
NODE_TIMEOUT_S = 3.0
HEARTBEAT_S = 0.5


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    yield app
    app.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pg: PgCluster) -> Iterator[tuple[str, list[LiveServer]]]:
    url = pg.new_database()
    tmp = tmp_path_factory.mktemp("cluster")
    with nodes_running(
        tmp,
        url,
        2,
        shared_recordings=tmp / "shared-recordings",
        heartbeat_s=HEARTBEAT_S,
        node_timeout_s=NODE_TIMEOUT_S,
    ) as nodes:
        yield url, nodes


def _final(url: str, sids: list[str]) -> dict[str, tuple[str, str | None]]:
    rows = query(url, "SELECT sid, status, owner FROM calls WHERE sid = ANY(%s)", sids)
    return {sid: (status, owner) for sid, status, owner in rows if status in FINAL}


def _create(node: LiveServer, web: WebApp, twiml: str, count: int, **kw: Any) -> list[str]:
    client = node.client()
    return [
        client.calls.create(
            to="+15005550006", from_="+15005550100", twiml=twiml, status_callback=web.url("/status"), **kw
        ).sid
        for _ in range(count)
    ]


def _statuses(web: WebApp, sid: str) -> list[str]:
    with web.lock:
        return [r.form["CallStatus"] for r in web.requests if r.path == "/status" and r.form.get("CallSid") == sid]


def test_calls_through_either_api_are_placed_by_both_engines(
    cluster: tuple[str, list[LiveServer]], web: WebApp
) -> None:
    url, (one, two) = cluster
    sids = _create(one, web, "<Response><Pause length='1'/></Response>", 6)
    sids += _create(two, web, "<Response><Pause length='1'/></Response>", 6)
    done = wait_for(lambda: len(f := _final(url, sids)) == len(sids) and f, 60, "12 calls to end")
    assert {status for status, _ in done.values()} == {"completed"}
    owners = collections.Counter(owner for _, owner in done.values())
    assert set(owners) == {"node-1", "node-2"}, owners  # both engines took from the one queue
    for sid in sids:  # each placed once: one initiated callback, the four in order
        wait_for(lambda sid=sid: len(_statuses(web, sid)) >= 4, 20, f"{sid}'s callbacks")
        assert _statuses(web, sid) == ["initiated", "ringing", "in-progress", "completed"]
    nodes = dict(query(url, "SELECT node_id, state FROM nodes"))
    assert nodes == {"node-1": "open", "node-2": "open"}


def test_the_project_cps_holds_across_engines(cluster: tuple[str, list[LiveServer]], web: WebApp) -> None:
    url, (one, two) = cluster
    query(url, "UPDATE projects SET cps = 4 WHERE sid = %s", one.project_id)
    try:
        twiml = "<Response><Hangup/></Response>"
        sids = _create(one, web, twiml, 12) + _create(two, web, twiml, 12)
        wait_for(lambda: len(_final(url, sids)) == len(sids), 60, "24 calls to end")
    finally:
        query(url, "UPDATE projects SET cps = NULL WHERE sid = %s", one.project_id)
    rows = query(url, "SELECT start_time, owner FROM calls WHERE sid = ANY(%s) ORDER BY start_time", sids)
    starts = [r[0].timestamp() for r in rows]
    # A bucket of 4 a second holding 1 token: in any second at most 4 + 1 calls leave the queue,
    # the two engines together (each alone would allow 4 a second: 8 together).
    busiest = max(sum(1 for t in starts if s <= t < s + 1.0) for s in starts)
    assert busiest <= 5, busiest
    assert starts[-1] - starts[0] >= (len(starts) - 2) / 4, starts[-1] - starts[0]


def test_a_recording_made_on_one_engine_is_served_by_the_other(
    cluster: tuple[str, list[LiveServer]], web: WebApp
) -> None:
    url, (one, two) = cluster
    sid = _create(
        one, web, "<Response><Say>Recorded on one engine, served by the other.</Say></Response>", 1, record=True
    )[0]
    wait_for(lambda: _final(url, [sid]), 60, "the recorded call to end")
    rec = wait_for(
        lambda: [
            r for r in query(url, "SELECT sid, status FROM recordings WHERE call_sid = %s", sid) if r[1] == "completed"
        ],
        30,
        "the recording",
    )[0][0]
    bodies = []
    for node in (one, two):
        client = node.client()
        resp = client.http_client.request(
            "GET",
            f"{node.base_url}/2010-04-01/Accounts/{node.project_id}/Recordings/{rec}.wav",
            auth=(node.project_id, node.auth_token),
        )
        assert resp.status_code == 200, (node.base_url, resp.status_code, resp.text[:200])
        bodies.append(resp.content)
    assert bodies[0] == bodies[1] and len(bodies[0]) > 8000


def test_a_hangup_through_the_other_engine_wins_at_every_moment(
    cluster: tuple[str, list[LiveServer]], web: WebApp
) -> None:
    """Created through node-1, hung up through node-2 from 0 to ~0.6 s later: whether node-2 finds
    the call queued, being claimed by either engine, ringing or answered, the hangup wins (the
    request is forwarded to the engine that claimed it, even in the middle of a cancel)."""
    url, (one, two) = cluster
    other = two.client()
    sids = []
    for i in range(14):
        sid = _create(one, web, "<Response><Pause length='30'/></Response>", 1)[0]
        time.sleep(i * 0.045)
        answer = other.calls(sid).update(status="completed")
        assert answer.sid == sid
        sids.append(sid)
    done = wait_for(lambda: len(f := _final(url, sids)) == len(sids) and f, 15, "every hung-up call to end")
    assert {status for status, _ in done.values()} <= {"canceled", "completed"}, done
    time.sleep(1.0)  # after every timer: still final, nothing placed again
    assert _final(url, sids) == done
    durations = query(url, "SELECT MAX(COALESCE(duration_s, 0)) FROM calls WHERE sid = ANY(%s)", sids)
    assert durations[0][0] <= 3


def test_closing_a_project_hangs_up_its_calls_on_every_engine(
    cluster: tuple[str, list[LiveServer]], web: WebApp
) -> None:
    url, (one, two) = cluster
    parent = one.client()
    sub = parent.api.accounts.create(friendly_name="cluster customer")
    sids = []
    for node in (one, two, one, two, one, two):  # each engine places what its API was given first
        in_sub = Client(node.project_id, node.auth_token, sub.sid)  # the parent's credentials on the sub
        in_sub.api.base_url = node.base_url
        pause = "<Response><Pause length='60'/></Response>"
        sids.append(in_sub.calls.create(to="+15005550006", from_="+15005550100", twiml=pause).sid)
    live = wait_for(
        lambda: (
            len(rows := query(url, "SELECT owner FROM calls WHERE sid = ANY(%s) AND status = 'in-progress'", sids))
            == len(sids)
            and rows
        ),
        30,
        "the sub-account's calls answered",
    )
    assert {owner for (owner,) in live} == {"node-1", "node-2"}
    started = time.monotonic()
    assert parent.api.accounts(sub.sid).update(status="closed").status == "closed"
    done = wait_for(
        lambda: len(f := _final(url, sids)) == len(sids) and f, 15, "every call of the closed project to end"
    )
    assert {status for status, _ in done.values()} == {"completed"}
    assert time.monotonic() - started < 15


def test_a_stalled_engine_is_fenced_and_rejoins(cluster: tuple[str, list[LiveServer]], web: WebApp) -> None:
    url, (one, two) = cluster
    generation = query(url, "SELECT generation FROM nodes WHERE node_id = 'node-2'")[0][0]
    sids = _create(two, web, "<Response><Pause length='30'/></Response>", 4)
    live = wait_for(
        lambda: [
            s
            for s, o in query(url, "SELECT sid, owner FROM calls WHERE sid = ANY(%s) AND status = 'in-progress'", sids)
            if o == "node-2"
        ],
        30,
        "a live call on node-2",
    )
    assert two.proc is not None
    stopped_at = time.monotonic()
    two.proc.send_signal(signal.SIGSTOP)  # the engine stalls (its workers go on, unheard)
    try:
        wait_for(
            lambda: query(url, "SELECT state FROM nodes WHERE node_id = 'node-2'")[0][0] == "dead",
            NODE_TIMEOUT_S + 10,
            "node-2 dead",
        )
        ended = wait_for(
            lambda: len(f := _final(url, live)) == len(live) and f, 10, "node-2's calls finalized by node-1"
        )
        assert time.monotonic() - stopped_at <= NODE_TIMEOUT_S + 10
        assert {status for status, _ in ended.values()} == {"completed"}
    finally:
        two.proc.send_signal(signal.SIGCONT)
    # Back, it finds itself fenced: it hangs up what it held and registers under a new generation.
    wait_for(
        lambda: (
            query(url, "SELECT state, generation FROM nodes WHERE node_id = 'node-2'")[0] == ("open", generation + 1)
        ),
        15,
        "node-2 to register again",
    )
    assert {s for s, _ in _final(url, live).values()} == {"completed"}  # final stays final
    for sid in sids:  # the others (node-1's, or queued) end as their documents say, or by the hangup
        wait_for(lambda sid=sid: _final(url, [sid]), 45, f"{sid} to end")
    for sid in live:
        assert _statuses(web, sid).count("completed") == 1
    # node-2 places calls again.
    again = _create(two, web, "<Response><Hangup/></Response>", 6)
    wait_for(lambda: len(_final(url, again)) == 6, 40, "calls after the rejoin")


def test_a_killed_engine_s_calls_are_finalized_and_its_work_taken(
    cluster: tuple[str, list[LiveServer]], web: WebApp, tmp_path: Path
) -> None:
    url, (one, two) = cluster
    query(url, "UPDATE projects SET max_concurrent = 4 WHERE sid = %s", one.project_id)
    try:
        # Recorded: the killed engine's open recordings are closed by the survivor from their files
        # (the recordings directory is shared).
        sids = _create(two, web, "<Response><Pause length='4'/></Response>", 5, record=True, trim="do-not-trim")
        sids += _create(one, web, "<Response><Pause length='4'/></Response>", 5)
        on_two = wait_for(
            lambda: [
                s
                for s, o in query(
                    url, "SELECT sid, owner FROM calls WHERE sid = ANY(%s) AND status = 'in-progress'", sids
                )
                if o == "node-2"
            ],
            30,
            "a live call on node-2",
        )
        wait_for(
            lambda: query(url, "SELECT status FROM recordings WHERE call_sid = ANY(%s)", on_two), 10, "a recording"
        )
        time.sleep(1.5)  # a second and more of it on disk
        queued = [s for (s,) in query(url, "SELECT sid FROM calls WHERE sid = ANY(%s) AND status = 'queued'", sids)]
        assert queued  # the cap holds 6 back
        killed_at = time.monotonic()
        two.kill_tree()
        wait_for(lambda: len(_final(url, on_two)) == len(on_two), NODE_TIMEOUT_S + 10, "node-2's live calls finalized")
        assert time.monotonic() - killed_at <= NODE_TIMEOUT_S + 10
        done = wait_for(lambda: len(f := _final(url, sids)) == len(sids) and f, 90, "every call to end")
    finally:
        query(url, "UPDATE projects SET max_concurrent = NULL WHERE sid = %s", one.project_id)
    assert {done[s][1] for s in queued} == {"node-1"}  # the queue was placed by the survivor
    assert {done[s][0] for s in sids} == {"completed"}
    assert query(url, "SELECT state, taken_by FROM nodes WHERE node_id = 'node-2'")[0] == ("dead", "node-1")
    for sid in sids:  # every callback delivered, none twice (the survivor sends the dead node's too)
        wait_for(lambda sid=sid: "completed" in _statuses(web, sid), 30, f"{sid}'s completed callback")
        assert _statuses(web, sid).count("initiated") == 1 and _statuses(web, sid).count("completed") == 1
    undelivered = query(url, "SELECT COUNT(*) FROM webhooks WHERE call_sid = ANY(%s) AND status <> 'delivered'", sids)
    assert undelivered == [(0,)]
    closed = wait_for(
        lambda: [
            r
            for r in query(url, "SELECT status, duration_s FROM recordings WHERE call_sid = ANY(%s)", on_two)
            if r[0] == "completed"
        ],
        20,
        "the killed engine's recordings closed from their files",
    )
    assert all(duration >= 1 for _, duration in closed), closed
    # Restarted under its id, node-2 opens a new generation and takes calls again.
    back = start_node(
        two.data_dir, url, "node-2", heartbeat_s=HEARTBEAT_S, node_timeout_s=NODE_TIMEOUT_S,
        shared_recordings=Path(two.env["WIREXA_RECORDINGS_DIR"]),
    )  # fmt: skip
    try:
        assert query(url, "SELECT state FROM nodes WHERE node_id = 'node-2'")[0][0] == "open"
    finally:
        back.stop()
    assert query(url, "SELECT state FROM nodes WHERE node_id = 'node-2'")[0][0] == "stopped"
