"""Call Events off the event loop: the log that batches them into the store, and the janitor that
deletes them after `[store] call_events_days`.

Theory of operation. Whoever made a request for a call (the document fetcher) hands its event to
CallEventLog.add() on the loop, which only appends to a list: the request's caller never waits
for the database. One flush task at a time writes what has gathered in one store transaction
(Store.write, on the writer thread); events added while it runs go in the next batch. On close the
last batch is written. A batch that cannot be written is logged and dropped: the request log is
for debugging, and losing it must not stop a call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from wirexa.clock import utcnow
from wirexa.janitor import Janitor
from wirexa.store.db import Store
from wirexa.store.repo.events import NewCallEvent, delete_events_before, insert_events

if TYPE_CHECKING:  # what the document fetcher reports (runtime wires it to document())
    from wirexa.http.documents import Exchange

log = logging.getLogger(__name__)


class CallEventLog:
    """Loop-only; `async with CallEventLog(store) as log_:` then `log_.add(event)`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[NewCallEvent] = []
        self._flusher: asyncio.Task[None] | None = None
        self.written = 0

    async def __aenter__(self) -> CallEventLog:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()

    def add(self, event: NewCallEvent) -> None:
        """Queue one event for the store; returns at once."""
        self._pending.append(event)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_batches(), name="call-events")

    def document(self, exchange: Exchange) -> None:
        """The document fetcher's ExchangeSink: a fetch of a call's document or action URL is one
        of the call's events (the call and account are the request's CallSid and AccountSid)."""
        params = dict(exchange.params)
        call_sid, account_sid = params.get("CallSid"), params.get("AccountSid")
        if not call_sid or not account_sid:
            return
        self.add(
            NewCallEvent(
                account_sid,
                call_sid,
                "document",
                exchange.method,
                exchange.url,
                exchange.params,
                exchange.status,
                exchange.content_type,
                exchange.body,
                exchange.duration_ms,
                utcnow(),
            )
        )

    async def flush(self) -> None:
        """Wait until every event added so far is written (or dropped with a log line)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        if self._pending:
            await self._flush_batches()

    async def _flush_batches(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self.store.write(insert_events, batch)
                self.written += len(batch)
            except Exception:  # noqa: BLE001 - a worker loop: the request log must not stop calls
                log.exception("could not store %d call event(s); they are dropped", len(batch))


class CallEventJanitor(Janitor):
    """Deletes call events older than `days` every `interval_s`, the first pass at start (as the
    recordings' RetentionJanitor); days <= 0 keeps them for good."""

    task_name = "call-events-retention"
    deleted_what = "call event(s)"
    failed_what = "call events retention pass"

    def __init__(
        self,
        store: Store,
        *,
        days: float,
        interval_s: float = 3600.0,
        batch: int = 1000,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        super().__init__(days=days, interval_s=interval_s, batch=batch, now=now)
        self.store = store

    async def run_once(self) -> int:
        """One pass, in batches of `batch` rows (one short write each); returns how many went."""
        before = self.cutoff()
        deleted = 0
        while True:
            n = await self.store.write(delete_events_before, before, self.batch)
            deleted += n
            if n < self.batch:
                return deleted
