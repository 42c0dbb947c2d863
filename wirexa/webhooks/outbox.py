"""The transactional outbox: build Twilio's callback parameters and enqueue delivery rows.

Every function that enqueues is synchronous and must run inside the caller's store write
transaction (Store.write), next to the state change that causes the callback, so that a crash
keeps both or neither. The DeliveryWorker (delivery.py) sends the rows later.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence

from wirexa.calls import state
from wirexa.calls.params import call_params
from wirexa.clock import utcnow
from wirexa.store.repo import CallRecord, RecordingRecord, TranscriptionRecord, WebhookRecord, calls, webhooks
from wirexa.timefmt import rfc2822


def enqueue(
    *,
    account_sid: str,
    call_sid: str | None,
    kind: str,
    event: str,
    url: str,
    method: str,
    params: Sequence[tuple[str, str]],
    sequence_number: int = 0,
) -> WebhookRecord:
    """Write one delivery row (call inside the caller's transaction)."""
    return webhooks.insert_webhook(
        account_sid=account_sid,
        call_sid=call_sid,
        kind=kind,
        event=event,
        url=url,
        method=method,
        params=params,
        sequence_number=sequence_number,
    )


def call_status_params(
    call: CallRecord, sequence_number: int, now: dt.datetime, extra: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """Twilio's call-progress parameters (reference §10.1, §10.2) for the call as it stands."""
    params = call_params(call, call.status) + [
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", str(sequence_number)),
        ("Timestamp", rfc2822(now) or ""),
    ]
    if call.status in state.FINAL:
        seconds = call.duration_s or 0
        params += [("CallDuration", str(seconds)), ("Duration", str(math.ceil(seconds / 60)))]
        if call.sip_response_code is not None and not (extra and "SipResponseCode" in extra):
            params.append(("SipResponseCode", str(call.sip_response_code)))
    for key, value in (extra or {}).items():
        params.append((key, value))
    return params


def call_status_callbacks(call: CallRecord, event: str, extra: Mapping[str, str]) -> None:
    """Enqueue the call's status callback for `event` if the customer subscribed to it.

    A calls.ports.StatusCallbacks; call inside the status change's transaction.
    """
    if not call.status_callback:
        return
    subscribed = call.events or state.ALL_EVENTS
    if event not in subscribed:
        return
    seq = calls.next_sequence_number(call.sid)
    enqueue(
        account_sid=call.account_sid,
        call_sid=call.sid,
        kind="call-status",
        event=event,
        url=call.status_callback,
        method=call.status_callback_method,
        params=call_status_params(call, seq, utcnow(), extra),
        sequence_number=seq,
    )


def recording_status_params(rec: RecordingRecord, call: CallRecord | None, base_url: str) -> list[tuple[str, str]]:
    """Twilio's recording status parameters (reference §10.4); a conference's recording (no
    call) has ConferenceSid instead of CallSid, RecordingSource DialConference and no track
    (the <Conference> recordingStatusCallback's, reference-next §2.2)."""
    if call is None:
        params = [("AccountSid", rec.account_sid), ("ConferenceSid", rec.conference_sid or "")]
    else:
        params = [("AccountSid", rec.account_sid), ("CallSid", call.sid)]
    params += [
        ("RecordingSid", rec.sid),
        ("RecordingUrl", f"{base_url}/recordings/{rec.sid}"),
        ("RecordingStatus", rec.status),
        ("RecordingDuration", "" if rec.duration_s is None else str(rec.duration_s)),
        ("RecordingChannels", str(rec.channels)),
        ("RecordingStartTime", rfc2822(rec.start_time or rec.date_created) or ""),
        ("RecordingSource", "DialConference" if call is None else rec.source),
    ]
    if call is not None:
        params.append(("RecordingTrack", rec.track))
    if rec.error_code is not None:
        params.append(("ErrorCode", str(rec.error_code)))
    return params


def recording_callbacks(base_url: str) -> Callable[[RecordingRecord, CallRecord | None, str], None]:
    """A calls.ports.RecordingCallbacks that enqueues the recording status callback."""

    def enqueue_recording(rec: RecordingRecord, call: CallRecord | None, event: str) -> None:
        if not rec.status_callback or event not in rec.status_callback_events.split():
            return
        enqueue(
            account_sid=rec.account_sid,
            call_sid=call.sid if call is not None else None,
            kind="recording-status",
            event=event,
            url=rec.status_callback,
            method=rec.status_callback_method,
            params=recording_status_params(rec, call, base_url),
        )

    return enqueue_recording


def transcription_params(tr: TranscriptionRecord, call: CallRecord | None, base_url: str) -> list[tuple[str, str]]:
    """Twilio's transcribeCallback parameters: the call's standard ones (as they stand now; none
    when the call was deleted), then the transcription's and its recording's."""
    params = call_params(call, call.status) if call is not None else [("AccountSid", tr.account_sid)]
    params += [
        ("TranscriptionSid", tr.sid),
        ("TranscriptionText", tr.transcription_text or ""),
        ("TranscriptionStatus", tr.status),
        ("TranscriptionUrl", f"{base_url}/2010-04-01/Accounts/{tr.account_sid}/Transcriptions/{tr.sid}"),
        ("RecordingSid", tr.recording_sid),
        ("RecordingUrl", f"{base_url}/recordings/{tr.recording_sid}"),
    ]
    return params


def transcription_callbacks(base_url: str) -> Callable[[TranscriptionRecord, CallRecord | None], None]:
    """A store.transcriptions.TranscriptionCallbacks: enqueue the transcribeCallback (always
    POST, as on Twilio) of a finished transcription; call inside that transaction."""

    def enqueue_transcription(tr: TranscriptionRecord, call: CallRecord | None) -> None:
        if not tr.callback:
            return
        enqueue(
            account_sid=tr.account_sid,
            call_sid=tr.call_sid,
            kind="transcription",
            event=tr.status,
            url=tr.callback,
            method="POST",
            params=transcription_params(tr, call, base_url),
        )

    return enqueue_transcription


def amd_callbacks(call: CallRecord, detection_ms: int, confidence: float) -> None:
    """Enqueue the AsyncAmdStatusCallback request for a call whose AnsweredBy was just decided
    (a calls.ports.AmdCallbacks; call inside that transaction)."""
    if not call.async_amd_status_callback or not call.answered_by:
        return
    enqueue(
        account_sid=call.account_sid,
        call_sid=call.sid,
        kind="amd",
        event="amd",
        url=call.async_amd_status_callback,
        method=call.async_amd_status_callback_method,
        params=amd_params(call, call.answered_by, detection_ms, confidence),
    )


def amd_params(
    call: CallRecord, answered_by: str, detection_ms: int, confidence: float | None = None
) -> list[tuple[str, str]]:
    """Async AMD result parameters (reference §10.3, plus the product doc's AmdConfidence)."""
    params = [
        ("AccountSid", call.account_sid),
        ("CallSid", call.sid),
        ("AnsweredBy", answered_by),
        ("MachineDetectionDuration", str(detection_ms)),
        ("AmdDetectionTimeMs", str(detection_ms)),
    ]
    if confidence is not None:
        params.append(("AmdConfidence", f"{confidence:.2f}"))
    return params
