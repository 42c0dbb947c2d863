"""Schema version 11: two indexes for the web console (bench/console_bench.py, 100,000 calls).

calls_console covers the dashboard's read of a project's day of calls by creation time, counted by
status and AnsweredBy (no table lookups). calls_created orders every project's calls by creation
for the admin's calls list (the API's index starts with the project); date_created never changes
after the insert, so it costs the call's insert only."""

VERSION = 11

STATEMENTS = (
    "CREATE INDEX calls_console ON calls (account_sid, date_created, status, answered_by)",
    "CREATE INDEX calls_created ON calls (date_created, sid)",
)
