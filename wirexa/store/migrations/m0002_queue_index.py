"""Schema version 2: an index for the dispatcher's queue (queued calls, oldest first), so that a
backlog of thousands of queued calls is read a page at a time instead of sorted on every pass."""

VERSION = 2

STATEMENTS = ("CREATE INDEX calls_queue ON calls (status, date_created, sid)",)
