"""Helpers shared by the benchmarks: percentiles, process CPU/RSS from /proc, a load loop, a
threaded aiohttp app (callback receivers, voice URLs)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable

from aiohttp import web


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def proc_times(pid: int) -> float:
    """CPU seconds (user+system) used by a process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def total_rss_mb(pids: list[int]) -> float:
    """RSS of these processes together (one that exits meanwhile counts 0)."""
    total = 0.0
    for p in pids:
        try:
            total += rss_mb(p)
        except OSError:
            pass
    return total


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s."""
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tree(pid: int) -> list[int]:
    out = [pid]
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return out
    for c in children:
        out += tree(int(c))
    return out


async def load(fn: Callable[[], Awaitable[None]], concurrency: int, seconds: float) -> tuple[int, list[float], int]:
    """Run fn from `concurrency` workers for `seconds`: (requests, latencies in ms, errors)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await fn()
                latencies.append((time.perf_counter() - t0) * 1000)
            except Exception:  # noqa: BLE001 - counted
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies, errors


class ThreadedApp(threading.Thread):
    """A tiny aiohttp app on its own thread and loop, so the bench's own loop (or its sync code)
    is not what delays it: POSTs to PATH go to handle(). start(), then ready.wait(); close()."""

    PATH = "/"

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.PATH}"

    async def handle(self, request: web.Request) -> web.Response:
        raise NotImplementedError

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        app = web.Application()
        app.router.add_post(self.PATH, self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, backlog=1024).start()
        self.ready.set()
        await self._done.wait()
        await runner.cleanup()

    def close(self) -> None:
        if self.loop is not None and self._done is not None:
            self.loop.call_soon_threadsafe(self._done.set)
        self.join(10)
