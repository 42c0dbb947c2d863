"""PURE: the call-status machine (Twilio's statuses) and which status callback each step fires.

Theory of operation. A call is created `queued`. The dispatcher takes it out of the queue when
limits allow and sends the INVITE: `initiated`. From there SIP facts move it: a provisional
180/183 makes it `ringing`, a 200 `in-progress`, and the end of the dialog makes it final:
`completed` after an answer, else `busy`, `no-answer`, `failed` or `canceled` per the SIP
outcome. A queued call cancelled through the API goes straight to `canceled`. Final statuses
never change again; a fact that does not apply to the current status is ignored (SIP may
report a late 180 after the 200, or two ends for one call), and the table says so by omission.

An inbound call (the carrier's INVITE) has no queue and no INVITE of ours: it is created
`ringing` (`initial_status`), its document is fetched while it rings, and the `Answer` its
document asks for moves it to `in-progress`; its ends before the answer are the caller's (the
caller gave up: `canceled`) or the document's (`<Reject>`: `busy` or `failed`).

`initiated` is the engine's own step (the INVITE left; a call there is no longer in the queue
and is finalized, not re-dialed, after a crash), not one of Twilio's call statuses: the Call
resource shows it as `queued` until the call rings (RESOURCE_STATUS), and `initiated` is only
a status callback event.

Each transition names the StatusCallbackEvent it fires (Twilio's event names: initiated,
ringing, answered, completed); the caller checks the customer's subscription.
"""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    QUEUED = "queued"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    BUSY = "busy"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    CANCELED = "canceled"


class Direction(StrEnum):
    """Twilio's call directions."""

    OUTBOUND_API = "outbound-api"
    OUTBOUND_DIAL = "outbound-dial"
    INBOUND = "inbound"


class Fact(StrEnum):
    DISPATCHED = "dispatched"  # the INVITE left
    RANG = "rang"
    ANSWERED = "answered"
    ENDED_COMPLETED = "completed"
    ENDED_BUSY = "busy"
    ENDED_NO_ANSWER = "no-answer"
    ENDED_FAILED = "failed"
    ENDED_CANCELED = "canceled"


class CallbackEvent(StrEnum):
    """Twilio's StatusCallbackEvent names."""

    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"


ALL_EVENTS = tuple(str(e) for e in CallbackEvent)

FINAL = frozenset({CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.CANCELED})
LIVE = frozenset(set(CallStatus) - FINAL)
# The statuses of a call whose SIP dialog exists (or may): the INVITE has left.
DIALING = frozenset(LIVE - {CallStatus.QUEUED})

_ENDS_BEFORE_ANSWER = {
    Fact.ENDED_BUSY: CallStatus.BUSY,
    Fact.ENDED_NO_ANSWER: CallStatus.NO_ANSWER,
    Fact.ENDED_FAILED: CallStatus.FAILED,
    Fact.ENDED_CANCELED: CallStatus.CANCELED,
    # A dialog that "completed" without an answer never connected: Twilio reports failed.
    Fact.ENDED_COMPLETED: CallStatus.FAILED,
}

# status -> {fact -> next status}
TRANSITIONS: dict[CallStatus, dict[Fact, CallStatus]] = {
    CallStatus.QUEUED: {
        Fact.DISPATCHED: CallStatus.INITIATED,
        Fact.ENDED_CANCELED: CallStatus.CANCELED,
        Fact.ENDED_FAILED: CallStatus.FAILED,
    },
    CallStatus.INITIATED: {Fact.RANG: CallStatus.RINGING, Fact.ANSWERED: CallStatus.IN_PROGRESS, **_ENDS_BEFORE_ANSWER},
    CallStatus.RINGING: {Fact.ANSWERED: CallStatus.IN_PROGRESS, **_ENDS_BEFORE_ANSWER},
    # Once answered, every end is a completed call (busy/no-answer cannot happen any more).
    CallStatus.IN_PROGRESS: {f: CallStatus.COMPLETED for f in _ENDS_BEFORE_ANSWER},
}

# The status callback event a transition into a status fires.
EVENT_OF: dict[CallStatus, CallbackEvent] = {
    CallStatus.INITIATED: CallbackEvent.INITIATED,
    CallStatus.RINGING: CallbackEvent.RINGING,
    CallStatus.IN_PROGRESS: CallbackEvent.ANSWERED,
    **{s: CallbackEvent.COMPLETED for s in FINAL},
}


# Stored status -> the status the Call resource shows (Twilio's enum has no `initiated`).
RESOURCE_STATUS: dict[str, str] = {
    str(s): str(CallStatus.QUEUED if s is CallStatus.INITIATED else s) for s in CallStatus
}


def stored_statuses(resource_status: str) -> tuple[str, ...]:
    """The stored statuses a Call resource `Status` filter value stands for."""
    return tuple(s for s, shown in RESOURCE_STATUS.items() if shown == resource_status)


def initial_status(direction: str) -> CallStatus:
    """The status a new call is created in: `queued` for the calls we place, `ringing` for an
    inbound call (its INVITE is already ringing us)."""
    return CallStatus.RINGING if direction == Direction.INBOUND else CallStatus.QUEUED


def step(current: str, fact: Fact) -> CallStatus | None:
    """The status after `fact`, or None when the fact does not apply to `current`."""
    return TRANSITIONS.get(CallStatus(current), {}).get(fact)


def fact_for_end(reason: str) -> Fact:
    """Map a SIP end reason (calls.ports.EndReason) to a Fact."""
    return Fact(reason)
