"""Schema version 13: `call_verbs`, the verbs a call's document ran (the console's timeline points):
when, which verb and a short detail, the first calls.session.VERB_CAP of a call at most, read in
`seq` order through `call_verbs_call`."""

VERSION = 13

STATEMENTS = (
    """CREATE TABLE call_verbs (
        id {pk},
        call_sid VARCHAR(34) NOT NULL,
        seq INTEGER NOT NULL,
        at TIMESTAMP NOT NULL,
        verb VARCHAR(32) NOT NULL,
        detail VARCHAR(255) NOT NULL
    )""",
    "CREATE INDEX call_verbs_call ON call_verbs (call_sid, seq)",
)
