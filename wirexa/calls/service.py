"""Call resource operations behind the REST API: create, update (cancel, hang up, redirect), delete.

The API validates the wire format and hands over snake_case requests; this module applies the
account rules (credits, caller ids) and the per-state semantics of Twilio's update (reference
§8), writing through the CallStore port and telling the live-call controller what to do.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Protocol

from wirexa.calls import state
from wirexa.calls.admission import Admission
from wirexa.calls.ports import CallStore, Clock
from wirexa.calls.records import CallChanges, CallRecord, NewCall, ProjectRecord, RecordingOptions, RecordingRecord
from wirexa.calls.state import ALL_EVENTS
from wirexa.calls.statuses import CAPTURING_RECORDING
from wirexa.calls.streams import TRACKS, StreamInfo, StreamRefused
from wirexa.errors import ApiCode, ApiError, BadRequest, NotFound, PaymentRequired

__all__ = [
    "ALL_EVENTS",
    "TRACKS",
    "CallController",
    "CallService",
    "CallUpdate",
    "NewCall",
    "NullController",
    "StreamInfo",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class CallUpdate:
    status: str | None = None  # "canceled" | "completed"
    url: str | None = None
    method: str | None = None
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str | None = None
    status_callback: str | None = None
    status_callback_method: str | None = None
    time_limit_s: int | None = None


class CallController(Protocol):
    """Live-call control implemented by the dispatcher (calls/dispatcher.py). Loop-only."""

    def wake(self) -> None:
        """A call was queued: look at the queue now."""
        ...

    async def cancel(self, call: CallRecord, status: str) -> CallRecord:
        """End a call that is queued, dialing or ringing ('canceled'), or hang up a live one
        ('completed'); returns the record as it stands after the request was taken."""
        ...

    async def redirect(self, call: CallRecord, url: str | None, method: str, twiml: str | None) -> None:
        """Abort the current verb of an in-progress call and run the new instructions."""
        ...

    async def start_recording(self, call: CallRecord, options: RecordingOptions) -> RecordingRecord | None:
        """Start a whole-call recording of a live, answered call; None when this engine runs no such call."""
        ...

    async def update_recording(
        self, call: CallRecord, rec_sid: str, status: str, pause_behavior: str
    ) -> RecordingRecord | None:
        """Pause, resume or stop a live call recording; None when it is not running here."""
        ...

    async def start_stream(self, call: CallRecord, **kwargs: Any) -> StreamInfo | None:
        """Start a Media Stream on a live call (StreamRefused when it cannot); None when this
        engine runs no such call."""
        ...

    async def stop_stream(self, call: CallRecord, name_or_sid: str) -> StreamInfo | None:
        """Stop a stream of a live call by StreamSid or name; None when there is none."""
        ...


class NullController:
    """Used when no dispatcher runs (API-only tests): queued calls stay queued; cancelling a
    call ends it in the store, with its callback."""

    def __init__(self, store: CallStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def wake(self) -> None:
        return None

    async def cancel(self, call: CallRecord, status: str) -> CallRecord:
        # A call that never connected ends 'canceled'; hanging up an answered one 'completed'.
        answered = status == state.CallStatus.COMPLETED and call.status == state.CallStatus.IN_PROGRESS
        fact = state.Fact.ENDED_COMPLETED if answered else state.Fact.ENDED_CANCELED
        updated = await self.store.transition(call.sid, fact, CallChanges(end_time=self.clock.now()))
        return updated or call

    async def redirect(self, call: CallRecord, url: str | None, method: str, twiml: str | None) -> None:
        return None

    async def start_recording(self, call: CallRecord, options: RecordingOptions) -> RecordingRecord | None:
        return None

    async def update_recording(
        self, call: CallRecord, rec_sid: str, status: str, pause_behavior: str
    ) -> RecordingRecord | None:
        return None

    async def start_stream(self, call: CallRecord, **kwargs: Any) -> StreamInfo | None:
        return None

    async def stop_stream(self, call: CallRecord, name_or_sid: str) -> StreamInfo | None:
        return None


class CallService:
    """Loop-side entry points of the Calls resource; raises ApiError subclasses."""

    def __init__(self, store: CallStore, controller: CallController, admission: Admission) -> None:
        self.store = store
        self.controller = controller
        self.admission = admission

    async def create(self, project: ProjectRecord, req: NewCall) -> CallRecord:
        """Admit the call (calls.admission: the API answers its refusal) and queue it."""
        refusal = await self.admission.at_create(project, req.to_number, req.from_number)
        if refusal is not None:
            error = {400: BadRequest, 402: PaymentRequired}.get(refusal.status, ApiError)
            raise error(refusal.message, code=refusal.code, status=refusal.status)
        new = dataclasses.replace(req, status_callback_events=req.status_callback_events or ALL_EVENTS)
        call = await self.store.insert(project.sid, new)
        log.info("[%s] queued %s -> %s", call.sid, call.from_number, call.to_number)
        self.controller.wake()
        return call

    async def get(self, project: ProjectRecord, sid: str, path: str) -> CallRecord:
        call = await self.store.call(sid)
        if call is None or call.account_sid != project.sid:
            raise NotFound(f"The requested resource {path} was not found")
        return call

    async def update(self, project: ProjectRecord, sid: str, upd: CallUpdate, path: str) -> CallRecord:
        call = await self.get(project, sid, path)
        redirect = upd.url is not None or upd.twiml is not None
        if not call.is_live:
            if upd.status is not None:
                raise BadRequest("Call is not in-progress. Cannot cancel or hang up.", code=ApiCode.INVALID_CALL_STATE)
            if redirect:
                raise BadRequest("Call is not in-progress. Cannot redirect.", code=ApiCode.INVALID_CALL_STATE)
            if upd.time_limit_s is not None:
                raise BadRequest("Call is not in-progress. Cannot update.", code=ApiCode.INVALID_CALL_STATE)
        changes = CallChanges(
            fallback_url=upd.fallback_url,
            fallback_method=upd.fallback_method,
            status_callback=upd.status_callback,
            status_callback_method=upd.status_callback_method,
            time_limit_s=upd.time_limit_s,
        )
        if redirect and call.status != state.CallStatus.IN_PROGRESS:
            # Not answered yet: the new instructions replace the ones used on answer.
            # The new Url or Twiml replaces whichever of the two the call had.
            if upd.url is not None:
                changes = dataclasses.replace(changes, url=upd.url, cleared=frozenset({"twiml"}))
            else:
                changes = dataclasses.replace(changes, twiml=upd.twiml, cleared=frozenset({"url"}))
            changes = dataclasses.replace(changes, method=upd.method or "POST")
        if changes.columns():
            call = await self.store.change(sid, changes) or call
        if upd.status == state.CallStatus.CANCELED:
            if call.status in state.LIVE - {state.CallStatus.IN_PROGRESS}:
                call = await self.controller.cancel(call, upd.status)
            # Twilio: canceling an in-progress call has no effect.
        elif upd.status == state.CallStatus.COMPLETED:
            call = await self.controller.cancel(call, upd.status)
        elif redirect and call.status == state.CallStatus.IN_PROGRESS:
            await self.controller.redirect(call, upd.url, upd.method or "POST", upd.twiml)
        return await self.store.call(sid) or call

    async def start_recording(self, call: CallRecord, options: RecordingOptions) -> RecordingRecord:
        """POST .../Calls/{Sid}/Recordings: record a live call (21220 when it is not in progress)."""
        rec = None
        if call.status == state.CallStatus.IN_PROGRESS:
            rec = await self.controller.start_recording(call, options)
        if rec is None:
            raise BadRequest("Requested resource is not eligible for recording", code=ApiCode.INVALID_CALL_STATE)
        return rec

    async def update_recording(
        self, call: CallRecord, rec: RecordingRecord, status: str, pause_behavior: str
    ) -> RecordingRecord:
        """POST .../Recordings/{Sid}: Status paused (PauseBehavior), in-progress or stopped."""
        if rec.status not in CAPTURING_RECORDING:
            raise BadRequest("Recording is not in progress", code=ApiCode.INVALID_CALL_STATE)
        updated = await self.controller.update_recording(call, rec.sid, status, pause_behavior)
        if updated is None:
            raise BadRequest("Recording is not in progress", code=ApiCode.INVALID_CALL_STATE)
        return updated

    async def start_stream(self, call: CallRecord, **kwargs: Any) -> StreamInfo:
        """POST .../Calls/{Sid}/Streams: fork a live call's audio (21220 when it is not in
        progress here; the call's limits: 400 with the code StreamRefused gives)."""
        info = None
        if call.status == state.CallStatus.IN_PROGRESS:
            try:
                info = await self.controller.start_stream(call, **kwargs)
            except StreamRefused as exc:
                raise BadRequest(exc.message, code=exc.code, status=exc.status) from exc
        if info is None:
            raise BadRequest("Call is not in progress. Cannot start a stream.", code=ApiCode.INVALID_CALL_STATE)
        return info

    async def stop_stream(self, call: CallRecord, name_or_sid: str, path: str) -> StreamInfo:
        """POST .../Streams/{Sid or name} Status=stopped (404 when the call never had it)."""
        info = await self.controller.stop_stream(call, name_or_sid)
        if info is None:
            raise NotFound(f"The requested resource {path} was not found")
        return info

    async def delete(self, project: ProjectRecord, sid: str, path: str) -> None:
        call = await self.get(project, sid, path)
        if call.is_live:
            raise BadRequest("Cannot delete a call that is not complete.", code=ApiCode.DELETE_BEFORE_COMPLETE)
        await self.store.delete(sid)
