"""Issue 23 item 9: inbound calls use the same pool and limits as outbound ones, and queued
outbound calls never starve them. With 10,000 outbound calls queued (calls_cps 0.001, so they
stay queued: a few through the API, the rest copied from one of them in one store transaction, as
a dialer's backlog would sit in the calls table), a carrier's INVITE (SIPp,
tests/data/sipp/bench_inbound_uac.xml) is still rung and answered, its VoiceUrl fetched, or it is
refused 503 at once when no worker slot is free: it never waits behind the queue. No timing is
asserted (the INVITE -> 180 time is printed, for the record)."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import free_udp_block
from tests.conftest import LiveServer, engine_fixture
from tests.e2e.test_engine_e2e import wait_final
from tests.e2e.webapp import WebApp
from wirexa import config
from wirexa.clock import new_sid
from wirexa.store.bootstrap import open_store
from wirexa.store.repo.calls import get_call, insert_call

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SIPP = Path(__file__).parent.parent / "data" / "sipp"
NUMBER = "+15005550100"
QUEUED = 10_000
BY_API = 5  # of QUEUED, created through the REST API (the rest copied from one of them in the store)

engine = engine_fixture(
    "inbound-capacity-engine",
    env={
        "WIREXA_SIP_INBOUND_ALLOWED": "127.0.0.1/32",
        "WIREXA_CALLS_CPS": "0.001",  # the outbound calls stay queued
        "WIREXA_API_RATE_LIMIT_PER_S": "0",
        "WIREXA_SANDBOX_PROCESSES": "1",
    },
)


@pytest.fixture(scope="module")
def web(engine: LiveServer) -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/ivr"] = "<Response><Say>Hi</Say><Hangup/></Response>"
    engine.client().incoming_phone_numbers.create(phone_number=NUMBER, voice_url=app.url("/ivr"))
    yield app
    app.close()


def queued(engine: LiveServer) -> int:
    con = sqlite3.connect(f"file:{engine.data_dir / 'wirexa.db'}?mode=ro", uri=True, timeout=30)
    try:
        return int(con.execute("SELECT COUNT(*) FROM calls WHERE status = 'queued'").fetchone()[0])
    finally:
        con.close()


def queue_outbound(engine: LiveServer, n: int) -> None:
    """n outbound calls (about: the CPS bucket's first token places one) queued: BY_API through the
    API, the others copies of a queued one (new sids and numbers) inserted in one transaction through the store, as the engine's own writes are."""
    client = engine.client()
    twiml = '<Response><Pause length="1"/></Response>'
    sids = [client.calls.create(to=f"+1415555{i:04d}", from_=NUMBER, twiml=twiml).sid for i in range(BY_API)]
    store = open_store(config.load(overrides={"data_dir": str(engine.data_dir)}, env={}))
    try:
        made = [store.read_sync(get_call, sid) for sid in sids]
        # The CPS bucket's first token places one of them; the others stay queued.
        first = next(call for call in made if call is not None and call.status == "queued")

        def copies() -> None:
            for i in range(BY_API, n):
                fields = dataclasses.asdict(first)
                fields.update(sid=new_sid("CA"), to_number=f"+1415{5550000 + i:07d}")
                insert_call(**fields)

        store.write_sync(copies)
    finally:
        store.close()
    client.calls.create(to="+14155559999", from_=NUMBER, twiml=twiml)  # and the dispatcher wakes on the deep queue


def test_an_inbound_invite_is_answered_or_refused_at_once_behind_10000_queued_outbound_calls(
    engine: LiveServer, web: WebApp, tmp_path: Path
) -> None:
    assert shutil.which("sipp")
    queue_outbound(engine, QUEUED)
    before = queued(engine)
    assert before >= QUEUED - 1  # (one may have left the queue: the CPS bucket's first token)
    port = free_udp_block(30000, 40000, 10, (0, 2, 3, 4, 5))
    carrier = subprocess.run(
        [
            "sipp",
            "-sf",
            str(SIPP / "bench_inbound_uac.xml"),
            "-s",
            NUMBER,
            "-t",
            "u1",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(port + 2),
            "-m",
            "1",
            "-nostdin",
            "-recv_timeout",
            "10000",
            "-timeout",
            "20s",
            "-trace_logs",
            "-trace_err",
            f"127.0.0.1:{engine.env['WIREXA_SIP_INBOUND_PORT']}",
        ],  # fmt: skip
        capture_output=True,
        cwd=tmp_path,
        timeout=40,
    )
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_logs.log"))
    errors = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_errors.log"))
    if carrier.returncode == 0:
        # Rung, answered (180, 200), the VoiceUrl fetched, the engine's BYE after <Say>Hi.
        [line] = [ln.split() for ln in logs.splitlines() if ln.startswith("CALL ")]
        invite, r180, r200 = (float(line[i]) + float(line[i + 1]) / 1e6 for i in (2, 4, 6))
        print(f"\nINVITE -> 180 {1000 * (r180 - invite):.1f} ms, -> 200 {1000 * (r200 - invite):.1f} ms")
        [call] = engine.client().calls.list(to=NUMBER, limit=1)
        assert call.direction == "inbound"
        assert wait_final(engine.client(), call.sid).status == "completed"
        [fetch] = web.to("/ivr", call.sid)
        assert fetch.form["CallStatus"] == "ringing" and fetch.form["Direction"] == "inbound"
    else:
        # No slot free: a 503 straight away (SIPp got a final answer well within its receive timeout).
        assert "received 'SIP/2.0 503" in errors, carrier.stderr.decode()[-2000:] + errors[-2000:]
        print("\nthe INVITE was refused 503 (no worker slot free)")
    assert queued(engine) >= before - 1  # the queue is still there: the inbound call took no queued call's turn
