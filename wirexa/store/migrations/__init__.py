"""Numbered schema migrations; MIGRATIONS lists them in order (see store/db.py migrate())."""

from wirexa.store.migrations import (
    m0001_initial,
    m0002_queue_index,
    m0003_recording_media,
    m0004_call_limits,
    m0005_call_alive,
    m0006_numbers,
    m0007_inbound_calls,
    m0008_keys_subaccounts,
    m0009_call_events,
    m0010_sip_auth,
    m0011_console_index,
    m0012_call_quality,
    m0013_call_verbs,
    m0014_queues,
    m0015_conferences,
    m0016_transcriptions,
)

MIGRATIONS = (
    m0001_initial,
    m0002_queue_index,
    m0003_recording_media,
    m0004_call_limits,
    m0005_call_alive,
    m0006_numbers,
    m0007_inbound_calls,
    m0008_keys_subaccounts,
    m0009_call_events,
    m0010_sip_auth,
    m0011_console_index,
    m0012_call_quality,
    m0013_call_verbs,
    m0014_queues,
    m0015_conferences,
    m0016_transcriptions,
)
