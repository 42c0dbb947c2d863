"""Schema version 8: API Keys and subaccounts. `api_keys` (SK...: a key of one project, its secret
kept only as a salted scrypt hash, shown once when created) and `projects.parent_sid` (a
subaccount is a project whose parent_sid names the project that created it; its credits, limits
and permissions stay its own). `projects.status` (active / suspended / closed) exists since
version 1."""

VERSION = 8

STATEMENTS = (
    "ALTER TABLE projects ADD COLUMN parent_sid VARCHAR(64) NULL REFERENCES projects(sid)",
    "CREATE INDEX projects_parent_created ON projects (parent_sid, date_created, sid)",
    """CREATE TABLE api_keys (
        sid VARCHAR(34) PRIMARY KEY,
        account_sid VARCHAR(64) NOT NULL REFERENCES projects(sid),
        friendly_name VARCHAR(64) NULL,
        secret_hash VARCHAR(255) NOT NULL,
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL
    )""",
    "CREATE INDEX api_keys_account_created ON api_keys (account_sid, date_created, sid)",
)
