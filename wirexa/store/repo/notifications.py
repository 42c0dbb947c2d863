"""The notifications table: the debugger's entries (Twilio's Notification resource)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from wirexa.calls.records import NotificationRecord
from wirexa.clock import new_sid, utcnow
from wirexa.store.models import Notification
from wirexa.store.sql import Select, TimeBound, newest_first, record, time_where

_NOTIFICATIONS = Select(Notification, NotificationRecord)


def insert_notification(
    *,
    account_sid: str,
    call_sid: str | None,
    error_code: int,
    message_text: str,
    request_url: str | None = None,
    request_method: str | None = None,
    log_level: int = 0,
    now: dt.datetime | None = None,
) -> NotificationRecord:
    """Store a debugger entry; `log_level` is Twilio's `log`: 0 error, 1 warning."""
    row = Notification.create(
        sid=new_sid("NO"),
        account_sid=account_sid,
        call_sid=call_sid,
        error_code=error_code,
        log_level=log_level,
        message_text=message_text,
        request_url=request_url,
        request_method=request_method,
        date_created=now or utcnow(),
    )
    return record(NotificationRecord, row)


def list_notifications(call_sid: str) -> list[NotificationRecord]:
    rows = Notification.select().where(Notification.call_sid == call_sid).order_by(Notification.date_created)
    return [record(NotificationRecord, r) for r in rows]


def get_notification(
    sid: str, account_sid: str | None = None, call_sid: str | None = None
) -> NotificationRecord | None:
    where, params = ['"sid" = ?'], [sid]
    for column, value in (("account_sid", account_sid), ("call_sid", call_sid)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return _NOTIFICATIONS.one(" AND ".join(where), params)  # type: ignore[no-any-return]


def delete_notification(sid: str) -> None:
    Notification.delete().where(Notification.sid == sid).execute()


def page_notifications(
    account_sid: str,
    page_size: int,
    page: int = 0,
    after_sid: str | None = None,
    call_sid: str | None = None,
    log_level: int | None = None,
    message_date: Iterable[TimeBound] = (),
) -> tuple[list[NotificationRecord], bool]:
    """One page of an account's (or one call's) notifications, newest first, and whether another
    page follows; `message_date` bounds as CallFilter's (a notification's message date is its
    date_created)."""
    where: list[str] = ['"account_sid" = ?']
    params: list[Any] = [account_sid]
    for column, value in (("call_sid", call_sid), ("log_level", log_level)):
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    time_where("date_created", Notification.date_created, message_date, where, params)
    return newest_first(_NOTIFICATIONS, where, params, page_size, page, after_sid)
