"""PURE: Twilio's standard request parameters of a call, built in one place for the document
fetches of a live call and for its status callbacks (reference §10.1, §10.2)."""

from __future__ import annotations

from wirexa.calls.records import CallRecord

API_VERSION = "2010-04-01"


def call_params(call: CallRecord, status: str) -> list[tuple[str, str]]:
    """CallSid, AccountSid, From, To, CallStatus, Direction, ApiVersion, Caller, Called, and
    ParentCallSid / AnsweredBy / ForwardedFrom when the call has them. `status` is the CallStatus to report."""
    params = [
        ("CallSid", call.sid),
        ("AccountSid", call.account_sid),
        ("From", call.from_number),
        ("To", call.to_number),
        ("CallStatus", status),
        ("Direction", call.direction),
        ("ApiVersion", API_VERSION),
        ("Caller", call.from_number),
        ("Called", call.to_number),
    ]
    if call.parent_call_sid:
        params.append(("ParentCallSid", call.parent_call_sid))
    if call.answered_by:
        params.append(("AnsweredBy", call.answered_by))
    if call.forwarded_from:
        params.append(("ForwardedFrom", call.forwarded_from))
    return params
