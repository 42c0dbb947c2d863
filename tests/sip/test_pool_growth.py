"""The pool grows ahead of demand (issue 13): a burst of calls on a cold pool starts several
workers at once, never puts more than 4 calls on one, and an idle spare worker that the pool's
headroom still needs is kept, then stopped once the calls are gone. Placement steers around
slots pjsua still holds for calls hung up a moment ago."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from tests.sip.conftest import make_settings, running
from wirexa.calls.ports import CallAnswered, CallSid
from wirexa.errors import SipError
from wirexa.sip.pool import CALLS_PER_WORKER, DRAIN_S, PLACE_TRIES, SPARE_SLOTS, WorkerPool, WorkerProc
from wirexa.sip.protocol import VERSION, Command, Ended, Incoming, MakeCall, Ready, Reject

pytestmark = pytest.mark.sip

PERSON = "+15005550006"  # the sandbox's default callee: answers and stays


async def test_a_burst_starts_workers_in_parallel_and_fills_none_beyond_four(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sip_workers_max=4, sandbox_processes=3)
    async with running(settings, tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None and list(pool.workers) == [0]
        most_starting = 0
        most_on_one = 0

        async def watch() -> None:
            nonlocal most_starting, most_on_one
            while True:
                most_starting = max(most_starting, pool.starting)
                most_on_one = max([most_on_one, *(len(w.calls) for w in pool.workers.values())])
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        n = 2 * CALLS_PER_WORKER + 2  # worker 0 is full at once; the rest wait for new ones
        sids = await asyncio.gather(*(h.dial(PERSON) for _ in range(n)))
        await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in sids))
        watcher.cancel()
        assert most_starting >= 2  # started side by side, not one after another
        assert most_on_one <= CALLS_PER_WORKER
        placed = [pool.by_call[s].index for s in sids]
        assert all(placed.count(i) <= CALLS_PER_WORKER for i in set(placed)) and len(set(placed)) >= 3
        assert pool.health()["workers_started"] == len(pool.workers) and pool.crashes == 0
        for s in sids:
            await h.bridge.hangup(CallSid(s))
        assert {(await h.ended(s)).reason for s in sids} == {"completed"}


async def test_an_idle_spare_is_kept_while_needed_and_stopped_after(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sip_workers_max=3, sip_worker_idle_s=0.5)
    async with running(settings, tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None
        sids = [await h.dial(PERSON) for _ in range(CALLS_PER_WORKER - 1)]
        await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in sids))
        assert {pool.by_call[s].index for s in sids} == {0}
        assert len(pool.workers) == 2  # one free slot left: a spare started
        # Idle far beyond sip_worker_idle_s, but stopping it would leave fewer than SPARE_SLOTS free.
        await asyncio.sleep(5)
        assert len(pool.workers) == 2 and pool.headroom() == SPARE_SLOTS
        assert pool.workers_cpu_pct > 0 and pool.health()["workers_cpu_pct"] == pool.workers_cpu_pct  # from /proc
        for s in sids:
            await h.bridge.hangup(CallSid(s))
            await h.ended(s)
        for _ in range(60):  # the supervisor looks every 2 s
            if len(pool.workers) == 1:
                break
            await asyncio.sleep(0.1)
        assert list(pool.workers) == [0]


async def test_workers_min_are_started_with_the_engine_and_kept_idle(tmp_path: Path) -> None:
    """sip.workers_min: that many workers are up before the first call (a burst on a fresh engine
    finds them) and the supervisor never stops them however long they idle."""
    settings = make_settings(tmp_path, sip_workers_max=4, sip_workers_min=3, sip_worker_idle_s=0.1)
    async with running(settings, tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None
        assert sorted(pool.workers) == [0, 1, 2] and all(w.ready.done() for w in pool.workers.values())
        await asyncio.sleep(4.5)  # two supervisor rounds, far beyond sip_worker_idle_s
        assert sorted(pool.workers) == [0, 1, 2]


class _NoProc:
    """Stands in for a worker process in placement tests that never send anything."""

    pid = 0
    returncode = None


async def test_placement_prefers_workers_whose_hung_up_slots_are_free(tmp_path: Path) -> None:
    """A call hung up from this side keeps its pjsua slot until the far end answers the BYE (or
    CANCEL): the next call goes to a worker with really free slots; a call that never started
    (the library refused it) holds no slot."""
    pool = WorkerPool(make_settings(tmp_path, sip_workers_max=2), lambda event: None)
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ready.set_result(None)
    w0, w1 = (WorkerProc(i, 0, _NoProc(), ready) for i in (0, 1))  # type: ignore[arg-type]
    pool.workers = {0: w0, 1: w1}
    w0.calls = {"CA1": False, "CA2": False, "CA3": False}
    w1.calls = {"CA4": False, "CA5": False}
    pool._placing["CA9"] = (None, MakeCall("CA9", "sip:x@127.0.0.1", "sip:y@127.0.0.1"), PLACE_TRIES)
    w0.calls["CA9"] = False
    pool._on_message(w0, Ended("CA9", "failed", None, "local", "PJ_ETOOMANY"))  # refused, no retry left: no slot
    for sid in ("CA1", "CA2"):
        pool._on_message(w0, Ended(sid, "completed", None, "local"))  # our hangup: BYE in flight
    assert len(w0.calls) == 1 and len(w1.calls) == 2 and "CA9" not in w0.draining
    assert set(w0.draining) == {"CA1", "CA2"} and w0.load(time.monotonic()) == 3
    assert await pool._worker_with_room() is w1  # by calls alone w0 would win
    pool._on_message(w1, Ended("CA4", "completed", None, "remote"))  # the far end hung up: slot freed
    assert not w1.draining
    assert w0.load(time.monotonic() + DRAIN_S + 0.1) == 1  # the drain ends


async def test_a_worker_speaking_another_protocol_version_is_not_ready(tmp_path: Path) -> None:
    pool = WorkerPool(make_settings(tmp_path), lambda event: None)
    loop = asyncio.get_running_loop()
    old, same = (WorkerProc(i, 0, _NoProc(), loop.create_future()) for i in (0, 1))  # type: ignore[arg-type]
    pool._on_message(old, Ready(5060, 1, VERSION - 1))
    pool._on_message(same, Ready(5061, 2))
    with pytest.raises(SipError, match=f"speaks protocol {VERSION - 1}, not {VERSION}"):
        old.ready.result()
    assert same.ready.result() is None


async def test_an_incoming_invite_is_answered_with_a_reject(tmp_path: Path) -> None:
    """The engine takes no inbound calls: the pool refuses each INVITE a worker holds, 403."""
    pool = WorkerPool(make_settings(tmp_path), lambda event: None)
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    worker = WorkerProc(0, 0, _NoProc(), ready)  # type: ignore[arg-type]
    sent: list[tuple[WorkerProc, Command]] = []

    async def send(worker: WorkerProc, command: Command) -> None:
        sent.append((worker, command))

    pool._send = send  # type: ignore[method-assign]
    pool._on_message(worker, Incoming("in-0-1", "sip:+1500@trunk", "sip:+1501@127.0.0.1", "127.0.0.1:5070"))
    await asyncio.sleep(0)
    assert sent == [(worker, Reject("in-0-1", 403, "a worker takes no calls"))]


async def test_inbound_invites_take_really_free_slots_and_keep_them_until_taken(tmp_path: Path) -> None:
    """The front's INVITEs go to a worker whose pjsua really has a free slot (a slot still
    draining is not free: the library would answer 486), each holds its slot from the moment it
    is sent (the worker reports it, the engine takes or refuses it), and each placed one counts in
    the placement rate that sizes the spare workers."""
    pool = WorkerPool(make_settings(tmp_path, sip_workers_max=2), lambda event: None)
    pool._grow = lambda taking=0: None  # type: ignore[method-assign]  # no real workers here
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    ready.set_result(None)
    w0, w1 = (WorkerProc(i, 5060 + i, _NoProc(), ready) for i in (0, 1))  # type: ignore[arg-type]
    pool.workers = {0: w0, 1: w1}
    w0.calls = {"CA1": False, "CA2": False, "CA3": False}
    w0.draining = {"CA4": time.monotonic() + DRAIN_S}  # hung up here a moment ago: full for pjsua
    w1.calls = {"CA5": False, "CA6": False}
    assert pool.inbound_target() == ("127.0.0.1", 5061)
    assert pool.inbound_target() == ("127.0.0.1", 5061)
    assert pool.inbound_target() is None  # w1: two calls and two INVITEs on their way
    assert len(pool._placed_at) == 2  # placements, not looks (the front asks again while INVITEs wait)
    pool.on_incoming = lambda msg: None
    pool._on_message(w1, Incoming(f"in-{os.getpid()}-1-1", "sip:a@b", "sip:c@d", "127.0.0.1:5070"))
    assert set(w1.inbound) == {f"in-{os.getpid()}-1-1", "sent-2"}  # the first one sent is now held
    pool.inbound_full(("127.0.0.1", 5061))  # its library refused the second INVITE: no slot taken
    assert set(w1.inbound) == {f"in-{os.getpid()}-1-1"} and pool.inbound_target() is None
