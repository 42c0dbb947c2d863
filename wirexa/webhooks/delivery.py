"""The delivery worker: claims due outbox rows, sends them, and records each attempt.

Theory of operation. Rows wait in the `webhooks` table with a due time. The worker claims a
batch in one store transaction (pending and due, or in flight with an expired lease), which
marks them `in-flight` under this worker's id and a lease; two workers, or two engines on one
database, never both win a row because the claiming UPDATE re-checks the row's state. Each
claimed row is sent by its own task, at most `webhooks.concurrency` at once, with one shared
aiohttp ClientSession and explicit timeouts. The outcome is written back only while this
worker still holds the claim: `delivered` on any 2xx, else the attempt count grows and the
row is due again after the schedule's next delay, or `failed` when the schedule is used up.

Guarantees. Delivery is at least once: a row whose POST reached the receiver but whose outcome
was not yet recorded (the engine died, or the lease ran out) is sent again after the lease
expires. Nothing is lost: rows are only ever marked delivered after a 2xx. Per call and URL,
callbacks go out in SequenceNumber (row) order: a row is not claimed while an earlier row for
the same call and URL is pending or in flight, unless that one has failed for good.

The loop sleeps until the next due row, the poll interval, or wake() (called after a commit
that enqueued rows), whichever comes first. A row held back by the ordering rule is not due,
however old its due time (else a dead receiver would keep the loop claiming every 5 ms): it
becomes claimable when the row ahead of it finishes, and finishing that row wakes the loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import aiohttp

import wirexa
from wirexa.calls.statuses import WebhookStatus
from wirexa.clock import utcnow
from wirexa.config import Settings
from wirexa.store.repo import WebhookRecord, events, projects, webhooks
from wirexa.urls import wire_url
from wirexa.webhooks.backoff import next_attempt
from wirexa.webhooks.signing import signature

if TYPE_CHECKING:  # handed in by runtime
    from wirexa.store.db import Store

log = logging.getLogger(__name__)

CLAIM_BATCH = 100


def describe_error(exc: BaseException) -> str:
    """A short, stable description of why an attempt failed (shown by tail-webhooks)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns: cannot resolve host"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "tls: certificate error"
    if isinstance(exc, aiohttp.ClientSSLError) or isinstance(exc, ssl.SSLError):
        return "tls: handshake failed"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connect: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timeout"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "bad response body"
    if isinstance(exc, aiohttp.ClientError):
        return f"http: {type(exc).__name__}"
    return f"error: {type(exc).__name__}"


class DeliveryWorker:
    """Async context manager started by runtime.py; loop-only apart from the store calls."""

    def __init__(
        self, store: Store, settings: Settings, *, worker_id: str, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.store = store
        self.settings = settings
        self.worker_id = worker_id
        self.clock = clock
        self.schedule = settings.webhook_schedule
        self.concurrency = max(1, int(settings.webhooks_concurrency))
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[str, tuple[str, float]] = {}
        self._outcomes: list[tuple[Callable[[], object], asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed_attempts = 0

    async def __aenter__(self) -> DeliveryWorker:
        timeout = aiohttp.ClientTimeout(
            total=self.settings.webhooks_total_timeout_s, sock_connect=self.settings.webhooks_connect_timeout_s
        )
        self._session = aiohttp.ClientSession(
            timeout=timeout,
            connector=aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=60),
            headers={"User-Agent": f"Wirexa/{wirexa.__version__}"},
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-delivery")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping = True
        if self._task is not None:
            # Python 3.11's wait_for can swallow a cancellation that races with its inner
            # future finishing; the flag ends the loop then, and we cancel until it is done.
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait([self._task], timeout=0.5)
        if self._inflight:
            # Give running attempts a moment; the rest stay in flight and are retried after
            # their lease by the next start (at-least-once).
            _, pending = await asyncio.wait(self._inflight, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        """Rows were enqueued: look now instead of at the next poll."""
        self._wake.set()

    # --- loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                claimed = await self._claim()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the worker must survive a failed pass
                log.exception("webhook claim failed")
                claimed = 0
            if claimed:
                continue
            delay = await self._idle_delay()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _idle_delay(self) -> float:
        delay = float(self.settings.webhooks_poll_interval_s)
        try:
            due = await self.store.read(webhooks.next_webhook_due)
        except Exception:  # noqa: BLE001
            log.exception("webhook due-time lookup failed")
            return delay
        if due is not None:
            delay = min(delay, max(0.0, (due - self.clock()).total_seconds()))
        return max(delay, 0.005)

    async def _claim(self) -> int:
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            # Wait for a slot before claiming more (claimed rows would only sit idle).
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            return 1
        now = self.clock()
        lease = now + dt.timedelta(seconds=self.settings.webhooks_claim_ttl_s)
        rows: list[WebhookRecord] = await self.store.write(
            webhooks.claim_webhooks, self.worker_id, now, lease, min(free, CLAIM_BATCH)
        )
        for row in rows:
            task = asyncio.get_running_loop().create_task(self._deliver(row))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(rows)

    # --- one attempt ---------------------------------------------------------------------------

    async def _token(self, account_sid: str) -> str:
        cached = self._tokens.get(account_sid)
        if cached is not None and time.monotonic() - cached[1] < 5.0:
            return cached[0]
        project = await self.store.read(projects.get_project, account_sid)
        token = project.auth_token if project is not None else ""
        self._tokens[account_sid] = (token, time.monotonic())
        return token

    async def _deliver(self, row: WebhookRecord) -> None:
        status_code: int | None = None
        error: str | None = None
        reply: list[tuple[str | None, bytes]] = []  # the response's content type and body, if one came
        started = time.monotonic()
        try:
            status_code, error = await self._send(row, reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure is one failed attempt
            error = describe_error(exc)
            if error.startswith("error:"):
                log.exception("webhook %s to %s failed unexpectedly", row.id, row.url)
        ok = error is None and status_code is not None and 200 <= status_code < 300
        attempts = row.attempts + 1
        now = self.clock()
        if ok:
            status, due = WebhookStatus.DELIVERED, None
            self.delivered += 1
        else:
            due = next_attempt(attempts, now, self.schedule)
            status = WebhookStatus.PENDING if due is not None else WebhookStatus.FAILED
            self.failed_attempts += 1
            log.info(
                "[%s] webhook %s attempt %d to %s failed (%s); %s",
                row.call_sid or "-",
                row.event,
                attempts,
                row.url,
                error or status_code,
                f"retry at {due:%H:%M:%S}" if due else "giving up",
            )
        writes: list[Callable[[], object]] = [
            functools.partial(
                webhooks.finish_webhook,
                row.id,
                self.worker_id,
                status=status,
                attempts=attempts,
                next_attempt_at=due,
                status_code=status_code,
                error=error,
                now=now,
            )
        ]
        if row.call_sid:  # the attempt is one of the call's Events, committed with its outcome
            content_type, body = reply[0] if reply else (None, None)
            elapsed_ms = int((time.monotonic() - started) * 1000)
            event = events.NewCallEvent(
                row.account_sid,
                row.call_sid,
                row.kind,
                row.method,
                row.url,
                tuple(row.params),
                status_code,
                content_type,
                body,
                elapsed_ms,
                now,
            )
            writes.append(functools.partial(events.insert_events, [event]))
        try:
            await self._record(lambda: [write() for write in writes])
        except Exception:  # noqa: BLE001 - the lease expires and the row is retried
            log.exception("cannot record webhook %s outcome", row.id)
        if status == WebhookStatus.PENDING or ok:
            self._wake.set()  # a due time changed, or a later row of the call is now free

    async def _record(self, finish: Callable[[], object]) -> None:
        """Record an attempt's outcome, committed together with the outcomes that arrive while
        the previous commit runs (group commit: one transaction per batch, not per delivery)."""
        done = asyncio.get_running_loop().create_future()
        self._outcomes.append((finish, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.get_running_loop().create_task(self._record_batches())
        await done

    async def _record_batches(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                await self.store.write(lambda batch=batch: [finish() for finish, _ in batch])
            except Exception as exc:  # noqa: BLE001 - each waiter logs it
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _send(self, row: WebhookRecord, reply: list[tuple[str | None, bytes]]) -> tuple[int | None, str | None]:
        """One attempt: (status, error). Appends the response's content type and (bounded) body to
        `reply` once they are read."""
        assert self._session is not None
        params = list(row.params)
        token = await self._token(row.account_sid)
        # GET: the params are in the URL's query and the signature covers only the URL.
        data = None if row.method == "GET" else params
        try:
            url = wire_url(row.url, params if data is None else ())
        except ValueError as exc:
            raise aiohttp.InvalidURL(row.url) from exc
        # As Twilio does, sign without the URL's credentials (sent as Basic auth, not in the URL).
        sig = signature(token, str(url.with_user(None)), data or ())
        headers = {"X-Twilio-Signature": sig, "X-SignalWire-Signature": sig}
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        async with self._session.request(
            row.method, url, data=urlencode(data) if data is not None else None, headers=headers, allow_redirects=False
        ) as resp:
            # Read a bounded amount so a huge or endless body neither grows memory nor blocks
            # (the total timeout ends a slow one).
            body = await resp.content.read(int(self.settings.webhooks_max_response_bytes))
            reply.append((resp.headers.get("Content-Type"), body))
            if 300 <= resp.status < 400:
                return resp.status, f"redirect to {resp.headers.get('Location', '?')} not followed"
            return resp.status, None
