"""Keeping what a call recorded: one function for every kind of recording (<Record>, <Dial
record>, and the whole-call and API recordings to come).

A recording shorter than MIN_RECORDING_MS, or nothing but silence once trimmed, is discarded
as Twilio does (no resource, no callback) and leaves a warning notification on the call that
says so; anything else becomes a Recording resource whose `completed` callback commits with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from wirexa.calls.ports import CallStore, Clock
from wirexa.calls.records import CallRecord, NewNotification, NewRecording, RecordingRecord
from wirexa.notices import Notice

MIN_RECORDING_MS = 500
_VERB = {"RecordVerb": "Record", "DialVerb": "Dial"}

# Trim leading and trailing silence of a WAV in place; the new duration in seconds, or None
# when trimming failed (the file is kept as it was). media/recording.trim_silence in production.
Trimmer = Callable[[Path], Awaitable[float | None]]


@dataclasses.dataclass(frozen=True, slots=True)
class RecordingKind:
    """What a recording is and who hears about it (Twilio's Recording fields)."""

    source: str  # RecordVerb | DialVerb | OutboundAPI | StartCallRecordingAPI
    channels: int
    track: str  # inbound | outbound | both
    trim: str  # trim-silence | do-not-trim
    status_callback: str | None
    status_callback_method: str
    status_callback_events: tuple[str, ...]


async def keep(
    store: CallStore,
    clock: Clock,
    trim: Trimmer,
    call: CallRecord,
    rec_sid: str,
    path: Path,
    duration_ms: int,
    kind: RecordingKind,
) -> RecordingRecord | None:
    """Save a finished recording of `call`, or discard it when it is empty (None)."""
    if duration_ms < MIN_RECORDING_MS or not path.exists():
        path.unlink(missing_ok=True)
        await _discarded(
            store,
            call,
            Notice.RECORDING_TOO_SHORT,
            f"{_VERB.get(kind.source, kind.source)}: recording too short ({duration_ms} ms), discarded",
        )
        return None
    if kind.trim == "trim-silence":
        trimmed = await trim(path)
        if trimmed is not None:
            duration_ms = int(trimmed * 1000)
            if duration_ms < MIN_RECORDING_MS:
                path.unlink(missing_ok=True)
                await _discarded(
                    store,
                    call,
                    Notice.RECORDING_SILENT,
                    f"{_VERB.get(kind.source, kind.source)}: recording silent, discarded",
                )
                return None
    new = NewRecording(
        sid=rec_sid,
        account_sid=call.account_sid,
        call_sid=call.sid,
        source=kind.source,
        channels=kind.channels,
        track=kind.track,
        duration_s=max(1, round(duration_ms / 1000)),
        start_time=clock.now(),
        wav_path=str(path),
        status_callback=kind.status_callback,
        status_callback_method=kind.status_callback_method,
        status_callback_events=kind.status_callback_events,
        trim=kind.trim,
    )
    return await store.save_recording(new, call)


async def _discarded(store: CallStore, call: CallRecord, code: int, message: str) -> None:
    await store.notify(
        NewNotification(
            account_sid=call.account_sid, call_sid=call.sid, error_code=code, message_text=message, log_level=1
        )
    )
