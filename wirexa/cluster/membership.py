"""Membership: this engine's row in the nodes table, its heartbeat, and the sweep of dead ones.

Theory of operation. Several engines may share one database (PostgreSQL; SQLite is one box,
where the same code runs with a single node). At start an engine registers its node id
(`[cluster] node_id`, default the host name) under a new generation; a row of that id that is
still live with a fresh heartbeat is another engine running under the same id, and the start
waits for it to go stale (a crashed previous run: at once when that run was on this host and its
pid is gone) or fails (ConfigError). Every
`[cluster] heartbeat_s` the engine then:

1. writes its heartbeat (with its live calls and capacity, for `wirexa cluster status` and the
   Kamailio dispatcher list). If the row is not this run's any more (declared dead by another
   engine after a stall, the database's clock against `node_timeout_s`), this run is fenced:
   the dispatcher takes nothing from the queue and hangs up its calls (already finalized by the
   taker, so the store refuses their writes), then the engine registers again under a newer
   generation and goes on. A stale run never fights the engine that took over.
2. looks for live nodes whose heartbeat is older than `node_timeout_s`; the first engine to
   mark one dead (a conditional update, one winner) sweeps: the dead node's live calls are
   finalized as a restart does (dispatcher.sweep: completed if answered, else failed, at its
   last heartbeat, with their status callbacks), its open recordings closed from their files
   (found when the recordings directory is shared; else failed). Its queued calls never were
   its own (the queue is shared), and its webhook rows' leases run out and another engine's
   delivery worker sends them (at least once, as always). Every SWEEP_EVERY beats the sweep
   runs anyway, so a sweeper that died mid-sweep is finished by another.

A clean stop marks the row stopped; draining (serve's graceful stop) marks it draining, which
takes it out of `is_open` (no claims) and makes the inbound front answer Kamailio's OPTIONS
with 503. Loop-only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable

from wirexa.config import Settings
from wirexa.errors import ConfigError
from wirexa.store.db import Store
from wirexa.store.repo import nodes

log = logging.getLogger(__name__)

SWEEP_EVERY = 5  # beats between sweeps when no node was found dead
FRESH_BEATS = 2.5  # a row whose heartbeat is younger than this many beats is a running engine


def node_id_of(s: Settings) -> str:
    return s.cluster_node_id or socket.gethostname()


def http_url_of(s: Settings, port: int) -> str:
    """Where the other engines reach this one's API."""
    if s.cluster_http_url:
        return s.cluster_http_url.rstrip("/")
    host = s.host if s.host not in ("0.0.0.0", "::", "") else socket.gethostname()
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def sip_uri_of(s: Settings) -> str | None:
    """This engine's inbound SIP address for Kamailio's dispatcher list (the host's name when it
    listens on every address); None without inbound."""
    if s.cluster_sip_uri:
        return s.cluster_sip_uri
    if not s.sip_inbound_port:
        return None
    host = s.sip_public_address or s.sip_bind_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()  # bound to every address: the name the other hosts resolve
    host = f"[{host}]" if ":" in host else host
    return f"sip:{host}:{s.sip_inbound_port}"


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def gone(process: str | None) -> bool:
    """The run `process` (host:pid) is known to have ended: it ran on this host and its pid is
    not running (a restart after a crash need not wait for its heartbeat to go stale)."""
    host, _, pid = (process or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Membership:
    """`async with Membership(store, settings) as member:` registers this engine; attach the
    sweeps (`on_sweep`), the fencing (`on_fenced`) and the live-call count once they exist."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.node_id = node_id_of(settings)
        self.generation = 0
        self.http_url: str | None = None
        self.live_calls: Callable[[], int] = lambda: 0
        self.on_sweep: list[Callable[[], Awaitable[object]]] = []
        # Called when this run was fenced, before it registers again: stop and hang up.
        self.on_fenced: list[Callable[[], Awaitable[object]]] = []
        self.on_registered: list[Callable[[int], object]] = []
        self.fenced_count = 0
        self._task: asyncio.Task[None] | None = None
        self._beats = 0
        self._state = nodes.OPEN

    async def __aenter__(self) -> Membership:
        await self._register(wait_for_stale=True)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cluster-membership")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.store.write(nodes.set_state, self.node_id, self.generation, nodes.STOPPED)
        except Exception:  # noqa: BLE001 - a stop that cannot say so is found stale later
            log.exception("marking node %s stopped failed", self.node_id)

    async def _register(self, *, wait_for_stale: bool) -> None:
        s = self.settings
        if wait_for_stale:
            await self._wait_for_stale()
        self.generation = await self.store.write(
            nodes.register, self.node_id, self.http_url, sip_uri_of(s), s.calls_max_concurrent, this_process()
        )
        log.info("node %s registered (generation %d)", self.node_id, self.generation)
        for fn in self.on_registered:
            fn(self.generation)

    async def _wait_for_stale(self) -> None:
        """Wait while another engine runs under this node id (its heartbeat fresh); a crashed
        previous run's goes stale within a few beats. ConfigError if it stays fresh."""
        beat = max(0.05, self.settings.cluster_heartbeat_s)
        deadline = asyncio.get_running_loop().time() + max(self.settings.cluster_node_timeout_s, 3 * beat)
        while True:
            row = await self.store.read(nodes.get_node, self.node_id)
            if row is None or row.state not in nodes.LIVE_STATES or gone(row.process):
                return
            age = (await self.store.read(nodes.db_now) - row.heartbeat_at).total_seconds()
            if age >= FRESH_BEATS * beat:
                return
            if asyncio.get_running_loop().time() >= deadline:
                raise ConfigError(
                    f"another engine runs as node {self.node_id!r} on this database (its heartbeat is "
                    f"{age:.1f} s old): give each engine its own [cluster] node_id"
                )
            await asyncio.sleep(beat / 2)

    async def advertise(self, http_url: str) -> None:
        """Record where this engine's API is reached (known once it listens)."""
        self.http_url = http_url
        await self.store.write(nodes.set_http_url, self.node_id, self.generation, http_url)

    async def drain(self) -> None:
        """Take no more calls (the graceful stop): the row becomes draining."""
        self._state = nodes.DRAINING
        await self.store.write(nodes.set_state, self.node_id, self.generation, nodes.DRAINING)

    @property
    def draining(self) -> bool:
        return self._state == nodes.DRAINING

    async def _run(self) -> None:
        beat = max(0.05, self.settings.cluster_heartbeat_s)
        while True:
            await asyncio.sleep(beat)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a missed beat; the next one tries again
                log.exception("cluster heartbeat failed")

    async def beat(self) -> None:
        """One heartbeat, the fencing check, and the look for dead nodes."""
        self._beats += 1
        s = self.settings
        alive = await self.store.write(
            nodes.heartbeat, self.node_id, self.generation, self.live_calls(), s.calls_max_concurrent
        )
        if not alive:
            await self._fenced()
        took = False
        for node in await self.store.read(nodes.stale_nodes, s.cluster_node_timeout_s):
            if node.node_id == self.node_id:
                continue
            if await self.store.write(
                nodes.take_over, node.node_id, node.generation, self.node_id, s.cluster_node_timeout_s
            ):
                log.warning(
                    "node %s (generation %d) is dead (no heartbeat since %s): taking its calls over",
                    node.node_id,
                    node.generation,
                    node.heartbeat_at.isoformat(timespec="seconds"),
                )
                took = True
        if took or self._beats % SWEEP_EVERY == 0:
            await self.sweep()

    async def sweep(self) -> None:
        for fn in self.on_sweep:
            await fn()

    async def _fenced(self) -> None:
        self.fenced_count += 1
        log.error(
            "node %s generation %d was declared dead by another engine (a stalled heartbeat): its calls were "
            "finalized there; hanging up here and registering again",
            self.node_id,
            self.generation,
        )
        for fn in self.on_fenced:
            await fn()
        await self._register(wait_for_stale=False)
        if self._state == nodes.DRAINING:
            await self.store.write(nodes.set_state, self.node_id, self.generation, nodes.DRAINING)
