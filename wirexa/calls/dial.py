"""One <Dial> of a parent call: its legs rung at once, the first to answer connected, the
others hung up, the bridge recorded when asked, and the DialEnded result for the interpreter.

Theory of operation. Every leg is a call session of its own (direction outbound-dial), placed
by the dispatcher in the parent's media worker. A leg that answers runs its whisper document
(<Number url>) first, then reports LegAnswered to the parent's session, which hands it here:
the first such leg is bridged to the parent, every other leg is hung up (their ends no longer
concern this dial). When a leg ends, LegEnded comes here too: a leg that never connected is
remembered, and when the last one is gone with none connected the dial ends with the most
telling of their outcomes; the connected leg's end unbridges the parties, closes the bridge
recording first if there is one, and ends the dial with its duration.

Everything here runs on the parent session's task (loop-only); the session feeds the returned
DialEnded to its interpreter.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Protocol

from wirexa.calls.ports import CallSid, SipPort
from wirexa.calls.records import CallRecord, RecordingRecord
from wirexa.laml import actions as A
from wirexa.laml import events as E
from wirexa.laml.verbs import DialRecord, DialTarget


class Leg(Protocol):
    """A <Dial> leg's session, as the dial sees it."""

    @property
    def sid(self) -> str: ...

    async def hangup(self) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class LegEnded:
    leg: Leg
    status: str  # the leg's final CallStatus
    duration_s: int | None
    bridged: bool = False


class DialParent(Protocol):
    """What the dial needs from the parent call's session."""

    @property
    def call(self) -> CallRecord: ...

    async def start_leg(self, action: A.Dial, target: DialTarget) -> Leg | None:
        """Insert and place one leg; None (with a notification) when it cannot be placed."""
        ...

    def recording_path(self) -> tuple[str, Path]:
        """A new RecordingSid and the WAV path to record it to."""
        ...

    def recording_url(self, rec_sid: str) -> str: ...


# When no leg connected, DialCallStatus is the most telling of their ends: someone could have
# answered (no-answer) before someone refused (busy) before an error.
_DIAL_STATUS_RANK = ("completed", "no-answer", "busy", "failed", "canceled")
_DIAL_STATUS = {
    "completed": E.DialCallStatus.COMPLETED,
    "busy": E.DialCallStatus.BUSY,
    "no-answer": E.DialCallStatus.NO_ANSWER,
    "canceled": E.DialCallStatus.CANCELED,
}


def most_telling(ends: list[LegEnded]) -> LegEnded:
    def rank(item: LegEnded) -> int:
        return _DIAL_STATUS_RANK.index(item.status) if item.status in _DIAL_STATUS_RANK else len(_DIAL_STATUS_RANK)

    return min(ends, key=rank)


class DialGroup:
    def __init__(self, parent: DialParent, sip: SipPort, action: A.Dial) -> None:
        self.parent = parent
        self.sip = sip
        self.action = action
        self.ringing: list[Leg] = []
        self.connected: Leg | None = None
        self._unanswered: list[LegEnded] = []
        self.rec_sid: str | None = None  # the bridge recording running on the parent
        self._ended_while_recording: LegEnded | None = None

    @property
    def legs(self) -> list[Leg]:
        return ([self.connected] if self.connected is not None else []) + self.ringing

    def owns(self, leg: Leg) -> bool:
        return leg in self.legs

    async def start(self) -> E.DialEnded | None:
        """Ring every target; a DialEnded at once when none could be placed."""
        for target in self.action.targets:
            leg = await self.parent.start_leg(self.action, target)
            if leg is not None:
                self.ringing.append(leg)
        if not self.ringing:
            return E.DialEnded(self.action.op_id, E.DialCallStatus.FAILED)
        return None

    async def hang_up(self) -> None:
        for leg in self.legs:
            await leg.hangup()

    async def leg_answered(self, leg: Leg, parent_gone: bool) -> None:
        """A leg answered and its whisper (if any) is over: connect it, or hang it up when
        another leg won or the parent is gone."""
        if leg not in self.ringing or self.connected is not None or parent_gone:
            await leg.hangup()
            return
        self.ringing.remove(leg)
        self.connected = leg
        losers, self.ringing = self.ringing, []
        for other in losers:
            await other.hangup()
        parent_sid = CallSid(self.parent.call.sid)
        await self.sip.stop_play(parent_sid)
        await self.sip.bridge(parent_sid, CallSid(leg.sid))
        if self.action.record != DialRecord.DO_NOT_RECORD:
            # Every record-* value records from the bridge, both parties mixed to mono.
            self.rec_sid, path = self.parent.recording_path()
            await self.sip.start_recording(parent_sid, self.rec_sid, str(path), 0, 0, "", mix_with=CallSid(leg.sid))

    async def leg_ended(self, ended: LegEnded, parent_gone: bool) -> E.DialEnded | None:
        """A leg of this dial ended; the DialEnded when the dial is over."""
        if ended.leg in self.ringing:  # never connected (a whisper may have screened it)
            self.ringing.remove(ended.leg)
            self._unanswered.append(dataclasses.replace(ended, bridged=False))
            if not self.ringing and self.connected is None:
                return self._result(most_telling(self._unanswered))
            return None
        if ended.leg is not self.connected:
            return None
        self.connected = None
        # DialBridged and DialCallDuration describe the connection, not just the answer.
        ended = dataclasses.replace(ended, bridged=True)
        await self.sip.unbridge(CallSid(self.parent.call.sid), CallSid(ended.leg.sid))
        if self.rec_sid is not None and not parent_gone:
            self._ended_while_recording = ended  # DialEnded once the recording is saved
            await self.sip.stop_recording(CallSid(self.parent.call.sid))
            return None
        return self._result(ended)

    def recording_closed(self, rec: RecordingRecord | None) -> E.DialEnded | None:
        """The bridge recording is closed (and kept, or discarded: None)."""
        self.rec_sid = None
        ended, self._ended_while_recording = self._ended_while_recording, None
        return self._result(ended, rec) if ended is not None else None

    def _result(self, ended: LegEnded, rec: RecordingRecord | None = None) -> E.DialEnded:
        self._unanswered = []
        return E.DialEnded(
            self.action.op_id,
            _DIAL_STATUS.get(ended.status, E.DialCallStatus.FAILED),
            dial_call_sid=ended.leg.sid,
            dial_call_duration_s=ended.duration_s if ended.bridged else 0,
            bridged=ended.bridged,
            recording_sid=rec.sid if rec else None,
            recording_url=self.parent.recording_url(rec.sid) if rec else None,
            recording_duration_s=rec.duration_s if rec else None,
        )
