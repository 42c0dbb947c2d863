"""The worker pool: spawns and supervises SIP worker processes and places calls on them.

Theory of operation. The pjsua2 wheel holds 4 calls per process, so calls live in worker
processes (worker.py), each with its own SIP and RTP ports, and every slot is used: a call goes
to the least loaded worker with a free slot, a <Dial> leg to its parent's worker when that has
one. When it has none, the leg goes to another worker and bridging the two (bridge/unbridge)
becomes a relay: each worker gets a relay port (relay.py, not a call: it takes no slot) and the
20 ms audio frames cross between them as UDP datagrams on loopback, on ports from the unused
tail of each worker's RTP block. So no <Dial> fails because its parent's worker is full; one
fails only when the whole pool is (capacity_left() keeps LEG_RESERVE slots back for legs).
A conference room lives in one worker, its home: the worker of the first call that joins it
(room_join). A call in another worker joins it the same way a bridge crosses workers: its worker
gets a relay port in a room of two with the call (RelayOpen, peer = the room), the home a remote
member's port in the room (RemoteOpen); so participants anywhere in the pool hear each other.
A room's recording (<Conference record>) is its home's: the room's mix, remote members included.
A worker that is some room's home is not stopped as idle.
The pool grows ahead of demand up to the ceiling (`sip.workers_max`, or sized from the machine):
it keeps headroom() slots free beyond the calls waiting (SPARE_SLOTS, plus the calls the recent
placement rate brings while a worker starts) and starts up to SPAWN_PARALLEL workers at once to
get there; a call waits for the first one ready. Starting a worker is CPU-bound (~0.2 s of CPU,
mostly Python imports), so from a cold pool a 2-core machine reaches ~10 workers/s: a burst
faster than that waits (docs/PJSUA2_FINDINGS.md). Idle workers beyond the first stop after
`sip.worker_idle_s`, unless the others would be left with less than headroom().
A call this side hung up holds its pjsua slot until the far end answers the BYE or CANCEL, after
the worker reported the end: placement prefers workers without such slots for DRAIN_S, and a
call the library still refuses as too many (PJ_ETOOMANY) is placed again (PLACE_TRIES).

Each worker's stdout is read by one asyncio task that turns event lines (protocol.py's typed
events) into calls.ports events for the sink, on the loop; a command the worker could not
carry out comes back as an error event and goes to the sink as CommandFailed, so no call
waits for a completion that will never come. A worker that exits, or stops answering pings,
takes only its own calls down: each gets CallEnded(hangup_by="worker") and the worker is replaced on
demand. Once shutdown has begun (begin_shutdown()) no worker is started and an exit is no
crash. Everything here runs on the event loop; no pjsua2 object exists in this process.

Worker programs run in their own process group and ignore SIGINT (entry.py): a terminal's
Ctrl-C reaches only the engine, which shuts them down with a "shutdown" command.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wirexa.calls.ports import CallAnswered, CallEnded, CallSid, RecordingFinished, SipEvent
from wirexa.config import Settings, machine_sizing
from wirexa.errors import SipError
from wirexa.sip import protocol as proto
from wirexa.sip.protocol import RelayClose, RelayOpen

log = logging.getLogger(__name__)

CALLS_PER_WORKER = 4
PLACE_TRIES = 3  # a call the worker's library refused as too many is placed again this often
SPARE_SLOTS = 2  # free slots the pool keeps ready beyond the demand (a worker starts below that)
# Workers starting at once at most: a start is CPU-bound (~0.15-0.2 s of CPU, ~0.2-0.3 s alone,
# ~80% of it Python imports), so more at once than cores only adds contention.
SPAWN_PARALLEL = max(2, len(os.sched_getaffinity(0)))
SPAWN_GUESS_S = 0.5  # a worker's start time until one has been measured
RATE_WINDOW_S = 2.0  # placements over this window give the call rate that sizes the headroom
HEADROOM_MAX_SLOTS = 64  # the headroom never asks for more free slots than this
LEG_RESERVE = 1  # slots of the whole pool that top-level calls leave for <Dial> legs
RTP_BLOCK = 100  # worker N's RTP ports: rtp_base + 100 N, pjsua uses the first RTP_RANGE
# pjsua's RTP/RTCP pairs for the worker's 4 calls (8 ports at a time; the rest is room for
# ports not yet free again), then the relay ports: a room's home reaches 60 members of other
# workers (with its own 4: rooms of 64 heard whole; a member beyond is refused, notified).
RTP_RANGE = 32
RELAY_PORTS = range(RTP_RANGE + 8, RTP_BLOCK)  # offsets in the block for relay ports
INBOUND_SENT_S = 2.0  # an INVITE the front sent a worker holds its slot this long until the worker reports it
INBOUND_HELD_S = 12.0
FULL_S = 1.0  # a worker whose library refused an INVITE (486) gets no inbound INVITE this long  # and a held one until the engine takes or refuses it (the worker gives up at 10 s)
DRAIN_S = 1.0  # how long a slot of a call hung up here counts as still held (the BYE's round trip)
UNUSABLE_INDEX_S = 60.0  # a worker index that failed to start is not retried for this long
PING_EVERY_S = 2.0
ROOM_RECORD_WAIT_S = 10.0  # a room recording's record_done follows its stop within the worker's CLOSE_WAIT_S
PING_DEADLINE_S = 10.0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) the process has used, from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def capacity_report(settings: Settings) -> dict[str, object]:
    """The engine's ceiling (what /health and `wirexa doctor` show): the limits in force, and
    what this machine allows (the sizing used when sip.workers_max / calls.max_concurrent are 0)."""
    sandbox = settings.sandbox_enabled and not settings.sip_trunk_host
    sized = machine_sizing(settings.sip_port_base, settings.sip_rtp_port_base, sandbox)
    slots = settings.sip_workers_max * CALLS_PER_WORKER
    return {
        "calls_max_concurrent": settings.calls_max_concurrent,
        "call_slots": slots,
        "ceiling": min(settings.calls_max_concurrent, max(0, slots - LEG_RESERVE)),
        "machine": {
            "workers_max": sized.workers_max,
            "calls_max": sized.calls_max,
            "limited_by": sized.limit,
            "calls_by_resource": dict(sized.by),
            "cores": sized.cores,
            "memory_available_mb": sized.memory_available_mb,
            "open_files_limit": sized.open_files_limit,
        },
    }


def worker_argv(kind: str, *args: str) -> list[str]:
    """Command line that starts a hidden worker program (`_sip-worker`, `_sandbox`), frozen or not."""
    if getattr(sys, "frozen", False):
        return [sys.executable, kind, *args]
    return [sys.executable, "-m", "wirexa.sip.entry", kind, *args]


async def spawn_worker(
    kind: str, args: list[str], stderr_log: Path, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """Start a worker program with pipes on stdin/stdout and stderr appended to `stderr_log`.

    process_group=0 puts it in a process group of its own, so the SIGINT a terminal sends to
    the engine's group on Ctrl-C never reaches it, not even while it is still importing."""
    # The child keeps its own copy of the descriptor; ours closes right after the spawn.
    with open(stderr_log, "ab") as stderr:
        return await asyncio.create_subprocess_exec(
            *worker_argv(kind, *args),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
            process_group=0,
        )


@dataclass
class WorkerProc:
    index: int
    port: int
    proc: asyncio.subprocess.Process
    ready: asyncio.Future[None]
    calls: dict[str, bool] = field(default_factory=dict)  # sid -> is a Dial leg
    answered: set[str] = field(default_factory=set)
    last_pong: float = field(default_factory=time.monotonic)
    pinged: bool = False  # the supervisor has pinged it (its deadline counts from the first ping)
    idle_since: float = field(default_factory=time.monotonic)
    reader: asyncio.Task[None] | None = None
    closing: bool = False
    registration: proto.Registration | None = None  # its last registration report

    relay_ports: set[int] = field(default_factory=set)  # offsets (RELAY_PORTS) in use

    # Calls this side hung up, until DRAIN_S after their end: pjsua still holds their slot (see
    # _on_message), so placement prefers other workers meanwhile.
    draining: dict[str, float] = field(default_factory=dict)  # sid -> monotonic end of the drain

    # Slots of incoming INVITEs: sent here by the inbound front and not yet seen ("sent-N"), or
    # held by the worker until the engine takes or refuses them (their dialog_id); each with the
    # monotonic time it is given up by (an INVITE lost on the way, a worker that refused it).
    inbound: dict[str, float] = field(default_factory=dict)
    full_until: float = 0.0  # its library refused an INVITE (486): no inbound INVITE before then

    def used(self) -> int:
        """Slots taken: its calls, and the incoming INVITEs sent to it or held by it."""
        if self.inbound:
            now = time.monotonic()
            for key in [key for key, until in self.inbound.items() if until <= now]:
                del self.inbound[key]
        return len(self.calls) + len(self.inbound)

    def has_room(self, calls: int = 1) -> bool:
        return self.used() + calls <= CALLS_PER_WORKER

    def load(self, now: float) -> int:
        """Calls, and slots pjsua may still hold for calls hung up here a moment ago."""
        for sid in [sid for sid, until in self.draining.items() if until <= now]:
            del self.draining[sid]
        return self.used() + len(self.draining)


class WorkerPool:
    """Async context manager. `sink` receives calls.ports events on the loop."""

    def __init__(
        self, settings: Settings, sink: Callable[[SipEvent], None], extra_args: list[str] | None = None
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.extra_args = extra_args or []
        self.workers: dict[int, WorkerProc] = {}
        self.by_call: dict[str, WorkerProc] = {}
        self.log_dir = Path(settings.data_path) / "logs"
        self._spawning: dict[int, asyncio.Task[WorkerProc]] = {}
        self._waiters = 0  # place() calls waiting for a worker with room
        self._cpu_seen: dict[int, tuple[float, float]] = {}  # worker pid -> (CPU s, when read)
        self.workers_cpu_pct = 0.0
        self._inbound_waiting = 0  # INVITEs the inbound front holds for a worker with room
        self._placed_at: collections.deque[float] = collections.deque()  # placements, last RATE_WINDOW_S
        self.worker_start_s = SPAWN_GUESS_S  # moving average of a worker's start (spawn to ready)
        self._spawn_error: SipError | None = None  # the last start that failed
        self.workers_started = 0
        self._unusable: dict[int, float] = {}  # worker index -> monotonic time it may be tried again
        self._supervisor: asyncio.Task[None] | None = None
        self._ping_n = 0
        self._closing = False
        self.crashes = 0
        # Cross-worker bridges: (a, b) -> (worker of a, its relay port offset, worker of b, its offset)
        self.relays: dict[tuple[str, str], tuple[WorkerProc, int, WorkerProc, int]] = {}
        # Conference rooms: room -> its home worker; and each member relayed from another worker:
        # (room, sid) -> (worker of the call, its relay port offset, the home, its offset).
        self.rooms: dict[str, WorkerProc] = {}
        self.room_relays: dict[tuple[str, str], tuple[WorkerProc, int, WorkerProc, int]] = {}
        # Rooms' recordings running in their homes: (room, rec_id) -> (the home, what its
        # record_done says; None when the worker could not record or died).
        self.room_recordings: dict[tuple[str, str], tuple[WorkerProc, asyncio.Future[RecordingFinished | None]]] = {}
        # Calls sent to a worker and not yet initiated: (parent, command, tries), to place again
        # when the worker's library was still full (a slot freed a moment after the call's end).
        self._placing: dict[str, tuple[str | None, proto.MakeCall, int]] = {}
        # Calls given to place() whose INVITE is not yet with a worker (waiting for a worker with
        # room, or to be placed again): sid -> hung up meanwhile. A hung-up one is never sent.
        self._unsent: dict[str, bool] = {}
        # Inbound: who takes the incoming INVITEs (None: each is refused 403), and the worker
        # holding each one not yet accepted or refused, by dialog_id.
        self.on_incoming: Callable[[proto.Incoming], None] | None = None
        self._held: dict[str, WorkerProc] = {}
        self._inbound_n = 0
        self.legs_relayed = 0

    def begin_shutdown(self) -> None:
        """From now on no worker is started, and a worker that exits is no crash."""
        self._closing = True

    async def __aenter__(self) -> WorkerPool:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        await self._worker_with_room()  # worker 0, or the next index whose port is free
        await self._warm(int(self.settings.sip_workers_min))
        self._placed_at.clear()  # that was no call
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="sip-pool")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        # Workers still starting finish first (or fail), so that none is left running.
        await asyncio.gather(*self._spawning.values(), return_exceptions=True)
        await asyncio.gather(*(self._stop(w) for w in list(self.workers.values())), return_exceptions=True)

    # --- capacity and placement --------------------------------------------------------------

    def capacity_left(self) -> int:
        """Top-level calls that can still be placed: free slots in live workers and in workers
        not yet started, less the calls already waiting for one and LEG_RESERVE kept for <Dial> legs."""
        room = sum(CALLS_PER_WORKER - w.used() for w in self.workers.values() if not w.closing)
        room += (len(self._free_indices()) + sum(1 for i in self._spawning if i not in self.workers)) * CALLS_PER_WORKER
        return max(0, room - self._waiters - LEG_RESERVE)

    async def place(self, sid: str, parent: str | None, command: proto.MakeCall) -> None:
        """Send a call command to the right worker (for a leg its parent's when it has room,
        else any: bridging them is then relayed). Raises SipError. A hangup sent for the call
        before a worker takes it withdraws it: no INVITE leaves, and the call ends `canceled`."""
        self._unsent.setdefault(sid, False)
        try:
            worker = self.by_call.get(parent) if parent is not None else None
            if worker is None or worker.closing or not worker.has_room():
                worker = await self._worker_with_room()
            if self._unsent[sid]:
                self._placing.pop(sid, None)
                self.sink(CallEnded(CallSid(sid), "canceled", None, "local"))
                return
        finally:
            del self._unsent[sid]
        worker.calls[sid] = parent is not None
        self.by_call[sid] = worker
        self._placing[sid] = (parent, command, self._placing.get(sid, (None, command, 0))[2] + 1)
        await self._send(worker, command)  # writes the command before its first await

    async def _place_again(self, sid: str, parent: str | None, command: proto.MakeCall) -> None:
        await asyncio.sleep(0.05)
        try:
            await self.place(sid, parent, command)
        except SipError as exc:
            self._placing.pop(sid, None)
            self.sink(CallEnded.never_placed(sid))
            log.warning("[%s] could not place the call again: %s", sid, exc)

    async def _worker_with_room(self) -> WorkerProc:
        """The least loaded live worker with a free slot, else the first started worker that has
        room once it is ready. The caller takes the slot before its next await, and every wait
        ends in a fresh look: a burst of calls waiting on starting workers never puts more than 4
        calls on one of them."""
        while True:
            live = [w for w in self.workers.values() if not w.closing and w.ready.done() and not w.ready.exception()]
            candidates = [w for w in live if w.has_room()]
            if candidates:
                now = time.monotonic()
                worker = min(candidates, key=lambda w: (w.load(now), w.used(), w.index))
                self._placed_at.append(now)
                self._grow(taking=1)
                return worker
            if self._closing:
                raise SipError("the SIP worker pool is shutting down")
            self._waiters += 1
            try:
                self._grow()
                pending = [t for t in self._spawning.values() if not t.done()]
                if pending:
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                elif self._spawning:
                    await asyncio.sleep(0)  # a start just ended: its done callback runs first
                else:
                    raise self._spawn_error or SipError("all SIP workers are full")
            finally:
                self._waiters -= 1

    @property
    def starting(self) -> int:
        """Workers being started now."""
        return len(self._spawning)

    def headroom(self) -> int:
        """Free slots to keep ready: SPARE_SLOTS, and the calls expected while a worker starts
        (the placement rate of the last RATE_WINDOW_S times the measured start time)."""
        since = time.monotonic() - RATE_WINDOW_S
        while self._placed_at and self._placed_at[0] < since:
            self._placed_at.popleft()
        rate = len(self._placed_at) / RATE_WINDOW_S
        return min(HEADROOM_MAX_SLOTS, SPARE_SLOTS + math.ceil(rate * self.worker_start_s))

    def _grow(self, taking: int = 0) -> None:
        """Start workers in the background, up to SPAWN_PARALLEL at once, until the free slots
        of the live and starting workers cover the calls waiting plus headroom(). `taking`: a
        slot about to be taken by the caller (not yet in the worker's calls)."""
        if self._closing:
            return
        free = sum(CALLS_PER_WORKER - w.used() for w in self.workers.values() if not w.closing)
        free += sum(CALLS_PER_WORKER for i in self._spawning if i not in self.workers) - taking
        missing = self._waiters + self._inbound_waiting + self.headroom() - free
        while missing > 0 and len(self._spawning) < SPAWN_PARALLEL:
            indices = self._free_indices()
            if not indices:
                return
            self._start(indices[0])
            missing -= CALLS_PER_WORKER

    def _start(self, index: int) -> asyncio.Task[WorkerProc]:
        """Start worker `index` in the background (registered at once, so the next look counts it)."""
        task = asyncio.get_running_loop().create_task(self._start_worker(index), name=f"sip-worker-{index}-start")
        self._spawning[index] = task
        task.add_done_callback(self._started(index))
        return task

    def _started(self, index: int) -> Callable[[asyncio.Task[WorkerProc]], None]:
        def done(task: asyncio.Task[WorkerProc]) -> None:
            if self._spawning.get(index) is task:
                del self._spawning[index]
            if task.cancelled():
                return
            exc = task.exception()
            if exc is not None:
                # Typically its port is held by another program: leave this index alone for a while.
                self._unusable[index] = time.monotonic() + UNUSABLE_INDEX_S
                self._spawn_error = exc if isinstance(exc, SipError) else SipError(str(exc))
                log.warning("%s; trying another worker index", exc)
            if self._waiters or self._inbound_waiting:
                self._grow()  # still calls waiting: replace a failed start, or keep SPAWN_PARALLEL going

        return done

    @property
    def workers_max(self) -> int:
        return self.settings.sip_workers_max

    async def _warm(self, count: int) -> None:
        """Start workers until `count` run (sip.workers_min), SPAWN_PARALLEL at a time, before
        the engine serves: a burst of inbound calls on a fresh engine finds them up. A worker
        that cannot start is logged and left to the pool's growth later."""
        while len(self.workers) < count:
            indices = self._free_indices()[: min(SPAWN_PARALLEL, count - len(self.workers))]
            if not indices:
                return
            results = await asyncio.gather(*(self._start(i) for i in indices), return_exceptions=True)
            if all(isinstance(r, BaseException) for r in results):
                log.warning("sip.workers_min: only %d of %d workers started", len(self.workers), count)
                return

    def _free_indices(self) -> list[int]:
        now = time.monotonic()
        return [
            i
            for i in range(self.workers_max)
            if i not in self.workers and i not in self._spawning and self._unusable.get(i, 0.0) <= now
        ]

    async def send(self, sid: str, command: proto.Command) -> None:
        worker = self.by_call.get(sid)
        if worker is None:
            if sid in self._unsent and isinstance(command, proto.Hangup):
                self._unsent[sid] = True
            return
        if isinstance(command, proto.Bridge | proto.Unbridge):
            other = self.by_call.get(command.b)
            if other is not None and other is not worker:
                if isinstance(command, proto.Bridge):
                    await self._relay_open(command.a, command.b)
                else:
                    await self._relay_close(command.a, command.b)
                return
        await self._send(worker, command)

    # --- relays (a bridge across two workers) ------------------------------------------------

    def _relay_port(self, worker: WorkerProc, offset: int) -> int:
        return self.settings.sip_rtp_port_base + worker.index * RTP_BLOCK + offset

    def _take_relay_port(self, worker: WorkerProc) -> int:
        free = [o for o in RELAY_PORTS if o not in worker.relay_ports]
        if not free:
            raise SipError(f"worker {worker.index} has no relay port left")
        worker.relay_ports.add(free[0])
        return free[0]

    async def _relay_open(self, a: str, b: str) -> None:
        wa, wb = self.by_call[a], self.by_call[b]
        if (a, b) in self.relays or (b, a) in self.relays:
            return
        oa = self._take_relay_port(wa)
        try:
            ob = self._take_relay_port(wb)
        except SipError:
            wa.relay_ports.discard(oa)
            raise
        self.relays[(a, b)] = (wa, oa, wb, ob)
        self.legs_relayed += 1
        pa, pb = self._relay_port(wa, oa), self._relay_port(wb, ob)
        log.info("[%s] bridged with %s across workers %d and %d (relay ports %d/%d)", a, b, wa.index, wb.index, pa, pb)
        await self._send(wa, RelayOpen(a, b, pa, pb))
        await self._send(wb, RelayOpen(b, a, pb, pa))

    async def _relay_close(self, a: str, b: str) -> None:
        key = (a, b) if (a, b) in self.relays else (b, a)
        entry = self.relays.pop(key, None)
        if entry is None:
            return
        wa, oa, wb, ob = entry
        wa.relay_ports.discard(oa)
        wb.relay_ports.discard(ob)
        for worker, sid, peer in ((wa, key[0], key[1]), (wb, key[1], key[0])):
            if sid in worker.calls:  # an ended call's worker closed its side itself
                with contextlib.suppress(SipError):
                    await self._send(worker, RelayClose(sid, peer))

    # --- conference rooms ------------------------------------------------------------------------

    async def room_join(self, room: str, sid: str, muted: bool = False, coach: str = "") -> None:
        """Put call `sid` in conference room `room` (homed in its worker when new). Raises
        SipError when the call has no worker or no relay port is left."""
        worker = self.by_call.get(sid)
        if worker is None:
            raise SipError(f"call {sid} is not in a SIP worker")
        home = self.rooms.get(room)
        if home is None or home.closing or self.workers.get(home.index) is not home:
            home = self.rooms[room] = worker
        if home is worker:
            await self._send(worker, proto.RoomJoin(sid, room, muted, coach))
            return
        await self._room_leave_relayed(room, sid)
        ow = self._take_relay_port(worker)
        try:
            oh = self._take_relay_port(home)
        except SipError:
            worker.relay_ports.discard(ow)
            raise
        self.room_relays[(room, sid)] = (worker, ow, home, oh)
        pw, ph = self._relay_port(worker, ow), self._relay_port(home, oh)
        log.info(
            "[%s] in room %s across workers %d and %d (relay ports %d/%d)", sid, room, worker.index, home.index, pw, ph
        )
        await self._send(worker, RelayOpen(sid, room, pw, ph))
        await self._send(home, proto.RemoteOpen(sid, room, ph, pw, muted, coach))

    async def room_member(self, room: str, sid: str, muted: bool, coach: str = "") -> None:
        """Mute or unmute a member of `room`, or make it coach `coach` ("" nobody)."""
        home = self.rooms.get(room)
        if home is not None:
            await self._send(home, proto.RoomMember(sid, room, muted, coach))

    async def room_leave(self, room: str, sid: str) -> None:
        """Take call `sid` out of `room` (nothing to do for a call that ended: its end did)."""
        if (room, sid) in self.room_relays:
            await self._room_leave_relayed(room, sid)
            return
        home = self.rooms.get(room)
        if home is not None and sid in home.calls:
            with contextlib.suppress(SipError):
                await self._send(home, proto.RoomLeave(sid, room))

    def room_over(self, room: str) -> None:
        """The room has ended (every member has left): its worker is no home any more."""
        self.rooms.pop(room, None)

    async def room_record(self, room: str, rec_id: str, path: str) -> None:
        """Record `room`'s mix in its home into `path` until room_record_stop. Raises SipError
        when the room has no home (nobody ever joined it) or the home is gone."""
        home = self.rooms.get(room)
        if home is None:
            raise SipError(f"room {room} is in no SIP worker")
        done: asyncio.Future[RecordingFinished | None] = asyncio.get_running_loop().create_future()
        self.room_recordings[(room, rec_id)] = (home, done)
        try:
            await self._send(home, proto.RoomRecord(room, rec_id, path))
        except SipError:
            del self.room_recordings[(room, rec_id)]
            raise

    async def room_record_stop(self, room: str, rec_id: str) -> RecordingFinished | None:
        """Stop a room's recording and wait for its file to be complete: its RecordingFinished
        (call_sid = the room), or None when the home could not record it or died (what the file
        holds, if anything, was never closed)."""
        entry = self.room_recordings.get((room, rec_id))
        if entry is None:
            return None
        home, done = entry
        if not done.done():
            with contextlib.suppress(SipError):
                await self._send(home, proto.RoomRecordStop(room, rec_id))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(done), ROOM_RECORD_WAIT_S)
        self.room_recordings.pop((room, rec_id), None)
        return done.result() if done.done() else None

    def _room_recording_over(self, room: str, rec_id: str, finished: RecordingFinished | None) -> bool:
        """A home's record_done or error for a room's recording: resolve its waiter (True), or
        False when it is about no room recording."""
        entry = self.room_recordings.get((room, rec_id))
        if entry is None:
            return False
        if not entry[1].done():
            entry[1].set_result(finished)
        return True

    async def _room_leave_relayed(self, room: str, sid: str) -> None:
        entry = self.room_relays.pop((room, sid), None)
        if entry is None:
            return
        worker, ow, home, oh = entry
        worker.relay_ports.discard(ow)
        home.relay_ports.discard(oh)
        if sid in worker.calls:  # an ended call's worker closed its side itself
            with contextlib.suppress(SipError):
                await self._send(worker, RelayClose(sid, room))
        with contextlib.suppress(SipError):
            await self._send(home, proto.RemoteClose(sid, room))

    def _rooms_of_ended(self, sid: str) -> None:
        """A call ended: its worker dropped its relay ports; take its remote port out of its rooms."""
        for room, member in [k for k in self.room_relays if k[1] == sid]:
            asyncio.get_running_loop().create_task(self._room_leave_relayed(room, member))

    def _relays_of_ended(self, sid: str) -> None:
        """A call ended: its worker dropped its relay ports; close the other sides."""
        for a, b in [k for k in self.relays if sid in k]:
            asyncio.get_running_loop().create_task(self._relay_close(a, b))

    async def _refuse(
        self, worker: WorkerProc, dialog_id: str, code: int = 403, why: str = "a worker takes no calls"
    ) -> None:
        with contextlib.suppress(SipError):  # a worker gone takes its held INVITEs with it
            await self._send(worker, proto.Reject(dialog_id, code, why))

    def inbound_target(self) -> tuple[str, int] | None:
        """Where the inbound front sends an INVITE: the SIP address of the least loaded live
        worker with a free slot, which the INVITE takes until the worker reports it (then until
        the engine takes or refuses it); None when every live worker is full (the front answers
        503). Inbound INVITEs never wait behind queued outbound calls: they take any free slot
        now, and the pool starts workers for the next ones."""
        now = time.monotonic()
        live = [w for w in self.workers.values() if not w.closing and w.ready.done() and not w.ready.exception()]
        # A slot of a call hung up here a moment ago is still pjsua's (its BYE's round trip): an
        # INVITE sent there would be answered 486 by the library, and an inbound call has no retry.
        candidates = [w for w in live if w.load(now) < CALLS_PER_WORKER and now >= w.full_until]
        self._grow(taking=1 if candidates else 0)
        if not candidates:
            return None
        worker = min(candidates, key=lambda w: (w.load(now), w.used(), w.index))
        self._placed_at.append(now)  # inbound placements count in the rate headroom() keeps slots for
        self._inbound_n += 1
        worker.inbound[f"sent-{self._inbound_n}"] = now + INBOUND_SENT_S
        host = self.settings.sip_bind_host
        return ("127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host), worker.port

    def inbound_waiting(self, count: int) -> None:
        """The inbound front holds `count` INVITEs for a worker with room: start workers for them
        (they are calls waiting, as place()'s waiters are)."""
        self._inbound_waiting = count
        if count:
            self._grow()

    def inbound_full(self, address: tuple[str, int]) -> None:
        """The worker at `address` refused an INVITE the front sent it (its library had no free
        slot): the INVITE took no slot there, and none goes there for FULL_S."""
        worker = next((w for w in self.workers.values() if w.port == address[1]), None)
        if worker is None:
            return
        worker.full_until = time.monotonic() + FULL_S
        sent = next((key for key in worker.inbound if key.startswith("sent-")), None)
        if sent is not None:
            del worker.inbound[sent]

    async def accept(self, dialog_id: str, call_sid: str) -> None:
        """Take the held INVITE `dialog_id` (an incoming event's) as the call `call_sid`: its
        events come under that CallSid from now on, and call commands reach its worker. Raises
        SipError when no worker holds it (its worker is gone)."""
        worker = self._held.pop(dialog_id, None)
        if worker is None or worker.proc.returncode is not None:
            raise SipError(f"no worker holds the incoming INVITE {dialog_id}")
        worker.inbound.pop(dialog_id, None)
        worker.calls[call_sid] = False
        self.by_call[call_sid] = worker
        await self._send(worker, proto.Accept(dialog_id, call_sid))

    async def refuse(self, dialog_id: str, code: int, why: str) -> None:
        """Refuse the held INVITE `dialog_id` with a final `code` (a worker gone: nothing to do)."""
        worker = self._held.pop(dialog_id, None)
        if worker is not None:
            worker.inbound.pop(dialog_id, None)
            await self._refuse(worker, dialog_id, code, why)

    async def _send(self, worker: WorkerProc, command: proto.Command) -> None:
        if worker.proc.stdin is None or worker.proc.stdin.is_closing():
            raise SipError(f"worker {worker.index} is gone")
        worker.proc.stdin.write(command.to_json())
        try:
            await worker.proc.stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            raise SipError(f"worker {worker.index} is gone") from exc

    # --- process lifecycle -------------------------------------------------------------------

    async def _start_worker(self, index: int) -> WorkerProc:
        s = self.settings
        port = s.sip_port_base + index
        args = [
            "--port",
            str(port),
            "--rtp-port",
            str(s.sip_rtp_port_base + index * RTP_BLOCK),
            "--bind",
            s.sip_bind_host,
            "--log-file",
            str(self.log_dir / f"sip-worker-{index}.log"),
            *self.extra_args,
            *(["--allow", s.sip_trunk_host] if s.sip_trunk_host else []),
            *(["--public-address", s.sip_public_address] if s.sip_public_address else []),
            "--jitter-discard",
            s.sip_jitter_discard,
            *(["--public-rtp-address", s.sip_public_rtp_address] if s.sip_public_rtp_address else []),
        ]
        env = dict(os.environ)
        if s.sip_trunk_password:
            env["WIREXA_SIP_PASSWORD"] = str(s.sip_trunk_password)  # not on the command line
        t0 = time.monotonic()
        proc = await spawn_worker("_sip-worker", args, self.log_dir / f"sip-worker-{index}.stderr", env)
        worker = WorkerProc(index, port, proc, asyncio.get_running_loop().create_future())
        self.workers[index] = worker
        worker.reader = asyncio.get_running_loop().create_task(self._read(worker), name=f"sip-worker-{index}")
        try:
            await asyncio.wait_for(asyncio.shield(worker.ready), timeout=20)
        except (TimeoutError, SipError) as exc:
            await self._kill(worker)
            raise SipError(f"SIP worker {index} did not start: {exc or 'timeout'}") from exc
        took = time.monotonic() - t0
        self.worker_start_s += (took - self.worker_start_s) / 4
        self.workers_started += 1
        log.info("SIP worker %d ready on port %d (pid %d) in %.2f s", index, port, proc.pid, took)
        return worker

    async def _read(self, worker: WorkerProc) -> None:
        assert worker.proc.stdout is not None
        try:
            async for line in worker.proc.stdout:
                try:
                    msg = proto.event_from_json(line)
                except ValueError as exc:
                    log.warning("worker %d: unparsable line %r (%s)", worker.index, line[:200], exc)
                    continue
                self._on_message(worker, msg)
        finally:
            await worker.proc.wait()
            self._on_exit(worker)

    def _on_message(self, worker: WorkerProc, msg: proto.Event) -> None:
        match msg:
            case proto.RecordDone(call_sid=room, rec_id=rec_id, path=path, duration_ms=ms) if self._room_recording_over(
                room, rec_id, RecordingFinished(CallSid(room), rec_id, path, ms, "stopped")
            ):
                return
            case proto.CommandError(call_sid=room, command=proto.RoomRecord.NAME, ref=rec_id, message=message):
                log.warning("room %s: recording %s failed in worker %d: %s", room, rec_id, worker.index, message)
                self._room_recording_over(room, rec_id, None)
                return
            case proto.Ready(version=version):
                if worker.ready.done():
                    return
                if version != proto.VERSION:  # a child from another build: its lines would not parse
                    worker.ready.set_exception(SipError(f"it speaks protocol {version}, not {proto.VERSION}"))
                else:
                    worker.ready.set_result(None)
                return
            case proto.Pong():
                worker.last_pong = time.monotonic()
                return
            case proto.Registration(code=code, reason=reason, active=active):
                worker.registration = msg
                level = logging.INFO if active else logging.WARNING
                state = "active" if active else "failed"
                log.log(level, "worker %d: trunk registration %s (%s %s)", worker.index, state, code, reason)
                return
            case proto.Incoming(dialog_id=dialog_id, from_uri=from_uri, source=source):
                # An INVITE from the trunk (the guard refuses strangers), held by the worker: the
                # incoming handler takes it (accept) or refuses it; with none, it is refused.
                if self.on_incoming is None:
                    log.info("worker %d: incoming INVITE from %s (%s) refused", worker.index, from_uri, source)
                    asyncio.get_running_loop().create_task(self._refuse(worker, dialog_id))
                    return
                self._held[dialog_id] = worker
                sent = next((key for key in worker.inbound if key.startswith("sent-")), None)
                if sent is not None:  # the front's INVITE arrived: its slot is the held dialog's now
                    del worker.inbound[sent]
                worker.inbound[dialog_id] = time.monotonic() + INBOUND_HELD_S
                self.on_incoming(msg)
                return
            case proto.Initiated(call_sid=sid):
                self._placing.pop(sid, None)
            case proto.Ended(call_sid=sid, hangup_by="local", message=message) if (
                sid in self._placing and "ETOOMANY" in message
            ):
                parent, command, tries = self._placing[sid]
                if tries < PLACE_TRIES:
                    log.info("[%s] worker %d had no free call slot yet: placing the call again", sid, worker.index)
                    worker.calls.pop(sid, None)
                    self.by_call.pop(sid, None)
                    self._unsent[sid] = False  # a hangup until it is sent again withdraws it
                    asyncio.get_running_loop().create_task(self._place_again(sid, parent, command))
                    return
            case proto.CommandError(call_sid=sid, command=op, message=message):
                log.warning("[%s] worker %d: %s failed: %s", sid or "-", worker.index, op or "a command", message)
                if sid not in worker.calls:
                    return  # no call of this worker waits for it (a bad line, a call already gone)
        event = proto.to_sip_event(msg)
        if event is None:
            return
        if isinstance(event, CallAnswered):
            worker.answered.add(event.call_sid)
        if isinstance(event, CallEnded):
            if event.hangup_by == "local" and self._placing.pop(event.call_sid, None) is None:
                # Hung up from this side: pjsua reports DISCONNECTED (our Ended) when it sends the
                # BYE or CANCEL, and frees the call's slot only when that is answered.
                worker.draining[event.call_sid] = time.monotonic() + DRAIN_S
            self._placing.pop(event.call_sid, None)
            worker.calls.pop(event.call_sid, None)
            worker.answered.discard(event.call_sid)
            self.by_call.pop(event.call_sid, None)
            if self.relays:
                self._relays_of_ended(event.call_sid)
            if self.room_relays:
                self._rooms_of_ended(event.call_sid)
            if not worker.calls:
                worker.idle_since = time.monotonic()
        self.sink(event)

    def _on_exit(self, worker: WorkerProc) -> None:
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
        if not worker.ready.done():
            worker.ready.set_exception(SipError(f"exited with {worker.proc.returncode}"))
            worker.ready.exception()
        if (worker.closing or self._closing) and not worker.calls:
            return
        if self._closing:
            log.info(
                "SIP worker %d stopped (code %s) with %d call(s)",
                worker.index,
                worker.proc.returncode,
                len(worker.calls),
            )
        else:
            self.crashes += 1
            log.error(
                "SIP worker %d exited (code %s) with %d call(s)",
                worker.index,
                worker.proc.returncode,
                len(worker.calls),
            )
        for room, rec_id in [k for k, (home, _) in self.room_recordings.items() if home is worker]:
            self._room_recording_over(room, rec_id, None)
        for sid in list(worker.calls):
            answered = sid in worker.answered
            self.by_call.pop(sid, None)
            self._placing.pop(sid, None)
            if self.relays:
                self._relays_of_ended(sid)
            if self.room_relays:
                self._rooms_of_ended(sid)
            self.sink(CallEnded(CallSid(sid), "completed" if answered else "failed", None, "worker"))
        worker.calls.clear()

    async def _kill(self, worker: WorkerProc) -> None:
        worker.closing = True
        with contextlib.suppress(ProcessLookupError):
            worker.proc.kill()
        await worker.proc.wait()

    async def _stop(self, worker: WorkerProc) -> None:
        worker.closing = True
        with contextlib.suppress(SipError):
            await self._send(worker, proto.Shutdown())
        try:
            await asyncio.wait_for(worker.proc.wait(), timeout=5)
        except TimeoutError:
            await self._kill(worker)
        if worker.reader is not None:
            await asyncio.gather(worker.reader, return_exceptions=True)

    def _measure_cpu(self, now: float) -> None:
        """The workers' CPU since the last look, in % of a core (health()'s workers_cpu_pct)."""
        seen: dict[int, tuple[float, float]] = {}
        pct = 0.0
        for worker in self.workers.values():
            pid = worker.proc.pid
            cpu = _cpu_s(pid) if pid else None
            if cpu is None:
                continue
            seen[pid] = (cpu, now)
            last = self._cpu_seen.get(pid)
            if last is not None and now > last[1]:
                pct += 100.0 * (cpu - last[0]) / (now - last[1])
        self._cpu_seen = seen
        self.workers_cpu_pct = round(pct, 1)

    async def _supervise(self) -> None:
        """Ping workers, kill hung ones, stop idle extras, measure their CPU."""
        while True:
            await asyncio.sleep(PING_EVERY_S)
            now = time.monotonic()
            self._measure_cpu(now)
            self._ping_n += 1
            # An idle worker is stopped only while the others keep headroom() free slots, so a
            # steady load does not stop and restart the same spare worker.
            free = sum(CALLS_PER_WORKER - w.used() for w in self.workers.values() if not w.closing)
            for worker in list(self.workers.values()):
                if worker.closing or not worker.ready.done():
                    continue
                if not worker.pinged:  # ready before the supervisor ran (a long warm start): from now
                    worker.pinged, worker.last_pong = True, now
                if now - worker.last_pong > PING_DEADLINE_S:
                    log.error("SIP worker %d stopped answering: killing it", worker.index)
                    worker.proc.kill()
                    continue
                try:
                    await self._send(worker, proto.Ping(self._ping_n))
                except SipError:
                    continue
                idle = not worker.used() and now - worker.idle_since > self.settings.sip_worker_idle_s
                idle = idle and not any(home is worker for home in self.rooms.values())  # a room's home stays
                idle = idle and not any(home is worker for home, _ in self.room_recordings.values())  # its file too
                warm = sorted(self.workers)[: int(self.settings.sip_workers_min)]  # kept however idle
                if idle and worker.index not in warm and free - CALLS_PER_WORKER >= self.headroom():
                    log.info("stopping idle SIP worker %d", worker.index)
                    free -= CALLS_PER_WORKER
                    asyncio.get_running_loop().create_task(self._stop(worker))

    def health(self) -> dict[str, object]:
        body: dict[str, object] = {
            "workers": len(self.workers),
            "workers_max": self.workers_max,
            "calls_per_worker": CALLS_PER_WORKER,
            "live_calls": len(self.by_call),
            "relayed_bridges": len(self.relays),
            "conference_rooms": len(self.rooms),
            "relayed_room_members": len(self.room_relays),
            "worker_crashes": self.crashes,
            "workers_starting": self.starting,
            "workers_started": self.workers_started,
            "worker_start_s": round(self.worker_start_s, 3),  # moving average, spawn to ready
            "workers_cpu_pct": self.workers_cpu_pct,  # of one core, over the supervisor's last 2 s
            "spare_slots": self.headroom(),
            "capacity": capacity_report(self.settings),
        }
        if self.settings.sip_trunk_register:
            body["registration"] = self.registration()
        return body

    def registration(self) -> dict[str, object]:
        """The trunk registration as the workers report it: registered when every worker that
        reported is registered; else the failure (the registrar's code and reason)."""
        reports = [w.registration for w in self.workers.values() if w.registration is not None]
        if not reports:
            return {"state": "pending", "workers": 0}
        failed = [r for r in reports if not r.active]
        if failed:
            ok = len(reports) - len(failed)
            return {"state": "failed", "code": failed[0].code, "reason": failed[0].reason, "workers": ok}
        return {"state": "registered", "code": reports[0].code, "workers": len(reports)}
