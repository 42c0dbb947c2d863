"""Conference rooms: who is in each project's rooms (<Dial><Conference>), what they hear, and the
room's status callbacks.

Theory of operation. A room (Room, CF...) is made on demand by the first call that dials its
name in a project and lives while it has participants, in memory: like the calls themselves, a
room belongs to the engine that runs its calls. The media are the SIP port's (room_join and
friends: sip/pool.py homes the room in one worker and relays the participants of the others),
so participants in different workers hear each other. Everything here runs on the event loop;
what answers a call's interpreter goes through its session (deliver), so each session still sees
one fact at a time.

A room is `init` until it starts: it has two participants and one of them has
startConferenceOnEnter (Twilio's rule). Until then every participant hears the wait music (the
built-in hold music; silence for waitUrl=""; else the waitUrl document, run by an Interpreter of
its own restricted to WAIT_VERBS, whose events the session routes here while it runs, and then
silence) and nobody hears anyone; at the start the music
stops and everyone is put in the media room. Later participants go straight in, with a beep
(beep true/onEnter) played to the others, who also hear one when a participant with beep
true/onExit leaves. A muted participant hears the room and is not heard; a coach (coach=CallSid)
is heard only by the participant it coaches.

A participant leaves when its call ends (participant_hung_up), on its <Dial hangupOnStar> "*"
or a live update (StopDial), at its <Dial timeLimit>, or when the room ends; its interpreter
then gets DialEnded (completed, DialCallDuration = its time in the room) and requests <Dial
action> or goes on. The room ends when its last participant leaves (last-participant-left) or
one with endConferenceOnExit does (participant-with-end-conference-on-exit-left): everyone
else leaves with it.

A room is recorded (record="record-from-start": one mono mix of everyone heard, from its start
to its end; calls/conference_recording.py) when a participant present at its start asked for
it, or from the moment one that asks joins it started.

Status callbacks (statusCallback, Method, Event of the participant that made the room: Twilio's
first-participant rule) go through the webhook outbox, each with the room's SequenceNumber
(1, 2, ... in the order they were fired) and Timestamp.

Speaker events. In a room whose statusCallbackEvent has `speaker`, each participant's far end
is watched from its join to its leave (SipPort.watch_speech: a tap on the call's inbound audio
in the call's own worker runs webrtcvad and media/speaker.py and reports only the transitions),
and each start and stop is a participant-speech-start / -stop callback, in SequenceNumber order
with the room's other events. Twilio does not say whether muted or held participants are
reported; here everyone is, whatever the room hears of them (waiting, muted, held, coaching):
the callback's Muted and Hold say which, and a "you are muted" hint is what such events are
for. A participant that leaves while talking gets its participant-speech-stop just before its
participant-leave, so every start has its stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from wirexa.calls.conference_recording import RoomRecorder
from wirexa.calls.params import call_params
from wirexa.calls.ports import CallSid, Clock, SipPort
from wirexa.calls.records import CallRecord
from wirexa.errors import SipError
from wirexa.laml import actions as A
from wirexa.laml import events as E
from wirexa.laml import verbs as V
from wirexa.laml.interpreter import Interpreter
from wirexa.laml.verbs import Beep, ConferenceRecord
from wirexa.notices import Notice
from wirexa.timefmt import rfc2822

log = logging.getLogger(__name__)

WAIT_PLAY_ID = "conference-wait"  # not digits: no interpreter waits on these plays
BEEP_PLAY_ID = "conference-beep"
DUPLICATE_LABEL = Notice.CONFERENCE_LABEL_IN_USE
BAD_COACH = Notice.CONFERENCE_INVALID_COACH
ELSEWHERE = Notice.INTERNAL_FAILURE  # the room is live on another engine (several engines, one database)
ENDED_KEPT = 200  # ended rooms kept for the API, the latest
WAIT_VERBS: frozenset[type[V.Verb]] = frozenset({V.Play, V.Say, V.Pause, V.Redirect})  # Twilio's for waitUrl
OP_SPAN = 1_000_000  # a wait document's op ids start at a fresh multiple (apart from the call's own)
_EMPTY = V.Document(())


class ConferenceCall(Protocol):
    """A call's session as the conferences see it (calls/session.py CallSession)."""

    call: CallRecord
    ended: bool
    participant: Participant | None

    @property
    def sid(self) -> str: ...

    def deliver(self, event: E.Event) -> None:
        """Feed `event` to the call's interpreter, in its turn."""
        ...

    async def notify_call(self, code: int, message: str) -> None:
        """A notification on the call (the customer's to see)."""
        ...

    async def execute(self, actions: list[A.Action]) -> None:
        """Perform actions (of a wait document) as the call's own."""
        ...


class Outbox(Protocol):
    async def webhook(
        self,
        account_sid: str,
        call_sid: str,
        kind: str,
        event: str,
        url: str,
        method: str,
        params: Sequence[tuple[str, str]],
    ) -> None: ...


class ConferenceRows(Protocol):
    """The rooms' rows (store/conferences.py): the history of the rooms and who was in them.
    Each method sets the whole row (the fields of store.repo.conferences' records)."""

    async def room(self, **fields: Any) -> None: ...

    async def participant(self, **fields: Any) -> None: ...

    async def take_home(self, account_sid: str, name: str, sid: str) -> str | None:
        """Hold the room's name for this engine (several engines on one database): None when it
        is ours, else the live engine whose room has that name."""
        ...

    async def leave_home(self, account_sid: str, name: str, sid: str) -> None: ...


@dataclasses.dataclass(slots=True)
class Participant:
    call: ConferenceCall
    room: Room
    action: A.DialConference
    muted: bool
    date_created: dt.datetime
    joined_at: float  # monotonic
    in_media: bool = False  # in the SIP room (else it hears the wait or hold music, or silence)
    music: bool = False
    time_limit: Callable[[], object] | None = None  # cancels the <Dial timeLimit> timer
    # What the Participants resource may change (the TwiML's values at first).
    hold: bool = False
    end_on_exit: bool = False
    beep: Beep = Beep.TRUE
    coach: str = ""  # the CallSid it coaches ("" nobody)
    date_updated: dt.datetime | None = None
    doc: Interpreter | None = None  # the waitUrl document running, or an announcement
    announcing: str | None = None  # the doc is the announcement of this AnnounceUrl
    doc_ended: str | None = None  # "done" or "failed": the doc just ended (feed reports it)
    watched: bool = False  # its speech is watched (the room wants speaker events)
    speaking: bool = False  # its last speaker event was participant-speech-start

    @property
    def call_sid(self) -> str:
        return self.call.sid

    def takes(self, event: E.Event) -> bool:
        """Whether `event` is for the wait document (the call's interpreter gets the rest: its
        hangup, a live update, DialEnded, and the digits, for hangupOnStar)."""
        return self.doc is not None and not isinstance(
            event, (E.CallRedirected, E.CallHungUp, E.DialEnded, E.DigitReceived)
        )

    @property
    def label(self) -> str | None:
        return self.action.participant_label


@dataclasses.dataclass(slots=True)
class Announcement:
    """An AnnounceUrl playing: to whom it still plays, whether it failed for any of them, and
    the participant it was for (None: the whole room)."""

    url: str
    pending: set[str]
    part: Participant | None
    failed: bool = False


@dataclasses.dataclass(slots=True)
class Room:
    sid: str
    account_sid: str
    name: str
    first: A.DialConference  # the participant that made the room: its callbacks count
    date_created: dt.datetime
    date_updated: dt.datetime
    status: str = "init"
    participants: dict[str, Participant] = dataclasses.field(default_factory=dict)  # by CallSid, joining order
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    seq: itertools.count[int] = dataclasses.field(default_factory=lambda: itertools.count(1))
    last_call_sid: str = ""
    announcement: Announcement | None = None

    @property
    def started(self) -> bool:
        return self.status == "in-progress"

    @property
    def key(self) -> str:
        """The media room's name (one per room, unique on the engine)."""
        return self.sid


class Conferences:
    """Every project's live conference rooms on this engine. Loop-only. Built by runtime.py and
    handed to the sessions (SessionDeps.conferences)."""

    def __init__(
        self,
        sip: SipPort,
        clock: Clock,
        new_sid: Callable[[str], str],
        outbox: Outbox,
        hold_wav: Path,
        beep_wav: Path,
        rows: ConferenceRows | None = None,
        recorder: RoomRecorder | None = None,
    ) -> None:
        self.rows = rows
        self.recorder = recorder  # <Conference record>; None: not recorded (notified)
        self.sip = sip
        self.clock = clock
        self.new_sid = new_sid
        self.outbox = outbox
        self.hold_wav = hold_wav
        self.beep_wav = beep_wav
        self.live: dict[tuple[str, str], Room] = {}  # (account, name) -> room
        self.op_base = itertools.count(1)
        self.by_sid: dict[str, Room] = {}  # live and recently ended rooms
        self._tasks: set[asyncio.Task[None]] = set()
        # Names being taken among the engines (_home): the first joiner's answer, for the others.
        self._homing: dict[tuple[str, str], asyncio.Future[tuple[str, str | None]]] = {}

    # --- joining (on the call's task) -----------------------------------------------------------

    async def join(self, call: ConferenceCall, action: A.DialConference) -> tuple[int, str] | None:
        """Put the call in its room (made when new). A refusal (a duplicate label, a full room, a
        coach of nobody) is (notice code, message): the caller notifies it and fails the <Dial>."""
        key = (call.call.account_sid, action.name)
        sid, elsewhere = (await self._home(key)) if key not in self.live else ("", None)
        room = self.live.get(key)
        if room is None and elsewhere is not None:
            return ELSEWHERE, (
                f"conference {action.name!r} is live on engine {elsewhere}: a room lives in one engine, and this "
                "call is on another (route a conference's calls to one engine)"
            )
        if room is not None:
            refused = self._refusal(room, action)
            if refused is not None:
                return refused
        created = room is None
        if room is None:
            if action.coach:
                return BAD_COACH, f"<Conference coach={action.coach!r}>: no such participant in {action.name!r}"
            now = self.clock.now()
            room = Room(sid or self.new_sid("CF"), call.call.account_sid, action.name, action, now, now)
            self.live[key] = room
            self.by_sid[room.sid] = room
            self._trim_ended()
        # In the room before the first await: calls joining at once are checked (labels, the cap)
        # and ordered against each other in the order they came.
        part = Participant(call, room, action, action.muted, self.clock.now(), self.clock.monotonic())
        part.end_on_exit, part.beep, part.coach = action.end_conference_on_exit, action.beep, action.coach or ""
        part.date_updated = part.date_created
        room.participants[call.sid] = part
        room.last_call_sid = call.sid
        room.date_updated = self.clock.now()
        call.participant = part
        if created:
            await self._write_room(room)
            log.info("[%s] conference %s (%s) created", call.sid, room.sid, room.name)
        for message in _not_done(action, self.recorder is not None):
            await call.notify_call(Notice.SCHEMA_WARNING, message)
        await self._write_part(part)
        await self._event(room, "join", "participant-join", part)
        if _wants(room, "speaker") and part.call.participant is part and not part.call.ended:
            part.watched = True
            await self.sip.watch_speech(CallSid(part.call_sid), room.sid)
        if action.time_limit_s:
            handle = self.clock.call_later(float(action.time_limit_s), lambda: self._time_up(part))
            part.time_limit = handle.cancel
        if part.in_media or part.call.participant is not part:
            pass  # the room started meanwhile (and took it in), or it has left already
        elif room.started:
            await self._enter_media(part)
            await self._beep(room, part, entering=True)
            await self._record(room)
        elif self._starts(room):
            await self._start(room)
        else:
            await self._wait_music(part)
        return None

    async def _home(self, key: tuple[str, str]) -> tuple[str, str | None]:
        """Before a new room is made: take its name among the engines sharing the database; the
        new room's SID and the engine holding the name instead (None: ours). Joiners of one new
        room wait for the first one's answer, so the room made is the one whose SID was homed."""
        pending = self._homing.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if self.rows is None:
            return "", None
        pending = self._homing[key] = asyncio.get_running_loop().create_future()
        sid = self.new_sid("CF")
        answer: tuple[str, str | None] = (sid, None)
        try:
            answer = (sid, await self.rows.take_home(key[0], key[1], sid))
        except Exception:  # noqa: BLE001 - the database failing: the room is made here, as on one engine
            log.exception("conference %r: taking its name among the engines failed", key[1])
        finally:
            del self._homing[key]
            pending.set_result(answer)
        return answer

    def _refusal(self, room: Room, action: A.DialConference) -> tuple[int, str] | None:
        if action.participant_label and any(p.label == action.participant_label for p in room.participants.values()):
            return DUPLICATE_LABEL, f"participantLabel {action.participant_label!r} is already in use in {room.name!r}"
        cap = room.first.max_participants
        if len(room.participants) >= min(cap, action.max_participants):
            return Notice.SCHEMA_WARNING, f"conference {room.name!r} is full ({cap} participants)"
        if action.coach and action.coach not in room.participants:
            return BAD_COACH, f"<Conference coach={action.coach!r}>: no such participant in {room.name!r}"
        return None

    @staticmethod
    def _starts(room: Room) -> bool:
        parts = room.participants.values()
        return len(room.participants) >= 2 and any(p.action.start_conference_on_enter for p in parts)

    async def _start(self, room: Room) -> None:
        room.status = "in-progress"
        room.date_updated = self.clock.now()
        await self._write_room(room)
        log.info("conference %s (%s) started with %d participants", room.sid, room.name, len(room.participants))
        await self._event(room, "start", "conference-start")
        for part in list(room.participants.values()):
            await self._enter_media(part)
        await self._record(room)

    async def _record(self, room: Room) -> None:
        """Record the started room if a participant in it asks (the first in joining order's
        settings) and it is not recorded yet."""
        asking = [p for p in room.participants.values() if p.action.record is ConferenceRecord.RECORD_FROM_START]
        if asking and self.recorder is not None and not self.recorder.recording(room.sid) and room.started:
            await self.recorder.start(room.sid, room.key, room.account_sid, asking[0].action)

    async def _wait_music(self, part: Participant) -> None:
        if part.action.wait_url == "":
            return  # silence
        if part.action.wait_url is not None:
            await self._start_doc(part, part.action.wait_url, part.action.wait_method)
            return
        part.music = True
        await self.sip.play(CallSid(part.call_sid), WAIT_PLAY_ID, str(self.hold_wav), 0)

    # --- the waitUrl document (Play, Say, Pause, Redirect; silence once it runs out) ---------------

    async def _start_doc(
        self, part: Participant, url: str, method: V.HttpMethod | str, announce: str | None = None
    ) -> None:
        params = dict(call_params(part.call.call, "in-progress"))
        params.update({"ConferenceSid": part.room.sid, "FriendlyName": part.room.name})
        doc = Interpreter(params, None, answered=True, allowed=WAIT_VERBS, first_op=OP_SPAN * next(self.op_base))
        part.doc, part.announcing = doc, announce
        await part.call.execute(self._filter(part, doc.start(url, V.HttpMethod(method))))
        await self._doc_done(part)

    async def feed(self, part: Participant, event: E.Event) -> list[A.Action]:
        """An event of the wait document or announcement (Participant.takes): the actions the
        call performs."""
        if part.doc is None:
            return []
        actions = self._filter(part, part.doc.feed(event))
        await self._doc_done(part)
        return actions

    @staticmethod
    def _filter(part: Participant, actions: list[A.Action]) -> list[A.Action]:
        """The document's actions the call performs. Its end (or a fetch that failed, notified by
        its Notify) leaves silence, as on Twilio."""
        out: list[A.Action] = []
        for action in actions:
            if (isinstance(action, A.Hangup) and action.end_of_document) or isinstance(action, A.LeaveQueue):
                part.doc = None
                part.doc_ended = "failed" if isinstance(action, A.LeaveQueue) else "done"
            elif not isinstance(action, A.Finished):
                out.append(action)
        return out

    async def _doc_done(self, part: Participant, ended: str | None = None) -> None:
        """An announcement's document ended for `part`: once it has for everyone it played to,
        announcement-end (or -fail when it failed for any) goes to the room's statusCallback."""
        ended = ended or part.doc_ended
        part.doc_ended = None
        if ended is None or part.announcing is None:
            return
        part.announcing = None
        room = part.room
        ann = room.announcement
        if ann is None or part.call_sid not in ann.pending:
            return
        ann.pending.discard(part.call_sid)
        ann.failed |= ended == "failed"
        if ann.pending:
            return
        room.announcement = None
        await self._announced(room, ann)

    async def _announced(self, room: Room, ann: Announcement, reason: str = "the AnnounceUrl document failed") -> None:
        if ann.failed:
            extra = (("ReasonAnnouncementFailed", reason), ("AnnounceUrl", ann.url))
            await self._event(room, "announcement", "announcement-fail", ann.part, extra)
        else:
            await self._event(room, "announcement", "announcement-end", ann.part, (("AnnounceUrl", ann.url),))

    async def _stop_doc(self, part: Participant) -> None:
        if part.doc is not None:
            if part.announcing is not None:  # cut short (the participant left or was held): it played
                part.doc_ended = "done"
                await self._doc_done(part)
            doc, part.doc = part.doc, None
            stops = (A.StopPrompts, A.CancelTimer, A.StopGather)
            actions: list[A.Action] = [a for a in doc.feed(E.CallRedirected(document=_EMPTY)) if isinstance(a, stops)]
            if not part.call.ended:
                await part.call.execute(actions)

    async def _enter_media(self, part: Participant) -> None:
        if part.in_media:  # the room started while this participant was joining
            return
        await self._stop_doc(part)
        if part.music:
            part.music = False
            await self.sip.stop_play(CallSid(part.call_sid))
        if part.call.ended or part.hold:
            return
        try:
            await self.sip.room_join(part.room.key, CallSid(part.call_sid), part.muted, part.coach)
        except SipError as exc:  # no relay port left at the room's home: it could not be heard
            log.warning("[%s] could not enter conference %s: %s", part.call_sid, part.room.sid, exc)
            await part.call.notify_call(
                Notice.INTERNAL_FAILURE,
                f"<Conference>{part.room.name}: the participant could not enter the room ({exc})",
            )
            await self._leave(part, "participant_add_failed", dial_status=E.DialCallStatus.FAILED)
            return
        part.in_media = True

    async def _beep(self, room: Room, who: Participant, *, entering: bool) -> None:
        wanted = (Beep.TRUE, Beep.ON_ENTER) if entering else (Beep.TRUE, Beep.ON_EXIT)
        if who.beep not in wanted:
            return
        for other in room.participants.values():
            if other is not who and other.in_media and not other.hold and not other.call.ended:
                await self.sip.play(CallSid(other.call_sid), BEEP_PLAY_ID, str(self.beep_wav), 1)

    # --- leaving ----------------------------------------------------------------------------

    async def stop(self, call: ConferenceCall) -> None:
        """The participant's StopDial (hangupOnStar, a live update): it leaves the room."""
        if call.participant is not None:
            await self._leave(call.participant, "participant_updated_via_api")

    async def call_ended(self, call: ConferenceCall) -> None:
        """The participant's call ended: it leaves (its interpreter has seen the hangup)."""
        if call.participant is not None:
            await self._leave(call.participant, "participant_hung_up", status="completed")

    async def speaking(self, part: Participant, room_sid: str, on: bool) -> None:
        """The participant's far end started (`on`) or stopped talking (its call's SpeakingChanged,
        on its session's task): participant-speech-start / -stop. A report of another room's
        watch, or after the participant left, is stale and dropped."""
        room = part.room
        if room.sid != room_sid or room.participants.get(part.call_sid) is not part or on == part.speaking:
            return
        part.speaking = on
        await self._event(room, "speaker", "participant-speech-start" if on else "participant-speech-stop", part)

    def _time_up(self, part: Participant) -> None:
        if part.call.participant is part:
            self._spawn_leave(part, "participant_updated_via_api")

    def _spawn_leave(self, part: Participant, reason: str) -> None:
        task = asyncio.get_running_loop().create_task(self._leave(part, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _leave(
        self,
        part: Participant,
        reason: str,
        status: str = "in-progress",
        *,
        ending: Room | None = None,
        kicked: bool = False,
        dial_status: E.DialCallStatus = E.DialCallStatus.COMPLETED,
    ) -> None:
        room = part.room
        if room.participants.get(part.call_sid) is not part:
            return
        del room.participants[part.call_sid]
        last = not room.participants  # decided now: members leaving together each await below
        part.call.participant = None
        room.date_updated = self.clock.now()
        if part.time_limit is not None:
            part.time_limit()
        await self._stop_doc(part)
        if part.music:
            part.music = False
            if not part.call.ended:
                await self.sip.stop_play(CallSid(part.call_sid))
        if part.in_media:
            part.in_media = False
            await self.sip.room_leave(room.key, CallSid(part.call_sid))
        if part.watched:
            part.watched = False
            if not part.call.ended:  # else its worker stopped the watch with the call
                await self.sip.unwatch_speech(CallSid(part.call_sid), room.sid)
        if part.speaking:
            part.speaking = False
            await self._event(room, "speaker", "participant-speech-stop", part)
        await self._write_part(part, "complete")
        extra = (("ReasonParticipantLeft", reason), ("ParticipantCallStatus", status))
        await self._event(room, "leave", "participant-leave", part, extra)
        duration = int(self.clock.monotonic() - part.joined_at)
        part.call.deliver(E.DialEnded(part.action.op_id, dial_status, None, duration, room.started))
        if ending is not None:
            return
        how = "kicked" if kicked else "left"
        if last and not room.participants:  # (a member who joined meanwhile keeps it going)
            await self._end(room, f"last-participant-{how}", part)
        elif part.end_on_exit:
            await self._end(room, f"participant-with-end-conference-on-exit-{how}", part)
        else:
            await self._beep(room, part, entering=False)

    async def _end(self, room: Room, reason: str, by: Participant | None) -> None:
        if room.reason_ended is not None:
            return  # already ending (an endConferenceOnExit leaving with the last one, an API end)
        room.reason_ended = reason
        room.call_sid_ending = by.call_sid if by is not None else None
        why = "conference_ended_via_api" if reason == "conference-ended-via-api" else "moderator_ended_conference"
        if self.recorder is not None and self.recorder.recording(room.sid):  # kept while the room goes on ending
            task = asyncio.get_running_loop().create_task(self._keep_recording(room))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for part in list(room.participants.values()):
            await self._leave(part, why, ending=room)
        room.status = "completed"
        room.date_updated = self.clock.now()
        self.live.pop((room.account_sid, room.name), None)
        self.sip.room_over(room.key)
        await self._write_room(room)
        extra = [("ReasonConferenceEnded", reason), ("Reason", _REASONS[reason])]
        if by is not None:
            extra.append(("CallSidEndingConference", by.call_sid))
            if by.label:
                extra.append(("ParticipantLabelEndingConference", by.label))
        await self._event(room, "end", "conference-end", None, tuple(extra))
        log.info("conference %s (%s) ended: %s", room.sid, room.name, reason)
        if self.rows is not None:
            try:
                await self.rows.leave_home(room.account_sid, room.name, room.sid)
            except Exception:  # noqa: BLE001 - kept until this engine stops; its next room reclaims it
                log.exception("conference %s: giving its name back failed", room.sid)

    async def _keep_recording(self, room: Room) -> None:
        if self.recorder is not None:
            await self.recorder.stop(room.sid, room.key)

    def _trim_ended(self) -> None:
        ended = [sid for sid, r in self.by_sid.items() if r.status == "completed"]
        for sid in ended[: max(0, len(ended) - ENDED_KEPT)]:
            del self.by_sid[sid]

    # --- the REST resources (Conferences, Participants) -----------------------------------------

    def rooms(self, account_sid: str) -> list[Room]:
        """The project's live and recently ended rooms, newest first."""
        return sorted(
            (r for r in self.by_sid.values() if r.account_sid == account_sid),
            key=lambda r: r.date_created,
            reverse=True,
        )

    def room(self, account_sid: str, sid: str) -> Room | None:
        room = self.by_sid.get(sid)
        return room if room is not None and room.account_sid == account_sid else None

    @staticmethod
    def participant(room: Room, call_sid_or_label: str) -> Participant | None:
        part = room.participants.get(call_sid_or_label)
        if part is None:
            part = next((p for p in room.participants.values() if p.label == call_sid_or_label), None)
        return part

    async def end(self, room: Room) -> None:
        """Status=completed: everyone leaves (conference_ended_via_api) and the room ends."""
        if room.status != "completed":
            await self._end(room, "conference-ended-via-api", None)

    async def kick(self, part: Participant) -> None:
        """DELETE of a participant: it leaves, and its document goes on at <Dial action>."""
        await self._leave(part, "participant_updated_via_api", kicked=True)

    async def announce(self, room: Room, url: str, method: str = "POST", part: Participant | None = None) -> None:
        """AnnounceUrl: its document (Play, Say, Pause, Redirect) plays to every participant in
        the room (or to `part`), over what they hear; announcement-end when it has played to all,
        announcement-fail when it could not (it failed, nobody can hear it now: waiting or held
        participants hear their music, or another announcement plays)."""
        targets = [part] if part is not None else list(room.participants.values())
        targets = [p for p in targets if p.in_media and not p.hold and p.doc is None and not p.call.ended]
        ann = Announcement(url, {p.call_sid for p in targets}, part)
        if not targets or room.announcement is not None:
            ann.failed = True
            why = "another announcement is playing" if room.announcement is not None else "nobody in the room hears it"
            for p in [part] if part is not None else list(room.participants.values()):
                await p.call.notify_call(Notice.SCHEMA_WARNING, f"AnnounceUrl {url} not played: {why}")
            await self._announced(room, ann, why)
            return
        room.announcement = ann
        for p in targets:
            await self._start_doc(p, url, method, announce=url)

    async def update(
        self,
        part: Participant,
        *,
        muted: bool | None = None,
        hold: bool | None = None,
        beep_on_exit: bool | None = None,
        end_on_exit: bool | None = None,
        coach: str | None = None,
    ) -> None:
        """The Participants resource's update: each change applied to the media and announced
        (mute, hold, modify). `coach` "" stops coaching."""
        room = part.room
        part.date_updated = room.date_updated = self.clock.now()
        if muted is not None and muted != part.muted:
            part.muted = muted
            await self._media_member(part)
            await self._event(room, "mute", "participant-mute" if muted else "participant-unmute", part)
        if hold is not None and hold != part.hold:
            part.hold = hold
            if hold:
                await self._stop_doc(part)
                if part.in_media:
                    part.in_media = False
                    await self.sip.room_leave(room.key, CallSid(part.call_sid))
                part.music = True
                await self.sip.play(CallSid(part.call_sid), WAIT_PLAY_ID, str(self.hold_wav), 0)
            elif room.started:
                await self._enter_media(part)
            else:
                await self._wait_music(part)
            await self._event(room, "hold", "participant-hold" if hold else "participant-unhold", part)
        modified = False
        if beep_on_exit is not None:
            entering = part.beep in (Beep.TRUE, Beep.ON_ENTER)
            new = (
                (Beep.TRUE if entering else Beep.ON_EXIT)
                if beep_on_exit
                else (Beep.ON_ENTER if entering else Beep.FALSE)
            )
            modified |= new != part.beep
            part.beep = new
        if end_on_exit is not None and end_on_exit != part.end_on_exit:
            part.end_on_exit = end_on_exit
            modified = True
        if coach is not None and coach != part.coach:
            part.coach = coach
            await self._media_member(part)
            modified = True
        await self._write_part(part)
        if modified:
            await self._event(room, "modify", "participant-modify", part)

    # --- the rows (store/conferences.py) --------------------------------------------------------

    async def _write_room(self, room: Room) -> None:
        if self.rows is not None:
            await self.rows.room(
                sid=room.sid,
                account_sid=room.account_sid,
                friendly_name=room.name,
                status=room.status,
                reason_conference_ended=room.reason_ended,
                call_sid_ending_conference=room.call_sid_ending,
                date_created=room.date_created,
                date_updated=room.date_updated,
            )

    async def _write_part(self, part: Participant, status: str = "connected") -> None:
        if self.rows is not None:
            await self.rows.participant(
                conference_sid=part.room.sid,
                call_sid=part.call_sid,
                label=part.label,
                muted=part.muted,
                hold=part.hold,
                call_sid_to_coach=part.coach or None,
                end_conference_on_exit=part.end_on_exit,
                start_conference_on_enter=part.action.start_conference_on_enter,
                status=status,
                date_created=part.date_created,
                date_updated=part.date_updated or part.date_created,
            )

    async def _media_member(self, part: Participant) -> None:
        if part.in_media:
            await self.sip.room_member(part.room.key, CallSid(part.call_sid), part.muted, part.coach)

    # --- status callbacks ---------------------------------------------------------------------

    async def _event(
        self,
        room: Room,
        subscribed: str,
        name: str,
        part: Participant | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        first = room.first
        if first.status_callback is None or not _wants(room, subscribed):
            return
        params: list[tuple[str, str]] = [
            ("ConferenceSid", room.sid),
            ("FriendlyName", room.name),
            ("AccountSid", room.account_sid),
            ("SequenceNumber", str(next(room.seq))),
            ("Timestamp", rfc2822(self.clock.now()) or ""),
            ("StatusCallbackEvent", name),
        ]
        if part is not None:
            params += [
                ("CallSid", part.call_sid),
                ("Muted", _bool(part.muted)),
                ("Hold", _bool(part.hold)),
                ("Coaching", _bool(bool(part.coach))),
                ("EndConferenceOnExit", _bool(part.end_on_exit)),
                ("StartConferenceOnEnter", _bool(part.action.start_conference_on_enter)),
            ]
            if part.coach:
                params.append(("CallSidToCoach", part.coach))
            if part.label:
                params.append(("ParticipantLabel", part.label))
        params += extra
        call_sid = part.call_sid if part is not None else room.last_call_sid
        await self.outbox.webhook(
            room.account_sid,
            call_sid,
            "conference",
            name,
            first.status_callback,
            str(first.status_callback_method),
            params,
        )


_REASONS = {
    "last-participant-left": "The last participant left the conference",
    "participant-with-end-conference-on-exit-left": "A participant with endConferenceOnExit left the conference",
    "conference-ended-via-api": "The conference was ended via the API",
    "last-participant-kicked": "The last participant was removed from the conference",
    "participant-with-end-conference-on-exit-kicked": "A participant with endConferenceOnExit was removed",
}


def _not_done(action: A.DialConference, recording: bool) -> list[str]:
    """What the participant asked for that this engine does not do (each a notification):
    `recording` False, an engine built without conference recording."""
    out: list[str] = []
    if action.record is ConferenceRecord.RECORD_FROM_START and not recording:
        out.append("<Conference record='record-from-start'>: this engine does not record conferences")
    return out


def _wants(room: Room, subscribed: str) -> bool:
    """Whether the room's status callbacks (its first participant's) include `subscribed`."""
    return room.first.status_callback is not None and subscribed in room.first.status_callback_event


def _bool(value: bool) -> str:
    return "true" if value else "false"
