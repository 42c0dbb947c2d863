"""Schema version 6: inbound calling. `numbers` (IncomingPhoneNumbers: a number registered with
one project, its voice URLs or the Application that holds them; a number is unique across every
project, so an inbound INVITE has one owner), `applications` (voice URLs under a name, referenced
by numbers and by calls created with an ApplicationSid) and `phones` (desk phones' SIP
credentials; a username is unique, it is what a REGISTER or a digest answer names)."""

VERSION = 6

STATEMENTS = (
    """CREATE TABLE applications (
        sid VARCHAR(34) PRIMARY KEY,
        account_sid VARCHAR(64) NOT NULL REFERENCES projects(sid),
        friendly_name VARCHAR(255) NULL,
        api_version VARCHAR(16) NOT NULL DEFAULT '2010-04-01',
        voice_url TEXT NULL,
        voice_method VARCHAR(8) NOT NULL DEFAULT 'POST',
        voice_fallback_url TEXT NULL,
        voice_fallback_method VARCHAR(8) NOT NULL DEFAULT 'POST',
        status_callback TEXT NULL,
        status_callback_method VARCHAR(8) NOT NULL DEFAULT 'POST',
        voice_caller_id_lookup BOOLEAN NOT NULL DEFAULT FALSE,
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL
    )""",
    "CREATE INDEX applications_account_created ON applications (account_sid, date_created, sid)",
    """CREATE TABLE numbers (
        sid VARCHAR(34) PRIMARY KEY,
        account_sid VARCHAR(64) NOT NULL REFERENCES projects(sid),
        phone_number VARCHAR(32) NOT NULL,
        friendly_name VARCHAR(64) NOT NULL,
        number_type VARCHAR(16) NOT NULL DEFAULT 'local',
        api_version VARCHAR(16) NOT NULL DEFAULT '2010-04-01',
        voice_url TEXT NULL,
        voice_method VARCHAR(8) NOT NULL DEFAULT 'POST',
        voice_fallback_url TEXT NULL,
        voice_fallback_method VARCHAR(8) NOT NULL DEFAULT 'POST',
        status_callback TEXT NULL,
        status_callback_method VARCHAR(8) NOT NULL DEFAULT 'POST',
        voice_caller_id_lookup BOOLEAN NOT NULL DEFAULT FALSE,
        voice_application_sid VARCHAR(34) NULL REFERENCES applications(sid),
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL
    )""",
    "CREATE UNIQUE INDEX numbers_phone_number ON numbers (phone_number)",
    "CREATE INDEX numbers_account_created ON numbers (account_sid, date_created, sid)",
    "CREATE INDEX numbers_application ON numbers (voice_application_sid)",
    """CREATE TABLE phones (
        sid VARCHAR(34) PRIMARY KEY,
        account_sid VARCHAR(64) NOT NULL REFERENCES projects(sid),
        username VARCHAR(64) NOT NULL,
        password VARCHAR(128) NOT NULL,
        date_created TIMESTAMP NOT NULL,
        date_updated TIMESTAMP NOT NULL
    )""",
    "CREATE UNIQUE INDEX phones_username ON phones (username)",
)
