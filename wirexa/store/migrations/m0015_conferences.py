"""Schema version 15: conference rooms (Twilio's Conference resource, CF...) and their
participants, as the engine that runs them writes them (calls/conference.py): a room's row when
it is made, starts and ends; a participant's when it joins, changes (muted, hold, coaching, end
on exit) and leaves. The live rooms themselves are the engine's, in memory: these rows are their
history (who was in which room, why it ended)."""

VERSION = 15

STATEMENTS = (
    """CREATE TABLE conferences (
        sid VARCHAR(34) PRIMARY KEY,
        account_sid VARCHAR(64) NOT NULL REFERENCES projects(sid),
        friendly_name VARCHAR(128) NOT NULL,
        status VARCHAR(16) NOT NULL,
        reason_conference_ended VARCHAR(64),
        call_sid_ending_conference VARCHAR(34),
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL
    )""",
    "CREATE INDEX conferences_account_created ON conferences (account_sid, date_created, sid)",
    """CREATE TABLE conference_participants (
        conference_sid VARCHAR(34) NOT NULL REFERENCES conferences(sid) ON DELETE CASCADE,
        call_sid VARCHAR(34) NOT NULL,
        label VARCHAR(128),
        muted BOOLEAN NOT NULL DEFAULT FALSE,
        hold BOOLEAN NOT NULL DEFAULT FALSE,
        call_sid_to_coach VARCHAR(34),
        end_conference_on_exit BOOLEAN NOT NULL DEFAULT FALSE,
        start_conference_on_enter BOOLEAN NOT NULL DEFAULT TRUE,
        status VARCHAR(16) NOT NULL,
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL,
        PRIMARY KEY (conference_sid, call_sid)
    )""",
)
