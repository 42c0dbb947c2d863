"""peewee models mirroring the migrated schema (the DDL in migrations/ is the source of truth)."""

from __future__ import annotations

from typing import Any

import peewee as pw

from wirexa.calls.statuses import MediaState, WebhookStatus

database_proxy: Any = pw.DatabaseProxy()


class Base(pw.Model):
    class Meta:
        database = database_proxy


class Project(Base):
    sid = pw.CharField(primary_key=True)
    auth_token = pw.CharField()
    friendly_name = pw.CharField()
    status = pw.CharField(default="active")
    credits_s = pw.BigIntegerField(null=True)
    cps = pw.FloatField(null=True)
    max_concurrent = pw.IntegerField(null=True)
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()
    allowed_countries = pw.CharField(null=True)
    daily_minutes = pw.IntegerField(null=True)
    parent_sid = pw.CharField(null=True)  # a subaccount's parent project

    class Meta:
        table_name = "projects"


class EngineFlag(Base):
    name = pw.CharField(primary_key=True)
    value = pw.TextField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "engine_flags"


class Call(Base):
    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    parent_call_sid = pw.CharField(null=True)
    to_number = pw.CharField()
    from_number = pw.CharField()
    status = pw.CharField()
    direction = pw.CharField()
    url = pw.TextField(null=True)
    method = pw.CharField(default="POST")
    twiml = pw.TextField(null=True)
    fallback_url = pw.TextField(null=True)
    fallback_method = pw.CharField(default="POST")
    status_callback = pw.TextField(null=True)
    status_callback_method = pw.CharField(default="POST")
    status_callback_events = pw.CharField(default="")
    send_digits = pw.CharField(null=True)
    timeout_s = pw.IntegerField(default=60)
    time_limit_s = pw.IntegerField(default=14400)
    record = pw.BooleanField(default=False)
    recording_channels = pw.CharField(default="mono")
    recording_track = pw.CharField(default="both")
    recording_status_callback = pw.TextField(null=True)
    recording_status_callback_method = pw.CharField(default="POST")
    recording_status_callback_events = pw.CharField(default="completed")
    trim = pw.CharField(default="trim-silence")
    machine_detection = pw.CharField(null=True)
    machine_detection_timeout_s = pw.IntegerField(default=30)
    machine_detection_speech_threshold_ms = pw.IntegerField(default=2400)
    machine_detection_speech_end_threshold_ms = pw.IntegerField(default=1200)
    machine_detection_silence_timeout_ms = pw.IntegerField(default=5000)
    async_amd = pw.BooleanField(default=False)
    async_amd_status_callback = pw.TextField(null=True)
    async_amd_status_callback_method = pw.CharField(default="POST")
    caller_id = pw.CharField(null=True)
    answered_by = pw.CharField(null=True)
    sip_response_code = pw.IntegerField(null=True)
    start_time = pw.DateTimeField(null=True)
    answer_time = pw.DateTimeField(null=True)
    end_time = pw.DateTimeField(null=True)
    duration_s = pw.IntegerField(null=True)
    queue_time_ms = pw.IntegerField(null=True)
    price = pw.CharField(null=True)
    price_unit = pw.CharField(default="USD")
    sequence_number = pw.IntegerField(default=0)
    owner = pw.CharField(null=True)
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()
    alive_at = pw.DateTimeField(null=True)
    phone_number_sid = pw.CharField(max_length=34, null=True)  # an inbound call's number
    forwarded_from = pw.CharField(max_length=64, null=True)
    sip_auth_username = pw.CharField(null=True)  # digest credentials for a call to a sip: URI
    sip_auth_password = pw.CharField(null=True)
    quality = pw.TextField(null=True)  # media/quality.py's Summary as JSON
    quality_flags = pw.CharField(null=True)
    hangup_by = pw.CharField(max_length=16, null=True)
    post_dial_delay_ms = pw.IntegerField(null=True)
    amd_confidence = pw.FloatField(null=True)

    class Meta:
        table_name = "calls"


class Recording(Base):
    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    call_sid = pw.CharField(null=True)  # None: a conference's recording
    status = pw.CharField()
    source = pw.CharField()
    channels = pw.IntegerField(default=1)
    track = pw.CharField(default="both")
    duration_s = pw.IntegerField(null=True)
    start_time = pw.DateTimeField(null=True)
    error_code = pw.IntegerField(null=True)
    wav_path = pw.TextField(null=True)
    mp3_path = pw.TextField(null=True)
    status_callback = pw.TextField(null=True)
    status_callback_method = pw.CharField(default="POST")
    status_callback_events = pw.CharField(default="completed")
    trim = pw.CharField(default="do-not-trim")
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()
    media_state = pw.CharField(default=str(MediaState.READY))
    storage_url = pw.TextField(null=True)
    conference_sid = pw.CharField(null=True)

    class Meta:
        table_name = "recordings"


class Webhook(Base):
    id = pw.AutoField()
    account_sid = pw.CharField()
    call_sid = pw.CharField(null=True)
    kind = pw.CharField()
    event = pw.CharField()
    url = pw.TextField()
    method = pw.CharField(default="POST")
    params = pw.TextField()
    sequence_number = pw.IntegerField(default=0)
    status = pw.CharField(default=str(WebhookStatus.PENDING))
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField()
    claimed_by = pw.CharField(null=True)
    claimed_until = pw.DateTimeField(null=True)
    last_status_code = pw.IntegerField(null=True)
    last_error = pw.TextField(null=True)
    created_at = pw.DateTimeField()
    updated_at = pw.DateTimeField()
    delivered_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "webhooks"


class Notification(Base):
    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    call_sid = pw.CharField(null=True)
    error_code = pw.IntegerField()
    log_level = pw.IntegerField(default=0)
    message_text = pw.TextField()
    request_url = pw.TextField(null=True)
    request_method = pw.CharField(null=True)
    date_created = pw.DateTimeField()

    class Meta:
        table_name = "notifications"


class Application(Base):
    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    friendly_name = pw.CharField(null=True)
    api_version = pw.CharField(default="2010-04-01")
    voice_url = pw.TextField(null=True)
    voice_method = pw.CharField(default="POST")
    voice_fallback_url = pw.TextField(null=True)
    voice_fallback_method = pw.CharField(default="POST")
    status_callback = pw.TextField(null=True)
    status_callback_method = pw.CharField(default="POST")
    voice_caller_id_lookup = pw.BooleanField(default=False)
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "applications"


class PhoneNumber(Base):
    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    phone_number = pw.CharField(unique=True)
    friendly_name = pw.CharField()
    number_type = pw.CharField(default="local")
    api_version = pw.CharField(default="2010-04-01")
    voice_url = pw.TextField(null=True)
    voice_method = pw.CharField(default="POST")
    voice_fallback_url = pw.TextField(null=True)
    voice_fallback_method = pw.CharField(default="POST")
    status_callback = pw.TextField(null=True)
    status_callback_method = pw.CharField(default="POST")
    voice_caller_id_lookup = pw.BooleanField(default=False)
    voice_application_sid = pw.CharField(null=True)
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "numbers"


class Phone(Base):
    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    username = pw.CharField(unique=True)
    password = pw.CharField()
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "phones"


class ApiKey(Base):
    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    friendly_name = pw.CharField(null=True)
    secret_hash = pw.CharField()
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "api_keys"


class CallQuality(Base):
    id = pw.AutoField()
    call_sid = pw.CharField(max_length=34)
    seq = pw.IntegerField()
    offset_s = pw.FloatField()
    rtt_ms = pw.FloatField(null=True)
    in_packets = pw.IntegerField()
    in_loss_pct = pw.FloatField()
    in_jitter_ms = pw.FloatField()
    in_mos = pw.FloatField(null=True)
    out_packets = pw.IntegerField()
    out_loss_pct = pw.FloatField()
    out_jitter_ms = pw.FloatField()
    out_mos = pw.FloatField(null=True)
    final = pw.BooleanField()
    date_created = pw.DateTimeField()

    class Meta:
        table_name = "call_quality"


class CallVerb(Base):
    id = pw.AutoField()
    call_sid = pw.CharField(max_length=34)
    seq = pw.IntegerField()
    at = pw.DateTimeField()
    verb = pw.CharField(max_length=32)
    detail = pw.CharField(max_length=255)

    class Meta:
        table_name = "call_verbs"


class CallEvent(Base):
    id = pw.AutoField()
    account_sid = pw.CharField()
    call_sid = pw.CharField(max_length=34)
    kind = pw.CharField(max_length=32)
    method = pw.CharField(max_length=8)
    url = pw.TextField()
    parameters = pw.TextField()  # JSON: [[name, value], ...] in the order sent
    response_code = pw.IntegerField(null=True)
    content_type = pw.CharField(null=True)
    response_body = pw.TextField(null=True)
    request_duration_ms = pw.IntegerField(null=True)
    date_created = pw.DateTimeField()

    class Meta:
        table_name = "call_events"


class Queue(Base):
    """A project's call queue (migrations/m0014_queues.py); its members are live (calls/queues.py)."""

    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    friendly_name = pw.CharField()
    max_size = pw.IntegerField(default=1000)
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "queues"


class Conference(Base):
    """A conference room as its engine wrote it (migrations/m0015_conferences.py); the live room is
    the engine's (calls/conference.py)."""

    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    friendly_name = pw.CharField()
    status = pw.CharField()
    reason_conference_ended = pw.CharField(null=True)
    call_sid_ending_conference = pw.CharField(null=True)
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "conferences"


class ConferenceParticipant(Base):
    conference_sid = pw.CharField()
    call_sid = pw.CharField()
    label = pw.CharField(null=True)
    muted = pw.BooleanField(default=False)
    hold = pw.BooleanField(default=False)
    call_sid_to_coach = pw.CharField(null=True)
    end_conference_on_exit = pw.BooleanField(default=False)
    start_conference_on_enter = pw.BooleanField(default=True)
    status = pw.CharField()
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "conference_participants"
        primary_key = pw.CompositeKey("conference_sid", "call_sid")


class Transcription(Base):
    """A <Record transcribe> recording's transcription (migrations/m0016_transcriptions.py)."""

    sid = pw.CharField(primary_key=True)
    account_sid = pw.CharField()
    call_sid = pw.CharField()
    recording_sid = pw.CharField()
    status = pw.CharField()
    transcription_text = pw.TextField(null=True)
    duration_s = pw.IntegerField(null=True)
    callback = pw.TextField(null=True)
    error_code = pw.IntegerField(null=True)
    provider = pw.CharField(null=True)
    date_created = pw.DateTimeField()
    date_updated = pw.DateTimeField()

    class Meta:
        table_name = "transcriptions"


class Node(Base):
    node_id = pw.CharField(primary_key=True)
    generation = pw.IntegerField()
    state = pw.CharField()
    http_url = pw.TextField(null=True)
    sip_uri = pw.TextField(null=True)
    process = pw.TextField(null=True)
    capacity = pw.IntegerField(default=0)
    live_calls = pw.IntegerField(default=0)
    started_at = pw.DateTimeField()
    heartbeat_at = pw.DateTimeField()
    taken_by = pw.CharField(null=True)
    taken_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "nodes"


class CpsBucket(Base):
    project_sid = pw.CharField(primary_key=True)
    tokens = pw.FloatField()
    updated_at = pw.DateTimeField()

    class Meta:
        table_name = "cps_buckets"


class Home(Base):
    kind = pw.CharField()
    account_sid = pw.CharField()
    name = pw.TextField()
    sid = pw.CharField()
    node_id = pw.CharField()
    since = pw.DateTimeField()

    class Meta:
        table_name = "homes"
        primary_key = pw.CompositeKey("kind", "account_sid", "name")
