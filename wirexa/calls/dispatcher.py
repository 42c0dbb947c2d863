"""The dispatcher: takes queued calls to SIP within the CPS and concurrency limits, routes SIP
events to each call's session, and finalizes calls a previous run left live.

Theory of operation. The queue is the `calls` table itself (status `queued`), so queued calls
survive restarts. One loop task wakes when a call is created (wake()), when a slot frees or
when the CPS bucket refills, reads the oldest queued calls and dispatches as many as the limits
allow: engine-wide and per-project calls per second (token buckets), engine-wide and
per-project concurrent calls, and the SIP pool's capacity (SipPort.can_start). A pass reads a
few rows (QUEUE_PEEK) and looks further down the queue only when those were all skipped (a
project waiting on its own CPS), because a pass usually places one call and reading many rows
for each would load the store under a deep queue. Over the limits calls simply stay queued, as
on Twilio.

Dispatching a call is a claim (`_claims`), one store transaction (queued -> initiated with its
`initiated` callback row, applied only to a `queued` call), the session registered, then
SipPort.start_call. A cancel (`cancel`) ends a queued call in one transaction from `queued`
only; one that finds the call claimed waits for the claim and then hangs up its session, and
the SIP side withdraws an INVITE not yet sent; so a cancel wins at every moment and no INVITE
leaves after it is answered.

Admission (calls/admission.py) is asked again when a call leaves the queue, because the API
checked it at create: while the emergency stop is on nothing is dispatched (queued calls wait
for `wirexa calls resume`); a queued call whose destination the project may not dial any more,
or whose project used up its daily minutes meanwhile, ends `failed` with its notification
(21215, 20005) in the same transaction. <Dial> legs are admitted the same way, and also
against the project's concurrency cap (max_concurrent counts legs): a refused leg ends `failed`
and the parent's <Dial> goes on without it (13224). Every end goes through calls/ending.py.

SIP events arrive on the loop through the sink and go to the call's CallSession (the registry
of live calls), which owns the call until CallEnded. While calls are live their rows are marked
up once a second (`alive_at`), so the next start ends a dead engine's calls at that moment.
Everything here runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from wirexa.calls import permissions, state
from wirexa.calls.admission import Admission, UsageCache
from wirexa.calls.ending import end_lost, end_queued
from wirexa.calls.ports import AmdRequest, CallSid, CallStore, ClaimGate, Dialout, SipEvent, SipPort
from wirexa.calls.records import (
    CallChanges,
    CallRecord,
    NewNotification,
    ProjectRecord,
    RecordingOptions,
    RecordingRecord,
)
from wirexa.calls.registry import Registry
from wirexa.calls.session import CallSession, SessionDeps, phone_user
from wirexa.calls.streams import StreamInfo
from wirexa.config import Settings
from wirexa.errors import HeldElsewhere, SipError
from wirexa.laml.verbs import DialTarget, TargetKind
from wirexa.media.amd import AmdMode
from wirexa.notices import Notice
from wirexa.tokenbucket import TokenBucket

log = logging.getLogger(__name__)

HANGUP_WAIT_S = 3.0  # how long an API hangup waits for SIP to confirm
ALIVE_EVERY_S = 1.0  # how often live calls are marked up in the store (a dead engine's calls end there)
STOPPED_POLL_S = 1.0  # with the emergency stop on: how often the dispatcher looks for its end
QUEUE_PEEK = 8  # queued rows a pass reads first ...
QUEUE_READ_MAX = 512  # ... and at most, when the first ones were all skipped (a project's own CPS)


def amd_request(call: CallRecord) -> AmdRequest | None:
    """The call's MachineDetection parameters for the SIP side, None without AMD."""
    if not call.machine_detection:
        return None
    return AmdRequest(
        detect_message_end=call.machine_detection == AmdMode.DETECT_MESSAGE_END,
        timeout_ms=call.machine_detection_timeout_s * 1000,
        speech_threshold_ms=call.machine_detection_speech_threshold_ms,
        speech_end_threshold_ms=call.machine_detection_speech_end_threshold_ms,
        silence_timeout_ms=call.machine_detection_silence_timeout_ms,
    )


def sip_auth(call: CallRecord) -> tuple[str, str] | None:
    """The digest credentials a call to a SIP URI answers a challenge with (SipAuthUsername /
    SipAuthPassword, or <Sip username password>), or None."""
    if call.sip_auth_username and call.sip_auth_password is not None:
        return call.sip_auth_username, call.sip_auth_password
    return None


class Dispatcher:
    """Implements calls.service.CallController and calls.session.SessionHost; an async context
    manager started by runtime."""

    def __init__(
        self, settings: Settings, deps: SessionDeps, *, node_id: str, admission: Admission | None = None
    ) -> None:
        self.settings = settings
        self.deps = deps
        self.store: CallStore = deps.store
        self.sip: SipPort = deps.sip
        self.clock = deps.clock
        self.node_id = node_id
        # This engine's run in the nodes table (cluster/membership.py sets it); 0: not
        # registered (tests), no check; -1: fenced, nothing leaves the queue.
        self.generation = 0
        self.sessions: Registry[CallSession] = Registry()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        now = self.clock.monotonic()
        self._bucket = TokenBucket(settings.calls_cps, burst=max(1.0, settings.calls_cps), now=now)
        self._closing = False
        self._draining = False
        # Calls being taken out of the queue (queued -> initiated, then the session): set once
        # the session is registered or the call stayed queued. A cancel waits on it.
        self._claims: dict[str, asyncio.Event] = {}
        self.admission = admission or Admission.from_settings(settings, deps.store, deps.clock)

    async def __aenter__(self) -> Dispatcher:
        await self.recover()
        self.sip.set_event_sink(self._on_sip_event)
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="dispatcher")
        self._heartbeat = loop.create_task(self._beat(), name="call-heartbeat")
        self.wake()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        for task in (self._task, self._heartbeat):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        # Hang up what is live and give SIP a moment to confirm; anything left is finalized
        # by recover() at the next start.
        for session in self.sessions:
            await session.hangup()
        deadline = self.clock.monotonic() + HANGUP_WAIT_S
        while len(self.sessions) and self.clock.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def _beat(self) -> None:
        """Every ALIVE_EVERY_S, one write marks the live calls up (CallStore.alive): an engine
        that dies ends them, at its next start, no later than that before it died."""
        while True:
            await asyncio.sleep(ALIVE_EVERY_S)
            try:
                await self.mark_alive()
            except Exception:  # noqa: BLE001 - a missed beat costs precision, not the call
                log.exception("marking the live calls up failed")

    async def mark_alive(self) -> None:
        live = [s.sid for s in self.sessions if not s.ended]
        if live:
            await self.store.alive(live, self.clock.now())

    def drain(self) -> None:
        """Stop dispatching (the engine is stopping): queued calls stay queued for the next start;
        live calls, and the <Dial> legs they start, go on."""
        self._draining = True

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to timeout_s for every live call to end; True when none is left."""
        deadline = self.clock.monotonic() + timeout_s
        while len(self.sessions) and self.clock.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return not len(self.sessions)

    # --- CallController ----------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def cancel(self, call: CallRecord, status: str) -> CallRecord:
        """Whatever the call is doing, a cancel wins: a queued call ends `canceled` in one
        transaction (the dispatcher's own queued -> initiated then does not apply); a call the
        dispatcher is taking out of the queue is waited for until its session exists; a session
        hangs up (SIP withdraws an INVITE not yet sent, or CANCELs one that is)."""
        sid = call.sid
        while True:
            session = self.sessions.get(sid)
            if session is not None:
                return await self._hang_up_and_wait(session, call)
            claim = self._claims.get(sid)
            if claim is not None:  # being dispatched: its session exists once this is set
                await claim.wait()
                continue
            current = await self.store.call(sid)
            if current is not None and current.status in state.DIALING and current.owner not in (None, self.node_id):
                raise HeldElsewhere(sid, current.owner)  # another engine took it from the queue: its hangup
            if current is None or current.status != state.CallStatus.QUEUED:
                return current or call  # ended (or deleted) meanwhile
            updated = await end_queued(self.store, self.clock, sid, state.Fact.ENDED_CANCELED)
            if updated is not None:
                return updated
            # The dispatcher took it meanwhile: look again (it has a claim or a session now).

    async def _hang_up_and_wait(self, session: CallSession, call: CallRecord) -> CallRecord:
        """Hang up and give SIP a moment to confirm, so the API answers with the final status."""
        await session.hangup(by="api")
        try:
            await asyncio.wait_for(session.finished.wait(), timeout=HANGUP_WAIT_S)
        except TimeoutError:
            pass
        return await self.store.call(call.sid) or call

    async def redirect(self, call: CallRecord, url: str | None, method: str, twiml: str | None) -> None:
        session = self.sessions.get(call.sid)
        if session is not None:
            session.redirect(url, method, twiml)

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
        if self.settings.calls_hold:
            return False
        return len(self.sessions) < self.settings.calls_max_concurrent and self.sip.can_start(2)

    def _limit_ok(self, project: ProjectRecord | None) -> bool:
        if project is not None and project.max_concurrent is not None:
            if self.sessions.count(project.sid) >= project.max_concurrent:
                return False
        return self._room()

    async def _dispatch_ready(self) -> float:
        """Dispatch what the limits allow; return how long to sleep before looking again."""
        if self._draining or self.generation < 0:
            return 5.0 if self._draining else 0.5
        # Nothing could start now: don't read the queue (every API create wakes us, and a
        # dialer's backlog can be thousands of calls deep).
        wait = self._bucket.wait_time(self.clock.monotonic())
        if wait > 0:
            return wait
        if not self._room():
            return 0.5  # woken earlier when a slot frees
        if await self.admission.calls_stopped():
            return STOPPED_POLL_S  # the emergency stop: look again for `wirexa calls resume`
        projects: dict[str, ProjectRecord | None] = {}
        usage: UsageCache = {}  # per pass: limits, seconds used
        # Per pass: projects whose claim found no token or their cap reached, and for how long.
        waiting: dict[str, float] = {}
        limit = QUEUE_PEEK
        while True:
            # Oldest first; rows skipped below stay queued and are read again (skipping is cheap).
            queued = await self.store.queued(limit)
            if not queued:
                return 5.0
            for call in queued:
                if call.sid in self.sessions or call.account_sid in waiting:
                    continue  # (a waiting project: its CPS, or its cap on every engine; others may go)
                if call.account_sid not in projects:
                    projects[call.account_sid] = await self.store.project(call.account_sid)
                project = projects[call.account_sid]
                if not self._limit_ok(project):
                    return 0.5  # woken earlier when a slot frees
                refusal = await self.admission.destination_and_usage(call.account_sid, call.to_number, usage)
                if refusal is not None:
                    await self._refuse(call, refusal)
                    continue
                if await self.admission.calls_stopped():
                    return STOPPED_POLL_S  # stopped during this pass: nothing more leaves the queue
                wait = self._bucket.take(self.clock.monotonic())
                if wait > 0:
                    return wait
                wait = await self._dispatch(call, project)
                if wait:
                    waiting[call.account_sid] = wait
            if len(queued) < limit or limit >= QUEUE_READ_MAX:
                # Look again when the first waiting project's token is due (the engines sharing
                # its bucket then try together; its row lock lets one through at a time).
                return min([0.5, *waiting.values()])
            limit = min(QUEUE_READ_MAX, limit * 4)  # all skipped or placed: look further down the queue

    def _phone_contact(self, to_number: str) -> str | None:
        """A call to a desk phone (`client:alice`, or `sip:alice@<phones domain>`) goes to the
        contact it registered last; "" when it has none; None for any other destination."""
        user = phone_user(
            DialTarget(TargetKind.CLIENT if to_number.startswith("client:") else TargetKind.SIP, to_number),
            self.deps.phones_domain,
        )
        if user is None or not to_number.startswith(("client:", "sip:", "sips:")):
            return None
        contacts = self.deps.phones.reach(user) if self.deps.phones is not None else []
        return contacts[-1] if contacts else ""

    async def _dispatch(self, call: CallRecord, project: ProjectRecord | None) -> float:
        """Claim and dial one queued call; the seconds its project must wait (no CPS token, its
        concurrency cap reached on the engines together), else 0."""
        number = call.to_number
        contact = self._phone_contact(number)
        if contact == "":
            notice = NewNotification(
                call.account_sid, call.sid, Notice.DIAL_NUMBER_FAILED, f"{number} is not registered"
            )
            await end_queued(self.store, self.clock, call.sid, state.Fact.ENDED_FAILED, notice)
            return 0.0
        try:
            to_uri, from_uri, headers = self.sip.resolve(contact or number, call.caller_id or call.from_number)
        except SipError as exc:
            log.warning("[%s] cannot route: %s", call.sid, exc)
            await end_queued(self.store, self.clock, call.sid, state.Fact.ENDED_FAILED)
            return 0.0
        now = self.clock.now()
        queue_ms = int((now - call.date_created).total_seconds() * 1000)
        changes = CallChanges(start_time=now, queue_time_ms=queue_ms, owner=self.node_id)
        gate = ClaimGate(
            self.node_id,
            self.generation,
            call.account_sid,
            project.cps if project is not None else None,
            project.max_concurrent if project is not None else None,
        )
        claim = self._claims[call.sid] = asyncio.Event()
        try:
            updated = await self.store.claim(call.sid, changes, gate)
            if isinstance(updated, float):
                return updated
            if updated is None:
                return 0.0  # cancelled while we looked, or taken by another engine
            session = CallSession(updated, self, self.deps)
            self.sessions.add(session)
        finally:
            del self._claims[call.sid]
            claim.set()
        # No await from here into SipPort.start_call's own bookkeeping: a cancel now finds the
        # session, and its hangup reaches SIP before or after the INVITE, never in between.
        log.info("[%s] dialing %s", call.sid, to_uri)
        try:
            await self.sip.start_call(
                Dialout(
                    CallSid(call.sid),
                    to_uri,
                    from_uri,
                    float(call.timeout_s),
                    headers,
                    amd=amd_request(call),
                    auth=sip_auth(call),
                )
            )
        except SipError as exc:
            log.warning("[%s] start_call failed: %s", call.sid, exc)
            session.could_not_start()
        return 0.0

    # --- toll-fraud controls ------------------------------------------------------------------

    async def _refuse(self, call: CallRecord, refusal: permissions.Refusal) -> None:
        """End a queued call (or leg) that may not be placed: `failed`, with a notification."""
        log.warning("[%s] refused to %s: %s %s", call.sid, call.to_number, refusal.code, refusal.message)
        notice = NewNotification(call.account_sid, call.sid, refusal.code, refusal.message)
        await end_queued(self.store, self.clock, call.sid, state.Fact.ENDED_FAILED, notice)

    # --- SessionHost -------------------------------------------------------------------------

    async def start_leg(self, parent: CallSession, leg: CallRecord, timeout_s: float, caller_id: str) -> CallSession:
        """Dial a <Dial> leg in the parent's worker; returns its session. Raises SipError, also
        when the toll-fraud controls refuse the leg (it then ends `failed`)."""
        refusal = await self.admission.for_leg(leg.account_sid, leg.to_number, self.sessions.count(leg.account_sid))
        if refusal is not None:
            await self._refuse(leg, refusal)
            raise SipError(f"{refusal.code}: {refusal.message}")
        to_uri, from_uri, headers = self.sip.resolve(leg.to_number, caller_id)
        changes = CallChanges(start_time=self.clock.now(), owner=self.node_id)
        updated = await self.store.transition(
            leg.sid, state.Fact.DISPATCHED, changes, expect=(state.CallStatus.QUEUED,)
        )
        if updated is None:
            raise SipError("the leg was canceled before it was dialed")
        session = CallSession(updated, self, self.deps, parent=parent)
        self.sessions.add(session)
        try:
            await self.sip.start_call(
                Dialout(
                    CallSid(leg.sid),
                    to_uri,
                    from_uri,
                    timeout_s,
                    headers,
                    parent_call_sid=CallSid(parent.sid),
                    auth=sip_auth(leg),
                )
            )
        except SipError:
            session.could_not_start()
            raise
        return session

    def start_inbound(self, call: CallRecord) -> CallSession:
        """Take live an inbound call, created `ringing` (its SID minted by the engine) when its
        INVITE came: its session runs the document while it rings, and answers when the
        document asks (the Answer action)."""
        session = self.adopt_inbound(call)
        session.start_inbound()
        return session

    def adopt_inbound(self, call: CallRecord) -> CallSession:
        """The session of an inbound call, live (its SIP events reach it) but not started: the
        router starts it once the worker has the INVITE under the call's SID."""
        session = CallSession(call, self, self.deps)
        self.sessions.add(session)
        return session

    def engine_full(self) -> str | None:
        """Why the engine takes no other call now (its concurrency cap), or None."""
        cap = self.settings.calls_max_concurrent
        return f"the engine's limit of {cap} concurrent calls is reached" if len(self.sessions) >= cap else None

    def live_calls(self, account_sid: str) -> int:
        """The project's live calls and legs on this engine."""
        return self.sessions.count(account_sid)

    async def start_recording(self, call: CallRecord, options: RecordingOptions) -> RecordingRecord | None:
        session = self.sessions.get(call.sid)
        return await session.start_recording(options) if session is not None else None

    async def update_recording(
        self, call: CallRecord, rec_sid: str, status: str, pause_behavior: str
    ) -> RecordingRecord | None:
        session = self.sessions.get(call.sid)
        return await session.update_recording(rec_sid, status, pause_behavior) if session is not None else None

    async def start_stream(self, call: CallRecord, **kwargs: Any) -> StreamInfo | None:
        session = self.sessions.get(call.sid)
        return await session.start_stream_api(**kwargs) if session is not None else None

    async def stop_stream(self, call: CallRecord, name_or_sid: str) -> StreamInfo | None:
        session = self.sessions.get(call.sid)
        return await session.stop_stream_api(name_or_sid) if session is not None else None

    def session_ended(self, call_sid: str) -> None:
        self.sessions.discard(call_sid)
        self.wake()

    # --- SIP events --------------------------------------------------------------------------

    def _on_sip_event(self, event: SipEvent) -> None:
        session = self.sessions.get(event.call_sid)
        if session is None:
            log.debug("[%s] event for unknown call: %s", event.call_sid, type(event).__name__)
            return
        session.post(event)

    async def recover(self) -> None:
        """Finalize calls a previous run of this engine left live (their SIP dialogs died with
        it), each at the last moment that run knew it was up (ending.end_lost); and those of
        engines that are not live any more. Calls of the other live engines are theirs."""
        await self.sweep(self.node_id)

    async def sweep(self, me: str | None = None) -> int:
        """Finalize the live calls no live engine owns (a dead engine's, found by the cluster's
        membership; with `me`, also this engine's previous run's) as a restart does; returns
        how many. Another engine sweeping at once is harmless: a final status stays final."""
        ended = 0
        for call in await self.store.orphaned(me):
            if call.sid in self.sessions:
                continue
            log.warning("[%s] was %s when its engine (%s) stopped: finalizing", call.sid, call.status, call.owner)
            if await end_lost(self.store, self.clock, call) is not None:
                ended += 1
        return ended

    async def hang_up_closed(self) -> int:
        """Hang up this engine's live calls of projects closed meanwhile (closing a project hangs
        up its calls on the engine that served the request; the other engines find them here, on
        the cluster's sweep); returns how many."""
        closed: dict[str, bool] = {}
        ended = 0
        for session in list(self.sessions):
            account = session.account_sid
            if account not in closed:
                project = await self.store.project(account)
                closed[account] = project is None or project.status == "closed"
            if closed[account] and not session.ended:
                log.info("[%s] its project %s was closed: hanging up", session.sid, account)
                await session.hangup(by="api")
                ended += 1
        return ended

    async def fenced(self) -> None:
        """This engine's run was declared dead by another (its heartbeat stalled): its calls
        were finalized there. Take nothing from the queue until re-registered (`generation`
        set again), and hang up what is still live here: the store refuses its writes now."""
        self.generation = -1
        for session in self.sessions:
            await session.hangup()
