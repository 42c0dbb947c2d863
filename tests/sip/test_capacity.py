"""Capacity (issue 13): every slot of a worker is used, a <Dial> leg whose parent's worker is full
still connects (another worker, the audio relayed on loopback), and the ceiling is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.sip.conftest import make_settings, running
from tests.sip.test_sip import heard_level, saved, tone_file
from wirexa.calls.ports import CallAnswered
from wirexa.sip.pool import CALLS_PER_WORKER, LEG_RESERVE

pytestmark = pytest.mark.sip

PERSON = "+15005550006"  # the sandbox's default callee: answers and stays


async def test_calls_fill_every_slot_of_a_worker(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sip_workers_max=2)
    async with running(settings, tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None
        assert pool.capacity_left() == 2 * CALLS_PER_WORKER - LEG_RESERVE
        sids = [await h.dial(PERSON) for _ in range(CALLS_PER_WORKER)]
        await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in sids))
        assert {pool.by_call[s].index for s in sids} == {0}  # one process holds all 4
        # The next worker was started as a spare (SPARE_SLOTS) and holds nothing yet.
        assert all(not w.calls for i, w in pool.workers.items() if i != 0)
        assert pool.capacity_left() == CALLS_PER_WORKER - LEG_RESERVE
        health = pool.health()
        assert health["calls_per_worker"] == CALLS_PER_WORKER and health["live_calls"] == CALLS_PER_WORKER
        for s in sids:
            await h.bridge.hangup(s)
        assert {(await h.ended(s)).reason for s in sids} == {"completed"}
        assert pool.capacity_left() == 2 * CALLS_PER_WORKER - LEG_RESERVE


async def test_a_dial_leg_from_a_full_worker_is_relayed_from_another_one(tmp_path: Path) -> None:
    tone = tone_file(tmp_path / "long.wav", 8000, 600)
    sandbox = tmp_path / "sandbox.toml"
    sandbox.write_text(f'[numbers."+15005550020"]\nanswer = "{tone}"\n[numbers."+15005550021"]\nanswer = "silence"\n')
    settings = make_settings(tmp_path, sandbox_config=str(sandbox), sip_workers_max=2)
    async with running(settings, tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None
        parent = await h.dial("+15005550020")  # plays an 8 s tone on answer
        others = [await h.dial(PERSON) for _ in range(CALLS_PER_WORKER - 1)]
        await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in (parent, *others)))
        full = pool.by_call[parent]
        assert len(full.calls) == CALLS_PER_WORKER  # the parent's worker is full

        child = await h.dial("+15005550021", parent=parent)  # silent; the sandbox records it
        await h.wait(child, CallAnswered, timeout=30)
        assert pool.by_call[child] is not full  # placed in another worker instead of failing
        await h.bridge.bridge(parent, child)
        assert list(pool.relays) == [(parent, child)]
        assert pool.health()["relayed_bridges"] == 1
        await asyncio.sleep(2.5)
        await h.bridge.unbridge(parent, child)
        assert pool.relays == {}
        await h.bridge.hangup(child)
        await h.ended(child)
        await saved(h, child)
        assert heard_level(h, child) > -40.0  # the parent's callee was heard across the workers

        # Bridged again, the relay goes away when a call ends (no unbridge).
        second = await h.dial("+15005550021", parent=parent)
        await h.wait(second, CallAnswered, timeout=30)
        await h.bridge.bridge(parent, second)
        assert len(pool.relays) == 1
        await h.bridge.hangup(parent)
        await h.ended(parent)
        for _ in range(50):
            if not pool.relays:
                break
            await asyncio.sleep(0.05)
        assert pool.relays == {}
        assert all(not w.relay_ports for w in pool.workers.values())
        for s in (second, *others):
            await h.bridge.hangup(s)
            await h.ended(s)
        assert pool.crashes == 0


async def test_health_reports_the_ceiling(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sip_workers_max=3, calls_max_concurrent=50)
    async with running(settings, tmp_path) as h:
        health = h.bridge.health()
        capacity = health["capacity"]
        assert isinstance(capacity, dict)
        assert capacity["call_slots"] == 12
        assert capacity["ceiling"] == 12 - LEG_RESERVE  # the pool, not calls_max_concurrent, limits here
        machine = capacity["machine"]
        assert machine["limited_by"] in ("cpu", "memory", "open_files", "ports")
        assert machine["calls_max"] == min(machine["calls_by_resource"].values()) - 1
