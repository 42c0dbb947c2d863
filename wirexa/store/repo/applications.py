"""The applications table: voice URLs under a name (Twilio's Applications, AP...), referenced by
numbers (VoiceApplicationSid) and by calls created with an ApplicationSid."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from wirexa.clock import utcnow
from wirexa.store.models import Application, PhoneNumber
from wirexa.store.sql import Select, Write, check_fields, insert_owned, newest_first, update_by_sid


@dataclasses.dataclass(frozen=True, slots=True)
class ApplicationRecord:
    sid: str
    account_sid: str
    friendly_name: str | None
    api_version: str
    voice_url: str | None
    voice_method: str
    voice_fallback_url: str | None
    voice_fallback_method: str
    status_callback: str | None
    status_callback_method: str
    voice_caller_id_lookup: bool
    date_created: dt.datetime
    date_updated: dt.datetime


APPLICATION_COLUMNS = frozenset(f.name for f in dataclasses.fields(ApplicationRecord))
# What a create or an update may set (the rest is the store's).
APPLICATION_FIELDS = APPLICATION_COLUMNS - {
    "sid",
    "account_sid",
    "date_created",
    "date_updated",
}

_APPLICATIONS = Select(Application, ApplicationRecord)
_WRITE = Write(Application)


def insert_application(account_sid: str, **fields: Any) -> ApplicationRecord:
    """A new application of the project (its fields at the table's defaults unless given)."""
    now = fields.pop("now", None) or utcnow()
    check_fields(fields, APPLICATION_FIELDS, "application")
    return insert_owned(_WRITE, ApplicationRecord, "AP", account_sid, fields, now)


def get_application(sid: str, account_sid: str | None = None) -> ApplicationRecord | None:
    """The application `sid` (of the project `account_sid` when given), or None."""
    return _APPLICATIONS.by_sid(sid, account_sid)  # type: ignore[no-any-return]


def update_application(sid: str, **fields: Any) -> ApplicationRecord | None:
    """Set the given fields; None when there is no such application."""
    check_fields(fields, APPLICATION_FIELDS, "application")
    return update_by_sid(_WRITE, _APPLICATIONS, sid, {**fields, "date_updated": utcnow()})  # type: ignore[no-any-return]


def delete_application(sid: str) -> bool:
    """Delete the application; the numbers that named it fall back to their own voice URLs (in the
    same transaction: run it as one write). False when there was no such application."""
    PhoneNumber.update(voice_application_sid=None, date_updated=utcnow()).where(
        PhoneNumber.voice_application_sid == sid
    ).execute()
    return bool(Application.delete().where(Application.sid == sid).execute())


def list_applications(
    account_sid: str,
    page_size: int,
    page: int = 0,
    after_sid: str | None = None,
    friendly_name: str | None = None,
) -> tuple[list[ApplicationRecord], bool]:
    """One page of the project's applications, newest first, and whether another page follows."""
    where, params = ['"account_sid" = ?'], [account_sid]
    if friendly_name is not None:
        where.append('"friendly_name" = ?')
        params.append(friendly_name)
    return newest_first(_APPLICATIONS, where, params, page_size, page, after_sid)
