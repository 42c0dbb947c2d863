"""Schema version 9: Call Events and the usage index.

`call_events` keeps the request and response of every HTTP request the engine made for a call
(document fetches and action URLs, status / recording / AMD callbacks: one row per attempt), read
by the Events resource in id order and deleted after `[store] call_events_days` by the janitor
(store/events.py) through `call_events_created`. `response_body` holds at most the first 64 KiB.

`calls_usage` lets the Usage Records resource sum a project's answered calls per UTC day of their
start time from the index alone (a range of one account's entries, never a scan of every call);
`recordings_usage` does the same for recordings by their creation time."""

VERSION = 9

STATEMENTS = (
    """CREATE TABLE call_events (
        id {pk},
        account_sid VARCHAR(64) NOT NULL,
        call_sid VARCHAR(34) NOT NULL,
        kind VARCHAR(32) NOT NULL,
        method VARCHAR(8) NOT NULL,
        url TEXT NOT NULL,
        parameters TEXT NOT NULL,
        response_code INTEGER NULL,
        content_type VARCHAR(255) NULL,
        response_body TEXT NULL,
        request_duration_ms INTEGER NULL,
        date_created TIMESTAMP NOT NULL
    )""",
    "CREATE INDEX call_events_call ON call_events (call_sid, id)",
    "CREATE INDEX call_events_created ON call_events (date_created)",
    "CREATE INDEX calls_usage ON calls (account_sid, start_time, status, direction, duration_s)",
    "CREATE INDEX recordings_usage ON recordings (account_sid, date_created, status, duration_s)",
)
