"""The numbers table: phone numbers registered with a project (Twilio's IncomingPhoneNumbers,
PN...), and `find_route`, where an inbound call to one of them goes.

find_route is a bounded read (the unique index on phone_number): from the event loop,
`route = await store.lookup(find_route, "+14155550123")`; from the CLI, `store.read_sync(...)`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from wirexa.clock import utcnow
from wirexa.store.models import Application, PhoneNumber
from wirexa.store.sql import Select, Write, check_fields, insert_owned, newest_first, sids_with_prefix, update_by_sid


@dataclasses.dataclass(frozen=True, slots=True)
class NumberRecord:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    number_type: str  # local | mobile | toll-free
    api_version: str
    voice_url: str | None
    voice_method: str
    voice_fallback_url: str | None
    voice_fallback_method: str
    status_callback: str | None
    status_callback_method: str
    voice_caller_id_lookup: bool
    voice_application_sid: str | None
    date_created: dt.datetime
    date_updated: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class InboundRoute:
    """Where an inbound call to a registered number goes: the owning project, the number, and
    the voice URLs to run (the Application's when the number names one, else the number's own)."""

    account_sid: str
    phone_number_sid: str
    phone_number: str
    voice_url: str | None
    voice_method: str
    voice_fallback_url: str | None
    voice_fallback_method: str
    status_callback: str | None
    status_callback_method: str
    api_version: str


NUMBER_COLUMNS = frozenset(f.name for f in dataclasses.fields(NumberRecord))
# What a create (all of them) or an update (all but phone_number and number_type) may set.
NUMBER_FIELDS = NUMBER_COLUMNS - {"sid", "account_sid", "date_created", "date_updated"}

_NUMBERS = Select(PhoneNumber, NumberRecord)
_WRITE = Write(PhoneNumber)
_VOICE = (
    "voice_url",
    "voice_method",
    "voice_fallback_url",
    "voice_fallback_method",
    "status_callback",
    "status_callback_method",
    "api_version",
)
_ROUTE = Select(
    PhoneNumber,
    None,
    ("account_sid", "sid", "phone_number", "voice_application_sid", *_VOICE),
)
_APP_VOICE = Select(Application, None, _VOICE)

KEYPAD = {
    c: d
    for d, letters in zip(
        "23456789",
        ("ABC", "DEF", "GHI", "JKL", "MNO", "PQRS", "TUV", "WXYZ"),
        strict=True,
    )
    for c in letters
}


def insert_number(account_sid: str, phone_number: str, **fields: Any) -> NumberRecord | None:
    """Register `phone_number` (E.164) with the project; None when it is registered already, in
    any project (the check and the insert are one write: run it through Store.write)."""
    now = fields.pop("now", None) or utcnow()
    check_fields(fields, NUMBER_FIELDS, "number")
    if PhoneNumber.select(PhoneNumber.sid).where(PhoneNumber.phone_number == phone_number).exists():
        return None
    fields.setdefault("friendly_name", phone_number)
    return insert_owned(_WRITE, NumberRecord, "PN", account_sid, {"phone_number": phone_number, **fields}, now)


def get_number(sid: str, account_sid: str | None = None) -> NumberRecord | None:
    """The number `sid` (of the project `account_sid` when given), or None."""
    return _NUMBERS.by_sid(sid, account_sid)  # type: ignore[no-any-return]


def number_by_phone(phone_number: str) -> NumberRecord | None:
    """The registration of `phone_number` (exact E.164), whichever project holds it."""
    return _NUMBERS.one('"phone_number" = ?', (phone_number,))  # type: ignore[no-any-return]


def number_sids_with_prefix(prefix: str, limit: int = 2) -> list[str]:
    """SIDs of numbers starting with `prefix` (the CLI takes a unique start of a SID)."""
    return sids_with_prefix(PhoneNumber, prefix, limit)


def update_number(sid: str, **fields: Any) -> NumberRecord | None:
    """Set the given fields; None when there is no such number."""
    check_fields(fields, NUMBER_FIELDS, "number")
    return update_by_sid(_WRITE, _NUMBERS, sid, {**fields, "date_updated": utcnow()})  # type: ignore[no-any-return]


def delete_number(sid: str) -> bool:
    """Release the number from its project; False when there was no such number."""
    return bool(PhoneNumber.delete().where(PhoneNumber.sid == sid).execute())


def phone_number_pattern(text: str) -> str:
    """Twilio's PhoneNumber list filter as a LIKE pattern (with ESCAPE '\\'): a partial number
    matches anywhere in the E.164 text, `*` is any one digit, letters are their keypad digits
    ("+1415STORM"), and the punctuation of a formatted number ("(415) 555-") is dropped."""
    out = []
    for c in text.strip():
        if c.isdigit() and c.isascii():
            out.append(c)
        elif c == "*":
            out.append("_")
        elif c == "+":
            out.append("+")
        elif c.upper() in KEYPAD:
            out.append(KEYPAD[c.upper()])
        # anything else (spaces, dashes, dots, parentheses) separates digits only
    return "%" + "".join(out) + "%"


@dataclasses.dataclass(frozen=True, slots=True)
class NumberFilter:
    account_sid: str | None  # None: every project (the CLI)
    phone_number: str | None = None  # Twilio's partial match (phone_number_pattern)
    friendly_name: str | None = None  # exact
    number_type: str | None = None  # local | mobile | toll-free


def list_numbers(
    f: NumberFilter, page_size: int, page: int = 0, after_sid: str | None = None
) -> tuple[list[NumberRecord], bool]:
    """One page of numbers, newest first, and whether another page follows."""
    where: list[str] = []
    params: list[Any] = []
    if f.account_sid is not None:
        where.append('"account_sid" = ?')
        params.append(f.account_sid)
    if f.phone_number is not None:
        where.append("\"phone_number\" LIKE ? ESCAPE '\\'")
        params.append(phone_number_pattern(f.phone_number))
    for column, value in (
        ("friendly_name", f.friendly_name),
        ("number_type", f.number_type),
    ):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return newest_first(_NUMBERS, where or ["1 = 1"], params, page_size, page, after_sid)


def find_route(phone_number: str) -> InboundRoute | None:
    """Where an inbound call to `phone_number` (exact E.164) goes, or None when no project has
    it. A number naming an Application runs the Application's voice URLs and API version."""
    row = _ROUTE.one('"phone_number" = ?', (phone_number,))
    if row is None:
        return None
    account_sid, sid, number, app_sid, *voice = row
    app = _APP_VOICE.one('"sid" = ?', (app_sid,)) if app_sid is not None else None
    values = dict(zip(_VOICE, app if app is not None else voice, strict=True))
    return InboundRoute(account_sid=account_sid, phone_number_sid=sid, phone_number=number, **values)
