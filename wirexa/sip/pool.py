"""The worker pool: spawns and supervises SIP worker processes and places calls on them.

Theory of operation. The pjsua2 wheel holds 4 calls per process, so calls live in worker
processes (worker.py), each with its own SIP and RTP ports. A worker takes at most 2 top-level
calls, so each of them can always get a <Dial> leg in the same process (a leg must share its
parent's conference bridge to be connected to it). The pool grows on demand up to
`sip.workers_max` and stops idle workers beyond the first after `sip.worker_idle_s`.

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
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wirexa.calls.ports import CallAnswered, CallEnded, CallSid, SipEvent
from wirexa.config import Settings
from wirexa.errors import SipError
from wirexa.sip import protocol as proto

log = logging.getLogger(__name__)

CALLS_PER_WORKER = 4
TOP_LEVEL_PER_WORKER = 2
UNUSABLE_INDEX_S = 60.0  # a worker index that failed to start is not retried for this long
PING_EVERY_S = 2.0
PING_DEADLINE_S = 10.0


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
    idle_since: float = field(default_factory=time.monotonic)
    reader: asyncio.Task[None] | None = None
    closing: bool = False
    registration: proto.Registration | None = None  # its last registration report

    @property
    def top_level(self) -> int:
        return sum(1 for leg in self.calls.values() if not leg)

    def has_room(self, legs: int) -> bool:
        return self.top_level < TOP_LEVEL_PER_WORKER and len(self.calls) + legs <= CALLS_PER_WORKER


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
        self._unusable: dict[int, float] = {}  # worker index -> monotonic time it may be tried again
        self._supervisor: asyncio.Task[None] | None = None
        self._ping_n = 0
        self._closing = False
        self.crashes = 0

    def begin_shutdown(self) -> None:
        """From now on no worker is started, and a worker that exits is no crash."""
        self._closing = True

    async def __aenter__(self) -> WorkerPool:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        await self._worker_with_room()  # worker 0, or the next index whose port is free
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="sip-pool")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        await asyncio.gather(*(self._stop(w) for w in list(self.workers.values())), return_exceptions=True)

    # --- capacity and placement --------------------------------------------------------------

    def capacity_left(self) -> int:
        """Top-level calls that can still be placed (existing room + workers not yet started)."""
        room = sum(TOP_LEVEL_PER_WORKER - w.top_level for w in self.workers.values() if not w.closing)
        return int(room + len(self._free_indices()) * TOP_LEVEL_PER_WORKER)

    async def place(self, sid: str, parent: str | None, command: proto.MakeCall) -> None:
        """Send a call command to the right worker (the parent's for a leg). Raises SipError."""
        if parent is not None:
            worker = self.by_call.get(parent)
            if worker is None or len(worker.calls) >= CALLS_PER_WORKER:
                raise SipError(f"no room for a Dial leg next to {parent}")
        else:
            worker = await self._worker_with_room()
        worker.calls[sid] = parent is not None
        self.by_call[sid] = worker
        await self._send(worker, command)

    async def _worker_with_room(self) -> WorkerProc:
        live = [w for w in self.workers.values() if not w.closing and w.ready.done() and not w.ready.exception()]
        candidates = [w for w in live if w.has_room(1)]
        if candidates:
            return min(candidates, key=lambda w: (len(w.calls), w.index))
        for task in list(self._spawning.values()):
            worker = await task
            if worker.has_room(1):
                return worker
        if self._closing:
            raise SipError("the SIP worker pool is shutting down")
        error = SipError("all SIP workers are full")
        for index in self._free_indices():
            try:
                return await self._spawn(index)
            except SipError as exc:
                # Typically its port is held by another program: try the next index, and leave
                # this one alone for a while.
                self._unusable[index] = time.monotonic() + UNUSABLE_INDEX_S
                log.warning("%s; trying another worker index", exc)
                error = exc
        raise error

    def _free_indices(self) -> list[int]:
        now = time.monotonic()
        return [
            i
            for i in range(self.settings.sip_workers_max)
            if i not in self.workers and self._unusable.get(i, 0.0) <= now
        ]

    async def send(self, sid: str, command: proto.Command) -> None:
        worker = self.by_call.get(sid)
        if worker is not None:
            await self._send(worker, command)

    async def _send(self, worker: WorkerProc, command: proto.Command) -> None:
        if worker.proc.stdin is None or worker.proc.stdin.is_closing():
            raise SipError(f"worker {worker.index} is gone")
        worker.proc.stdin.write(command.to_json())
        try:
            await worker.proc.stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            raise SipError(f"worker {worker.index} is gone") from exc

    # --- process lifecycle -------------------------------------------------------------------

    async def _spawn(self, index: int) -> WorkerProc:
        if index in self._spawning:
            return await self._spawning[index]
        task = asyncio.get_running_loop().create_task(self._start_worker(index))
        self._spawning[index] = task
        try:
            return await task
        finally:
            self._spawning.pop(index, None)

    async def _start_worker(self, index: int) -> WorkerProc:
        s = self.settings
        port = s.sip_port_base + index
        args = [
            "--port",
            str(port),
            "--rtp-port",
            str(s.sip_rtp_port_base + index * 100),
            "--bind",
            s.sip_bind_host,
            "--log-file",
            str(self.log_dir / f"sip-worker-{index}.log"),
            *self.extra_args,
        ]
        env = dict(os.environ)
        if s.sip_trunk_password:
            env["WIREXA_SIP_PASSWORD"] = str(s.sip_trunk_password)  # not on the command line
        proc = await spawn_worker("_sip-worker", args, self.log_dir / f"sip-worker-{index}.stderr", env)
        worker = WorkerProc(index, port, proc, asyncio.get_running_loop().create_future())
        self.workers[index] = worker
        worker.reader = asyncio.get_running_loop().create_task(self._read(worker), name=f"sip-worker-{index}")
        try:
            await asyncio.wait_for(asyncio.shield(worker.ready), timeout=20)
        except (TimeoutError, SipError) as exc:
            await self._kill(worker)
            raise SipError(f"SIP worker {index} did not start: {exc or 'timeout'}") from exc
        log.info("SIP worker %d ready on port %d (pid %d)", index, port, proc.pid)
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
            case proto.Ready():
                if not worker.ready.done():
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
            case proto.CommandError(sid=sid, op=op, message=message):
                log.warning("[%s] worker %d: %s failed: %s", sid or "-", worker.index, op or "a command", message)
                if sid not in worker.calls:
                    return  # no call of this worker waits for it (a bad line, a call already gone)
        event = proto.to_sip_event(msg)
        if event is None:
            return
        if isinstance(event, CallAnswered):
            worker.answered.add(event.call_sid)
        if isinstance(event, CallEnded):
            worker.calls.pop(event.call_sid, None)
            worker.answered.discard(event.call_sid)
            self.by_call.pop(event.call_sid, None)
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
        for sid in list(worker.calls):
            answered = sid in worker.answered
            self.by_call.pop(sid, None)
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

    async def _supervise(self) -> None:
        """Ping workers, kill hung ones, stop idle extras."""
        while True:
            await asyncio.sleep(PING_EVERY_S)
            now = time.monotonic()
            self._ping_n += 1
            for worker in list(self.workers.values()):
                if worker.closing or not worker.ready.done():
                    continue
                if now - worker.last_pong > PING_DEADLINE_S:
                    log.error("SIP worker %d stopped answering: killing it", worker.index)
                    worker.proc.kill()
                    continue
                try:
                    await self._send(worker, proto.Ping(self._ping_n))
                except SipError:
                    continue
                idle = not worker.calls and now - worker.idle_since > self.settings.sip_worker_idle_s
                if idle and worker.index != min(self.workers):
                    log.info("stopping idle SIP worker %d", worker.index)
                    asyncio.get_running_loop().create_task(self._stop(worker))

    def health(self) -> dict[str, object]:
        body: dict[str, object] = {
            "workers": len(self.workers),
            "workers_max": self.settings.sip_workers_max,
            "live_calls": len(self.by_call),
            "worker_crashes": self.crashes,
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
