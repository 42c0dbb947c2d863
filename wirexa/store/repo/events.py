"""The call_events table: each call's request log (Twilio's Call Events resource), one row per
HTTP request the engine made for the call (a document or action URL fetch, each attempt of a
status, recording or AMD callback), deleted after `[store] call_events_days`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from wirexa.store.models import CallEvent
from wirexa.store.sql import Select, Write

# What is kept of a response body: its first 64 KiB (the most a document may be), decoded as
# UTF-8 with bad bytes replaced. A longer body is cut there; the event says nothing of the rest.
MAX_RESPONSE_BODY_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class NewCallEvent:
    """One request and its response. `kind` is "document" for a fetch of the call's XML (its Url,
    an action URL, a FallbackUrl) or the outbox row's kind for a callback. No response (the
    connection failed, the request timed out): response_code, content_type and body are None."""

    account_sid: str
    call_sid: str
    kind: str
    method: str
    url: str
    parameters: tuple[tuple[str, str], ...]
    response_code: int | None
    content_type: str | None
    response_body: bytes | None
    request_duration_ms: int | None
    date_created: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class CallEventRecord:
    id: int
    account_sid: str
    call_sid: str
    kind: str
    method: str
    url: str
    parameters: tuple[tuple[str, str], ...]
    response_code: int | None
    content_type: str | None
    response_body: str | None
    request_duration_ms: int | None
    date_created: dt.datetime


_NAMES = tuple(f.name for f in dataclasses.fields(CallEventRecord))
_EVENTS = Select(CallEvent, None, _NAMES)
_WRITE = Write(CallEvent)


def body_text(body: bytes | None) -> str | None:
    """A response body as stored: its first MAX_RESPONSE_BODY_BYTES, as text."""
    if body is None:
        return None
    return body[:MAX_RESPONSE_BODY_BYTES].decode("utf-8", "replace")


def masked_url(url: str) -> str:
    """The URL with the password of its credentials (sent as Basic auth) shown as ****."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:****@{host}"))
    except ValueError:
        return url


def insert_events(events: Sequence[NewCallEvent]) -> None:
    """Store events (call inside a store write): the URL's password masked, the body bounded."""
    for event in events:
        _WRITE.insert(
            {
                "account_sid": event.account_sid,
                "call_sid": event.call_sid,
                "kind": event.kind,
                "method": event.method,
                "url": masked_url(event.url),
                "parameters": json.dumps([list(p) for p in event.parameters]),
                "response_code": event.response_code,
                "content_type": (event.content_type or None) and event.content_type[:255],
                "response_body": body_text(event.response_body),
                "request_duration_ms": event.request_duration_ms,
                "date_created": event.date_created,
            }
        )


def _record(row: Sequence[Any]) -> CallEventRecord:
    values = dict(zip(_NAMES, row, strict=True))
    values["parameters"] = tuple((str(k), str(v)) for k, v in json.loads(values["parameters"]))
    when = values["date_created"]
    if isinstance(when, str):
        values["date_created"] = dt.datetime.fromisoformat(when)
    return CallEventRecord(**values)


def page_events(
    call_sid: str, page_size: int, page: int = 0, after_id: int | None = None
) -> tuple[list[CallEventRecord], bool]:
    """One page of a call's events, oldest first, and whether another page follows: after the
    event `after_id` (a PageToken) when given, else at the Page number's offset."""
    if after_id is not None:
        rows = _EVENTS.all('"call_sid" = ? AND "id" > ? ORDER BY "id" LIMIT ?', (call_sid, after_id, page_size + 1))
    else:
        rows = _EVENTS.all('"call_sid" = ? ORDER BY "id" LIMIT ? OFFSET ?', (call_sid, page_size + 1, page * page_size))
    events = [_record(r) for r in rows]
    return events[:page_size], len(events) > page_size


def delete_events_before(before: dt.datetime, limit: int) -> int:
    """Delete up to `limit` of the oldest events created before `before`; returns how many."""
    oldest = CallEvent.select(CallEvent.id).where(CallEvent.date_created < before).order_by(CallEvent.id).limit(limit)
    return int(CallEvent.delete().where(CallEvent.id.in_(oldest)).execute())
