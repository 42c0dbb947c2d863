"""PURE: the statuses of a recording, of its files and of a webhook delivery, one spelling each.

A call's statuses and their machine live in state.py; these two have no machine of their own
worth a table (a recording moves by the customer's API requests and the media job, a delivery
by the outbox's claim and finish), but their values are stored, queried, rendered and sent in
callbacks, so every module names them through these enums.
"""

from __future__ import annotations

from enum import StrEnum


class RecordingStatus(StrEnum):
    """Twilio's Recording `Status` values, plus FAILED, which only a callback carries (the
    resource of a recording that captured nothing is `absent` with an error code)."""

    IN_PROGRESS = "in-progress"
    PAUSED = "paused"
    STOPPED = "stopped"
    PROCESSING = "processing"
    COMPLETED = "completed"
    ABSENT = "absent"
    FAILED = "failed"


# Still being captured, or stopped and not yet closed: the API's live recordings, what a restart
# must repair, and what the retention janitor leaves alone.
UNFINISHED_RECORDING = (
    RecordingStatus.IN_PROGRESS,
    RecordingStatus.PAUSED,
    RecordingStatus.STOPPED,
    RecordingStatus.PROCESSING,
)
# Capturing now: the recordings a pause, resume or stop request applies to.
CAPTURING_RECORDING = (RecordingStatus.IN_PROGRESS, RecordingStatus.PAUSED)
# The statuses an update request may set (Twilio's order, which error messages list).
RECORDING_UPDATES = (RecordingStatus.PAUSED, RecordingStatus.IN_PROGRESS, RecordingStatus.STOPPED)
# Twilio's RecordingStatusCallbackEvent values: the statuses a recording callback is sent for.
RECORDING_CALLBACK_EVENTS = (RecordingStatus.IN_PROGRESS, RecordingStatus.COMPLETED, RecordingStatus.ABSENT)


class TranscriptionStatus(StrEnum):
    """Twilio's Transcription `status` (and the TranscriptionStatus of its callback)."""

    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    FAILED = "failed"


class MediaState(StrEnum):
    """What is left to do with a recording's files: PENDING (make the MP3, then send the
    `completed` callback), UPLOAD (copy the files to the bucket), READY (nothing)."""

    PENDING = "pending"
    UPLOAD = "upload"
    READY = "ready"


class WebhookStatus(StrEnum):
    """An outbox row's delivery state: pending (waiting for its due time, or held back behind an
    earlier row of its call and URL), in-flight (claimed by a worker under a lease), delivered
    (a 2xx came back), failed (the retry schedule is used up)."""

    PENDING = "pending"
    IN_FLIGHT = "in-flight"
    DELIVERED = "delivered"
    FAILED = "failed"


# Not finished: a row in one of these states holds back the later rows of its call and URL.
OPEN_WEBHOOK = (WebhookStatus.PENDING, WebhookStatus.IN_FLIGHT)
