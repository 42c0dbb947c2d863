"""Membership (cluster/membership.py) on a real store, SQLite and PostgreSQL: a dead node taken over
by one live node and swept, a stalled run fenced and registered again, a second engine under a
running engine's id refused, a clean stop, and the addresses an engine advertises."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import time

import pytest

from tests.store.nodes import age_heartbeat, node_row
from wirexa.cluster.membership import Membership, gone, http_url_of, sip_uri_of, this_process
from wirexa.config import Settings
from wirexa.errors import ConfigError
from wirexa.store.db import Store
from wirexa.store.repo import nodes


def _settings(node_id: str) -> Settings:
    return dataclasses.replace(
        Settings(), cluster_node_id=node_id, cluster_heartbeat_s=0.05, cluster_node_timeout_s=0.5
    )


async def test_a_dead_node_is_swept_by_a_live_one_and_its_stale_run_rejoins(store: Store) -> None:
    swept: list[str] = []
    fenced: list[int] = []
    a, b = Membership(store, _settings("a")), Membership(store, _settings("b"))

    async def on_fenced() -> None:
        fenced.append(a.generation)

    async def on_sweep() -> None:
        swept.append("b")

    a.on_fenced.append(on_fenced)
    b.on_sweep.append(on_sweep)
    await a._register(wait_for_stale=True)
    await b._register(wait_for_stale=True)
    b.live_calls = lambda: 7
    await b.beat()
    assert node_row(store, "b").live_calls == 7
    assert swept == []  # nobody dead: no sweep on this beat
    age_heartbeat(store, "a", 5)  # a stalls
    await b.beat()
    assert swept == ["b"]  # b took a over and swept at once
    assert (node_row(store, "a").state, node_row(store, "a").taken_by) == ("dead", "b")
    await a.beat()  # a is back: fenced, it stops and registers again
    assert fenced == [1] and a.generation == 2 and a.fenced_count == 1
    row = node_row(store, "a")
    assert (row.state, row.generation, row.taken_by) == ("open", 2, None)
    await a.beat()
    assert a.fenced_count == 1  # fenced once only


async def test_a_second_engine_under_a_running_id_is_refused(store: Store) -> None:
    # Beats of 0.2 s (fresh for 0.5 s), the second start waiting up to 1 s: a loaded machine
    # delaying a beat by a few tens of ms does not make the running engine look stale.
    slow = dataclasses.replace(_settings("a"), cluster_heartbeat_s=0.2, cluster_node_timeout_s=1.0)
    async with Membership(store, slow) as first:
        await asyncio.sleep(0.3)  # it beats
        with pytest.raises(ConfigError, match="another engine runs as node 'a'"):
            await Membership(store, slow)._register(wait_for_stale=True)
        assert first.fenced_count == 0
    assert node_row(store, "a").state == "stopped"  # a clean stop says so
    # A crashed run's row goes stale: the next start waits for that, then registers.
    store.write_sync(nodes.set_state, "a", 1, nodes.OPEN)
    async with Membership(store, _settings("a")) as again:
        assert again.generation == 2


async def test_draining_survives_a_fencing(store: Store) -> None:
    async with Membership(store, _settings("a")) as member:
        await member.drain()
        assert member.draining and node_row(store, "a").state == "draining"
        store.write_sync(nodes.register, "a", None, None, 1)  # someone fenced this run
        await member.beat()
        row = node_row(store, "a")
        assert (row.generation, row.state) == (3, "draining")


def test_the_addresses_an_engine_advertises() -> None:
    s = Settings()
    assert http_url_of(dataclasses.replace(s, host="127.0.0.1"), 5001) == "http://127.0.0.1:5001"
    assert http_url_of(dataclasses.replace(s, host="::1"), 5001) == "http://[::1]:5001"
    assert http_url_of(dataclasses.replace(s, cluster_http_url="http://10.0.0.5:5000/"), 1) == "http://10.0.0.5:5000"
    assert "0.0.0.0" not in http_url_of(dataclasses.replace(s, host="0.0.0.0"), 5000)
    assert sip_uri_of(dataclasses.replace(s, sip_inbound_port=0)) is None
    inbound = dataclasses.replace(s, sip_inbound_port=5080, sip_bind_host="10.1.2.3")
    assert sip_uri_of(inbound) == "sip:10.1.2.3:5080"
    assert sip_uri_of(dataclasses.replace(inbound, sip_bind_host="0.0.0.0")) == f"sip:{socket.gethostname()}:5080"
    assert sip_uri_of(dataclasses.replace(inbound, sip_public_address="203.0.113.9")) == "sip:203.0.113.9:5080"
    assert sip_uri_of(dataclasses.replace(inbound, cluster_sip_uri="sip:e1.example:5060")) == "sip:e1.example:5060"


async def test_a_restart_after_a_crash_on_this_host_does_not_wait(store: Store) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that has ended
    store.write_sync(nodes.register, "a", None, None, 1, f"{socket.gethostname()}:{dead.pid}")
    started = time.monotonic()
    async with Membership(store, dataclasses.replace(_settings("a"), cluster_heartbeat_s=2.0)) as member:
        assert member.generation == 2
    assert time.monotonic() - started < 1.0  # not the 5 s a fresh heartbeat of 2 s beats would take
    assert not gone(this_process()) and not gone(f"elsewhere:{dead.pid}") and not gone(None)
    assert gone(f"{socket.gethostname()}:{dead.pid}")
