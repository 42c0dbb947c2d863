"""Engine side of the sandbox carrier: starts its processes, restarts them, tells their ports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from wirexa.errors import SipError
from wirexa.sip.pool import CALLS_PER_WORKER, worker_argv
from wirexa.sip.protocol import decode, encode

log = logging.getLogger(__name__)


def sandbox_config_path(settings: Any) -> str:
    """sandbox.config, else config/sandbox.toml beside the config file, else built-in defaults."""
    if settings.sandbox_config:
        return str(settings.sandbox_config)
    if settings.config_file:
        candidate = Path(settings.config_file).parent / "sandbox.toml"
        if candidate.is_file():
            return str(candidate)
    return ""


class SandboxCarrier:
    """Async context manager running `sandbox.processes` sandbox callee processes."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.processes = max(1, int(settings.sandbox_processes))
        self.capacity = self.processes * CALLS_PER_WORKER
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._watchers: dict[int, asyncio.Task[None]] = {}
        self._closing = False
        self.restarts = 0
        self.data_dir = Path(settings.data_path) / "sandbox"
        self.log_dir = Path(settings.data_path) / "logs"

    def port(self, index: int) -> int:
        return int(self.settings.sandbox_port_base) + index

    async def __aenter__(self) -> SandboxCarrier:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            await asyncio.gather(*(self._start(i) for i in range(self.processes)))
        except BaseException:
            await self.__aexit__()
            raise
        log.info("sandbox carrier: %d process(es) on ports %d-%d", self.processes, self.port(0), self.port(self.processes - 1))
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        for proc in self._procs.values():
            if proc.stdin is not None and not proc.stdin.is_closing():
                with contextlib.suppress(ConnectionError):
                    proc.stdin.write(encode({"op": "shutdown"}))
        for proc in list(self._procs.values()):
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in self._watchers.values():
            task.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)

    async def _start(self, index: int) -> None:
        s = self.settings
        args = [
            "--port", str(self.port(index)),
            "--rtp-port", str(int(s.sip_rtp_port_base) + 5000 + index * 100),
            "--bind", s.sip_bind_host,
            "--data-dir", str(self.data_dir),
            "--config", sandbox_config_path(s),
            "--log-file", str(self.log_dir / f"sandbox-{index}.log"),
            "--espeak", s.tts_espeak_binary,
        ]
        # The child keeps its own copy of the descriptor; ours closes right after the spawn.
        with open(self.log_dir / f"sandbox-{index}.stderr", "ab") as stderr:
            proc = await asyncio.create_subprocess_exec(
                *worker_argv("_sandbox", *args),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
            if not line or decode(line).get("ev") != "ready":
                raise SipError(f"sandbox process {index} failed to start: {line!r}")
        except (TimeoutError, ValueError) as exc:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            raise SipError(f"sandbox process {index} failed to start: {exc}") from exc
        self._procs[index] = proc
        self._watchers[index] = asyncio.get_running_loop().create_task(self._watch(index, proc))

    async def _watch(self, index: int, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for _ in proc.stdout:
            pass  # the sandbox reports nothing after ready; draining keeps its pipe open
        await proc.wait()
        if self._closing:
            return
        self.restarts += 1
        log.error("sandbox process %d exited (code %s); restarting", index, proc.returncode)
        await asyncio.sleep(0.5)
        try:
            await self._start(index)
        except SipError:
            log.exception("sandbox process %d could not be restarted", index)

    def health(self) -> dict[str, object]:
        return {"processes": len(self._procs), "capacity": self.capacity, "restarts": self.restarts}
