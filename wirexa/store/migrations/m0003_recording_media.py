"""Schema version 3: what is left to do with a finished recording's files (`media_state`:
pending = MP3 and the `completed` callback, upload = the copy to the bucket, ready = nothing) and
where the bucket copy is (`storage_url`, s3://bucket/prefix/). Rows that exist already are ready:
their callbacks went out when they were saved."""

VERSION = 3

STATEMENTS = (
    "ALTER TABLE recordings ADD COLUMN media_state VARCHAR(16) NOT NULL DEFAULT 'ready'",
    "ALTER TABLE recordings ADD COLUMN storage_url TEXT NULL",
    "CREATE INDEX recordings_media_state ON recordings (media_state)",
    "CREATE INDEX recordings_status ON recordings (status)",
)
