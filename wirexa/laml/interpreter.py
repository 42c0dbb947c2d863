"""The LaML interpreter: a sans-IO state machine that runs one call's documents, verb by verb.

Theory of operation
-------------------
The call session owns all I/O. It creates one Interpreter per call, calls start() with the
first URL (or an inline Document), executes the actions it gets back, and feeds every result
and call fact in as an event with feed(). The interpreter never awaits, sleeps, reads a clock
or fetches: waiting is a state, time is a StartTimer action answered by TimerFired, and every
started operation carries an op_id so a late result of an abandoned operation (playback
stopped by barge-in, fetch overtaken by a live redirect) is recognised and dropped.

States (what the interpreter is waiting for):

    IDLE              start() not called yet
    FETCHING          DocumentLoaded / FetchFailed for the last FetchDocument
    PLAYING           PlaybackFinished of a <Say>/<Play>
    PAUSING           TimerFired of a <Pause>
    GATHER_PROMPTING  the nested prompts of a <Gather> play; a digit barges in
    GATHER_WAITING    a <Gather> waits `timeout` for the first/next digit
    RECORDING         RecordingSaved / RecordingEmpty
    DIALING           DialEnded; "*" hangs up the leg when hangupOnStar
    CONNECTED         StreamEnded of a <Connect><Stream> (DTMF goes to the stream, not here)
    ENQUEUED          QueueLeft of an <Enqueue> (the wait document is another interpreter's)
    APP_ERROR         the "application error" announcement plays, then hang up
    DRAINING          the caller hung up during <Record>/<Dial>; the result is still due, and
                      Twilio requests the action URL with it (the answer is ignored)
    FINISHED          Finished was emitted; everything is ignored

TRANSITIONS below is the whole table: for each state, the event types it reacts to and the
handler that reacts. An event type not listed for the current state is ignored (Twilio drops
DTMF outside <Gather>, for instance). Handlers pick the next state by running verbs: after a
verb completes, _run_next() starts the following verb, whose kind gives the next state
(Say/Play -> PLAYING, Pause -> PAUSING, Gather -> GATHER_*, Record -> RECORDING, Dial ->
DIALING, Connect -> CONNECTED, Redirect and every action URL -> FETCHING, Hangup/Reject/end of
document -> FINISHED). <Start> and <Stop> never wait: they emit StartStream(op_id 0) /
StopStream per stream and the next verb runs in the same feed().

Media Streams: <Connect><Stream> is one StartStream(bidirectional) whose op_id the CONNECTED
state waits on; its StreamEnded requests <Connect action> (standard call parameters only:
which <Stream>-specific ones Twilio adds is not documented) or runs the next verb. A live
redirect stops it first (StopStream(bidirectional), like StopDial), and so does a hangup. The
streams of <Start> belong to the call, not to the document: they outlive redirects and end with
the call or a <Stop>, which the session tracks by name.

Queues: <Enqueue> is one Enqueue action whose op_id the ENQUEUED state waits on; its QueueLeft
requests <Enqueue action> with QueueResult, QueueSid and QueueTime, or runs the next verb. What
the caller hears meanwhile (the waitUrl document) and the document run on the caller's call
before <Dial><Queue> connects it (<Queue url>) are run by other Interpreters, made with
`allowed` (the verbs Twilio allows there; others are skipped with a 12200 warning) and a
`first_op` apart from the call's: in them <Leave> (wait documents) emits LeaveQueue("leave"),
and a failed fetch LeaveQueue("error") instead of the application-error announcement. A live
update while enqueued takes the call out first (LeaveQueue("redirected"); the session reports
that result to the action URL, whose answer is not run: the update's document is). <Dial><Queue>
is one DialQueue action answered by DialEnded, like <Dial>.

Conferences: <Dial><Conference> is one DialConference action (its URLs made absolute) answered
by DialEnded when the call leaves the room, like <Dial>: "*" with hangupOnStar and a live update
emit StopDial, and <Dial action> is requested with the result. The wait music document is the
conference runtime's, not this interpreter's.

Decisions where Twilio is silent or Wirexa differs:
- A fetch or parse failure reaches us as FetchFailed after the session has tried FallbackUrl;
  we Notify, announce the application error, and hang up.
- The redirect-loop guard counts consecutive fetches with no caller-facing verb (Say, Play,
  Pause > 0, Gather, Record, Dial, a started Connect; not Start or Stop, which do not wait)
  in between; more than `max_fetches` -> 11215.
- An inbound call is answered (Answer action) right before its first verb that needs media
  (a <Start> or <Connect> with a stream to open included; <Stop> does not);
  <Pause> first delays it, <Reject> before it refuses the call, afterwards <Reject> hangs up.
- Unsupported verbs are reported (Notify 12200, warning) and skipped.
- Parse problems Twilio logs as errors (DocumentWarning.error: 31922, 31923, 31941) are
  notified at level ERROR, the others as warnings.
- A <Stream url> is resolved like every URL, then http -> ws and https -> wss (so a relative
  url in an https document is wss). One that cannot be resolved (relative, no base URL) is a
  31922 error and its stream is skipped (the <Connect>: the next verb runs).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from enum import StrEnum
from urllib.parse import urljoin, urlsplit

from wirexa.laml import actions as act
from wirexa.laml import verbs as v
from wirexa.laml.events import (
    CallHungUp,
    CallRedirected,
    DialCallStatus,
    DialEnded,
    DigitReceived,
    DocumentLoaded,
    Event,
    FetchFailed,
    PlaybackFinished,
    QueueLeft,
    RecordingEmpty,
    RecordingSaved,
    SpeechRecognized,
    SpeechStarted,
    StreamEnded,
    TimerFired,
)
from wirexa.notices import Notice

log = logging.getLogger(__name__)

APPLICATION_ERROR_TEXT = "We are sorry, an application error has occurred. Goodbye."
CODE_INVALID_URL = Notice.INVALID_URL
CODE_TOO_MANY_FETCHES = Notice.HTTP_TOO_MANY_REDIRECTS
CODE_UNSUPPORTED_VERB = Notice.SCHEMA_WARNING
CODE_STREAM_URL = Notice.STREAM_INVALID_URL_SCHEME
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


class State(StrEnum):
    IDLE = "idle"
    FETCHING = "fetching"
    PLAYING = "playing"
    PAUSING = "pausing"
    GATHER_PROMPTING = "gather-prompting"
    GATHER_WAITING = "gather-waiting"
    GATHER_HEARING = "gather-hearing"
    RECORDING = "recording"
    DIALING = "dialing"
    CONNECTED = "connected"
    ENQUEUED = "enqueued"
    APP_ERROR = "app-error"
    DRAINING = "draining"
    FINISHED = "finished"


_LIVE: dict[type[Event], str] = {CallRedirected: "_on_redirected", CallHungUp: "_on_hung_up"}

TRANSITIONS: dict[State, dict[type[Event], str]] = {
    State.IDLE: {},
    State.FETCHING: {DocumentLoaded: "_on_document", FetchFailed: "_on_fetch_failed", **_LIVE},
    State.PLAYING: {PlaybackFinished: "_on_verb_done", **_LIVE},
    State.PAUSING: {TimerFired: "_on_verb_done", **_LIVE},
    State.GATHER_PROMPTING: {
        PlaybackFinished: "_on_prompt_done",
        TimerFired: "_on_prompt_done",
        DigitReceived: "_on_prompt_digit",
        SpeechStarted: "_on_prompt_speech",
        SpeechRecognized: "_on_early_result",
        **_LIVE,
    },
    State.GATHER_WAITING: {
        DigitReceived: "_on_waiting_digit",
        TimerFired: "_on_gather_timeout",
        SpeechStarted: "_on_waiting_speech",
        SpeechRecognized: "_on_early_result",
        **_LIVE,
    },
    State.GATHER_HEARING: {SpeechRecognized: "_on_speech_result", **_LIVE},
    State.RECORDING: {
        RecordingSaved: "_on_recording_saved",
        RecordingEmpty: "_on_verb_done",
        CallRedirected: "_on_redirected",
        CallHungUp: "_on_hung_up_draining",
    },
    State.DIALING: {
        DialEnded: "_on_dial_ended",
        DigitReceived: "_on_dial_digit",
        CallRedirected: "_on_redirected",
        CallHungUp: "_on_hung_up_draining",
    },
    State.CONNECTED: {StreamEnded: "_on_stream_ended", **_LIVE},
    State.ENQUEUED: {QueueLeft: "_on_queue_left", **_LIVE},
    State.APP_ERROR: {PlaybackFinished: "_on_app_error_said", **_LIVE},
    State.DRAINING: {
        RecordingSaved: "_on_drained_recording",
        RecordingEmpty: "_on_drained",
        DialEnded: "_on_drained_dial",
    },
    State.FINISHED: {},
}

_EVENT_TYPES = frozenset(
    {
        DocumentLoaded, FetchFailed, PlaybackFinished, TimerFired, DigitReceived,
        RecordingSaved, RecordingEmpty, DialEnded, StreamEnded, QueueLeft, CallRedirected, CallHungUp,
        SpeechStarted, SpeechRecognized,
    }
)  # fmt: skip


class InterpreterStateError(RuntimeError):
    """The interpreter was driven wrongly (a bug in the session, not the customer's fault)."""


class Interpreter:
    """Runs one call's LaML. Not thread-safe: one owner (the call session, on the event loop).

    `call_params` are the Twilio request parameters sent with every fetch (CallSid, From, To,
    Direction, CallStatus ...); CallStatus is kept current (in-progress once answered,
    completed after hangup). `base_url` resolves relative URLs in inline documents and is
    their "current document URL". `answered` None means: answered unless Direction is inbound.
    `allowed` restricts the verbs (a waitUrl or <Queue url> document: see the module docstring);
    `first_op` is where its op_ids start, apart from the call's own interpreter's.
    """

    def __init__(
        self,
        call_params: Mapping[str, str],
        base_url: str | None,
        max_fetches: int = 20,
        *,
        answered: bool | None = None,
        allowed: frozenset[type[v.Verb]] | None = None,
        first_op: int = 0,
    ) -> None:
        self._call_params = tuple(call_params.items())
        self._base_url = base_url
        self._max_fetches = max_fetches
        self._log_id = call_params.get("CallSid", "-")
        inbound = call_params.get("Direction", "") == "inbound"
        self._needs_answer = (not answered) if answered is not None else inbound
        self._state = State.IDLE
        self._out: list[act.Action] = []
        self._next_op = first_op
        self._allowed = allowed
        self._op: int | None = None
        self._document = v.Document(())
        self._doc_url: str | None = None
        self._index = 0
        self._pending_url: str | None = None
        self._fetches_since_progress = 0
        self._hung_up = False
        self._verb: v.Gather | v.Record | v.Dial | v.Connect | v.Enqueue | None = None
        self._prompt: v.Prompt | None = None
        self._prompt_index = 0
        self._digits = ""
        self._listen_op: int | None = None  # the <Gather>'s speech recognition while it listens
        self._listened = False  # it started (speech is heard at most once per <Gather>)

    @property
    def state(self) -> State:
        return self._state

    @property
    def finished(self) -> bool:
        return self._state is State.FINISHED

    def start(self, source: v.Document | str, method: v.HttpMethod = v.HttpMethod.POST) -> list[act.Action]:
        """Begin the call: fetch `source` (a URL, relative ones resolve against base_url) or
        run an inline Document. Callable once; raises InterpreterStateError otherwise."""
        if self._state is not State.IDLE:
            raise InterpreterStateError(f"start() in state {self._state}")
        self._state = State.FETCHING
        if isinstance(source, v.Document):
            self._load(source, self._base_url)
        else:
            self._fetch(source, method, (), act.FetchReason.INITIAL)
        return self._take()

    def feed(self, event: Event) -> list[act.Action]:
        """Apply one event; returns the actions to execute, in order (possibly none)."""
        if type(event) not in _EVENT_TYPES:
            raise TypeError(f"not an interpreter event: {event!r}")
        if self._state is State.IDLE:
            raise InterpreterStateError("feed() before start()")
        handler = TRANSITIONS[self._state].get(type(event))
        op_id = getattr(event, "op_id", None)
        if handler is None or (op_id is not None and op_id != self._op):
            log.debug("%s: ignoring %r in state %s", self._log_id, event, self._state)
            return []
        getattr(self, handler)(event)
        return self._take()

    # --- plumbing ---------------------------------------------------------------------------

    def _take(self) -> list[act.Action]:
        out, self._out = self._out, []
        return out

    def _emit(self, action: act.Action) -> None:
        self._out.append(action)

    def _new_op(self) -> int:
        self._next_op += 1
        self._op = self._next_op
        return self._op

    def _finish(self) -> None:
        self._state = State.FINISHED
        self._op = None
        self._emit(act.Finished())

    def _answer(self) -> None:
        if self._needs_answer:
            self._needs_answer = False
            self._emit(act.Answer())

    def _resolve(self, url: str) -> str | None:
        """An absolute http(s) URL for `url`, or None if it cannot be made one."""
        base = self._doc_url or self._base_url
        resolved = urljoin(base, url) if base else url
        parts = urlsplit(resolved)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        return resolved

    def _resolve_stream(self, url: str) -> str | None:
        """An absolute ws(s) URL for a <Stream url> (http -> ws, https -> wss; the rest of the
        URL, query string included, exactly as resolved), or None."""
        base = self._doc_url or self._base_url
        resolved = urljoin(base, url) if base else url
        parts = urlsplit(resolved)
        scheme = _WS_SCHEMES.get(parts.scheme)
        if scheme is None or not parts.netloc:
            return None
        return scheme + resolved[len(parts.scheme) :]

    def _params(self, extra: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        names = {name for name, _ in extra}
        status = "completed" if self._hung_up else None if self._needs_answer else "in-progress"
        base = tuple(
            (name, status if name == "CallStatus" and status else value)
            for name, value in self._call_params
            if name not in names
        )
        return base + extra

    def _fetch(
        self,
        url: str | None,
        method: v.HttpMethod,
        extra: tuple[tuple[str, str], ...],
        reason: act.FetchReason,
    ) -> None:
        """Request `url` (None = the current document URL, as for an action-less verb).

        An action-less verb of an inline document (the Twiml parameter) has no URL to request
        again: the document goes on with its next verb instead."""
        if url is None and self._doc_url is None:
            self._run_next()
            return
        target = self._resolve(url) if url is not None else self._doc_url
        if target is None:
            self._app_error(CODE_INVALID_URL, f"cannot resolve URL {url!r}", self._doc_url)
            return
        self._fetches_since_progress += 1
        if self._fetches_since_progress > self._max_fetches:
            message = f"more than {self._max_fetches} fetches in a row with no verb run"
            self._app_error(CODE_TOO_MANY_FETCHES, message, target)
            return
        self._state = State.FETCHING
        self._pending_url = target
        self._emit(act.FetchDocument(self._new_op(), target, method, self._params(extra), reason))

    def _fetch_after_hangup(
        self,
        url: str | None,
        method: v.HttpMethod,
        extra: tuple[tuple[str, str], ...],
        reason: act.FetchReason,
    ) -> None:
        """Twilio still reports a <Record>/<Dial> result to its action after the caller left;
        the response is not run (Finished follows at once)."""
        target = self._resolve(url) if url is not None else self._doc_url
        if target is not None:
            self._emit(act.FetchDocument(self._new_op(), target, method, self._params(extra), reason))
        self._finish()

    def _app_error(self, code: int, message: str, url: str | None, stopping: tuple[act.Action, ...] = ()) -> None:
        """Report `code`, announce the application error, then (on PlaybackFinished) hang up.
        `stopping` ends whatever the session is still doing (a gather). A wait document leaves
        the queue instead (QueueResult error)."""
        self._out.extend(stopping)
        self._emit(act.Notify(code, message, url, act.NotifyLevel.ERROR))
        if self._allowed is not None:
            self._emit(act.LeaveQueue("error"))
            self._finish()
            return
        self._answer()
        self._state = State.APP_ERROR
        self._emit(act.Say(self._new_op(), APPLICATION_ERROR_TEXT, "woman", "en-US", 1))

    def _load(self, document: v.Document, url: str | None) -> None:
        self._document = document
        self._doc_url = url
        self._index = 0
        for warning in document.warnings:
            level = act.NotifyLevel.ERROR if warning.error else act.NotifyLevel.WARNING
            self._emit(act.Notify(warning.code, warning.message, url, level))
        self._run_next()

    # --- running verbs ----------------------------------------------------------------------

    def _run_next(self) -> None:
        """Run verbs from the current position until one has to wait for an event."""
        while self._index < len(self._document.verbs):
            verb = self._document.verbs[self._index]
            self._index += 1
            if self._run_verb(verb):
                return
        self._emit(act.Hangup(end_of_document=True))
        self._finish()

    def _run_verb(self, verb: v.Verb) -> bool:
        """Start `verb`; True if the interpreter now waits (or finished), False to go on."""
        if self._allowed is not None and type(verb) not in self._allowed and not isinstance(verb, v.Unsupported):
            message = f"<{type(verb).__name__}> is not allowed in this document (a queue's wait or url); skipped"
            self._emit(act.Notify(CODE_UNSUPPORTED_VERB, message, self._doc_url, act.NotifyLevel.WARNING))
            return False
        match verb:
            case v.Say() | v.Play():
                self._fetches_since_progress = 0
                self._answer()
                if self._play(verb):
                    self._state = State.PLAYING
                return True
            case v.Pause(length_s=0):
                return False
            case v.Pause():
                self._fetches_since_progress = 0
                self._state = State.PAUSING
                self._emit(act.StartTimer(self._new_op(), verb.length_s))
                return True
            case v.Gather():
                self._start_gather(verb)
                return True
            case v.Record():
                self._start_record(verb)
                return True
            case v.Dial():
                self._start_dial(verb)
                return True
            case v.Connect():
                return self._start_connect(verb)
            case v.Start():
                self._start_streams(verb)
                return False
            case v.Enqueue():
                return self._start_enqueue(verb)
            case v.Leave():
                if self._allowed is None:
                    message = "<Leave> outside a queue's waitUrl document: nothing to leave; skipped"
                    self._emit(act.Notify(CODE_UNSUPPORTED_VERB, message, self._doc_url, act.NotifyLevel.WARNING))
                    return False
                self._emit(act.LeaveQueue("leave"))
                self._finish()
                return True
            case v.Stop():
                for name in verb.names:
                    self._emit(act.StopStream(name=name))
                self._unsupported(verb.unsupported)
                return False
            case v.Redirect():
                self._fetch(verb.url, verb.method, (), act.FetchReason.REDIRECT)
                return True
            case v.Hangup():
                self._emit(act.Hangup())
                self._finish()
                return True
            case v.Reject():
                self._emit(act.Reject(verb.reason) if self._needs_answer else act.Hangup())
                self._finish()
                return True
            case v.Unsupported():  # pragma: no branch (the match is exhaustive)
                self._unsupported((verb.name,))
                return False

    def _unsupported(self, names: tuple[str, ...]) -> None:
        for name in names:
            message = f"<{name}> is not supported by Wirexa; skipped"
            self._emit(act.Notify(CODE_UNSUPPORTED_VERB, message, self._doc_url, act.NotifyLevel.WARNING))

    def _play(self, prompt: v.Say | v.Play, stopping: tuple[act.Action, ...] = ()) -> bool:
        """Emit the playback for a Say/Play; False if it could not (app error entered, after
        the `stopping` actions)."""
        if isinstance(prompt, v.Say):
            self._emit(act.Say(self._new_op(), prompt.text, prompt.voice, prompt.language, prompt.loop))
            return True
        if prompt.digits is not None:
            self._emit(act.PlayDigits(self._new_op(), prompt.digits))
            return True
        assert prompt.url is not None  # parse.py guarantees url or digits
        url = self._resolve(prompt.url)
        if url is None:
            message = f"cannot resolve <Play> URL {prompt.url!r}"
            self._app_error(CODE_INVALID_URL, message, self._doc_url, stopping)
            return False
        self._emit(act.PlayAudio(self._new_op(), url, prompt.loop))
        return True

    def _start_gather(self, gather: v.Gather) -> None:
        self._fetches_since_progress = 0
        self._answer()
        self._verb = gather
        self._digits = ""
        self._prompt_index = 0
        self._listen_op, self._listened = None, False
        self._emit(act.StartGather(gather.num_digits, gather.timeout_s, gather.finish_on_key, gather.input))
        if gather.speech is not None and (gather.barge_in or not gather.children):
            self._start_listening()  # speech barges in: listen while the prompts play
        self._next_prompt()

    def _gather(self) -> v.Gather:
        assert isinstance(self._verb, v.Gather)
        return self._verb

    def _next_prompt(self) -> None:
        gather = self._gather()
        while self._prompt_index < len(gather.children):
            prompt = gather.children[self._prompt_index]
            self._prompt_index += 1
            self._prompt = prompt
            if isinstance(prompt, v.Pause):
                if prompt.length_s == 0:
                    continue
                self._state = State.GATHER_PROMPTING
                self._emit(act.StartTimer(self._new_op(), prompt.length_s))
                return
            if self._play(prompt, stopping=(act.StopGather(),)):
                self._state = State.GATHER_PROMPTING
            return
        self._wait_for_digit()

    def _start_listening(self) -> None:
        """Start the speech recognition (once per <Gather>): its own op id, apart from the
        prompts' and timers' (`_op`), so both run at once."""
        speech = self._gather().speech
        assert speech is not None
        self._listened = True
        self._next_op += 1
        self._listen_op = self._next_op
        partial_url = None
        if speech.partial_result_callback is not None:
            partial_url = self._resolve(speech.partial_result_callback)
            if partial_url is None:
                self._emit(
                    act.Notify(
                        CODE_INVALID_URL,
                        f"<Gather>: cannot resolve partialResultCallback {speech.partial_result_callback!r}",
                        self._doc_url,
                        act.NotifyLevel.WARNING,
                    )
                )
        self._emit(act.StartListening(self._listen_op, speech, partial_url))

    def _stop_listening(self) -> None:
        if self._listen_op is not None:
            self._listen_op = None
            self._emit(act.StopListening())

    def _wait_for_digit(self) -> None:
        if self._gather().speech is not None and not self._listened:
            self._start_listening()  # bargeIn="false": speech is heard once the prompts are over
        self._prompt = None
        self._state = State.GATHER_WAITING
        self._emit(act.StartTimer(self._new_op(), self._gather().timeout_s))

    def _stop_prompt(self) -> None:
        if isinstance(self._prompt, v.Pause):
            assert self._op is not None
            self._emit(act.CancelTimer(self._op))
        else:
            self._emit(act.StopPrompts())

    def _collect(self, digit: str) -> None:
        gather = self._gather()
        self._stop_listening()  # a key first: the digits win, speech is no longer heard
        if gather.finish_on_key and digit == gather.finish_on_key:
            if self._digits:
                self._end_gather(digit)
            else:
                self._wait_for_digit()  # finishOnKey alone does not end a <Gather>
            return
        self._digits += digit
        if gather.num_digits is not None and len(self._digits) >= gather.num_digits:
            self._end_gather("")
        else:
            self._wait_for_digit()

    def _end_gather(self, finished_on_key: str) -> None:
        gather = self._gather()
        self._listen_op = None
        self._emit(act.StopGather())
        if self._digits or gather.action_on_empty_result:
            extra: tuple[tuple[str, str], ...] = ()
            if "dtmf" in gather.input:  # a speech-only <Gather> with no input sends neither
                extra = (("Digits", self._digits), ("FinishedOnKey", finished_on_key))
            self._fetch(gather.action, gather.method, extra, act.FetchReason.GATHER)
        else:
            self._run_next()

    def _start_record(self, record: v.Record) -> None:
        self._fetches_since_progress = 0
        self._answer()
        self._verb = record
        callback = self._resolve(record.recording_status_callback) if record.recording_status_callback else None
        transcribe_callback = self._resolve(record.transcribe_callback) if record.transcribe_callback else None
        if record.transcribe_callback and transcribe_callback is None:
            message = f"<Record>: cannot resolve transcribeCallback {record.transcribe_callback!r}; not posted"
            self._emit(act.Notify(CODE_INVALID_URL, message, self._doc_url, act.NotifyLevel.WARNING))
        self._state = State.RECORDING
        self._emit(
            act.StartRecording(
                op_id=self._new_op(),
                max_length_s=record.max_length_s,
                silence_timeout_s=record.timeout_s,
                finish_on_key=record.finish_on_key,
                play_beep=record.play_beep,
                trim=record.trim,
                recording_status_callback=callback,
                recording_status_callback_method=record.recording_status_callback_method,
                recording_status_callback_event=record.recording_status_callback_event,
                transcribe=record.transcribe,
                transcribe_callback=transcribe_callback,
            )
        )

    def _start_dial(self, dial: v.Dial) -> None:
        self._fetches_since_progress = 0
        if not dial.answer_on_bridge:
            self._answer()
        self._verb = dial
        if dial.queue is not None:
            self._start_dial_queue(dial, dial.queue)
            return
        if dial.conference is not None:
            self._start_dial_conference(dial, dial.conference)
            return
        if not dial.targets:
            self._end_dial(DialEnded(0, DialCallStatus.FAILED))
            return
        targets = tuple(
            v.DialTarget(
                kind=t.kind,
                value=t.value,
                send_digits=t.send_digits,
                url=self._resolve(t.url) if t.url else None,
                method=t.method,
                status_callback=self._resolve(t.status_callback) if t.status_callback else None,
                status_callback_method=t.status_callback_method,
                status_callback_event=t.status_callback_event,
                username=t.username,
                password=t.password,
            )
            for t in dial.targets
        )
        callback = self._resolve(dial.recording_status_callback) if dial.recording_status_callback else None
        self._state = State.DIALING
        self._emit(
            act.Dial(
                op_id=self._new_op(),
                targets=targets,
                timeout_s=dial.timeout_s,
                caller_id=dial.caller_id,
                time_limit_s=dial.time_limit_s,
                hangup_on_star=dial.hangup_on_star,
                record=dial.record,
                answer_on_bridge=dial.answer_on_bridge,
                recording_status_callback=callback,
                recording_status_callback_method=dial.recording_status_callback_method,
                recording_status_callback_event=dial.recording_status_callback_event,
            )
        )

    def _start_dial_conference(self, dial: v.Dial, room: v.DialConference) -> None:
        """An unresolvable waitUrl is an application error (as <Enqueue waitUrl>); an unresolvable
        callback URL only loses its callbacks (a warning, as <Stream statusCallback>)."""
        urls: dict[str, str | None] = {}
        for attr, url in (
            ("waitUrl", room.wait_url),
            ("statusCallback", room.status_callback),
            ("recordingStatusCallback", room.recording_status_callback),
        ):
            urls[attr] = self._resolve(url) if url else url
            if url and urls[attr] is None:
                message = f"cannot resolve <Conference> {attr} {url!r}"
                if attr == "waitUrl":
                    self._app_error(CODE_INVALID_URL, message, self._doc_url)
                    return
                self._emit(
                    act.Notify(CODE_INVALID_URL, message + ": no callbacks", self._doc_url, act.NotifyLevel.WARNING)
                )
        self._state = State.DIALING
        self._emit(
            act.DialConference(
                op_id=self._new_op(),
                name=room.name,
                muted=room.muted,
                beep=room.beep,
                start_conference_on_enter=room.start_conference_on_enter,
                end_conference_on_exit=room.end_conference_on_exit,
                participant_label=room.participant_label,
                wait_url=urls["waitUrl"],
                wait_method=room.wait_method,
                max_participants=room.max_participants,
                record=room.record,
                trim=room.trim,
                coach=room.coach,
                status_callback=urls["statusCallback"],
                status_callback_method=room.status_callback_method,
                status_callback_event=room.status_callback_event,
                recording_status_callback=urls["recordingStatusCallback"],
                recording_status_callback_method=room.recording_status_callback_method,
                recording_status_callback_event=room.recording_status_callback_event,
                time_limit_s=dial.time_limit_s,
                hangup_on_star=dial.hangup_on_star,
            )
        )

    def _start_dial_queue(self, dial: v.Dial, queue: v.DialQueue) -> None:
        url = None
        if queue.url is not None:
            url = self._resolve(queue.url)
            if url is None:
                self._app_error(CODE_INVALID_URL, f"cannot resolve <Queue> url {queue.url!r}", self._doc_url)
                return
        self._state = State.DIALING
        self._emit(act.DialQueue(self._new_op(), queue.name, url, queue.method, dial.timeout_s, dial.hangup_on_star))

    def _start_enqueue(self, enqueue: v.Enqueue) -> bool:
        """<Enqueue>: True when the call waits for QueueLeft (or an app error began)."""
        wait_url = enqueue.wait_url
        action = None
        for attr, url in (("waitUrl", wait_url), ("action", enqueue.action)):
            if url:
                resolved = self._resolve(url)
                if resolved is None:
                    self._app_error(CODE_INVALID_URL, f"cannot resolve <Enqueue> {attr} {url!r}", self._doc_url)
                    return True
                if attr == "waitUrl":
                    wait_url = resolved
                else:
                    action = resolved
        self._fetches_since_progress = 0
        self._answer()
        self._verb = enqueue
        self._state = State.ENQUEUED
        self._emit(
            act.Enqueue(
                op_id=self._new_op(),
                name=enqueue.name,
                wait_url=wait_url,
                wait_url_method=enqueue.wait_url_method,
                max_queue_size=enqueue.max_queue_size,
                action=action,
                method=enqueue.method,
            )
        )
        return True

    @staticmethod
    def queue_params(event: QueueLeft) -> tuple[tuple[str, str], ...]:
        """<Enqueue action>'s parameters: QueueResult, and QueueSid/QueueTime once enqueued."""
        params = [("QueueResult", str(event.result))]
        if event.queue_sid is not None:
            params.append(("QueueSid", event.queue_sid))
        if event.queue_time_s is not None:
            params.append(("QueueTime", str(event.queue_time_s)))
        return tuple(params)

    def _stream_action(self, stream: v.Stream, bidirectional: bool) -> act.StartStream | None:
        """The StartStream for `stream` with its URLs made absolute, or None (notified) when its
        url cannot be. An unresolvable statusCallback only loses the callbacks (a warning)."""
        url = self._resolve_stream(stream.url)
        if url is None:
            message = f"cannot resolve <Stream> url {stream.url!r} to a ws:// or wss:// URL; skipped"
            self._emit(act.Notify(CODE_STREAM_URL, message, self._doc_url, act.NotifyLevel.ERROR))
            return None
        callback = None
        if stream.status_callback is not None:
            callback = self._resolve(stream.status_callback)
            if callback is None:
                message = f"cannot resolve <Stream> statusCallback {stream.status_callback!r}; no stream callbacks"
                self._emit(act.Notify(CODE_INVALID_URL, message, self._doc_url, act.NotifyLevel.WARNING))
        return act.StartStream(
            op_id=0,
            url=url,
            name=stream.name,
            track=stream.track,
            bidirectional=bidirectional,
            status_callback=callback,
            status_callback_method=stream.status_callback_method,
            parameters=stream.parameters,
        )

    def _start_streams(self, start: v.Start) -> None:
        """<Start>: fork the audio to each stream (unidirectional, op_id 0: no event comes)."""
        starts = [a for a in (self._stream_action(s, bidirectional=False) for s in start.streams) if a]
        if starts:
            self._answer()
            self._out.extend(starts)
        self._unsupported(start.unsupported)

    def _start_connect(self, connect: v.Connect) -> bool:
        """<Connect><Stream>: True when the stream started (the interpreter waits for its
        StreamEnded), False when it was skipped (notified) and the next verb runs."""
        action = self._stream_action(connect.stream, bidirectional=True)
        if action is None:
            return False
        self._fetches_since_progress = 0
        self._answer()
        self._verb = connect
        self._state = State.CONNECTED
        self._emit(replace(action, op_id=self._new_op()))
        return True

    @staticmethod
    def _dial_params(event: DialEnded) -> tuple[tuple[str, str], ...]:
        params = [("DialCallStatus", str(event.dial_call_status))]
        if event.dial_call_sid is not None:
            params.append(("DialCallSid", event.dial_call_sid))
        if event.dial_call_duration_s is not None:
            params.append(("DialCallDuration", str(event.dial_call_duration_s)))
        params.append(("DialBridged", "true" if event.bridged else "false"))
        if event.recording_url is not None:
            params.append(("RecordingUrl", event.recording_url))
        if event.recording_sid is not None:
            params.append(("RecordingSid", event.recording_sid))
        if event.recording_duration_s is not None:
            params.append(("RecordingDuration", str(event.recording_duration_s)))
        return tuple(params) + event.extra_params

    def _end_dial(self, event: DialEnded) -> None:
        dial = self._verb
        assert isinstance(dial, v.Dial)
        if dial.action is None:
            self._run_next()
        else:
            self._fetch(dial.action, dial.method, self._dial_params(event), act.FetchReason.DIAL)

    @staticmethod
    def _recording_params(event: RecordingSaved, digits: str) -> tuple[tuple[str, str], ...]:
        params = (
            ("RecordingUrl", event.recording_url),
            ("RecordingSid", event.recording_sid),
            ("RecordingDuration", str(event.duration_s)),
        )
        return params + ((("Digits", digits),) if digits else ())

    # --- handlers (named in TRANSITIONS) ----------------------------------------------------

    def _on_document(self, event: DocumentLoaded) -> None:
        self._load(event.document, event.url or self._pending_url)

    def _on_fetch_failed(self, event: FetchFailed) -> None:
        self._app_error(event.code, event.message, event.url or self._pending_url)

    def _on_verb_done(self, event: PlaybackFinished | TimerFired | RecordingEmpty) -> None:
        self._run_next()

    def _on_prompt_done(self, event: PlaybackFinished | TimerFired) -> None:
        self._next_prompt()

    def _on_prompt_digit(self, event: DigitReceived) -> None:
        if not self._gather().barge_in or "dtmf" not in self._gather().input:
            return
        self._stop_prompt()
        self._collect(event.digit)

    def _on_waiting_digit(self, event: DigitReceived) -> None:
        if "dtmf" not in self._gather().input:
            return  # input="speech": keys are not input
        assert self._op is not None
        self._emit(act.CancelTimer(self._op))
        self._collect(event.digit)

    def _on_gather_timeout(self, event: TimerFired) -> None:
        self._end_gather("")

    def _on_prompt_speech(self, event: SpeechStarted) -> None:
        if event.listen_op != self._listen_op:
            return
        self._stop_prompt()  # speech barges in (the recognizer listens during prompts only then)
        self._state = State.GATHER_HEARING

    def _on_waiting_speech(self, event: SpeechStarted) -> None:
        if event.listen_op != self._listen_op:
            return
        assert self._op is not None
        self._emit(act.CancelTimer(self._op))  # speech first: timeout no longer runs, keys are ignored
        self._state = State.GATHER_HEARING

    def _on_early_result(self, event: SpeechRecognized) -> None:
        """A result without a start: the recognition failed or heard nothing (its notification is
        posted); keys and the timeout go on. A transcript ends the <Gather> as any result does."""
        if event.listen_op != self._listen_op:
            return
        self._listen_op = None
        if event.text:
            if self._state is State.GATHER_PROMPTING:
                self._stop_prompt()
            else:
                assert self._op is not None
                self._emit(act.CancelTimer(self._op))
            self._end_speech(event)

    def _on_speech_result(self, event: SpeechRecognized) -> None:
        if event.listen_op != self._listen_op:
            return
        self._end_speech(event)

    def _end_speech(self, event: SpeechRecognized) -> None:
        """The speech half won: the action gets SpeechResult and Confidence (when the recognizer
        gave one); nothing understood is no input (the next verb, or the action with neither
        under actionOnEmptyResult)."""
        gather = self._gather()
        self._listen_op = None
        self._emit(act.StopGather())
        if event.text:
            extra: tuple[tuple[str, str], ...] = (("SpeechResult", event.text),)
            if event.confidence is not None:
                extra += (("Confidence", f"{event.confidence:.8g}"),)
            self._fetch(gather.action, gather.method, extra, act.FetchReason.GATHER)
        elif gather.action_on_empty_result:
            self._fetch(gather.action, gather.method, (), act.FetchReason.GATHER)
        else:
            self._run_next()

    def _on_recording_saved(self, event: RecordingSaved) -> None:
        record = self._verb
        assert isinstance(record, v.Record)
        params = self._recording_params(event, event.digits)
        self._fetch(record.action, record.method, params, act.FetchReason.RECORD)

    def _on_dial_ended(self, event: DialEnded) -> None:
        self._end_dial(event)

    def _on_dial_digit(self, event: DigitReceived) -> None:
        dial = self._verb
        assert isinstance(dial, v.Dial)
        if dial.hangup_on_star and event.digit == "*":
            self._emit(act.StopDial())

    def _on_stream_ended(self, event: StreamEnded) -> None:
        connect = self._verb
        assert isinstance(connect, v.Connect)
        if connect.action is None:
            self._run_next()
        else:
            self._fetch(connect.action, connect.method, (), act.FetchReason.CONNECT)

    def _on_queue_left(self, event: QueueLeft) -> None:
        enqueue = self._verb
        assert isinstance(enqueue, v.Enqueue)
        if enqueue.action is None:
            self._run_next()
        else:
            self._fetch(enqueue.action, enqueue.method, self.queue_params(event), act.FetchReason.ENQUEUE)

    def _on_app_error_said(self, event: PlaybackFinished) -> None:
        self._emit(act.Hangup())
        self._finish()

    def _stop_current(self) -> None:
        """Stop what the current state started, before a live redirect replaces it."""
        match self._state:
            case State.PLAYING | State.APP_ERROR:
                self._emit(act.StopPrompts())
            case State.PAUSING | State.GATHER_WAITING:
                assert self._op is not None
                self._emit(act.CancelTimer(self._op))
            case State.GATHER_PROMPTING:
                self._stop_prompt()
            case State.RECORDING:
                self._emit(act.StopRecording())
            case State.DIALING:
                self._emit(act.StopDial())
            case State.CONNECTED:
                self._emit(act.StopStream(bidirectional=True))
            case State.ENQUEUED:
                self._emit(act.LeaveQueue("redirected"))
            case _:
                pass  # FETCHING: the stale result is dropped by its op_id
        if self._state in (State.GATHER_PROMPTING, State.GATHER_WAITING, State.GATHER_HEARING):
            self._listen_op = None
            self._emit(act.StopGather())

    def _on_redirected(self, event: CallRedirected) -> None:
        if (event.url is None) == (event.document is None):
            raise InterpreterStateError("CallRedirected needs exactly one of url and document")
        self._stop_current()
        self._fetches_since_progress = 0
        self._op = None
        if event.document is not None:
            self._load(event.document, self._base_url)
        else:
            self._doc_url = None  # a live update's URL resolves against base_url only
            self._fetch(event.url, event.method, (), act.FetchReason.LIVE_UPDATE)

    def _on_hung_up(self, event: CallHungUp) -> None:
        self._hung_up = True
        waits_on_timer = self._state in (State.PAUSING, State.GATHER_WAITING) or (
            self._state is State.GATHER_PROMPTING and isinstance(self._prompt, v.Pause)
        )
        if waits_on_timer:
            assert self._op is not None
            self._emit(act.CancelTimer(self._op))
        if self._state is State.CONNECTED:
            self._emit(act.StopStream(bidirectional=True))
        self._finish()

    def _on_hung_up_draining(self, event: CallHungUp) -> None:
        self._hung_up = True
        self._state = State.DRAINING
        self._emit(act.StopRecording() if isinstance(self._verb, v.Record) else act.StopDial())

    def _on_drained(self, event: RecordingEmpty) -> None:
        self._finish()

    def _on_drained_recording(self, event: RecordingSaved) -> None:
        record = self._verb
        assert isinstance(record, v.Record)
        params = self._recording_params(event, "hangup")
        self._fetch_after_hangup(record.action, record.method, params, act.FetchReason.RECORD)

    def _on_drained_dial(self, event: DialEnded) -> None:
        dial = self._verb
        assert isinstance(dial, v.Dial)
        if dial.action is None:
            self._finish()
        else:
            params = self._dial_params(event)
            self._fetch_after_hangup(dial.action, dial.method, params, act.FetchReason.DIAL)
