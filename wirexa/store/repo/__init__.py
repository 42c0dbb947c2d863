"""The repository: one module per table, plain frozen dataclasses in and out, peewee behind them.

Every function is synchronous and runs on a store thread: callers compose them into one write
function and hand it to `Store.write`, so that (for example) a call-status change and the
webhook rows it causes commit in one transaction (the transactional outbox). Callers import the
table module they use:

    calls          calls and <Dial> legs, statuses, sequence numbers, listings, usage
    projects       accounts, auth tokens, limits, credits
    recordings     recordings and their files' state
    transcriptions <Record transcribe> recordings' transcriptions (the job's queue)
    webhooks       the outbox's delivery rows (the per-call ordering rule)
    notifications  the debugger's entries
    flags          engine-wide switches (the emergency stop)

Their SQL runs through store/sql.py. This package names the records they hand out (the call
domain's, calls/records.py) for callers that reach the store through it, such as api/.
"""

from wirexa.calls.records import (
    CallChanges,
    CallRecord,
    NewCall,
    NewNotification,
    NewRecording,
    NotificationRecord,
    ProjectRecord,
    RecordingRecord,
    TranscriptionRecord,
    WebhookRecord,
)
from wirexa.store.sql import TimeBound

__all__ = [
    "CallChanges",
    "CallRecord",
    "NewCall",
    "NewNotification",
    "NewRecording",
    "NotificationRecord",
    "ProjectRecord",
    "RecordingRecord",
    "TranscriptionRecord",
    "TimeBound",
    "WebhookRecord",
]
