"""Schema version 16: transcriptions (Twilio's Transcription resource, TR...) of <Record
transcribe> recordings. A row is inserted `in-progress` in the transaction that saves its
recording, so the table is the transcription job's queue (media/transcription_jobs.py): a
restart finds the rows still in progress and transcribes them. `callback` is the
transcribeCallback URL (always POSTed, as on Twilio); `provider` the recognizer that produced the
text. A transcription goes with its recording (ON DELETE CASCADE)."""

VERSION = 16

STATEMENTS = (
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
    "CREATE INDEX transcriptions_account_created ON transcriptions (account_sid, date_created, sid)",
    "CREATE INDEX transcriptions_recording ON transcriptions (recording_sid)",
    "CREATE INDEX transcriptions_status ON transcriptions (status)",
)
