"""Schema version 10: the digest credentials a call to a SIP URI answers the far end's challenge
with (`SipAuthUsername` / `SipAuthPassword` on create; the password is never shown in the API)."""

VERSION = 10

STATEMENTS = (
    "ALTER TABLE calls ADD COLUMN sip_auth_username VARCHAR(255) NULL",
    "ALTER TABLE calls ADD COLUMN sip_auth_password VARCHAR(255) NULL",
)
