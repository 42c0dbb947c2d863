"""Call queues: who waits in each project's queues (<Enqueue>), who takes them (<Dial><Queue>,
the Members REST resource), and what a waiting caller hears.

Theory of operation. A queue's resource (QU..., its name and MaxSize) is a store row, found or
created by name when a call runs <Enqueue> (QueueRows). Its members are live calls, kept here
in memory, FIFO with their enqueue time: a queue belongs to the engine that runs its calls,
like the calls themselves. Everything here runs on the event loop; what touches a call's
interpreters runs on that call's session task (a QueueStep posted to it), so each session
still sees one fact at a time.

A member (Member) is in one phase at a time:

    waiting    in the queue's list; its wait document runs: the waitUrl document in an
               Interpreter of its own (WAIT_VERBS), requested again, with fresh QueuePosition,
               QueueTime ..., each time it runs out; or the built-in hold music looping; or
               silence (waitUrl ""). <Leave> or a failed wait document leave the queue
               (QueueResult leave / error, then <Enqueue action> or the next verb).
    dequeuing  taken by a <Dial><Queue> (out of the list): the wait document is stopped and
               the <Queue url> document runs on the member's call (URL_VERBS), then
    bridged    the two calls are connected until either hangs up or the dequeuer's StopDial:
               the member gets QueueResult bridged (its document goes on when the dequeuer
               left), the dequeuer DialEnded (DialCallSid = the member's CallSid, QueueSid).

Ends that Twilio reports to <Enqueue action> while the call goes on elsewhere, or is gone
(hangup, redirected by a live update or the Members resource, bridged then hung up), are
requested here, once, with CallStatus as it stands; the answer is not run (the call's
interpreter does not ask for it). A <Dial><Queue> (Dequeue) waits in the queue's list of
dequeuers when nobody waits, until a member comes or its <Dial timeout> (no-answer); a queue
that does not exist fails it at once (DialCallStatus failed), as on Twilio.

Several engines on one database: a queue lives in one engine (its members' media are there).
When a queue gets a live part here (its first member or waiting dequeuer on this engine), its
name is taken among the engines (QueueRows.take_home: store/repo/nodes.py homes); the calls
that arrive meanwhile wait for that one answer. A queue held by another live engine refuses
the call, with a 12400 notification naming that engine: <Enqueue> ends with QueueResult
system-error (never entered, as queue-full), <Dial><Queue> with DialCallStatus failed, instead
of a second queue under the name that nobody on the other engine would see. The name is given
back (leave_home) when the live part empties (no member, no dequeuer waiting); taking it again
waits for that to be written first.

The wait and url documents' interpreters number their operations from a fresh OP_SPAN
multiple each, apart from the call's own interpreter and each other, so the late result of a
stopped wait document is never taken for the current one's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from wirexa.calls.params import call_params
from wirexa.calls.ports import CallSid, Clock, SipPort
from wirexa.calls.records import CallRecord
from wirexa.laml import actions as A
from wirexa.laml import events as E
from wirexa.laml import verbs as V
from wirexa.laml.interpreter import Interpreter
from wirexa.notices import Notice

if TYPE_CHECKING:
    from wirexa.calls.media import MediaPrep

log = logging.getLogger(__name__)

WAIT_VERBS: frozenset[type[V.Verb]] = frozenset({V.Play, V.Say, V.Pause, V.Hangup, V.Redirect, V.Leave, V.Gather})
URL_VERBS: frozenset[type[V.Verb]] = frozenset({V.Play, V.Say, V.Pause, V.Redirect})
OP_SPAN = 1_000_000
HOLD_PLAY_ID = "queue-hold"  # the hold music's play id (not a digit: no interpreter waits on it)
MIN_WAIT_RUN_S = 1.0  # a wait document that runs out faster than this is requested again after it
ELSEWHERE = Notice.INTERNAL_FAILURE  # the queue is live on another engine (several engines, one database)
_EMPTY = V.Document(())


class QueueLike(Protocol):
    @property
    def sid(self) -> str: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def friendly_name(self) -> str: ...
    @property
    def max_size(self) -> int: ...


class QueueRows(Protocol):
    """The queues' rows (store/queues.py)."""

    async def named(self, account_sid: str, name: str, max_size: int | None) -> QueueLike:
        """The project's queue `name`, created (with max_size, else the default) when missing."""
        ...

    async def by_name(self, account_sid: str, name: str) -> QueueLike | None: ...

    async def take_home(self, account_sid: str, name: str, sid: str) -> str | None:
        """Hold the queue's name for this engine (several engines on one database): None when
        it is ours, else the live engine whose queue has that name."""
        ...

    async def leave_home(self, account_sid: str, name: str, sid: str) -> None: ...


class QueueCall(Protocol):
    """A call's session as the queues see it (calls/session.py CallSession)."""

    call: CallRecord
    auth_token: str
    ended: bool
    answered: bool
    queued: Member | None
    queue_dial: Dequeue | None

    @property
    def sid(self) -> str: ...

    def post(self, item: QueueStep) -> None: ...

    def deliver(self, event: E.Event) -> None:
        """Feed `event` to the call's interpreter, in its turn."""
        ...

    def redirect(self, url: str | None, method: str, twiml: str | None) -> None:
        """A live update of the call (the Members resource's dequeue)."""
        ...

    async def notify_call(self, code: int, message: str) -> None:
        """A notification on this call."""
        ...

    async def execute(self, actions: list[A.Action]) -> None:
        """Perform actions (of a wait or url document) as the call's own."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class QueueStep:
    """Work on a call's queue state, run on that call's session task."""

    run: Callable[[], Awaitable[None]]


@dataclasses.dataclass(frozen=True, slots=True)
class MemberInfo:
    """A member as the Members resource shows it."""

    call_sid: str
    queue_sid: str
    date_enqueued: dt.datetime
    position: int
    wait_time_s: int


@dataclasses.dataclass(frozen=True, slots=True)
class QueueStats:
    current_size: int
    average_wait_time_s: int


class Member:
    """One call in a queue (see the module docstring for its phases). Loop-only."""

    def __init__(self, queues: Queues, call: QueueCall, queue: QueueLike, action: A.Enqueue, cap: int) -> None:
        self.queues = queues
        self.call = call
        self.queue = queue
        self.action = action
        self.cap = cap
        self.enqueued_at = queues.clock.monotonic()
        self.date_enqueued = queues.clock.now()
        self.phase = "waiting"
        self.doc: Interpreter | None = None  # the wait or url document running
        self.doc_started = 0.0
        self.runs = 0  # wait documents started or stopped: a delayed request checks it is still due
        self.holding = False  # the hold music plays
        self.dequeuer: Dequeue | None = None
        self.bridged_at: float | None = None

    @property
    def sid(self) -> str:
        return self.call.sid

    def queue_time_s(self) -> int:
        return int(self.queues.clock.monotonic() - self.enqueued_at)

    def takes(self, event: E.Event) -> bool:
        """Whether `event` is for the wait or url document (the call's interpreter gets the rest)."""
        return self.doc is not None and not isinstance(event, (E.CallRedirected, E.CallHungUp, E.QueueLeft))

    async def feed(self, event: E.Event) -> list[A.Action]:
        assert self.doc is not None
        return await self._filter(self.doc.feed(event))

    def _interpreter(self, allowed: frozenset[type[V.Verb]], extra: list[tuple[str, str]]) -> Interpreter:
        # <Enqueue> answered the call (an inbound one too): its documents never answer again.
        params = dict(call_params(self.call.call, "in-progress") + extra)
        self.doc_started = self.queues.clock.monotonic()
        self.doc = Interpreter(
            params, None, answered=True, allowed=allowed, first_op=OP_SPAN * next(self.queues.op_base)
        )
        return self.doc

    async def start_wait(self) -> None:
        """Run what the caller hears while waiting (on the member's task)."""
        if self.phase != "waiting" or self.call.ended:
            return
        self.runs += 1
        url = self.action.wait_url
        if url == "":
            return  # silence
        if url is None:
            self.holding = True
            await self.queues.sip.play(CallSid(self.sid), HOLD_PLAY_ID, str(self.queues.hold_wav), 0)
            return
        doc = self._interpreter(WAIT_VERBS, self.queues.wait_params(self))
        await self.call.execute(await self._filter(doc.start(url, self.action.wait_url_method)))

    async def stop(self) -> list[A.Action]:
        """Stop the wait or url document (the actions that stop its prompt, timer or gather)."""
        out: list[A.Action] = []
        self.runs += 1
        if self.holding:
            self.holding = False
            await self.queues.sip.stop_play(CallSid(self.sid))
        if self.doc is not None:
            doc, self.doc = self.doc, None
            out = [a for a in doc.feed(E.CallRedirected(document=_EMPTY)) if _stops(a)]
        return out

    async def _filter(self, actions: list[A.Action]) -> list[A.Action]:
        """The document's actions the session performs; its end, <Leave> and failures are ours."""
        out: list[A.Action] = []
        for action in actions:
            if isinstance(action, A.Hangup) and action.end_of_document:
                self.doc = None
                await self._document_ended()
            elif isinstance(action, A.LeaveQueue):
                self.doc = None
                if self.phase == "waiting":
                    await self.queues.left(self, E.QueueResult(action.result))
                else:  # the <Queue url> document failed (notified): connect anyway
                    await self.queues.bridge(self)
            elif isinstance(action, A.Finished):
                continue
            else:
                out.append(action)
        return out

    async def _document_ended(self) -> None:
        if self.phase == "dequeuing":
            await self.queues.bridge(self)
            return
        if self.phase != "waiting":
            return
        ran = self.queues.clock.monotonic() - self.doc_started
        if ran >= MIN_WAIT_RUN_S:
            await self.start_wait()
        else:  # an empty or instant wait document: do not request it in a tight loop
            due = self.runs

            async def again() -> None:
                if self.runs == due:  # not stopped, taken or restarted meanwhile
                    await self.start_wait()

            self.queues.clock.call_later(MIN_WAIT_RUN_S, lambda: self.call.post(QueueStep(again)))


class Dequeue:
    """One <Dial><Queue> of a call (the dequeuer). Loop-only."""

    def __init__(self, call: QueueCall, action: A.DialQueue, queue: QueueLike) -> None:
        self.call = call
        self.action = action
        self.queue = queue
        self.member: Member | None = None
        self.timer: Callable[[], object] | None = None
        self.done = False

    def end(self, status: E.DialCallStatus, duration_s: int | None = None, bridged: bool = False) -> None:
        """Answer the DialQueue action (once)."""
        if self.done:
            return
        self.done = True
        self.call.queue_dial = None
        member = self.member
        self.call.deliver(
            E.DialEnded(
                self.action.op_id,
                status,
                dial_call_sid=member.sid if member is not None else None,
                dial_call_duration_s=duration_s,
                bridged=bridged,
                extra_params=(("QueueSid", self.queue.sid),),
            )
        )


def _stops(action: A.Action) -> bool:
    return isinstance(action, (A.StopPrompts, A.CancelTimer, A.StopGather))


class _Live:
    """A queue's live part: its waiting members (FIFO) and its waiting dequeuers."""

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.dequeuers: list[Dequeue] = []


class Queues:
    """Every project's live queues on this engine. Loop-only. Built by runtime.py and handed to
    the sessions (SessionDeps.queues) and the API (the Queues and Members resources)."""

    def __init__(self, rows: QueueRows, sip: SipPort, clock: Clock, media: MediaPrep | None, hold_wav: Path) -> None:
        self.rows = rows
        self.sip = sip
        self.clock = clock
        self.media = media
        self.hold_wav = hold_wav
        self.op_base = itertools.count(1)
        self._live: dict[str, _Live] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Homes (module docstring), by queue sid: the first caller's answer for the others while
        # the name is being taken, the (account, name) held, the name being given back.
        self._homing: dict[str, asyncio.Future[str | None]] = {}
        self._held: dict[str, tuple[str, str]] = {}
        self._leaving: dict[str, asyncio.Task[None]] = {}

    # --- what the API reads -------------------------------------------------------------------

    def stats(self, queue_sid: str) -> QueueStats:
        members = self._members(queue_sid)
        waits = [m.queue_time_s() for m in members]
        return QueueStats(len(members), round(sum(waits) / len(waits)) if waits else 0)

    def members(self, queue_sid: str) -> list[MemberInfo]:
        return [
            MemberInfo(m.sid, queue_sid, m.date_enqueued, i + 1, m.queue_time_s())
            for i, m in enumerate(self._members(queue_sid))
        ]

    def redirect_member(self, queue_sid: str, call_sid: str | None, url: str, method: str) -> MemberInfo | None:
        """The Members resource's dequeue: the member (`call_sid`, None for the front) starts
        running `url`: a live update of its call (QueueResult redirected). None: no such member."""
        for info, member in zip(self.members(queue_sid), self._members(queue_sid), strict=True):
            if call_sid is None or member.sid == call_sid:
                member.call.redirect(url, method, None)
                return info
        return None

    def _members(self, queue_sid: str) -> list[Member]:
        live = self._live.get(queue_sid)
        return list(live.members) if live is not None else []

    def _of(self, queue_sid: str) -> _Live:
        return self._live.setdefault(queue_sid, _Live())

    def _forget(self, queue_sid: str) -> None:
        live = self._live.get(queue_sid)
        if live is not None and not live.members and not live.dequeuers:
            del self._live[queue_sid]
            self._give_back(queue_sid)

    # --- homes (several engines on one database: module docstring) -------------------------------

    async def _home(self, queue: QueueLike) -> str | None:
        """Before `queue` gets a live part here: take its name among the engines; None when it is
        ours, else the live engine holding it. Calls arriving meanwhile wait for this answer (one
        take_home for all); a give-back still being written is written first."""
        pending = self._homing.get(queue.sid)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = self._homing[queue.sid] = asyncio.get_running_loop().create_future()
        answer: str | None = None
        try:
            leaving = self._leaving.get(queue.sid)
            if leaving is not None:
                await asyncio.shield(leaving)
            answer = await self.rows.take_home(queue.account_sid, queue.friendly_name, queue.sid)
            if answer is None:
                self._held[queue.sid] = (queue.account_sid, queue.friendly_name)
        except Exception:  # noqa: BLE001 - the database failing: the queue lives here, as on one engine
            log.exception("queue %s: taking its name among the engines failed", queue.sid)
        finally:
            del self._homing[queue.sid]
            pending.set_result(answer)
        return answer

    def _give_back(self, queue_sid: str) -> None:
        """The queue's live part here emptied: give its name back (leave_home), in the background."""
        held = self._held.pop(queue_sid, None)
        if held is None:
            return

        async def leave() -> None:
            try:
                await self.rows.leave_home(held[0], held[1], queue_sid)
            except Exception:  # noqa: BLE001 - kept until this engine stops; its next member reclaims it
                log.exception("queue %s: giving its name back failed", queue_sid)

        task = asyncio.get_running_loop().create_task(leave(), name=f"queue-leave-home-{queue_sid}")
        self._leaving[queue_sid] = task
        task.add_done_callback(lambda t: self._leaving.pop(queue_sid) if self._leaving.get(queue_sid) is t else None)

    async def _rehome(self, queue: QueueLike) -> None:
        """A member put back into a queue whose live part had emptied (its name given back)."""
        elsewhere = await self._home(queue)
        if elsewhere is not None:
            log.warning("queue %s: a member went back to it here while engine %s holds its name", queue.sid, elsewhere)

    def _elsewhere(self, queue: QueueLike, engine: str) -> str:
        return (
            f"queue {queue.friendly_name!r} ({queue.sid}) is live on engine {engine}: a queue lives in one engine, "
            "and this call is on another (route a queue's calls to one engine)"
        )

    # --- <Enqueue> (on the member's task) -------------------------------------------------------

    async def enqueue(self, call: QueueCall, action: A.Enqueue) -> None:
        queue = await self.rows.named(call.call.account_sid, action.name, action.max_queue_size)
        if queue.sid not in self._live:
            elsewhere = await self._home(queue)
            if elsewhere is not None:  # never entered (as queue-full), the call's document goes on
                await call.notify_call(
                    ELSEWHERE, f"<Enqueue>{action.name}</Enqueue>: {self._elsewhere(queue, elsewhere)}"
                )
                call.deliver(E.QueueLeft(action.op_id, E.QueueResult.SYSTEM_ERROR))
                return
        live = self._of(queue.sid)
        cap = action.max_queue_size or queue.max_size
        if len(live.members) >= cap:
            log.info("[%s] queue %s is full (%d)", call.sid, queue.sid, cap)
            self._forget(queue.sid)
            call.deliver(E.QueueLeft(action.op_id, E.QueueResult.QUEUE_FULL))
            return
        member = Member(self, call, queue, action, cap)
        call.queued = member
        live.members.append(member)
        log.info("[%s] enqueued in %s (%s), position %d", call.sid, queue.sid, queue.friendly_name, len(live.members))
        if live.dequeuers:
            self._take(live.dequeuers.pop(0), member)
        else:
            await member.start_wait()

    def wait_params(self, member: Member) -> list[tuple[str, str]]:
        members = self._members(member.queue.sid)
        waits = [m.queue_time_s() for m in members]
        position = members.index(member) + 1 if member in members else 1
        return [
            ("QueuePosition", str(position)),
            ("QueueSid", member.queue.sid),
            ("QueueTime", str(member.queue_time_s())),
            ("AvgQueueTime", str(round(sum(waits) / len(waits)) if waits else 0)),
            ("CurrentQueueSize", str(len(members))),
            ("MaxQueueSize", str(member.cap)),
        ]

    async def left(self, member: Member, result: E.QueueResult) -> None:
        """<Leave> or a failed wait document: out of the queue, the call's document goes on."""
        self._remove(member)
        await member.call.execute(await member.stop())
        member.call.queued = None
        member.call.deliver(E.QueueLeft(member.action.op_id, result, member.queue.sid, member.queue_time_s()))

    def _remove(self, member: Member) -> None:
        live = self._live.get(member.queue.sid)
        if live is not None and member in live.members:
            live.members.remove(member)
            self._forget(member.queue.sid)

    async def redirected(self, call: QueueCall) -> None:
        """A live update took the call out (the interpreter's LeaveQueue("redirected"))."""
        member = call.queued
        if member is None:
            return
        call.queued = None
        self._remove(member)
        await call.execute(await member.stop())
        result = E.QueueResult.REDIRECTED
        if member.dequeuer is not None:
            if member.bridged_at is not None:
                result = E.QueueResult.REDIRECTED_FROM_BRIDGED
            await self._unbridge(member, member_left=True)
        self.report(member, result)

    # --- <Dial><Queue> (on the dequeuer's task) ---------------------------------------------------

    async def dial(self, call: QueueCall, action: A.DialQueue) -> None:
        queue = await self.rows.by_name(call.call.account_sid, action.name)
        if queue is None:
            call.deliver(E.DialEnded(action.op_id, E.DialCallStatus.FAILED))
            return
        if queue.sid not in self._live:
            elsewhere = await self._home(queue)
            if elsewhere is not None:  # not an empty queue here: say where it is, and the <Dial> fails
                await call.notify_call(
                    ELSEWHERE, f"<Dial><Queue>{action.name}</Queue>: {self._elsewhere(queue, elsewhere)}"
                )
                call.deliver(E.DialEnded(action.op_id, E.DialCallStatus.FAILED))
                return
        dequeue = Dequeue(call, action, queue)
        call.queue_dial = dequeue
        live = self._of(queue.sid)
        if live.members:
            self._take(dequeue, live.members[0])
            return
        live.dequeuers.append(dequeue)
        handle = self.clock.call_later(
            float(action.timeout_s), lambda: call.post(QueueStep(lambda: self._dial_timeout(dequeue)))
        )
        dequeue.timer = handle.cancel

    async def _dial_timeout(self, dequeue: Dequeue) -> None:
        if dequeue.member is None and not dequeue.done:
            self._drop_dequeuer(dequeue)
            dequeue.end(E.DialCallStatus.NO_ANSWER)

    def _drop_dequeuer(self, dequeue: Dequeue) -> None:
        if dequeue.timer is not None:
            dequeue.timer()
            dequeue.timer = None
        live = self._live.get(dequeue.queue.sid)
        if live is not None and dequeue in live.dequeuers:
            live.dequeuers.remove(dequeue)
            self._forget(dequeue.queue.sid)

    def _take(self, dequeue: Dequeue, member: Member) -> None:
        """`dequeue` takes `member`: out of the list; the rest runs on the member's task."""
        self._drop_dequeuer(dequeue)
        self._remove(member)
        member.phase = "dequeuing"
        member.dequeuer = dequeue
        dequeue.member = member
        member.call.post(QueueStep(lambda: self._dequeued(member)))

    async def _dequeued(self, member: Member) -> None:
        await member.call.execute(await member.stop())
        dequeue = member.dequeuer
        if member.call.ended or dequeue is None:
            return
        if dequeue.action.url is None:
            await self.bridge(member)
            return
        extra = [
            ("QueueSid", member.queue.sid),
            ("QueueTime", str(member.queue_time_s())),
            ("DequeingCallSid", dequeue.call.sid),
        ]
        doc = member._interpreter(URL_VERBS, extra)
        await member.call.execute(await member._filter(doc.start(dequeue.action.url, dequeue.action.method)))

    async def bridge(self, member: Member) -> None:
        """Connect the member to its dequeuer (after the <Queue url> document, if any)."""
        dequeue = member.dequeuer
        if dequeue is None or dequeue.done or member.call.ended or dequeue.call.ended:
            return
        member.phase = "bridged"
        member.bridged_at = self.clock.monotonic()
        await self.sip.stop_play(CallSid(dequeue.call.sid))
        await self.sip.bridge(CallSid(dequeue.call.sid), CallSid(member.sid))
        log.info("[%s] bridged to %s from queue %s", member.sid, dequeue.call.sid, member.queue.sid)

    async def stop_dial(self, call: QueueCall) -> None:
        """The dequeuer's StopDial (hangupOnStar, a live update, its hangup)."""
        dequeue = call.queue_dial
        if dequeue is None:
            return
        member = dequeue.member
        if member is None:
            self._drop_dequeuer(dequeue)
            dequeue.end(E.DialCallStatus.CANCELED)
            return
        await self._unbridge(member, member_left=False)

    async def _unbridge(self, member: Member, *, member_left: bool) -> None:
        """End a dequeue in progress: DialEnded for the dequeuer; the member, unless it is the
        one leaving, goes on with QueueResult bridged (or back to the queue's front when it was
        not connected yet)."""
        dequeue = member.dequeuer
        if dequeue is None:
            return
        member.dequeuer = None
        bridged_at = member.bridged_at
        if bridged_at is not None:
            await self.sip.unbridge(CallSid(dequeue.call.sid), CallSid(member.sid))
            duration = int(self.clock.monotonic() - bridged_at)
            dequeue.end(E.DialCallStatus.COMPLETED, duration, bridged=True)
        else:
            dequeue.end(E.DialCallStatus.COMPLETED, 0, bridged=False)
        if member_left:
            return
        if bridged_at is not None:
            member.phase = "done"
            member.call.queued = None
            member.call.deliver(
                E.QueueLeft(member.action.op_id, E.QueueResult.BRIDGED, member.queue.sid, member.queue_time_s())
            )
        else:  # taken but not connected yet: back to the front of the queue
            member.phase = "waiting"
            if member.queue.sid not in self._live and member.queue.sid not in self._homing:
                self._spawn(self._rehome(member.queue), f"queue-rehome-{member.queue.sid}")
            self._of(member.queue.sid).members.insert(0, member)
            member.call.post(QueueStep(self._rewait(member)))

    def _rewait(self, member: Member) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await member.call.execute(await member.stop())
            await member.start_wait()

        return run

    # --- a call's end ------------------------------------------------------------------------

    async def call_ended(self, call: QueueCall) -> None:
        """A call ended (its session's end): out of its queue, its dequeue ended."""
        if call.queue_dial is not None:
            await self.stop_dial(call)
        member = call.queued
        if member is None:
            return
        call.queued = None
        self._remove(member)
        member.doc = None
        member.holding = False
        if member.dequeuer is not None:
            bridged = member.bridged_at is not None
            await self._unbridge(member, member_left=True)
            self.report(member, E.QueueResult.BRIDGED if bridged else E.QueueResult.HANGUP, status="completed")
        else:
            self.report(member, E.QueueResult.HANGUP, status="completed")

    def report(self, member: Member, result: E.QueueResult, status: str = "in-progress") -> None:
        """Request <Enqueue action> for an end whose document runs elsewhere (or nowhere): its
        answer is not run."""
        action = member.action
        if action.action is None or self.media is None:
            return
        params = (
            *call_params(member.call.call, status),
            *Interpreter.queue_params(E.QueueLeft(0, result, member.queue.sid, member.queue_time_s())),
        )
        fetch = A.FetchDocument(0, action.action, action.method, tuple(params), A.FetchReason.ENQUEUE)
        self._spawn(self._request(member.call.call, fetch, member.call.auth_token), f"queue-report-{member.sid}")

    def _spawn(self, work: Coroutine[object, object, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, call: CallRecord, fetch: A.FetchDocument, auth_token: str) -> None:
        assert self.media is not None
        loaded = await self.media.document(call, fetch, auth_token)
        if isinstance(loaded.event, E.FetchFailed):
            log.warning("[%s] <Enqueue action> %s failed: %s", call.sid, fetch.url, loaded.event.message)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*self._leaving.values(), return_exceptions=True)  # the names given back
