"""The dispatcher: takes queued calls to SIP within the CPS and concurrency limits, routes SIP
events to each call's session, and finalizes calls a previous run left live.

Theory of operation. The queue is the `calls` table itself (status `queued`), so queued calls
survive restarts. One loop task wakes when a call is created (wake()), when a slot frees or
when the CPS bucket refills, reads the oldest queued calls and dispatches as many as the limits
allow: engine-wide and per-project calls per second (token buckets), engine-wide and
per-project concurrent calls, and the SIP pool's capacity (SipPort.can_start). Dispatching is
one store transaction (queued -> initiated, the `initiated` callback row) followed by
SipPort.start_call; a call cancelled meanwhile is skipped because the transaction only
matches `queued` rows. Over the limits calls simply stay queued, as on Twilio.

SIP events arrive on the loop through the sink and go to the call's CallSession, which owns
the call until CallEnded. Everything here runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from wirexa.calls import state
from wirexa.calls.ports import CallSid, Dialout, SipEvent, SipPort
from wirexa.calls.session import CallSession, SessionDeps
from wirexa.errors import SipError
from wirexa.store import repo
from wirexa.store.repo import CallRecord

log = logging.getLogger(__name__)

# (call, StatusCallbackEvent, extra params) -> None; enqueues the customer's status callback
# rows inside the caller's transaction (webhooks.outbox provides it; runtime wires it in).
HANGUP_WAIT_S = 3.0

StatusCallbacks = Callable[[CallRecord, str, Mapping[str, str]], None]


class TokenBucket:
    """Calls-per-second limiter; rate <= 0 means unlimited. Pure apart from the clock passed in."""

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.last = time.monotonic()

    def wait_time(self, now: float) -> float:
        """Seconds until take() would succeed (0.0: now); refills, takes nothing."""
        if self.rate <= 0:
            return 0.0
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def take(self, now: float) -> float:
        """Take a token; return 0.0 on success, else the seconds until one is available."""
        wait = self.wait_time(now)
        if wait == 0.0 and self.rate > 0:
            self.tokens -= 1.0
        return wait


class Dispatcher:
    """Implements calls.service.CallController; an async context manager started by runtime."""

    def __init__(
        self,
        store: Any,
        settings: Any,
        sip: SipPort,
        *,
        webhooks: Any,
        status_callbacks: StatusCallbacks,
        node_id: str,
        deps: SessionDeps,
    ) -> None:
        self.store = store
        self.status_callbacks = status_callbacks
        self.settings = settings
        self.sip = sip
        self.webhooks = webhooks
        self.node_id = node_id
        self.deps = deps
        self.sessions: dict[str, CallSession] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bucket = TokenBucket(settings.calls_cps, burst=max(1.0, settings.calls_cps))
        self._project_buckets: dict[str, TokenBucket] = {}
        self._closing = False

    async def __aenter__(self) -> Dispatcher:
        await self.recover()
        self.sip.set_event_sink(self._on_sip_event)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dispatcher")
        self.wake()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Hang up what is live and give SIP a moment to confirm; anything left is finalized
        # by recover() at the next start.
        for session in list(self.sessions.values()):
            await session.hangup()
        deadline = time.monotonic() + 3.0
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    # --- CallController ----------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def cancel(self, call: CallRecord, status: str) -> CallRecord:
        session = self.sessions.get(call.sid)
        if session is not None:
            return await self._hang_up_and_wait(session, call)
        if call.status == "queued":
            updated = await self.finalize(call.sid, state.Fact.ENDED_CANCELED, expect=("queued",))
            if updated is not None:
                return updated
        # It left the queue meanwhile: the session now owns it.
        session = self.sessions.get(call.sid)
        if session is not None:
            return await self._hang_up_and_wait(session, call)
        return await self.store.read(repo.get_call, call.sid) or call

    async def _hang_up_and_wait(self, session: CallSession, call: CallRecord) -> CallRecord:
        """Hang up and give SIP a moment to confirm, so the API answers with the final status."""
        await session.hangup()
        try:
            await asyncio.wait_for(session.finished.wait(), timeout=HANGUP_WAIT_S)
        except TimeoutError:
            pass
        return await self.store.read(repo.get_call, call.sid) or call

    async def redirect(self, call: CallRecord, url: str | None, method: str, twiml: str | None) -> None:
        session = self.sessions.get(call.sid)
        if session is not None:
            await session.redirect(url, method, twiml)

    # --- queue -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            delay = 5.0
            try:
                delay = await self._dispatch_ready()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the loop must survive one bad call
                log.exception("dispatcher pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
            self._wake.clear()

    def _room(self) -> bool:
        """The engine-wide limits allow another call (the concurrency cap, a free SIP slot)."""
        return len(self.sessions) < self.settings.calls_max_concurrent and self.sip.can_start(2)

    def _limit_ok(self, call: CallRecord, project: repo.ProjectRecord | None) -> bool:
        if project is not None and project.max_concurrent is not None:
            live = sum(1 for s in self.sessions.values() if s.account_sid == project.sid)
            if live >= project.max_concurrent:
                return False
        return self._room()

    async def _dispatch_ready(self) -> float:
        """Dispatch what the limits allow; return how long to sleep before looking again."""
        # Nothing could start now: don't read the queue (every API create wakes us, and a
        # dialer's backlog can be thousands of calls deep).
        wait = self._bucket.wait_time(time.monotonic())
        if wait > 0:
            return wait
        if not self._room():
            return 0.5  # woken earlier when a slot frees
        queued = await self.store.read(repo.queued_calls, 100)
        if not queued:
            return 5.0
        projects: dict[str, repo.ProjectRecord | None] = {}
        for call in queued:
            if call.sid in self.sessions:
                continue
            if call.account_sid not in projects:
                projects[call.account_sid] = await self.store.read(repo.get_project, call.account_sid)
            project = projects[call.account_sid]
            if not self._limit_ok(call, project):
                return 0.5  # woken earlier when a slot frees
            now = time.monotonic()
            if project is not None and project.cps:
                bucket = self._project_buckets.setdefault(project.sid, TokenBucket(project.cps))
                wait = bucket.take(now)
                if wait > 0:
                    continue  # this project waits; others may go
            wait = self._bucket.take(now)
            if wait > 0:
                return wait
            await self._dispatch(call)
        return 0.5 if queued else 5.0

    async def _dispatch(self, call: CallRecord) -> None:
        try:
            to_uri, from_uri, headers = self.sip.resolve(call.to_number, call.caller_id or call.from_number)
        except SipError as exc:
            log.warning("[%s] cannot route: %s", call.sid, exc)
            await self.finalize(call.sid, state.Fact.ENDED_FAILED, expect=("queued",))
            return
        now = repo.utcnow()
        queue_ms = int((now - call.date_created).total_seconds() * 1000)
        updated = await self.transition(
            call.sid,
            state.Fact.DISPATCHED,
            start_time=now,
            queue_time_ms=queue_ms,
            owner=self.node_id,
        )
        if updated is None:
            return  # cancelled while we looked
        session = CallSession(updated, self, self.deps)
        self.sessions[call.sid] = session
        log.info("[%s] dialing %s", call.sid, to_uri)
        try:
            await self.sip.start_call(
                Dialout(CallSid(call.sid), to_uri, from_uri, float(call.timeout_s), headers)
            )
        except SipError as exc:
            log.warning("[%s] start_call failed: %s", call.sid, exc)
            await session.on_sip_end("failed", None)

    async def start_child(
        self, child: CallRecord, parent_sid: str, timeout_s: float, caller_id: str, *, parent: CallSession
    ) -> CallSession:
        """Dial a <Dial> leg in the parent's worker; returns its session. Raises SipError."""
        to_uri, from_uri, headers = self.sip.resolve(child.to_number, caller_id)
        updated = await self.transition(child.sid, state.Fact.DISPATCHED, start_time=repo.utcnow(), owner=self.node_id)
        session = CallSession(updated or child, self, self.deps, parent=parent)
        self.sessions[child.sid] = session
        try:
            await self.sip.start_call(
                Dialout(CallSid(child.sid), to_uri, from_uri, timeout_s, headers, parent_call_sid=CallSid(parent_sid))
            )
        except SipError:
            await session.on_sip_end("failed", None)
            raise
        return session

    # --- SIP events --------------------------------------------------------------------------

    def _on_sip_event(self, event: SipEvent) -> None:
        session = self.sessions.get(event.call_sid)
        if session is None:
            log.debug("[%s] event for unknown call: %s", event.call_sid, type(event).__name__)
            return
        session.post(event)

    def session_ended(self, call_sid: str) -> None:
        self.sessions.pop(call_sid, None)
        self.wake()

    # --- store transitions -------------------------------------------------------------------

    async def transition(self, call_sid: str, fact: state.Fact, *, extra: dict[str, str] | None = None, **fields: Any) -> CallRecord | None:
        """Apply a status fact and enqueue its status callback in one transaction.

        Returns the updated call, or None when the fact does not apply (status moved on).
        """
        def tx() -> CallRecord | None:
            call = repo.get_call(call_sid)
            if call is None:
                return None
            new = state.step(call.status, fact)
            if new is None:
                return None
            updated = repo.update_call(call_sid, expect_status=(call.status,), status=str(new), **fields)
            if updated is None:
                return None
            self.status_callbacks(updated, state.EVENT_OF[new], extra or {})
            if new in state.FINAL and updated.duration_s:
                repo.charge_credits(updated.account_sid, updated.duration_s)
            return updated

        result: CallRecord | None = await self.store.write(tx)
        if result is not None:
            self.webhooks.wake()
        return result

    async def finalize(self, call_sid: str, fact: state.Fact, *, expect: tuple[str, ...] | None = None, sip_code: int | None = None) -> CallRecord | None:
        """End a call with `fact`: end_time, duration (answered calls), callback."""
        call = await self.store.read(repo.get_call, call_sid)
        if call is None or (expect is not None and call.status not in expect):
            return None
        now = repo.utcnow()
        fields: dict[str, Any] = {"end_time": now}
        if sip_code is not None:
            fields["sip_response_code"] = sip_code
        if call.answer_time is not None:
            fields["duration_s"] = max(0, int((now - call.answer_time).total_seconds()))
        extra = {}
        if sip_code is not None:
            extra["SipResponseCode"] = str(sip_code)
        return await self.transition(call_sid, fact, extra=extra, **fields)

    async def recover(self) -> None:
        """Finalize calls a previous run left live (their SIP dialogs died with it)."""
        stale = await self.store.read(repo.calls_with_status, ("initiated", "ringing", "in-progress"))
        for call in stale:
            if call.sid in self.sessions:
                continue
            fact = state.Fact.ENDED_COMPLETED if call.status == "in-progress" else state.Fact.ENDED_FAILED
            log.warning("[%s] was %s when the engine stopped: finalizing", call.sid, call.status)
            await self.finalize(call.sid, fact)
