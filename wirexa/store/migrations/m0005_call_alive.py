"""Schema version 5: `calls.alive_at`, the last moment the engine knew a live call was up (its
heartbeat over live calls). A call left live by an engine that died is ended at that moment at the
next start, so its duration and charge leave out the downtime."""

VERSION = 5

STATEMENTS = ("ALTER TABLE calls ADD COLUMN alive_at TIMESTAMP NULL",)
