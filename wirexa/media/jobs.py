"""A background job that works through a table: `run_once` whenever it is woken, and every
`poll_s` anyway (the recording media job, the transcription job).

`async with Job(...)` runs it on the loop and cancels it on the way out; `wake()` (loop-only)
asks for a pass now. A pass that raises is logged and the job goes on at the next wake or
poll: its rows stay where they were, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Self

log = logging.getLogger(__name__)


class Job:
    """Subclasses set NAME and implement `run_once`; `poll_s` is set by their constructor."""

    NAME = "job"
    poll_s: float = 30.0

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.NAME)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - a worker loop: log, go on at the next wake or poll
                log.exception("%s failed; retrying", self.NAME)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
