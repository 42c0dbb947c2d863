"""Engine side of the sandbox carrier: starts its processes, restarts them, tells their ports.

reload() (SIGHUP) sends every process a Reload command: calls that arrive from then on get the
re-read callees, calls in progress keep theirs, and a restarted process starts with the new file.
A process that exits while the engine runs is restarted; once shutdown has begun
(begin_shutdown(), then __aexit__) nothing is. Startup is all or nothing: when one process
fails to start, the others are stopped and waited for before the error propagates, with the
first line the failed process wrote to its stderr log (typically "Address already in use").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from wirexa.config import Settings
from wirexa.errors import SipError
from wirexa.sip import protocol as proto
from wirexa.sip.pool import CALLS_PER_WORKER, spawn_worker
from wirexa.sip.sandbox_config import sandbox_config_path

__all__ = ["SandboxCarrier", "sandbox_config_path", "sandbox_ports"]

log = logging.getLogger(__name__)
RELOAD_WAIT_S = 30.0  # a reload converts the WAVs it names with ffmpeg: allow for that


def sandbox_ports(settings: Settings) -> list[int]:
    """The fixed SIP ports of the sandbox processes (the workers dial them)."""
    return [int(settings.sandbox_port_base) + i for i in range(max(1, int(settings.sandbox_processes)))]


def _first_error(path: Path, offset: int) -> str:
    """The first non-empty line a process wrote to its stderr log from `offset` on, or ""."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read(4096).decode(errors="replace")
    except OSError:
        return ""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


async def _reap(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


class SandboxCarrier:
    """Async context manager running `sandbox.processes` sandbox callee processes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes = max(1, int(settings.sandbox_processes))
        self.capacity = self.processes * CALLS_PER_WORKER
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._watchers: dict[int, asyncio.Task[None]] = {}
        self._closing = False
        self.restarts = 0
        self.data_dir = Path(settings.data_path) / "sandbox"
        self.log_dir = Path(settings.data_path) / "logs"
        self.config_path = sandbox_config_path(settings)  # reload() changes it; restarts use it
        self._pings: dict[tuple[int, int], asyncio.Future[None]] = {}
        self._ping_n = 0
        self._errors: dict[int, list[str]] = {}  # per process: error events since the last reload

    def port(self, index: int) -> int:
        return int(self.settings.sandbox_port_base) + index

    def begin_shutdown(self) -> None:
        """From now on a process that exits is not restarted (the engine is stopping)."""
        self._closing = True

    async def __aenter__(self) -> SandboxCarrier:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            # A TaskGroup, unlike gather, cancels the other starts when one fails; each start
            # kills and reaps its own process when cancelled, so none is left behind.
            async with asyncio.TaskGroup() as group:
                for i in range(self.processes):
                    group.create_task(self._start(i))
        except BaseExceptionGroup as group_exc:
            await self.__aexit__()
            first = group_exc.exceptions[0]
            if isinstance(first, Exception):
                raise first from first.__cause__  # the failure itself, not the group around it
            raise
        except BaseException:
            await self.__aexit__()
            raise
        log.info(
            "sandbox carrier: %d process(es) on ports %d-%d",
            self.processes,
            self.port(0),
            self.port(self.processes - 1),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        for task in self._watchers.values():
            task.cancel()  # (a watcher may be restarting its process: cancelled, that start reaps it)
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
        for proc in self._procs.values():
            if proc.stdin is not None and not proc.stdin.is_closing():
                with contextlib.suppress(ConnectionError):
                    proc.stdin.write(proto.Shutdown().to_json())
        for proc in list(self._procs.values()):
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def _start(self, index: int) -> None:
        s = self.settings
        args = [
            "--port",
            str(self.port(index)),
            "--rtp-port",
            str(int(s.sip_rtp_port_base) + 5000 + index * 100),
            "--bind",
            s.sip_bind_host,
            "--data-dir",
            str(self.data_dir),
            "--config",
            self.config_path,
            "--log-file",
            str(self.log_dir / f"sandbox-{index}.log"),
            "--espeak",
            s.tts_espeak_binary,
        ]
        stderr_log = self.log_dir / f"sandbox-{index}.stderr"
        offset = stderr_log.stat().st_size if stderr_log.exists() else 0
        proc = await spawn_worker("_sandbox", args, stderr_log)
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
            ready = bool(line) and isinstance(proto.event_from_json(line), proto.Ready)
        except BaseException as exc:  # also cancellation (a sibling failed): reap, then go on
            await _reap(proc)
            if isinstance(exc, (TimeoutError, ValueError)):
                raise SipError(f"sandbox process {index} failed to start: {exc or 'timeout'}") from exc
            raise
        if not ready:
            await _reap(proc)
            cause = _first_error(stderr_log, offset) or f"exit code {proc.returncode}, output {line[:200]!r}"
            raise SipError(f"sandbox process {index} on port {self.port(index)} failed to start: {cause}")
        self._procs[index] = proc
        self._watchers[index] = asyncio.get_running_loop().create_task(self._watch(index, proc))

    async def _watch(self, index: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:  # draining also keeps its pipe open
            try:
                event = proto.event_from_json(line)
            except ValueError:
                log.warning("sandbox process %d said %r", index, line[:200])
                continue
            match event:
                case proto.Pong(n=n):
                    fut = self._pings.get((index, n))
                    if fut is not None and not fut.done():
                        fut.set_result(None)
                case proto.CommandError(command=op, message=message):
                    log.error("sandbox process %d: %s failed: %s", index, op or "a command", message)
                    self._errors.setdefault(index, []).append(message)
        for (i, _), fut in list(self._pings.items()):
            if i == index and not fut.done():
                fut.set_exception(SipError(f"sandbox process {index} exited"))
        await proc.wait()
        if self._closing:
            return
        self.restarts += 1
        log.error("sandbox process %d exited (code %s); restarting", index, proc.returncode)
        await asyncio.sleep(0.5)
        if self._closing:
            return
        try:
            await self._start(index)
        except SipError:
            log.exception("sandbox process %d could not be restarted", index)

    async def reload(self, config_path: str) -> None:
        """Re-read the callees from config_path ("" = built-in) in every process, for new calls;
        calls in progress keep theirs. Returns once every process has applied it (a Ping sent
        after the Reload comes back) or refused it. Never raises (SIGHUP must not stop the
        engine): a process that cannot use the file logs why and keeps its old callees, and the
        path restarts use stays the old one. A process (re)started later reads config_path."""
        waits: dict[int, asyncio.Future[None]] = {}
        loop = asyncio.get_running_loop()
        for index, proc in list(self._procs.items()):
            if proc.stdin is None or proc.stdin.is_closing() or proc.returncode is not None:
                continue  # exited: its restart reads the path below
            self._ping_n += 1
            fut: asyncio.Future[None] = loop.create_future()
            self._pings[(index, self._ping_n)] = fut
            self._errors.pop(index, None)
            try:
                proc.stdin.write(proto.Reload(config_path).to_json() + proto.Ping(self._ping_n).to_json())
                await proc.stdin.drain()
            except ConnectionError:
                del self._pings[(index, self._ping_n)]
                continue
            waits[index] = fut
        try:
            async with asyncio.timeout(RELOAD_WAIT_S):
                await asyncio.gather(*waits.values(), return_exceptions=True)
        except TimeoutError:
            log.error("sandbox reload: not every process answered within %g s", RELOAD_WAIT_S)
        finally:
            for key in [k for k, f in self._pings.items() if f in waits.values()]:
                del self._pings[key]
        failed = sorted({m for i in waits for m in self._errors.get(i, [])})
        if failed:
            log.error(
                "sandbox reload of %s not applied, the callees stay as they were: %s",
                config_path or "the built-in callees",
                "; ".join(failed),
            )
            return
        self.config_path = config_path
        log.info(
            "sandbox callees re-read from %s by %d process(es)", config_path or "the built-in defaults", len(waits)
        )

    def health(self) -> dict[str, object]:
        return {"processes": len(self._procs), "capacity": self.capacity, "restarts": self.restarts}
