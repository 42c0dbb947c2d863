"""Schema version 4: toll-fraud controls. A project's own dialing permissions (`allowed_countries`,
E.164 prefixes, comma-separated; NULL = the engine's default) and daily call-minutes cap
(`daily_minutes`; NULL = the engine's default), and `engine_flags`, switches an operator sets for
the whole engine that must survive a restart (the emergency stop: `calls_stopped`)."""

VERSION = 4

STATEMENTS = (
    "ALTER TABLE projects ADD COLUMN allowed_countries VARCHAR(255) NULL",
    "ALTER TABLE projects ADD COLUMN daily_minutes INTEGER NULL",
    """CREATE TABLE engine_flags (
        name VARCHAR(64) PRIMARY KEY,
        value TEXT NOT NULL,
        date_updated TIMESTAMP NOT NULL
    )""",
)
