"""Schema version 17: conference recordings (<Conference record>). A recording belongs to a call
(`call_sid`) or to a conference room (`conference_sid`, CF..., and no call_sid: Twilio's
Recording of a conference has call_sid null), so call_sid may now be NULL.

PostgreSQL drops the NOT NULL. SQLite cannot alter a column: the table is built again (its rows
copied, its indexes made again). Its child, transcriptions (ON DELETE CASCADE), is set aside
and put back around that, since dropping the old recordings table with foreign keys on would
delete every transcription with it (and renaming it would point them at the old name)."""

VERSION = 17

STATEMENTS = (
    "ALTER TABLE recordings ALTER COLUMN call_sid DROP NOT NULL",
    "ALTER TABLE recordings ADD COLUMN conference_sid VARCHAR(34) NULL",
    "CREATE INDEX recordings_conference ON recordings (conference_sid)",
)

_COLUMNS = (
    "sid, account_sid, call_sid, status, source, channels, track, duration_s, start_time, error_code, wav_path,"
    " mp3_path, status_callback, status_callback_method, status_callback_events, trim, date_created, date_updated,"
    " media_state, storage_url"
)
_TRANSCRIPTION_COLUMNS = (
    "sid, account_sid, call_sid, recording_sid, status, transcription_text, duration_s, callback, error_code,"
    " provider, date_created, date_updated"
)

SQLITE_STATEMENTS = (
    """CREATE TABLE recordings_new (
        sid VARCHAR(34) PRIMARY KEY,
        account_sid VARCHAR(64) NOT NULL REFERENCES projects(sid),
        call_sid VARCHAR(34) NULL,
        status VARCHAR(16) NOT NULL,
        source VARCHAR(32) NOT NULL,
        channels INTEGER NOT NULL DEFAULT 1,
        track VARCHAR(16) NOT NULL DEFAULT 'both',
        duration_s INTEGER NULL,
        start_time TIMESTAMP NULL,
        error_code INTEGER NULL,
        wav_path TEXT NULL,
        mp3_path TEXT NULL,
        status_callback TEXT NULL,
        status_callback_method VARCHAR(8) NOT NULL DEFAULT 'POST',
        status_callback_events VARCHAR(255) NOT NULL DEFAULT 'completed',
        trim VARCHAR(16) NOT NULL DEFAULT 'do-not-trim',
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL,
        media_state VARCHAR(16) NOT NULL DEFAULT 'ready',
        storage_url TEXT NULL,
        conference_sid VARCHAR(34) NULL
    )""",
    f"INSERT INTO recordings_new ({_COLUMNS}) SELECT {_COLUMNS} FROM recordings",
    f"CREATE TABLE transcriptions_kept AS SELECT {_TRANSCRIPTION_COLUMNS} FROM transcriptions",
    "DROP TABLE transcriptions",
    "DROP TABLE recordings",
    "ALTER TABLE recordings_new RENAME TO recordings",
    "CREATE INDEX recordings_account_created ON recordings (account_sid, date_created, sid)",
    "CREATE INDEX recordings_call ON recordings (call_sid)",
    "CREATE INDEX recordings_media_state ON recordings (media_state)",
    "CREATE INDEX recordings_status ON recordings (status)",
    "CREATE INDEX recordings_usage ON recordings (account_sid, date_created, status, duration_s)",
    "CREATE INDEX recordings_conference ON recordings (conference_sid)",
    """CREATE TABLE transcriptions (
        sid VARCHAR(34) PRIMARY KEY,
        account_sid VARCHAR(64) NOT NULL REFERENCES projects(sid),
        call_sid VARCHAR(34) NOT NULL,
        recording_sid VARCHAR(34) NOT NULL REFERENCES recordings(sid) ON DELETE CASCADE,
        status VARCHAR(16) NOT NULL,
        transcription_text TEXT NULL,
        duration_s INTEGER NULL,
        callback TEXT NULL,
        error_code INTEGER NULL,
        provider VARCHAR(32) NULL,
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL
    )""",
    f"INSERT INTO transcriptions ({_TRANSCRIPTION_COLUMNS}) SELECT {_TRANSCRIPTION_COLUMNS} FROM transcriptions_kept",
    "DROP TABLE transcriptions_kept",
    "CREATE INDEX transcriptions_account_created ON transcriptions (account_sid, date_created, sid)",
    "CREATE INDEX transcriptions_recording ON transcriptions (recording_sid)",
    "CREATE INDEX transcriptions_status ON transcriptions (status)",
)
