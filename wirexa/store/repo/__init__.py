"""The repository: one module per table, plain frozen dataclasses in and out, peewee behind them.

Every function is synchronous and runs on a store thread: callers compose them into one write
function and hand it to `Store.write`, so that (for example) a call-status change and the
webhook rows it causes commit in one transaction (the transactional outbox). The modules:

    calls          calls and <Dial> legs, statuses, sequence numbers, listings
    projects       accounts, auth tokens, limits, credits
    recordings     recordings and their files' state
    webhooks       the outbox's delivery rows (the per-call ordering rule)
    notifications  the debugger's entries
    flags          engine-wide switches (the emergency stop)

Their SQL runs through store/sql.py. This package also names every function and the call
domain's records (calls/records.py) in one place, for callers that span tables.
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
    WebhookRecord,
)
from wirexa.clock import new_sid, utcnow
from wirexa.store.repo import calls, flags, notifications, projects, recordings, webhooks
from wirexa.store.repo.calls import (
    CALL_COLUMNS,
    CallFilter,
    CallVersion,
    call_sids_with_prefix,
    call_usage_since,
    calls_with_status,
    count_live_calls,
    delete_call,
    get_call,
    get_calls,
    insert_call,
    list_call_versions,
    list_calls,
    mark_alive,
    next_sequence_number,
    queued_calls,
    update_call,
)
from wirexa.store.repo.flags import CALLS_STOPPED, get_flag, set_flag
from wirexa.store.repo.notifications import (
    delete_notification,
    get_notification,
    insert_notification,
    list_notifications,
    page_notifications,
)
from wirexa.store.repo.projects import (
    charge_credits,
    create_project,
    get_project,
    list_projects,
    project_limits,
    project_sids_with_prefix,
    update_project,
)
from wirexa.store.repo.recordings import (
    RECORDING_COLUMNS,
    delete_recording,
    first_completed_recording,
    get_recording,
    insert_recording,
    list_recordings,
    recordings_created_before,
    recordings_media_due,
    unfinished_recordings,
    update_recording,
)
from wirexa.store.repo.webhooks import (
    claim_webhooks,
    finish_webhook,
    get_webhook,
    insert_webhook,
    list_webhooks,
    next_webhook_due,
)
from wirexa.store.sql import TimeBound

__all__ = [
    "CALLS_STOPPED",
    "CALL_COLUMNS",
    "RECORDING_COLUMNS",
    "CallChanges",
    "CallFilter",
    "CallRecord",
    "CallVersion",
    "NewCall",
    "NewNotification",
    "NewRecording",
    "NotificationRecord",
    "ProjectRecord",
    "RecordingRecord",
    "TimeBound",
    "WebhookRecord",
    "call_sids_with_prefix",
    "call_usage_since",
    "calls",
    "calls_with_status",
    "charge_credits",
    "claim_webhooks",
    "count_live_calls",
    "create_project",
    "delete_call",
    "delete_notification",
    "delete_recording",
    "finish_webhook",
    "first_completed_recording",
    "flags",
    "get_call",
    "get_calls",
    "get_flag",
    "get_notification",
    "get_project",
    "get_recording",
    "get_webhook",
    "insert_call",
    "insert_notification",
    "insert_recording",
    "insert_webhook",
    "list_call_versions",
    "list_calls",
    "list_notifications",
    "list_projects",
    "list_recordings",
    "list_webhooks",
    "mark_alive",
    "new_sid",
    "next_sequence_number",
    "next_webhook_due",
    "notifications",
    "page_notifications",
    "project_limits",
    "project_sids_with_prefix",
    "projects",
    "queued_calls",
    "recordings",
    "recordings_created_before",
    "recordings_media_due",
    "set_flag",
    "unfinished_recordings",
    "update_call",
    "update_project",
    "update_recording",
    "utcnow",
    "webhooks",
]
