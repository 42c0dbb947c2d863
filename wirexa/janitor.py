"""The retention janitors' loop: one task, started and stopped as an async context manager by
runtime.py, that runs a pass at start and then every `interval_s` (store.events.CallEventJanitor,
media.recording_jobs.RetentionJanitor)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import ClassVar, Self

from wirexa.clock import utcnow


class Janitor:
    """Deletes what is older than `days` every `interval_s`, the first pass at start; days <= 0
    keeps everything (no task). Subclasses give run_once() (one pass: how many rows went), the
    task's name, and what they delete, for the log lines (written to the subclass's module's
    logger). Loop-only."""

    task_name: ClassVar[str]
    deleted_what: ClassVar[str]  # "recording(s)": "retention: deleted 3 recording(s) older than ..."
    failed_what: ClassVar[str]  # "retention pass": "retention pass failed"

    def __init__(self, *, days: float, interval_s: float, batch: int, now: Callable[[], dt.datetime] = utcnow) -> None:
        self.days = days
        self.interval_s = interval_s
        self.batch = batch
        self.now = now
        self._task: asyncio.Task[None] | None = None
        self._log = logging.getLogger(type(self).__module__)

    async def __aenter__(self) -> Self:
        if self.days > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.task_name)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def cutoff(self) -> dt.datetime:
        """What was created before this goes."""
        return self.now() - dt.timedelta(days=self.days)

    async def _run(self) -> None:
        while True:
            try:
                deleted = await self.run_once()
                if deleted:
                    self._log.info("retention: deleted %d %s older than %g days", deleted, self.deleted_what, self.days)
            except Exception:  # noqa: BLE001 - a worker loop: log, try again next pass
                self._log.exception("%s failed", self.failed_what)
            await asyncio.sleep(self.interval_s)

    async def run_once(self) -> int:
        raise NotImplementedError
