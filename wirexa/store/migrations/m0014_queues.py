"""Schema version 14: call queues (Twilio's Queue resource, QU...). A queue belongs to one
project and is named by its friendly_name, unique in the project (<Enqueue>name</Enqueue> finds
or creates it by that name); `max_size` caps its members (1000 by default, 5000 at most). Who
waits in a queue is live state, kept in memory by the engine that runs the calls
(calls/queues.py): current_size and average_wait_time are computed when a queue is read."""

VERSION = 14

STATEMENTS = (
    """CREATE TABLE queues (
        sid VARCHAR(34) PRIMARY KEY,
        account_sid VARCHAR(64) NOT NULL REFERENCES projects(sid),
        friendly_name VARCHAR(64) NOT NULL,
        max_size INTEGER NOT NULL DEFAULT 1000,
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL
    )""",
    "CREATE UNIQUE INDEX queues_account_name ON queues (account_sid, friendly_name)",
    "CREATE INDEX queues_account_created ON queues (account_sid, date_created, sid)",
)
