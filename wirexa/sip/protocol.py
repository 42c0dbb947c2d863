"""PURE: the message set between the engine and a SIP worker process, and SIP outcome mapping.

Commands go to the worker's stdin and events come back on its stdout, one JSON object per
line. Commands carry "op", events carry "ev"; both name the call by "sid" (the CallSid).

Commands: call(sid, to, from, timeout, headers) · hangup(sid) · play(sid, play_id, path, loop)
· stop_play(sid) · dtmf(sid, digits) · record(sid, rec_id, path, max_s, silence_s, keys) ·
stop_record(sid) · bridge(a, b) · unbridge(a, b) · ping(n) · shutdown().
Events: ready(port) · initiated(sid) · ringing(sid, code) · answered(sid, code) ·
ended(sid, reason, code, by) · digit(sid, digit) · play_done(sid, play_id, how) ·
record_done(sid, rec_id, path, ms, how, digit) · dtmf_done(sid) · pong(n) · error(sid, message).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from wirexa.calls.ports import (
    CallAnswered,
    CallEnded,
    CallInitiated,
    CallRinging,
    CallSid,
    DigitReceived,
    DigitsSent,
    PlaybackFinished,
    RecordingFinished,
    SipEvent,
)

COMMANDS = frozenset(
    {"call", "hangup", "play", "stop_play", "dtmf", "record", "stop_record", "bridge", "unbridge", "ping", "shutdown"}
)
EVENTS = frozenset(
    {"ready", "initiated", "ringing", "answered", "ended", "digit", "play_done", "record_done", "dtmf_done", "pong", "error"}
)


def encode(message: Mapping[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")


def decode(line: bytes | str) -> dict[str, Any]:
    """Parse one line; raises ValueError on anything that is not a known command or event."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError(f"not a message: {line!r}")
    if obj.get("op") not in COMMANDS and obj.get("ev") not in EVENTS:
        raise ValueError(f"unknown message: {line!r}")
    return obj


def to_sip_event(msg: Mapping[str, Any]) -> SipEvent | None:
    """Map a worker event to the calls.ports event; None for pool-internal events."""
    ev = msg.get("ev")
    sid = CallSid(str(msg.get("sid", "")))
    if ev == "initiated":
        return CallInitiated(sid)
    if ev == "ringing":
        return CallRinging(sid, int(msg.get("code", 180)))
    if ev == "answered":
        return CallAnswered(sid, int(msg.get("code", 200)))
    if ev == "ended":
        code = msg.get("code")
        return CallEnded(sid, msg["reason"], int(code) if code is not None else None, msg.get("by", "remote"))
    if ev == "digit":
        return DigitReceived(sid, str(msg["digit"]))
    if ev == "play_done":
        return PlaybackFinished(sid, str(msg["play_id"]), msg.get("how", "done"))
    if ev == "record_done":
        return RecordingFinished(
            sid, str(msg["rec_id"]), str(msg["path"]), int(msg["ms"]), msg["how"], msg.get("digit")
        )
    if ev == "dtmf_done":
        return DigitsSent(sid)
    return None


BUSY_CODES = frozenset({486, 600, 603})
NO_ANSWER_CODES = frozenset({408, 480, 487})


def end_reason(answered: bool, code: int | None, local: str | None) -> str:
    """The calls.ports.EndReason of a finished dialog.

    `local` says why we ended it ourselves: "cancel" (API), "timeout" (ring timeout),
    "shutdown", or None when the far end or the network ended it.
    """
    if answered:
        return "completed"
    if local == "cancel":
        return "canceled"
    if local == "timeout":
        return "no-answer"
    if code in BUSY_CODES:
        return "busy"
    if code in NO_ANSWER_CODES:
        return "no-answer"
    return "failed"


def dtmf_plan(digits: str, start: float, digit_s: float = 0.25) -> list[tuple[float, str]]:
    """Split SendDigits-style text into (due time, digit run); 'w' waits 0.5 s, 'W' 1 s."""
    plan: list[tuple[float, str]] = []
    t = start
    run = ""
    for ch in digits:
        if ch in "wW":
            if run:
                plan.append((t, run))
                t += len(run) * digit_s
                run = ""
            t += 0.5 if ch == "w" else 1.0
        else:
            run += ch
    if run:
        plan.append((t, run))
    return plan
