"""Schema version 7: what an inbound call keeps of its INVITE: `calls.phone_number_sid` (the
number it came in on, Twilio's `phone_number_sid`) and `calls.forwarded_from` (the Diversion
header's number, sent as ForwardedFrom and shown as `forwarded_from`)."""

VERSION = 7

STATEMENTS = (
    "ALTER TABLE calls ADD COLUMN phone_number_sid VARCHAR(34) NULL",
    "ALTER TABLE calls ADD COLUMN forwarded_from VARCHAR(64) NULL",
)
