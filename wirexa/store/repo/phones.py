"""The phones table: desk phones' SIP credentials (a username unique across the engine and its
password, kept in clear text as auth tokens are: digest authentication needs it), each phone
belonging to one project.

find_phone is a bounded read (the unique index on username): from the event loop,
`phone = await store.lookup(find_phone, "alice")`; from the CLI, `store.read_sync(...)`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from wirexa.clock import new_sid, utcnow
from wirexa.store.models import Phone
from wirexa.store.sql import Select, Write


@dataclasses.dataclass(frozen=True, slots=True)
class PhoneRecord:
    sid: str  # "CR" + 32 hex: Twilio's Credential prefix
    account_sid: str
    username: str
    password: str
    date_created: dt.datetime
    date_updated: dt.datetime


_PHONES = Select(Phone, PhoneRecord)
_WRITE = Write(Phone)


def insert_phone(account_sid: str, username: str, password: str) -> PhoneRecord | None:
    """Add a desk phone to the project; None when the username is taken (in any project). The
    check and the insert are one write: run it through Store.write."""
    if find_phone(username) is not None:
        return None
    now = utcnow()
    phone = PhoneRecord(new_sid("CR"), account_sid, username, password, now, now)
    _WRITE.insert(dataclasses.asdict(phone))
    return phone


def find_phone(username: str) -> PhoneRecord | None:
    """The desk phone with this username (exact, case-sensitive), or None."""
    return _PHONES.one('"username" = ?', (username,))  # type: ignore[no-any-return]


def list_phones(account_sid: str | None = None) -> list[PhoneRecord]:
    """The project's desk phones (every project's with None), by username."""
    if account_sid is None:
        return _PHONES.all('1 = 1 ORDER BY "username"', ())  # type: ignore[no-any-return]
    return _PHONES.all('"account_sid" = ? ORDER BY "username"', (account_sid,))  # type: ignore[no-any-return]


def delete_phone(username: str) -> bool:
    """Remove the desk phone; False when there was none with this username."""
    return bool(Phone.delete().where(Phone.username == username).execute())
