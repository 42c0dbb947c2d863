"""Schema version 12: a call's media quality, who hung up, its post-dial delay, its AMD confidence.

`call_quality` keeps a call's quality samples (media/quality.py: one row every ~5 s while its audio
is up, the last as it ends; at most quality.SAMPLE_CAP per call, thinned evenly past that), read
in `seq` order through `call_quality_call`. On the call: `quality` is its summary as JSON (per
direction the whole call's loss, the worst interval's, average and worst jitter and MOS; the round
trip) and `quality_flags` Voice Insights' tags it earned ("high_packet_loss:inbound ..."; "" when
none, NULL when never sampled). `hangup_by` says who ended it (caller, callee, api, engine),
`post_dial_delay_ms` the time from its INVITE to the first ringing or answer, `amd_confidence`
the answering-machine detector's confidence in its AnsweredBy (0..1)."""

VERSION = 12

STATEMENTS = (
    """CREATE TABLE call_quality (
        id {pk},
        call_sid VARCHAR(34) NOT NULL,
        seq INTEGER NOT NULL,
        offset_s REAL NOT NULL,
        rtt_ms REAL NULL,
        in_packets INTEGER NOT NULL,
        in_loss_pct REAL NOT NULL,
        in_jitter_ms REAL NOT NULL,
        in_mos REAL NULL,
        out_packets INTEGER NOT NULL,
        out_loss_pct REAL NOT NULL,
        out_jitter_ms REAL NOT NULL,
        out_mos REAL NULL,
        final BOOLEAN NOT NULL,
        date_created TIMESTAMP NOT NULL
    )""",
    "CREATE INDEX call_quality_call ON call_quality (call_sid, seq)",
    "ALTER TABLE calls ADD COLUMN quality TEXT NULL",
    "ALTER TABLE calls ADD COLUMN quality_flags VARCHAR(255) NULL",
    "ALTER TABLE calls ADD COLUMN hangup_by VARCHAR(16) NULL",
    "ALTER TABLE calls ADD COLUMN post_dial_delay_ms INTEGER NULL",
    "ALTER TABLE calls ADD COLUMN amd_confidence REAL NULL",
)
