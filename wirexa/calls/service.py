"""Call resource operations behind the REST API: create, update (cancel, hang up, redirect), delete.

The API validates the wire format and hands over snake_case requests; this module applies the
account rules (credits, caller ids) and the per-state semantics of Twilio's update (reference
§8), writing through the store and telling the live-call controller what to do.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Protocol

from wirexa.errors import BadRequest, NotFound, PaymentRequired
from wirexa.store import repo
from wirexa.store.repo import CallRecord, ProjectRecord

if TYPE_CHECKING:  # the Store is handed in by runtime; calls/ never opens a database
    from wirexa.store.db import Store

log = logging.getLogger(__name__)

ALL_EVENTS = ("initiated", "ringing", "answered", "completed")


@dataclasses.dataclass(frozen=True, slots=True)
class NewCall:
    """A validated create request (wire names already mapped to columns)."""

    to_number: str
    from_number: str
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ()
    send_digits: str | None = None
    timeout_s: int = 60
    time_limit_s: int = 14400
    record: bool = False
    recording_channels: str = "mono"
    recording_track: str = "both"
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_events: tuple[str, ...] = ("completed",)
    trim: str = "trim-silence"
    machine_detection: str | None = None
    machine_detection_timeout_s: int = 30
    machine_detection_speech_threshold_ms: int = 2400
    machine_detection_speech_end_threshold_ms: int = 1200
    machine_detection_silence_timeout_ms: int = 5000
    async_amd: bool = False
    async_amd_status_callback: str | None = None
    async_amd_status_callback_method: str = "POST"
    caller_id: str | None = None


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


class NullController:
    """Used when no dispatcher runs (API-only tests): queued calls stay queued; cancelling a
    queued call ends it in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def wake(self) -> None:
        return None

    async def cancel(self, call: CallRecord, status: str) -> CallRecord:
        now = repo.utcnow()
        # A call that never connected ends 'canceled'; hanging up an answered one 'completed'.
        final = "completed" if status == "completed" and call.status == "in-progress" else "canceled"
        updated = await self.store.write(
            lambda: repo.update_call(call.sid, expect_status=repo.LIVE_STATUSES, status=final, end_time=now)
        )
        return updated or call

    async def redirect(self, call: CallRecord, url: str | None, method: str, twiml: str | None) -> None:
        return None


class CallService:
    """Loop-side entry points of the Calls resource; raises ApiError subclasses."""

    def __init__(self, store: Store, controller: CallController, allowed_caller_ids: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.controller = controller
        self.allowed_caller_ids = allowed_caller_ids

    async def create(self, project: ProjectRecord, req: NewCall) -> CallRecord:
        # The balance moves as calls end: check the stored one, not the auth-time copy.
        current = await self.store.read(repo.get_project, project.sid) or project
        if current.credits_s is not None and current.credits_s <= 0:
            raise PaymentRequired("No credits remaining for this project", code=20005, status=402)
        if self.allowed_caller_ids and req.from_number not in self.allowed_caller_ids:
            raise BadRequest(
                f"The source phone number provided, {req.from_number}, is not yet verified for your account.",
                code=21210,
            )
        fields: dict[str, Any] = dataclasses.asdict(req)
        fields["status_callback_events"] = " ".join(req.status_callback_events or ALL_EVENTS)
        fields["recording_status_callback_events"] = " ".join(req.recording_status_callback_events)
        call = await self.store.write(
            lambda: repo.insert_call(
                account_sid=project.sid, status="queued", direction="outbound-api", **fields
            )
        )
        log.info("[%s] queued %s -> %s", call.sid, call.from_number, call.to_number)
        self.controller.wake()
        return call

    async def get(self, project: ProjectRecord, sid: str, path: str) -> CallRecord:
        call = await self.store.lookup(repo.get_call, sid, project.sid)
        if call is None:
            raise NotFound(f"The requested resource {path} was not found")
        return call

    async def update(self, project: ProjectRecord, sid: str, upd: CallUpdate, path: str) -> CallRecord:
        call = await self.get(project, sid, path)
        redirect = upd.url is not None or upd.twiml is not None
        if not call.is_live:
            if upd.status is not None:
                raise BadRequest("Call is not in-progress. Cannot cancel or hang up.", code=21220)
            if redirect:
                raise BadRequest("Call is not in-progress. Cannot redirect.", code=21220)
            if upd.time_limit_s is not None:
                raise BadRequest("Call is not in-progress. Cannot update.", code=21220)
        plain: dict[str, Any] = {
            k: v
            for k, v in {
                "fallback_url": upd.fallback_url,
                "fallback_method": upd.fallback_method,
                "status_callback": upd.status_callback,
                "status_callback_method": upd.status_callback_method,
                "time_limit_s": upd.time_limit_s,
            }.items()
            if v is not None
        }
        if redirect and call.status != "in-progress":
            # Not answered yet: the new instructions replace the ones used on answer.
            plain.update(url=upd.url, twiml=upd.twiml, method=upd.method or "POST")
        if plain:
            changed: CallRecord | None = await self.store.write(lambda: repo.update_call(sid, **plain))
            call = changed or call
        if upd.status == "canceled":
            if call.status in ("queued", "initiated", "ringing"):
                call = await self.controller.cancel(call, "canceled")
            # Twilio: canceling an in-progress call has no effect.
        elif upd.status == "completed":
            call = await self.controller.cancel(call, "completed")
        elif redirect and call.status == "in-progress":
            await self.controller.redirect(call, upd.url, upd.method or "POST", upd.twiml)
        return await self.store.read(repo.get_call, sid) or call

    async def delete(self, project: ProjectRecord, sid: str, path: str) -> None:
        call = await self.get(project, sid, path)
        if call.is_live:
            raise BadRequest("Cannot delete a call that is not complete.", code=20009)
        await self.store.write(repo.delete_call, sid)
