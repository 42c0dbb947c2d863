"""Schema version 18: several engines on one database (issue 27).

`nodes`: one row per engine (`[cluster] node_id`). `generation` grows by one at every start of
that node id; `state` is open, draining, stopped (a clean stop) or dead (another node found its
heartbeat older than `[cluster] node_timeout_s` and finalized its calls: `taken_by`, `taken_at`).
A node whose heartbeat finds its row dead or of a newer generation has been fenced: it stops
placing calls. `http_url` is where another node forwards an API request for one of its calls;
`sip_uri` its inbound SIP address (Kamailio's dispatcher list); `process` its host and pid (a
restart on the same host sees at once that the previous run is gone); `capacity` and `live_calls`
what `wirexa cluster status` and the dispatcher weights show. Heartbeats are the database's
clock on PostgreSQL, so the nodes' clocks never disagree about who is dead.

`cps_buckets`: a project's calls-per-second token bucket, shared by every node (the limit is
the project's, not each node's): the claim that takes a queued call takes a token from it in
the same transaction, under the row's lock.

`homes`: which engine holds a live conference room or call queue (kind `conference` or
`queue`, by project and name; `sid` the room's CF or the queue's QU). Rooms and queues live in
one engine's memory with their members' media, so the first engine to open one takes its name
here (the primary key makes that one winner) and another engine's call cannot start a second,
split room or queue under the same name: it is refused with a notification, and API requests
for the room or queue are forwarded to its engine. A dead engine's homes are free again.

`calls_owner_status`: the sweeper's lookup of a dead node's live calls."""

VERSION = 18

STATEMENTS = (
    """CREATE TABLE nodes (
        node_id VARCHAR(64) PRIMARY KEY,
        generation INTEGER NOT NULL,
        state VARCHAR(16) NOT NULL,
        http_url TEXT NULL,
        sip_uri TEXT NULL,
        process TEXT NULL,
        capacity INTEGER NOT NULL DEFAULT 0,
        live_calls INTEGER NOT NULL DEFAULT 0,
        started_at TIMESTAMP NOT NULL,
        heartbeat_at TIMESTAMP NOT NULL,
        taken_by VARCHAR(64) NULL,
        taken_at TIMESTAMP NULL
    )""",
    """CREATE TABLE cps_buckets (
        project_sid VARCHAR(64) PRIMARY KEY,
        tokens REAL NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE homes (
        kind VARCHAR(16) NOT NULL,
        account_sid VARCHAR(64) NOT NULL,
        name TEXT NOT NULL,
        sid VARCHAR(34) NOT NULL,
        node_id VARCHAR(64) NOT NULL,
        since TIMESTAMP NOT NULL,
        PRIMARY KEY (kind, account_sid, name)
    )""",
    "CREATE INDEX homes_sid ON homes (sid)",
    "CREATE INDEX calls_owner_status ON calls (owner, status)",
)
