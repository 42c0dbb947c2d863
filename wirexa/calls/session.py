"""CallSession: the async driver of one live call. It turns SIP facts into status changes and
callbacks, feeds the LaML interpreter, and performs the interpreter's actions with the SIP
worker, the TTS chain, the audio cache and the document fetcher.

Theory of operation. Every input of a call (SIP events from the sink, results of the
session's own background work such as a finished fetch or TTS render, timers, API redirects)
is posted to the session's queue and handled by one task, in order, so the interpreter is fed
one fact at a time and never concurrently. Slow work (HTTP, TTS, file conversion) runs in
helper tasks that post their result back; the session task itself only awaits quick SIP
commands and store writes. The session ends after CallEnded: the call is finalized (status,
duration, `completed` callback), the interpreter hears CallHungUp, timers are cancelled, a
bridged <Dial> leg is hung up, and the dispatcher forgets the call.

A <Dial> leg is a CallSession of its own (direction outbound-dial, `parent` set): its SIP facts
move its own status and callbacks; on answer it bridges to the parent, and on its end it posts
the DialEnded result to the parent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wirexa.calls import state
from wirexa.calls.ports import (
    AudioSource,
    CallAnswered,
    CallEnded,
    CallInitiated,
    CallRinging,
    CallSid,
    DigitReceived,
    DigitsSent,
    Fetcher,
    PlaybackFinished,
    RecordingFinished,
    SipEvent,
    TtsPort,
)
from wirexa.errors import DocumentError, SipError, TtsError, WirexaError
from wirexa.laml import actions as A
from wirexa.laml import events as E
from wirexa.laml.interpreter import Interpreter
from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import DialRecord, DialTarget, HttpMethod, Trim
from wirexa.media.recording import trim_silence
from wirexa.store import repo
from wirexa.store.repo import CallRecord, RecordingRecord

if TYPE_CHECKING:
    from wirexa.calls.dispatcher import Dispatcher

log = logging.getLogger(__name__)

APPLICATION_ERROR_XML = "<Response><Say>An application error has occurred.</Say><Hangup/></Response>"
MIN_RECORDING_MS = 500

# (recording, call, RecordingStatusCallbackEvent) -> None, inside a store transaction.
RecordingCallbacks = Callable[[RecordingRecord, CallRecord, str], None]


@dataclasses.dataclass(slots=True)
class SessionDeps:
    """The I/O a session uses; built by runtime.py (fakes in tests)."""

    fetcher: Fetcher
    tts: TtsPort
    audio: AudioSource
    recordings_dir: Path
    base_url: str
    beep_wav: Path
    recording_callbacks: RecordingCallbacks
    max_fetches: int = 20


# --- internal facts posted to the session queue -------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Feed:
    """Feed this LaML event to the interpreter (results of background work, timers)."""

    event: E.Event


@dataclasses.dataclass(frozen=True, slots=True)
class _Play:
    op_id: int
    path: Path
    loop: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Redirect:
    url: str | None
    method: str
    twiml: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class _ChildAnswered:
    child: CallSession


@dataclasses.dataclass(frozen=True, slots=True)
class _ChildEnded:
    child: CallSession
    status: str
    duration_s: int | None
    bridged: bool


@dataclasses.dataclass(frozen=True, slots=True)
class _Hangup:
    pass


Posted = SipEvent | _Feed | _Play | _Redirect | _ChildAnswered | _ChildEnded | _Hangup

# When no leg of a simultaneous <Dial> connected, DialCallStatus is the most telling of their
# ends: someone could have answered (no-answer) before someone refused (busy) before an error.
_DIAL_STATUS_RANK = ("completed", "no-answer", "busy", "failed", "canceled")


def _most_telling(ends: list[_ChildEnded]) -> _ChildEnded:
    def rank(item: _ChildEnded) -> int:
        return _DIAL_STATUS_RANK.index(item.status) if item.status in _DIAL_STATUS_RANK else len(_DIAL_STATUS_RANK)

    return min(ends, key=rank)


def call_params(call: CallRecord, status: str) -> tuple[tuple[str, str], ...]:
    """Twilio's standard request parameters for the call's document fetches (reference §10.1)."""
    params = [
        ("CallSid", call.sid),
        ("AccountSid", call.account_sid),
        ("From", call.from_number),
        ("To", call.to_number),
        ("CallStatus", status),
        ("ApiVersion", "2010-04-01"),
        ("Direction", call.direction),
        ("Caller", call.from_number),
        ("Called", call.to_number),
    ]
    if call.parent_call_sid:
        params.append(("ParentCallSid", call.parent_call_sid))
    if call.answered_by:
        params.append(("AnsweredBy", call.answered_by))
    return tuple(params)


class CallSession:
    """One live call; created by the Dispatcher when the call leaves the queue. Loop-only."""

    def __init__(self, call: CallRecord, dispatcher: Dispatcher, deps: SessionDeps, parent: CallSession | None = None) -> None:
        self.call = call
        self.sid = call.sid
        self.account_sid = call.account_sid
        self.dispatcher = dispatcher
        self.sip = dispatcher.sip
        self.store = dispatcher.store
        self.deps = deps
        self.parent = parent
        self.dial_op: int | None = None  # on a child: the parent's Dial op
        self.child: CallSession | None = None  # on a parent: the <Dial> leg bridged to it
        self.ringing: list[CallSession] = []  # on a parent: <Dial> legs rung at once, none connected yet
        self._unanswered: list[_ChildEnded] = []  # legs of this <Dial> that ended without connecting
        self._dial_action: A.Dial | None = None
        self._dial_rec_sid: str | None = None  # the <Dial record> recording running on this call
        self._dial_result: _ChildEnded | None = None  # waiting for that recording to close
        self.interp: Interpreter | None = None
        self.answered = False
        self.ended = False
        self.hanging_up = False
        self.auth_token: str | None = None
        self._queue: asyncio.Queue[Posted] = asyncio.Queue()
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._digits_op: int | None = None
        self._send_digits_pending = False
        self._recording_op: int | None = None
        self._recording_action: A.StartRecording | None = None
        self._bg: set[asyncio.Task[Any]] = set()
        self._time_limit: asyncio.TimerHandle | None = None
        self.finished = asyncio.Event()  # set once the call is finalized in the store
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"call-{self.sid}")

    # --- entry points (loop) -------------------------------------------------------------------

    def post(self, item: Posted) -> None:
        if not self.ended:
            self._queue.put_nowait(item)

    async def hangup(self) -> None:
        """Hang up (CANCEL before answer); the CallEnded event finishes the session."""
        if self.ended or self.hanging_up:
            return
        self.hanging_up = True
        try:
            await self.sip.hangup(CallSid(self.sid))
        except SipError as exc:
            log.warning("[%s] hangup failed: %s", self.sid, exc)

    async def redirect(self, url: str | None, method: str, twiml: str | None) -> None:
        self.post(_Redirect(url, method, twiml))

    async def on_sip_end(self, reason: str, sip_code: int | None) -> None:
        """The call could not be placed at all (start_call failed)."""
        self.post(CallEnded(CallSid(self.sid), reason, sip_code, "local"))  # type: ignore[arg-type]

    # --- the session task ----------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self.ended:
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
            return
        if isinstance(item, CallRinging):
            await self.dispatcher.transition(self.sid, state.Fact.RANG)
        elif isinstance(item, CallAnswered):
            await self._on_answered(item)
        elif isinstance(item, CallEnded):
            await self._on_ended(item)
        elif isinstance(item, DigitReceived):
            await self._feed(E.DigitReceived(item.digit))
        elif isinstance(item, PlaybackFinished):
            if item.play_id.isdigit():
                await self._feed(E.PlaybackFinished(int(item.play_id)))
        elif isinstance(item, DigitsSent):
            if self._send_digits_pending:
                self._send_digits_pending = False
                if self.parent is not None:
                    await self._child_ready()
                else:
                    await self._start_program()
            elif self._digits_op is not None:
                op, self._digits_op = self._digits_op, None
                await self._feed(E.PlaybackFinished(op))
        elif isinstance(item, RecordingFinished):
            await self._on_recording(item)
        elif isinstance(item, _Feed):
            await self._feed(item.event)
        elif isinstance(item, _Play):
            await self.sip.play(CallSid(self.sid), str(item.op_id), str(item.path), item.loop)
        elif isinstance(item, _Redirect):
            await self._on_redirect(item)
        elif isinstance(item, _ChildAnswered):
            await self._on_child_answered(item.child)
        elif isinstance(item, _ChildEnded):
            await self._on_child_ended(item)
        elif isinstance(item, _Hangup):
            await self.hangup()

    # --- lifecycle -------------------------------------------------------------------------------

    async def _on_answered(self, ev: CallAnswered) -> None:
        if self.answered:
            return
        self.answered = True
        updated = await self.dispatcher.transition(self.sid, state.Fact.ANSWERED, answer_time=repo.utcnow())
        if updated is not None:
            self.call = updated
        loop = asyncio.get_running_loop()
        self._time_limit = loop.call_later(self.call.time_limit_s, self.post, _Hangup())
        project = await self.store.read(repo.get_project, self.account_sid)
        self.auth_token = project.auth_token if project else ""
        if self.parent is not None:
            if self.call.send_digits:  # <Number sendDigits>: dial them before bridging
                self._send_digits_pending = True
                await self.sip.send_dtmf(CallSid(self.sid), self.call.send_digits)
            else:
                await self._child_ready()
            return
        if self.call.send_digits:
            self._send_digits_pending = True
            await self.sip.send_dtmf(CallSid(self.sid), self.call.send_digits)
            return
        await self._start_program()

    async def _child_ready(self) -> None:
        """A <Dial> leg answered: run its whisper document (<Number url>) first, if any; the
        leg is bridged when that document finishes without hanging up."""
        if self.call.url:
            await self._start_program()
        else:
            assert self.parent is not None
            self.parent.post(_ChildAnswered(self))

    async def _start_program(self) -> None:
        self.interp = Interpreter(
            call_params=dict(call_params(self.call, "in-progress")),
            base_url=self.call.url,
            max_fetches=self.deps.max_fetches,
        )
        if self.call.twiml:
            try:
                document = parse_document(self.call.twiml, "text/xml")
            except DocumentError as exc:
                await self._notify(exc.code, exc.message, None)
                document = parse_document(APPLICATION_ERROR_XML, "text/xml")
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
        fact = state.fact_for_end(ev.reason)
        if self.answered:
            fact = state.Fact.ENDED_COMPLETED
        final = await self.dispatcher.finalize(self.sid, fact, sip_code=ev.sip_code)
        log.info("[%s] ended: %s (sip %s, by %s)", self.sid, final.status if final else ev.reason, ev.sip_code, ev.hangup_by)
        if self.interp is not None:
            try:
                await self._execute(self.interp.feed(E.CallHungUp()))
            except WirexaError:
                log.exception("[%s] interpreter failed on hangup", self.sid)
        await self._hangup_dial_legs()
        if self.parent is not None and self.dial_op is not None:
            status = final.status if final else ev.reason
            self.parent.post(
                _ChildEnded(self, status, final.duration_s if final else None, bridged=self.answered)
            )
        self.finished.set()
        self.dispatcher.session_ended(self.sid)

    # --- interpreter plumbing ----------------------------------------------------------------

    async def _feed(self, event: E.Event) -> None:
        if self.interp is None or self.ended and not isinstance(event, E.CallHungUp):
            return
        await self._execute(self.interp.feed(event))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    async def _execute(self, actions: list[A.Action]) -> None:
        for action in actions:
            if self.ended and not isinstance(action, (A.Notify, A.Finished, A.CancelTimer)):
                continue
            await self._perform(action)

    async def _perform(self, action: A.Action) -> None:
        sid = CallSid(self.sid)
        if isinstance(action, A.Say):
            self._spawn(self._render_say(action))
        elif isinstance(action, A.PlayAudio):
            self._spawn(self._fetch_audio(action))
        elif isinstance(action, A.PlayDigits):
            self._digits_op = action.op_id
            await self.sip.send_dtmf(sid, action.digits)
        elif isinstance(action, A.StopPrompts):
            await self.sip.stop_play(sid)
        elif isinstance(action, A.StartTimer):
            loop = asyncio.get_running_loop()
            self._timers[action.op_id] = loop.call_later(action.delay_s, self._timer_fired, action.op_id)
        elif isinstance(action, A.CancelTimer):
            handle = self._timers.pop(action.op_id, None)
            if handle is not None:
                handle.cancel()
        elif isinstance(action, (A.StartGather, A.StopGather, A.Answer)):
            return
        elif isinstance(action, A.StartRecording):
            await self._start_recording(action)
        elif isinstance(action, A.StopRecording):
            await self.sip.stop_recording(sid)
        elif isinstance(action, A.Dial):
            await self._dial(action)
        elif isinstance(action, A.StopDial):
            await self._hangup_dial_legs()
        elif isinstance(action, A.FetchDocument):
            self._spawn(self._fetch_document(action))
        elif isinstance(action, A.Hangup) and action.end_of_document and self.parent is not None:
            return  # a whisper document ran out: Finished connects the parties
        elif isinstance(action, (A.Hangup, A.Reject)):
            await self.hangup()
        elif isinstance(action, A.Notify):
            await self._notify(action.code, action.message, action.url)
        elif isinstance(action, A.Finished):
            if self.parent is not None and not self.ended and not self.hanging_up:
                self.parent.post(_ChildAnswered(self))  # the whisper is over: connect the parties
            elif not self.ended:
                await self.hangup()

    def _timer_fired(self, op_id: int) -> None:
        if self._timers.pop(op_id, None) is not None:
            self.post(_Feed(E.TimerFired(op_id)))

    async def _notify(self, code: int, message: str, url: str | None, log_level: int = 0) -> None:
        """Store a notification; log_level as in Twilio's Notifications: 0 error, 1 warning."""
        log.warning("[%s] notification %s: %s (%s)", self.sid, code, message, url or "")
        await self.store.write(
            lambda: repo.insert_notification(
                account_sid=self.account_sid, call_sid=self.sid, error_code=code, message_text=message, request_url=url,
                log_level=log_level,
            )
        )

    # --- background work (posts its result back) -------------------------------------------

    async def _render_say(self, action: A.Say) -> None:
        try:
            path = await self.deps.tts.render(action.text, action.voice, action.language)
        except TtsError as exc:
            log.error("[%s] TTS failed: %s", self.sid, exc)
            await self._notify(13520, f"Say: text could not be rendered: {exc}", None)
            self.post(_Feed(E.PlaybackFinished(action.op_id)))
            return
        self.post(_Play(action.op_id, path, action.loop))

    async def _fetch_audio(self, action: A.PlayAudio) -> None:
        try:
            path = await self.deps.audio.get(action.url)
        except DocumentError as exc:
            await self._notify(exc.code, exc.message, action.url)
            self.post(_Feed(E.PlaybackFinished(action.op_id)))
            return
        self.post(_Play(action.op_id, path, action.loop))

    async def _fetch_document(self, action: A.FetchDocument) -> None:
        token = self.auth_token or ""
        try:
            fetched = await self.deps.fetcher.fetch(action.url, str(action.method), action.params, token)
            document = parse_document(fetched.body, fetched.content_type, url=fetched.url)
            self.post(_Feed(E.DocumentLoaded(action.op_id, document, fetched.url)))
            return
        except DocumentError as exc:
            error = exc
        log.warning("[%s] fetch of %s failed: %s", self.sid, action.url, error)
        fallback = self.call.fallback_url
        if fallback and action.reason in (A.FetchReason.INITIAL, A.FetchReason.LIVE_UPDATE):
            await self._notify(error.code, error.message, action.url)
            params = tuple(action.params) + (("ErrorCode", str(error.code)), ("ErrorUrl", action.url))
            try:
                fetched = await self.deps.fetcher.fetch(fallback, self.call.fallback_method, params, token)
                document = parse_document(fetched.body, fetched.content_type, url=fetched.url)
                self.post(_Feed(E.DocumentLoaded(action.op_id, document, fetched.url)))
                return
            except DocumentError as exc2:
                error = exc2
        self.post(_Feed(E.FetchFailed(action.op_id, error.code, error.message, error.url or action.url)))

    # --- live modification -----------------------------------------------------------------

    async def _on_redirect(self, item: _Redirect) -> None:
        if self.interp is None:
            return
        if item.twiml is not None:
            try:
                document = parse_document(item.twiml, "text/xml")
            except DocumentError as exc:
                await self._notify(exc.code, exc.message, None)
                return
            await self._feed(E.CallRedirected(document=document))
        else:
            await self._feed(E.CallRedirected(url=item.url, method=HttpMethod(item.method)))

    # --- recording ---------------------------------------------------------------------------

    async def _start_recording(self, action: A.StartRecording) -> None:
        self._recording_op = action.op_id
        self._recording_action = action
        folder = self.deps.recordings_dir / self.account_sid
        folder.mkdir(parents=True, exist_ok=True)
        rec_sid = repo.new_sid("RE")
        path = folder / f"{rec_sid}.wav"
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

    async def _on_recording(self, ev: RecordingFinished) -> None:
        if ev.rec_id == self._dial_rec_sid:
            await self._on_dial_recording(ev)
            return
        op, action = self._recording_op, self._recording_action
        self._recording_op = self._recording_action = None
        if op is None or action is None:
            return
        path = Path(ev.path)
        if ev.duration_ms < MIN_RECORDING_MS or not path.exists():
            path.unlink(missing_ok=True)
            await self._notify(16101, f"Record: recording too short ({ev.duration_ms} ms), discarded", None, log_level=1)
            await self._feed(E.RecordingEmpty(op))
            return
        duration_ms = ev.duration_ms
        if action.trim == Trim.TRIM_SILENCE:
            trimmed = await trim_silence(path)
            if trimmed is not None:
                duration_ms = int(trimmed * 1000)
                if duration_ms < MIN_RECORDING_MS:  # nothing but silence: Twilio moves on
                    path.unlink(missing_ok=True)
                    await self._notify(16102, "Record: recording silent, discarded", None, log_level=1)
                    await self._feed(E.RecordingEmpty(op))
                    return
        duration_s = max(1, round(duration_ms / 1000))
        call = self.call
        events = action.recording_status_callback_event

        def tx() -> RecordingRecord:
            rec = repo.insert_recording(
                sid=ev.rec_id,
                account_sid=self.account_sid,
                call_sid=self.sid,
                status="completed",
                source="RecordVerb",
                channels=1,
                track="inbound",
                duration_s=duration_s,
                start_time=repo.utcnow(),
                wav_path=str(path),
                status_callback=action.recording_status_callback,
                status_callback_method=str(action.recording_status_callback_method),
                status_callback_events=" ".join(events),
                trim=str(action.trim),
            )
            if action.recording_status_callback and "completed" in events:
                self.deps.recording_callbacks(rec, call, "completed")
            return rec

        rec = await self.store.write(tx)
        self.dispatcher.webhooks.wake()
        url = f"{self.deps.base_url}/recordings/{rec.sid}"
        digit = ev.digit if ev.how == "key" and ev.digit else ""
        await self._feed(E.RecordingSaved(op, rec.sid, url, duration_s, digit))

    async def _on_dial_recording(self, ev: RecordingFinished) -> None:
        self._dial_rec_sid = None
        action, result = self._dial_action, self._dial_result
        self._dial_result = None
        rec: RecordingRecord | None = None
        path = Path(ev.path)
        if action is not None and ev.duration_ms >= MIN_RECORDING_MS and path.exists():
            call = self.call
            events = action.recording_status_callback_event

            def tx() -> RecordingRecord:
                r = repo.insert_recording(
                    sid=ev.rec_id, account_sid=self.account_sid, call_sid=self.sid, status="completed", source="DialVerb",
                    channels=1, track="both", duration_s=max(1, round(ev.duration_ms / 1000)), start_time=repo.utcnow(),
                    wav_path=str(path), status_callback=action.recording_status_callback,
                    status_callback_method=str(action.recording_status_callback_method),
                    status_callback_events=" ".join(events),
                )
                if action.recording_status_callback and "completed" in events:
                    self.deps.recording_callbacks(r, call, "completed")
                return r

            rec = await self.store.write(tx)
            self.dispatcher.webhooks.wake()
        if result is not None:
            await self._dial_ended(result, rec)

    # --- dial --------------------------------------------------------------------------------

    async def _dial(self, action: A.Dial) -> None:
        """Ring every target at once (Twilio's simultaneous dialing): the first leg to answer
        (after its whisper document, if any) is connected and the others are hung up."""
        self._dial_action = action
        self._unanswered = []
        for target in action.targets:
            session = await self._dial_leg(action, target)
            if session is not None:
                self.ringing.append(session)
        if not self.ringing:
            await self._feed(E.DialEnded(action.op_id, E.DialCallStatus.FAILED))

    async def _dial_leg(self, action: A.Dial, target: DialTarget) -> CallSession | None:
        caller_id = action.caller_id or self.call.from_number
        child = await self.store.write(
            lambda: repo.insert_call(
                account_sid=self.account_sid,
                parent_call_sid=self.sid,
                to_number=target.value,
                from_number=caller_id,
                status="queued",
                direction="outbound-dial",
                timeout_s=action.timeout_s,
                time_limit_s=action.time_limit_s,
                send_digits=target.send_digits,
                status_callback=target.status_callback,
                status_callback_method=str(target.status_callback_method),
                status_callback_events=" ".join(target.status_callback_event or ("completed",)),
                url=target.url,
                method=str(target.method),
            )
        )
        try:
            session = await self.dispatcher.start_child(child, self.sid, float(action.timeout_s), caller_id, parent=self)
        except SipError as exc:
            await self._notify(13224, f"Dial to {target.value} failed: {exc}", None)
            return None
        session.dial_op = action.op_id
        return session

    async def _hangup_dial_legs(self) -> None:
        legs = ([self.child] if self.child is not None else []) + self.ringing
        for leg in legs:
            await leg.hangup()

    async def _on_child_answered(self, child: CallSession) -> None:
        if child not in self.ringing or self.child is not None or self.ended:
            await child.hangup()
            return
        self.ringing.remove(child)
        self.child = child
        losers, self.ringing = self.ringing, []
        for leg in losers:
            leg.dial_op = None  # no longer part of the <Dial>: its end reports nothing
            await leg.hangup()
        await self.sip.stop_play(CallSid(self.sid))
        await self.sip.bridge(CallSid(self.sid), CallSid(child.sid))
        action = self._dial_action
        if action is not None and action.record != DialRecord.DO_NOT_RECORD:
            # Every record-* value records from the bridge, both parties mixed to mono.
            self._dial_rec_sid = repo.new_sid("RE")
            folder = self.deps.recordings_dir / self.account_sid
            folder.mkdir(parents=True, exist_ok=True)
            await self.sip.start_recording(
                CallSid(self.sid), self._dial_rec_sid, str(folder / f"{self._dial_rec_sid}.wav"), 0, 0, "",
                mix_with=CallSid(child.sid),
            )

    async def _on_child_ended(self, item: _ChildEnded) -> None:
        if item.child in self.ringing:  # never connected (a whisper may have screened it)
            self.ringing.remove(item.child)
            self._unanswered.append(dataclasses.replace(item, bridged=False))
            if not self.ringing and self.child is None:
                await self._dial_ended(_most_telling(self._unanswered))
            return
        if item.child is not self.child:
            return
        self.child = None
        # DialBridged and DialCallDuration describe the connection, not just the answer (a
        # whisper document may hang the callee up before the parties are connected: then it
        # ended while ringing, above).
        item = dataclasses.replace(item, bridged=True)
        await self.sip.unbridge(CallSid(self.sid), CallSid(item.child.sid))
        if self._dial_rec_sid is not None and not self.ended:
            self._dial_result = item  # DialEnded goes out once the recording is saved
            await self.sip.stop_recording(CallSid(self.sid))
            return
        await self._dial_ended(item)

    async def _dial_ended(self, item: _ChildEnded, rec: RecordingRecord | None = None) -> None:
        self._unanswered = []
        status = {
            "completed": E.DialCallStatus.COMPLETED,
            "busy": E.DialCallStatus.BUSY,
            "no-answer": E.DialCallStatus.NO_ANSWER,
            "canceled": E.DialCallStatus.CANCELED,
        }.get(item.status, E.DialCallStatus.FAILED)
        op = item.child.dial_op
        if op is None:
            return
        await self._feed(
            E.DialEnded(
                op,
                status,
                dial_call_sid=item.child.sid,
                dial_call_duration_s=item.duration_s if item.bridged else 0,
                bridged=item.bridged,
                recording_sid=rec.sid if rec else None,
                recording_url=f"{self.deps.base_url}/recordings/{rec.sid}" if rec else None,
                recording_duration_s=rec.duration_s if rec else None,
            )
        )

