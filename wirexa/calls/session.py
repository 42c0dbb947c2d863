"""CallSession: the async driver of one live call, and what happens when a call ends.

Theory of operation. Every input of a call (SIP events, results of the session's own
background work such as a fetched document or a rendered prompt, timers, API redirects, and
the ends of its <Dial> legs) is posted to the session's queue and handled by one task, in
order, so the interpreter is fed one fact at a time and never concurrently. Slow work (HTTP,
TTS, file conversion: calls/media.py) runs in helper tasks that post their result back; the
session task itself only awaits quick SIP commands and store writes.

A call ends with CallEnded from SIP (the far end hung up, we did, the ring timeout, a dead
worker). _on_ended is the one place that ends it: timers stop, ending.finalize() writes the final
status with end time, duration and the `completed` callback in one transaction, the
interpreter hears CallHungUp (a <Record> or <Gather> in progress may still report), the legs
of a <Dial> in progress are hung up, a leg tells its parent (LegEnded), and the dispatcher
forgets the call.

A <Dial> leg is a CallSession of its own (direction outbound-dial, `parent` set): its SIP facts
move its own status and callbacks; once answered (and after its whisper document) it posts
LegAnswered to the parent, whose DialGroup (calls/dial.py) connects it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from wirexa.calls import recordings, state
from wirexa.calls.conference import Conferences, Participant
from wirexa.calls.dial import DialGroup, Leg, LegEnded
from wirexa.calls.ending import end_fact, finalize
from wirexa.calls.media import Loaded, MediaPrep, Prompt, StreamDone
from wirexa.calls.params import call_params
from wirexa.calls.ports import (
    AmdDecided,
    AudioHeard,
    CallAnswered,
    CallEnded,
    CallInitiated,
    CallRinging,
    CallSid,
    CallStore,
    Clock,
    CommandFailed,
    DigitReceived,
    DigitsSent,
    PlaybackFinished,
    QualitySampled,
    RecordingFinished,
    SidSource,
    SipEvent,
    SipPort,
    SpeakingChanged,
    StreamChanged,
    SttPort,
    Timer,
)
from wirexa.calls.queues import Dequeue, Member, Queues, QueueStep
from wirexa.calls.recordings import CallRecordings, Merger, Repairer, Trimmer
from wirexa.calls.records import (
    VERB_CAP,
    CallChanges,
    CallRecord,
    NewCall,
    NewNotification,
    RecordingOptions,
    RecordingRecord,
    VerbRun,
)
from wirexa.calls.sipuri import split_headers
from wirexa.calls.speech import SpeechListener
from wirexa.calls.streams import CallStreams, StreamInfo, StreamRefused
from wirexa.errors import ApiCode, DocumentError, SipError, WirexaError
from wirexa.laml import actions as A
from wirexa.laml import events as E
from wirexa.laml.interpreter import Interpreter
from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import DialTarget, HttpMethod, RejectReason, TargetKind
from wirexa.media.quality import Decimator, QualityMeter
from wirexa.notices import Notice

log = logging.getLogger(__name__)

# <Reject reason=...> of an unanswered inbound call: the final response the caller gets.
REJECT_CODES = {RejectReason.BUSY: 486, RejectReason.REJECTED: 603}
APPLICATION_ERROR_XML = "<Response><Say>An application error has occurred.</Say><Hangup/></Response>"
AMD_GUARD_S = 3.0  # beyond MachineDetectionTimeout, for a detector that never reports
AMD_UNDECIDED = "unknown"  # AnsweredBy when synchronous AMD ends without a decision
# The verbs a call runs (VERB_CAP kept) are written with its next quality sample and at its end,
# a few rows in one write, rather than one write each.


def verb_of(action: A.Action) -> tuple[str, str] | None:
    """The verb an action starts, as the timeline names it, and a short detail; None for the
    interpreter's plumbing (timers, fetches, notices: the timeline shows fetches and notices)."""
    match action:
        case A.Say(text=text):
            return "Say", text[:120]
        case A.PlayAudio(url=url):
            return "Play", url
        case A.PlayDigits(digits=digits):
            return "Play", f"digits {digits}"
        case A.StartGather(num_digits=n, timeout_s=t, input=modes) if "dtmf" not in modes:
            return "Gather", f"speech, timeout {t} s"
        case A.StartGather(num_digits=n, timeout_s=t, input=modes):
            return "Gather", f"{n or 'any'} digit(s){' or speech' if 'speech' in modes else ''}, timeout {t} s"
        case A.StartRecording(max_length_s=m):
            return "Record", f"up to {m} s"
        case A.Dial(targets=targets):
            return "Dial", ", ".join(t.value for t in targets)
        case A.DialConference(name=name):
            return "Dial", f"conference {name}"
        case A.DialQueue(name=name):
            return "Dial", f"queue {name}"
        case A.Enqueue(name=name):
            return "Enqueue", name
        case A.StartStream(url=url, bidirectional=bidirectional):
            return ("Connect Stream" if bidirectional else "Start Stream"), url
        case A.StopStream(name=name):
            return "Stop Stream", name
        case A.Answer():
            return "Answer", ""
        case A.Reject(reason=reason):
            return "Reject", str(reason)
        case A.Hangup(end_of_document=False):
            return "Hangup", ""
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class SessionDeps:
    """What a session works with; built by runtime.py (a fake at the SIP seam in tests)."""

    store: CallStore
    sip: SipPort
    media: MediaPrep
    clock: Clock
    new_sid: SidSource
    trim: Trimmer
    merge: Merger
    repair: Repairer
    recordings_dir: Path
    base_url: str
    beep_wav: Path
    max_fetches: int = 20
    # Desk phones: where <Dial><Client>alice</Client> (or <Sip>sip:alice@<phones_domain></Sip>) rings.
    phones: Phones | None = None
    phones_domain: str = "wirexa"
    # The caller ids the trunk allows (empty: any): an inbound caller's number not among them is
    # not put on a forwarded leg (the number it called is).
    caller_ids: frozenset[str] = frozenset()
    # X-Twilio-Signature of a Media Stream's WebSocket request: (auth token, url) -> signature.
    sign: Callable[[str, str], str] | None = None
    # Call queues (<Enqueue>, <Dial><Queue>): calls/queues.py; None answers them with a notification.
    queues: Queues | None = None
    # Conference rooms (<Dial><Conference>): calls/conference.py; None answers them with a notification.
    conferences: Conferences | None = None
    # Speech recognition (<Gather input="speech">): media/stt/chain.py; None answers it with a notification.
    stt: SttPort | None = None


class Phones(Protocol):
    """The desk phones' registrations (the inbound front's registrar)."""

    def reach(self, username: str) -> list[str]:
        """SIP URIs to ring the phone `username` at: one per registered contact, or none."""
        ...


def sip_header_params(headers: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """Twilio's SipHeader_X-... request parameters of a call's custom SIP headers (not the
    engine's own X-Wirexa-*)."""
    return [
        (f"SipHeader_{name}", value)
        for name, value in headers
        if name.lower().startswith("x-") and not name.lower().startswith("x-wirexa-")
    ]


def phone_user(target: DialTarget, domain: str) -> str | None:
    """The desk phone a <Dial> target names (<Client>alice</Client>, client:alice, or
    <Sip>sip:alice@<domain></Sip>), or None for any other target."""
    value = target.value.strip()
    if target.kind is TargetKind.CLIENT:
        return value.removeprefix("client:") or None
    if target.kind is TargetKind.SIP:
        user, _, host = value.split(":", 1)[-1].partition("@")
        if host.split(";")[0].split(":")[0].lower() == domain.lower() and user:
            return user
    return None


class SessionHost(Protocol):
    """What a session needs from the dispatcher that started it."""

    async def start_leg(self, parent: CallSession, leg: CallRecord, timeout_s: float, caller_id: str) -> CallSession:
        """Place a <Dial> leg in the parent's media worker; raises SipError."""
        ...

    def session_ended(self, call_sid: str) -> None: ...


def call_recording_options(call: CallRecord) -> RecordingOptions:
    """Record=true and its options on the call create (source OutboundAPI)."""
    return RecordingOptions(
        source="OutboundAPI",
        channels=2 if call.recording_channels == "dual" else 1,
        track=call.recording_track,
        trim=call.trim,
        status_callback=call.recording_status_callback,
        status_callback_method=call.recording_status_callback_method,
        status_callback_events=tuple(call.recording_status_callback_events.split()) or ("completed",),
    )


# --- internal facts posted to the session queue -------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Feed:
    """Feed this LaML event to the interpreter (timers)."""

    event: E.Event


@dataclasses.dataclass(frozen=True, slots=True)
class _Redirect:
    url: str | None
    method: str
    twiml: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class LegAnswered:
    """A <Dial> leg answered and its whisper document (if any) is over."""

    leg: CallSession


@dataclasses.dataclass(frozen=True, slots=True)
class _Hangup:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class _StartInbound:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class _AmdGuard:
    """Synchronous AMD reported nothing in time."""


@dataclasses.dataclass(frozen=True, slots=True)
class _RecordingsGuard:
    """The call ended and its recordings' workers did not report them in time."""


Posted = (
    SipEvent
    | _Feed
    | Prompt
    | StreamDone
    | Loaded
    | _Redirect
    | LegAnswered
    | LegEnded
    | _Hangup
    | _StartInbound
    | _AmdGuard
    | _RecordingsGuard
    | QueueStep
)
RECORDINGS_GUARD_S = 5.0  # after hangup, how long a session waits for its recordings' files


class CallSession:
    """One live call; created by the Dispatcher when the call leaves the queue. Loop-only."""

    def __init__(
        self, call: CallRecord, host: SessionHost, deps: SessionDeps, parent: CallSession | None = None
    ) -> None:
        self.call = call
        self.host = host
        self.deps = deps
        self.store = deps.store
        self.sip = deps.sip
        self.parent = parent
        self.dial: DialGroup | None = None  # the <Dial> in progress
        self.interp: Interpreter | None = None
        self.answered = False
        self.ended = False
        self.hanging_up = False
        self.auth_token = ""
        self._queue: asyncio.Queue[Posted] = asyncio.Queue()
        self._timers: dict[int, Timer] = {}
        self._digits_op: int | None = None  # a <Play digits> in progress
        self._send_digits_pending = False  # SendDigits before the program (or the bridge)
        self._recording: A.StartRecording | None = None  # a <Record> in progress
        self._bg: set[asyncio.Task[Any]] = set()
        self._time_limit: Timer | None = None
        self._amd_guard: Timer | None = None  # synchronous AMD in progress
        self._amd_ms: int | None = None  # its decision time, for MachineDetectionDuration
        # SipHeader_X-... of the document's requests: the X- headers of the far end's 200 OK (a
        # call to a SIP endpoint) or of an inbound INVITE (calls/inbound.py sets them).
        self.sip_params: list[tuple[str, str]] = []
        self.finished = asyncio.Event()  # set once the call is finalized in the store
        self.recordings = CallRecordings(
            deps.store,
            deps.sip,
            deps.clock,
            deps.new_sid,
            deps.trim,
            deps.merge,
            deps.repair,
            deps.recordings_dir / call.account_sid,
        )
        self.listener: SpeechListener | None = None  # a <Gather input="speech">'s recognition
        self.streams = CallStreams(
            deps.sip, deps.new_sid, deps.sign, self._stream_callback, self._notify, deps.clock.now
        )
        self._lingering = False  # ended, waiting for its recordings to be reported
        self._quality = QualityMeter()  # its media quality samples (media/quality.py)
        self._kept = Decimator()
        self._invited_at: float | None = None  # monotonic: when its INVITE left (post-dial delay)
        self._post_dial_ms: int | None = None
        self._hangup_by: str | None = None  # why we hung up: "api" or "engine" (None: we did not)
        self.queued: Member | None = None  # in a queue (<Enqueue>): calls/queues.py
        self.queue_dial: Dequeue | None = None  # taking a caller from a queue (<Dial><Queue>)
        self.participant: Participant | None = None  # in a conference room: calls/conference.py
        self._verbs: list[VerbRun] = []  # run, not yet written
        self._verb_count = 0
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"call-{call.sid}")

    @property
    def sid(self) -> str:
        return self.call.sid

    @property
    def account_sid(self) -> str:
        return self.call.account_sid

    # --- entry points (loop) -------------------------------------------------------------------

    def post(self, item: Posted) -> None:
        if not self.ended or self._lingering:
            self._queue.put_nowait(item)

    async def hangup(self, code: int = 0, *, by: str = "engine") -> None:
        """Hang up (CANCEL before answer; an unanswered inbound call refused with `code` when
        given); the CallEnded event finishes the session. `by` is who the call's summary says
        hung up: "api" (the Calls resource) or "engine" (its document, a limit, shutdown)."""
        if self.ended or self.hanging_up:
            return
        self.hanging_up = True
        self._hangup_by = by
        try:
            await self.sip.hangup(CallSid(self.sid), code)
        except SipError as exc:
            log.warning("[%s] hangup failed: %s", self.sid, exc)

    def redirect(self, url: str | None, method: str, twiml: str | None) -> None:
        self.post(_Redirect(url, method, twiml))

    @property
    def inbound(self) -> bool:
        return self.call.direction == state.Direction.INBOUND

    def start_inbound(self) -> None:
        """An inbound call (created ringing) runs its document now, before any answer."""
        self.post(_StartInbound())

    def could_not_start(self) -> None:
        """start_call failed: the call was never placed."""
        self.post(CallEnded.never_placed(self.sid))

    # --- the session task ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self.ended or self._lingering:
                item = await self._queue.get()
                try:
                    await self._handle(item)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one bad fact must not orphan a live call
                    log.exception("[%s] failed handling %s", self.sid, type(item).__name__)
                    if not self.ended:
                        await self.hangup()
        finally:
            for task in self._bg:
                task.cancel()

    async def _handle(self, item: Posted) -> None:
        if isinstance(item, CallInitiated):
            self._invited_at = self.deps.clock.monotonic()
            return
        if isinstance(item, QualitySampled):
            await self._on_quality(item)
        elif isinstance(item, CallRinging):
            await self.store.transition(self.sid, state.Fact.RANG, CallChanges(post_dial_delay_ms=self._post_dial()))
        elif isinstance(item, CallAnswered):
            if item.sip_headers:
                self.sip_params = sip_header_params(item.sip_headers)
            await self._on_answered()
        elif isinstance(item, CallEnded):
            await self._on_ended(item)
        elif isinstance(item, DigitReceived):
            await self._feed(E.DigitReceived(item.digit))
        elif isinstance(item, PlaybackFinished):
            if item.play_id.isdigit():
                await self._feed(E.PlaybackFinished(int(item.play_id)))
        elif isinstance(item, DigitsSent):
            await self._on_digits_sent()
        elif isinstance(item, RecordingFinished):
            if item.rec_id in self.recordings:
                await self.recordings.finished(self.call, item)
            else:
                await self._on_recording(item)
            if self._lingering and not self._recordings_pending():
                self._close()
        elif isinstance(item, _RecordingsGuard):
            if self._lingering:
                for rec_id in self.recordings.pending():
                    log.warning("[%s] recording %s was never reported: closing it from its file", self.sid, rec_id)
                    await self.recordings.finished(self.call, self.recordings.lost(rec_id))
                self._close()
        elif isinstance(item, AmdDecided):
            await self._on_amd(item.answered_by, item.detection_ms, item.confidence)
        elif isinstance(item, _AmdGuard):
            if self._amd_guard is not None:
                log.warning("[%s] AMD gave no decision: unknown", self.sid)
                await self._on_amd(AMD_UNDECIDED, self.call.machine_detection_timeout_s * 1000, 0.0)
        elif isinstance(item, AudioHeard):
            if self.listener is not None and self.listener.listen_id == item.listen_id:
                await self.listener.heard(item)
        elif isinstance(item, SpeakingChanged):
            if self.participant is not None and self.deps.conferences is not None:
                await self.deps.conferences.speaking(self.participant, item.room, item.on)
        elif isinstance(item, CommandFailed):
            await self._on_command_failed(item)
        elif isinstance(item, StreamChanged):
            ended = await self.streams.changed(self.call, item)
            if ended is not None:
                await self._feed(ended)
        elif isinstance(item, _Feed):
            await self._feed(item.event)
        elif isinstance(item, Prompt):
            await self._on_prompt(item)
        elif isinstance(item, StreamDone):
            await self._on_stream_done(item)
        elif isinstance(item, Loaded):
            for notice in item.notices:
                await self._notify(notice)
            await self._feed(item.event)
        elif isinstance(item, _Redirect):
            await self._on_redirect(item)
        elif isinstance(item, LegAnswered):
            if self.dial is not None:
                await self.dial.leg_answered(item.leg, parent_gone=self.ended)
            else:
                await item.leg.hangup()
        elif isinstance(item, LegEnded):
            if self.dial is not None:
                await self._dial_result(await self.dial.leg_ended(item, parent_gone=self.ended))
        elif isinstance(item, _Hangup):
            await self.hangup()
        elif isinstance(item, _StartInbound):
            await self._load_auth_token()
            await self._start_program()
        elif isinstance(item, QueueStep):
            await item.run()

    async def start_recording(self, options: RecordingOptions) -> RecordingRecord | None:
        """The Recordings API starts a recording of this call; None when it is no longer live."""
        if self.ended or not self.answered:
            return None
        return await self.recordings.start(self.call, options)

    async def update_recording(self, rec_sid: str, status: str, pause_behavior: str) -> RecordingRecord | None:
        """The Recordings API pauses, resumes or stops one (`Twilio.CURRENT`: the latest)."""
        if rec_sid == "Twilio.CURRENT":
            rec_sid = self.recordings.current() or rec_sid
        return await self.recordings.update(rec_sid, status, pause_behavior)

    # --- lifecycle -------------------------------------------------------------------------------

    async def _on_answered(self) -> None:
        if self.answered:
            return
        self.answered = True
        sync_amd = bool(self.call.machine_detection) and not self.call.async_amd and self.parent is None
        # Synchronous AMD holds back the `answered` callback (it goes out with AnsweredBy), and
        # nothing is played nor the Url fetched before the decision.
        changes = CallChanges(answer_time=self.deps.clock.now(), post_dial_delay_ms=self._post_dial())
        updated = await self.store.transition(self.sid, state.Fact.ANSWERED, changes, announce=not sync_amd)
        if updated is not None:
            self.call = updated
        if self.call.record and self.parent is None:  # Record=true: from the answer to the hangup
            await self.recordings.start(self.call, call_recording_options(self.call))
        if sync_amd:
            guard_s = self.call.machine_detection_timeout_s + AMD_GUARD_S  # a detector that never reports
            self._amd_guard = self.deps.clock.call_later(guard_s, functools.partial(self.post, _AmdGuard()))
            return
        if self.inbound:  # its document is running: the answer was its Answer action's doing
            self._start_time_limit()
            return
        await self._run_answered()

    def _post_dial(self) -> int | None:
        """The post-dial delay, at the first ringing or answer after our INVITE (None after, or
        for a call we did not place)."""
        if self._invited_at is None or self._post_dial_ms is not None:
            return None
        self._post_dial_ms = max(0, round((self.deps.clock.monotonic() - self._invited_at) * 1000))
        return self._post_dial_ms

    async def _on_quality(self, item: QualitySampled) -> None:
        """A reading of the call's media statistics: its sample kept (within the cap: the
        Decimator thins a long call's) with the call's new summary, in one small write."""
        await self._write_verbs()
        sample = self._quality.sample(item.reading, self.deps.clock.monotonic(), item.final)
        keep, thin = self._kept.keep(sample.seq)
        await self.store.quality_sampled(
            self.sid, sample if keep or sample.final else None, thin, self._quality.summary()
        )

    def _ended_by(self, ev: CallEnded) -> str:
        """Who hung up, for the call's summary: the far end (the caller of an inbound call, the
        callee of one we placed), the API, or the engine (its document, a limit, a dead worker)."""
        if ev.hangup_by == "remote":
            return "caller" if self.inbound else "callee"
        return self._hangup_by or "engine"

    async def _on_amd(self, answered_by: str, detection_ms: int, confidence: float) -> None:
        sync = self._amd_guard is not None
        if sync:
            assert self._amd_guard is not None
            self._amd_guard.cancel()
            self._amd_guard = None
            self._amd_ms = detection_ms
        elif not (self.call.machine_detection and self.answered) or self.ended:
            return
        log.info("[%s] AMD: %s after %d ms (confidence %.2f)", self.sid, answered_by, detection_ms, confidence)
        updated = await self.store.amd_decided(self.sid, answered_by, detection_ms, confidence, announce_answered=sync)
        if updated is not None:
            self.call = updated
        if sync and not self.ended:
            await self._run_answered()

    def _start_time_limit(self) -> None:
        self._time_limit = self.deps.clock.call_later(self.call.time_limit_s, functools.partial(self.post, _Hangup()))

    async def _load_auth_token(self) -> None:
        project = await self.store.project(self.account_sid)
        self.auth_token = project.auth_token if project else ""

    async def _run_answered(self) -> None:
        """The answered call's program: time limit, SendDigits, then the document."""
        self._start_time_limit()
        await self._load_auth_token()
        if self.call.send_digits:  # SendDigits (<Number sendDigits> on a leg) before anything else
            self._send_digits_pending = True
            await self.sip.send_dtmf(CallSid(self.sid), self.call.send_digits)
            return
        await self._ready()

    async def _on_digits_sent(self) -> None:
        if self._send_digits_pending:
            self._send_digits_pending = False
            await self._ready()
        elif self._digits_op is not None:
            op, self._digits_op = self._digits_op, None
            await self._feed(E.PlaybackFinished(op))

    async def _ready(self) -> None:
        """Answered (and SendDigits sent): run the program. A <Dial> leg runs its whisper
        document (<Number url>) if it has one, else it is ready to be connected."""
        if self.parent is not None and not self.call.url:
            self.parent.post(LegAnswered(self))
        else:
            await self._start_program()

    async def _start_program(self) -> None:
        """Run the call's document: at the answer for the calls we place, while it rings for an
        inbound one (CallStatus ringing; its interpreter asks for the Answer)."""
        status = state.CallStatus.IN_PROGRESS if self.answered else state.RESOURCE_STATUS[self.call.status]
        params = call_params(self.call, str(status)) + self.sip_params
        if self._amd_ms is not None:
            params.append(("MachineDetectionDuration", str(self._amd_ms)))
        self.interp = Interpreter(
            call_params=dict(params),
            base_url=self.call.url,
            max_fetches=self.deps.max_fetches,
        )
        if self.call.twiml:
            try:
                document = parse_document(self.call.twiml, "text/xml")
            except DocumentError as exc:
                await self._notify_call(exc.code, exc.message)
                document = parse_document(APPLICATION_ERROR_XML, "text/xml")
            self.deps.media.warm(document)
            await self._execute(self.interp.start(document))
        else:
            await self._execute(self.interp.start(self.call.url or "", HttpMethod(self.call.method)))

    async def _on_ended(self, ev: CallEnded) -> None:
        if self.ended:
            return
        self.ended = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self._time_limit is not None:
            self._time_limit.cancel()
        if self._amd_guard is not None:  # hung up while synchronous AMD listened: undecided
            await self._on_amd(AMD_UNDECIDED, self.call.machine_detection_timeout_s * 1000, 0.0)
        fact = end_fact(self.answered, ev.reason)
        final = await finalize(self.store, self.deps.clock, self.sid, fact, sip_code=ev.sip_code, by=self._ended_by(ev))
        await self.streams.call_ended(self.call)
        await self._stop_listening()
        log.info(
            "[%s] ended: %s (sip %s, by %s)", self.sid, final.status if final else ev.reason, ev.sip_code, ev.hangup_by
        )
        if self.interp is not None:
            try:
                await self._execute(self.interp.feed(E.CallHungUp()))
            except WirexaError:
                log.exception("[%s] interpreter failed on hangup", self.sid)
        await self._write_verbs()
        if self.dial is not None:
            await self.dial.hang_up()
        if self.deps.queues is not None:
            await self.deps.queues.call_ended(self)
        if self.deps.conferences is not None:
            await self.deps.conferences.call_ended(self)
        if self.parent is not None:
            status = final.status if final else ev.reason
            self.parent.post(LegEnded(self, status, final.duration_s if final else None, bridged=self.answered))
        if self._recordings_pending():
            # The worker reports a recording once its file is closed, a moment after the
            # hangup: stay registered until then, so the recording is kept and announced.
            self._lingering = True
            self.deps.clock.call_later(RECORDINGS_GUARD_S, functools.partial(self.post, _RecordingsGuard()))
            return
        self._close()

    def _recordings_pending(self) -> bool:
        return bool(self.recordings.pending()) or self._recording is not None

    def _close(self) -> None:
        self._lingering = False
        self.finished.set()
        self.host.session_ended(self.sid)

    # --- interpreter plumbing ----------------------------------------------------------------

    async def _feed(self, event: E.Event) -> None:
        if self.interp is None or self.ended and not isinstance(event, E.CallHungUp):
            return
        if self.queued is not None and self.queued.takes(event):  # its wait or url document's
            await self._execute(await self.queued.feed(event))
            return
        if self.participant is not None and self.participant.takes(event) and self.deps.conferences is not None:
            await self._execute(await self.deps.conferences.feed(self.participant, event))  # its waitUrl document's
            return
        await self._execute(self.interp.feed(event))

    def deliver(self, event: E.Event) -> None:
        """Feed `event` to the interpreter in its turn (calls/queues.py answers this way)."""
        self.post(_Feed(event))

    async def execute(self, actions: list[A.Action]) -> None:
        """Perform a queue's wait or url document's actions as the call's own."""
        await self._execute(actions)

    def _spawn(self, work: Awaitable[Posted]) -> None:
        """Run slow work in a helper task and post its result back to the session."""

        async def run() -> None:
            self.post(await work)

        task = asyncio.get_running_loop().create_task(run())
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _execute(self, actions: list[A.Action]) -> None:
        for action in actions:
            if self.ended and not isinstance(action, (A.Notify, A.Finished, A.CancelTimer)):
                continue
            await self._perform(action)

    def _note_verb(self, action: A.Action) -> None:
        verb = verb_of(action)
        if verb is None:
            return
        if self._verb_count < VERB_CAP:
            self._verbs.append(VerbRun(self._verb_count, self.deps.clock.now(), *verb))
        elif self._verb_count == VERB_CAP:
            log.info("[%s] more than %d verbs: the rest are not kept for the timeline", self.sid, VERB_CAP)
        self._verb_count += 1

    async def _write_verbs(self) -> None:
        if self._verbs:
            verbs, self._verbs = self._verbs, []
            await self.store.verbs_run(self.sid, verbs)

    async def _perform(self, action: A.Action) -> None:
        self._note_verb(action)
        sid = CallSid(self.sid)
        if isinstance(action, A.Say):
            self._spawn(self.deps.media.say(self.call, action))
        elif isinstance(action, A.PlayAudio):
            self._spawn(self.deps.media.play(self.call, action))
        elif isinstance(action, A.PlayDigits):
            self._digits_op = action.op_id
            await self.sip.send_dtmf(sid, action.digits)
        elif isinstance(action, A.StopPrompts):
            await self.sip.stop_play(sid)
        elif isinstance(action, A.StartTimer):
            self._timers[action.op_id] = self.deps.clock.call_later(
                action.delay_s, functools.partial(self._timer_fired, action.op_id)
            )
        elif isinstance(action, A.CancelTimer):
            handle = self._timers.pop(action.op_id, None)
            if handle is not None:
                handle.cancel()
        elif isinstance(action, A.Answer):
            await self.sip.answer(sid)
        elif isinstance(action, A.StartGather):
            return  # DTMF input needs nothing started: the worker reports every digit
        elif isinstance(action, (A.StopGather, A.StopListening)):
            await self._stop_listening()
        elif isinstance(action, A.StartListening):
            await self._start_listening(action)
        elif isinstance(action, A.StartRecording):
            await self._start_recording(action)
        elif isinstance(action, A.StopRecording):
            await self.sip.stop_recording(sid)
        elif isinstance(action, A.Dial):
            action = dataclasses.replace(action, targets=await self._reach(action.targets))
            self.dial = DialGroup(self, self.sip, action)
            await self._dial_result(await self.dial.start())
        elif isinstance(action, A.StopDial):
            if self.dial is not None:
                await self.dial.hang_up()
            elif self.queue_dial is not None and self.deps.queues is not None:
                await self.deps.queues.stop_dial(self)
            elif self.participant is not None and self.deps.conferences is not None:
                await self.deps.conferences.stop(self)
        elif isinstance(action, (A.Enqueue, A.DialQueue, A.LeaveQueue)):
            await self._queue_action(action)
        elif isinstance(action, A.DialConference):
            refused: tuple[int, str] | None = (
                Notice.SCHEMA_WARNING,
                f"<Dial><Conference>{action.name}</Conference>: conference rooms are not available on this engine",
            )
            if self.deps.conferences is not None:
                refused = await self.deps.conferences.join(self, action)
            if refused is not None:  # the room refused the call: say why, and the <Dial> fails
                await self._notify_call(*refused)
                self.deliver(E.DialEnded(action.op_id, E.DialCallStatus.FAILED))
        elif isinstance(action, A.StartStream):
            await self._start_stream(action)
        elif isinstance(action, A.StopStream):
            if action.bidirectional:
                await self.streams.stop_bidirectional(self.call)
            elif await self.streams.stop(self.call, action.name) is None:
                await self._notify_call(
                    Notice.STREAM_NOT_RUNNING, f"<Stop><Stream>: no stream named {action.name!r} runs"
                )
        elif isinstance(action, A.FetchDocument):
            self._spawn(self.deps.media.document(self.call, action, self.auth_token))
        elif isinstance(action, A.Hangup) and action.end_of_document and self.parent is not None:
            return  # a whisper document ran out: Finished connects the parties
        elif isinstance(action, A.Reject):
            await self.hangup(REJECT_CODES[action.reason])
        elif isinstance(action, A.Hangup):
            await self.hangup()
        elif isinstance(action, A.Notify):
            level = 1 if action.level is A.NotifyLevel.WARNING else 0
            await self._notify_call(action.code, action.message, action.url, log_level=level)
        elif isinstance(action, A.Finished):
            if self.parent is not None and not self.ended and not self.hanging_up:
                self.parent.post(LegAnswered(self))  # the whisper is over: connect the parties
            elif not self.ended:
                await self.hangup()

    async def _queue_action(self, action: A.Enqueue | A.DialQueue | A.LeaveQueue) -> None:
        queues = self.deps.queues
        if queues is None:  # an engine without queues (tests of other parts): say so, go on
            await self._notify_call(Notice.SCHEMA_WARNING, "call queues are not available on this engine")
            if isinstance(action, A.Enqueue):
                self.deliver(E.QueueLeft(action.op_id, E.QueueResult.ERROR))
            elif isinstance(action, A.DialQueue):
                self.deliver(E.DialEnded(action.op_id, E.DialCallStatus.FAILED))
        elif isinstance(action, A.Enqueue):
            await queues.enqueue(self, action)
        elif isinstance(action, A.DialQueue):
            await queues.dial(self, action)
        else:
            await queues.redirected(self)

    def _timer_fired(self, op_id: int) -> None:
        if self._timers.pop(op_id, None) is not None:
            self.post(_Feed(E.TimerFired(op_id)))

    async def _on_prompt(self, prompt: Prompt) -> None:
        for notice in prompt.notices:
            await self._notify(notice)
        if prompt.path is None:
            await self._feed(E.PlaybackFinished(prompt.op_id))
            return
        if prompt.stream is not None:  # speech still being synthesized: play it as it grows
            await self.sip.play(CallSid(self.sid), str(prompt.op_id), str(prompt.path), 1, stream=True)
            self._spawn(self.deps.media.stream_done(self.call, prompt))
            return
        await self.sip.play(CallSid(self.sid), str(prompt.op_id), str(prompt.path), prompt.loop)

    async def _on_stream_done(self, done: StreamDone) -> None:
        for notice in done.notices:
            await self._notify(notice)
        await self.sip.end_stream(CallSid(self.sid), str(done.op_id), done.size)

    # --- media streams (calls/streams.py) -------------------------------------------------------

    async def _start_stream(self, action: A.StartStream) -> None:
        try:
            await self.streams.start(
                self.call,
                self.auth_token,
                url=action.url,
                name=action.name,
                track=action.track,
                bidirectional=action.bidirectional,
                parameters=action.parameters,
                status_callback=action.status_callback,
                status_callback_method=str(action.status_callback_method),
                op_id=action.op_id,
            )
        except StreamRefused as exc:
            await self._notify_call(exc.code, exc.message, action.url)
            if action.op_id:
                await self._feed(E.StreamEnded(action.op_id, "", exc.code))

    async def start_stream_api(self, **kwargs: Any) -> StreamInfo:
        """The Streams API starts a unidirectional stream (StreamRefused when it cannot)."""
        if self.ended:
            raise StreamRefused(ApiCode.INVALID_CALL_STATE, "Call is not in progress. Cannot start a stream.", 400)
        return await self.streams.start(self.call, self.auth_token, **kwargs)

    async def stop_stream_api(self, name_or_sid: str) -> StreamInfo | None:
        """The Streams API stops one; the StreamInfo (stopped or stopping), or None."""
        info = self.streams.find(name_or_sid)
        if info is not None and info.status == "in-progress":
            await self.streams.stop(self.call, info.sid)
        return info

    async def _stream_callback(self, call: CallRecord, url: str, method: str, params: list[tuple[str, str]]) -> None:
        await self.store.webhook(call.account_sid, call.sid, "stream", params[4][1], url, method, params)

    # --- speech (<Gather input="speech">: calls/speech.py) ------------------------------------------

    async def _start_listening(self, action: A.StartListening) -> None:
        await self._stop_listening()
        if self.deps.stt is None:
            await self._notify_call(Notice.GATHER_SPEECH_PROVIDER, "Gather: speech recognition is not available here")
            self.deliver(E.SpeechRecognized(action.listen_op, "", None))
            return
        self.listener = SpeechListener(
            self.sid,
            action.listen_op,
            action.speech,
            action.partial_url,
            sip=self.sip,
            stt=self.deps.stt,
            deliver=self.deliver,
            notify=self._notify_speech,
            post_partial=self._post_partial,
        )
        await self.listener.start()

    async def _stop_listening(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            await listener.stop()

    async def _notify_speech(self, code: int, message: str, level: int) -> None:
        await self._notify_call(code, message, log_level=level)

    async def _post_partial(self, url: str, method: str, extra: list[tuple[str, str]]) -> None:
        """A partial result to partialResultCallback, through the outbox (its answer is not read)."""
        params = call_params(self.call, str(state.CallStatus.IN_PROGRESS)) + extra
        await self.store.webhook(self.account_sid, self.sid, "gather", "partial", url, method, params)

    async def _on_command_failed(self, failed: CommandFailed) -> None:
        """A SIP command failed in the worker (a prompt it could not play, a recorder it could
        not open): tell the customer, and let the verb end as if it had run."""
        if failed.command == "listen":
            if self.listener is not None and self.listener.listen_id == failed.ref:
                self.listener.failed(failed.message)
            return
        if failed.command == "start_stream":
            ended = await self.streams.failed(self.call, failed.ref, failed.message)
            if ended is not None:
                await self._feed(ended)
            return
        await self._notify_call(failed.code, failed.message)
        if failed.command == "play" and failed.ref.isdigit():
            await self._feed(E.PlaybackFinished(int(failed.ref)))
        elif failed.command == "record" and failed.ref in self.recordings:
            await self.recordings.failed(self.call, failed.ref)
        elif failed.command == "record" and self._recording is not None:
            action, self._recording = self._recording, None
            await self._feed(E.RecordingEmpty(action.op_id))

    async def notify_call(self, code: int, message: str) -> None:
        """A notification on this call (calls/conference.py reports this way)."""
        await self._notify_call(code, message)

    async def _notify_call(self, code: int, message: str, url: str | None = None, *, log_level: int = 0) -> None:
        await self._notify(
            NewNotification(self.account_sid, self.sid, code, message, request_url=url, log_level=log_level)
        )

    async def _notify(self, notice: NewNotification) -> None:
        log.warning(
            "[%s] notification %s: %s (%s)", self.sid, notice.error_code, notice.message_text, notice.request_url or ""
        )
        await self.store.notify(notice)

    # --- live modification -----------------------------------------------------------------

    async def _on_redirect(self, item: _Redirect) -> None:
        if self.interp is None:
            return
        if item.twiml is not None:
            try:
                document = parse_document(item.twiml, "text/xml")
            except DocumentError as exc:
                await self._notify_call(exc.code, exc.message)
                return
            self.deps.media.warm(document)
            await self._feed(E.CallRedirected(document=document))
        else:
            await self._feed(E.CallRedirected(url=item.url, method=HttpMethod(item.method)))

    # --- recording ---------------------------------------------------------------------------

    def recording_path(self) -> tuple[str, Path]:
        """A new RecordingSid and the WAV path to record it to (DialParent, and <Record>)."""
        rec_sid = self.deps.new_sid("RE")
        folder = self.deps.recordings_dir / self.account_sid
        folder.mkdir(parents=True, exist_ok=True)
        return rec_sid, folder / f"{rec_sid}.wav"

    def recording_url(self, rec_sid: str) -> str:
        return f"{self.deps.base_url}/recordings/{rec_sid}"

    async def _start_recording(self, action: A.StartRecording) -> None:
        self._recording = action
        rec_sid, path = self.recording_path()
        if action.play_beep:
            await self.sip.play(CallSid(self.sid), "beep", str(self.deps.beep_wav), 1)
        await self.sip.start_recording(
            CallSid(self.sid),
            rec_sid,
            str(path),
            float(action.max_length_s),
            float(action.silence_timeout_s),
            action.finish_on_key,
        )

    async def _keep(self, done: RecordingFinished, kind: RecordingOptions) -> RecordingRecord | None:
        return await recordings.keep(
            self.store, self.deps.clock, self.deps.trim, self.call, done.rec_id, Path(done.path), done.duration_ms, kind
        )

    async def _on_recording(self, done: RecordingFinished) -> None:
        if self.dial is not None and done.rec_id == self.dial.rec_sid:
            dial = self.dial.action
            kind = RecordingOptions(
                "DialVerb",
                1,
                "both",
                "do-not-trim",
                dial.recording_status_callback,
                str(dial.recording_status_callback_method),
                dial.recording_status_callback_event,
            )
            await self._dial_result(self.dial.recording_closed(await self._keep(done, kind)))
            return
        action, self._recording = self._recording, None
        if action is None:
            return
        kind = RecordingOptions(
            "RecordVerb",
            1,
            "inbound",
            str(action.trim),
            action.recording_status_callback,
            str(action.recording_status_callback_method),
            action.recording_status_callback_event,
            transcribe=action.transcribe,
            transcribe_callback=action.transcribe_callback,
        )
        rec = await self._keep(done, kind)
        if rec is None:
            await self._feed(E.RecordingEmpty(action.op_id))
            return
        digit = done.digit if done.how == "key" and done.digit else ""
        await self._feed(
            E.RecordingSaved(action.op_id, rec.sid, self.recording_url(rec.sid), rec.duration_s or 0, digit)
        )

    # --- dial (DialParent) ------------------------------------------------------------------

    async def _reach(self, targets: tuple[DialTarget, ...]) -> tuple[DialTarget, ...]:
        """<Client>s and <Sip> URIs of the phones' domain become one SIP target per contact the
        phone has registered (all ring at once); a phone with none is left out, noticed."""
        reached: list[DialTarget] = []
        for target in targets:
            user = phone_user(target, self.deps.phones_domain)
            if user is None or self.deps.phones is None:
                reached.append(target)
                continue
            contacts = self.deps.phones.reach(user)
            if not contacts:
                await self._notify_call(Notice.DIAL_NUMBER_FAILED, f"Dial to {target.value}: {user} is not registered")
            reached += [dataclasses.replace(target, kind=TargetKind.SIP, value=uri) for uri in contacts]
        return tuple(reached)

    def _default_caller_id(self) -> str:
        """<Dial>'s callerId when none is given: the call's caller (Twilio forwards an inbound
        caller's number), but for an inbound call the number it called when the caller is
        anonymous or a number the trunk does not allow as caller id."""
        caller = self.call.from_number
        if self.inbound and (caller == "anonymous" or (self.deps.caller_ids and caller not in self.deps.caller_ids)):
            return self.call.to_number
        return caller

    async def start_leg(self, action: A.Dial, target: DialTarget) -> Leg | None:
        caller_id = action.caller_id or self._default_caller_id()
        if target.kind is TargetKind.SIP:
            try:
                split_headers(target.value)
            except ValueError as exc:
                await self._notify_call(Notice.DIAL_NUMBER_FAILED, f"<Sip>{target.value}</Sip>: {exc}")
                return None
        leg = await self.store.insert(
            self.account_sid,
            NewCall(
                to_number=target.value,
                from_number=caller_id,
                direction="outbound-dial",
                parent_call_sid=self.sid,
                timeout_s=action.timeout_s,
                time_limit_s=action.time_limit_s,
                send_digits=target.send_digits,
                status_callback=target.status_callback,
                status_callback_method=str(target.status_callback_method),
                status_callback_events=target.status_callback_event or ("completed",),
                url=target.url,
                method=str(target.method),
                sip_auth_username=target.username if target.kind is TargetKind.SIP else None,
                sip_auth_password=target.password if target.kind is TargetKind.SIP else None,
            ),
        )
        try:
            return await self.host.start_leg(self, leg, float(action.timeout_s), caller_id)
        except SipError as exc:
            await self._notify_call(Notice.DIAL_NUMBER_FAILED, f"Dial to {target.value} failed: {exc}")
            return None

    async def _dial_result(self, ended: E.DialEnded | None) -> None:
        if ended is None:
            return
        self.dial = None
        await self._feed(ended)
