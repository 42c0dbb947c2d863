"""PURE: store records -> Twilio-shaped JSON dicts (Twilio spellings live here and in laml/)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlencode

from wirexa.calls.state import RESOURCE_STATUS
from wirexa.timefmt import rfc2822

API_VERSION = "2010-04-01"

CALL_SUBRESOURCES = (
    "feedback",
    "notifications",
    "recordings",
    "streams",
    "payments",
    "siprec",
    "events",
    "transcriptions",
    "user_defined_message_subscriptions",
    "user_defined_messages",
)


def format_number(number: str) -> str:
    """Display form: '(415) 867-5309' for NANP E.164, the input unchanged otherwise."""
    if number.startswith("+1") and len(number) == 12 and number[1:].isdigit():
        n = number[2:]
        return f"({n[:3]}) {n[3:6]}-{n[6:]}"
    return number


class CallLike(Protocol):
    @property
    def sid(self) -> str: ...

    @property
    def account_sid(self) -> str: ...

    @property
    def parent_call_sid(self) -> str | None: ...

    @property
    def to_number(self) -> str: ...

    @property
    def from_number(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def direction(self) -> str: ...

    @property
    def url(self) -> str | None: ...

    @property
    def answered_by(self) -> str | None: ...

    @property
    def start_time(self) -> dt.datetime | None: ...

    @property
    def end_time(self) -> dt.datetime | None: ...

    @property
    def duration_s(self) -> int | None: ...

    @property
    def queue_time_ms(self) -> int | None: ...

    @property
    def phone_number_sid(self) -> str | None: ...

    @property
    def forwarded_from(self) -> str | None: ...

    @property
    def price(self) -> str | None: ...

    @property
    def price_unit(self) -> str: ...

    @property
    def date_created(self) -> dt.datetime: ...

    @property
    def date_updated(self) -> dt.datetime: ...


class RecordingLike(Protocol):
    @property
    def sid(self) -> str: ...

    @property
    def account_sid(self) -> str: ...

    @property
    def call_sid(self) -> str | None: ...

    @property
    def conference_sid(self) -> str | None: ...

    @property
    def status(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def channels(self) -> int: ...

    @property
    def track(self) -> str: ...

    @property
    def duration_s(self) -> int | None: ...

    @property
    def start_time(self) -> dt.datetime | None: ...

    @property
    def error_code(self) -> int | None: ...

    @property
    def date_created(self) -> dt.datetime: ...

    @property
    def date_updated(self) -> dt.datetime: ...


class NotificationLike(Protocol):
    @property
    def sid(self) -> str: ...

    @property
    def account_sid(self) -> str: ...

    @property
    def call_sid(self) -> str | None: ...

    @property
    def error_code(self) -> int: ...

    @property
    def log_level(self) -> int: ...

    @property
    def message_text(self) -> str: ...

    @property
    def request_url(self) -> str | None: ...

    @property
    def request_method(self) -> str | None: ...

    @property
    def date_created(self) -> dt.datetime: ...


def call_json(call: CallLike, prefix: str) -> dict[str, Any]:
    """Twilio's Call resource; `prefix` is e.g. '/2010-04-01/Accounts/AC..' (the request's)."""
    base = f"{prefix}/Calls/{call.sid}"
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": call.account_sid,
        "to": call.to_number,
        "to_formatted": format_number(call.to_number),
        "from": call.from_number,
        "from_formatted": format_number(call.from_number),
        "phone_number_sid": call.phone_number_sid,
        "status": RESOURCE_STATUS.get(call.status, call.status),  # never `initiated`
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": None if call.duration_s is None else str(call.duration_s),
        "price": call.price,
        "price_unit": call.price_unit,
        "direction": call.direction,
        "answered_by": call.answered_by,
        "annotation": None,
        "api_version": API_VERSION,
        "forwarded_from": call.forwarded_from,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0" if call.queue_time_ms is None else str(call.queue_time_ms),
        "trunk_sid": None,
        "url": call.url,
        "uri": base + ".json",
        "subresource_uris": {name: f"{base}/{camel}.json" for name, camel in _CALL_SUBRESOURCE_PATHS},
    }


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


_CALL_SUBRESOURCE_PATHS = tuple((name, _camel(name)) for name in CALL_SUBRESOURCES)


def recording_json(
    rec: RecordingLike, prefix: str, *, call_level: bool, media_base: str, conference_level: bool = False
) -> dict[str, Any]:
    """Twilio's Recording resource (account, call or conference level), with every key
    signalwire 2.1.1's strict Recording class reads. `media_base` is the absolute API base for
    media_url. A conference's recording has conference_sid and no call_sid."""
    if conference_level:
        uri = f"{prefix}/Conferences/{rec.conference_sid}/Recordings/{rec.sid}.json"
    elif call_level:
        uri = f"{prefix}/Calls/{rec.call_sid}/Recordings/{rec.sid}.json"
    else:
        uri = f"{prefix}/Recordings/{rec.sid}.json"
    body: dict[str, Any] = {
        "account_sid": rec.account_sid,
        "api_version": API_VERSION,
        "call_sid": rec.call_sid,
        "conference_sid": rec.conference_sid,
        "date_created": rfc2822(rec.date_created),
        "date_updated": rfc2822(rec.date_updated),
        "start_time": rfc2822(rec.start_time or rec.date_created),
        "duration": None if rec.duration_s is None else str(rec.duration_s),
        "sid": rec.sid,
        "price": None,
        "price_unit": "USD",
        "status": rec.status,
        "channels": rec.channels,
        "source": rec.source,
        "error_code": rec.error_code,
        "uri": uri,
        "encryption_details": None,
        "track": rec.track,
    }
    if not call_level:
        base = f"{prefix}/Recordings/{rec.sid}"
        body["subresource_uris"] = {
            "add_on_results": f"{base}/AddOnResults.json",
            "transcriptions": f"{base}/Transcriptions.json",
        }
        body["media_url"] = f"{media_base}{prefix}/Recordings/{rec.sid}"
    return body


def notification_json(note: NotificationLike, prefix: str, *, call_level: bool, instance: bool) -> dict[str, Any]:
    """Twilio's Notification resource (account or call level). A list item has the schema's
    keys; a fetched `instance` adds request_variables, response_body and response_headers,
    which are not recorded (null). `log` is "0" for an error, "1" for a warning. The schema
    allows only GET or POST as request_method: one not recorded is Twilio's default, POST."""
    if call_level:
        uri = f"{prefix}/Calls/{note.call_sid}/Notifications/{note.sid}.json"
    else:
        uri = f"{prefix}/Notifications/{note.sid}.json"
    created = rfc2822(note.date_created)
    body: dict[str, Any] = {
        "account_sid": note.account_sid,
        "api_version": API_VERSION,
        "call_sid": note.call_sid,
        "date_created": created,
        "date_updated": created,
        "error_code": str(note.error_code),
        "log": str(note.log_level),
        "message_date": created,
        "message_text": note.message_text,
        "more_info": error_link(note.error_code),
        "request_method": (note.request_method or "POST").upper(),
        "request_url": note.request_url,
        "sid": note.sid,
        "uri": uri,
    }
    if instance:
        body.update(request_variables=None, response_body=None, response_headers=None)
    return body


def page_json(key: str, records: Sequence[Mapping[str, Any]], **paging: Any) -> dict[str, Any]:
    """Twilio's list envelope: exactly the META keys and one record key (reference §2, §7);
    `paging` is page_meta's keyword arguments."""
    return {key: list(records), **page_meta(len(records), **paging)}


def page_meta(
    count: int,
    *,
    path: str,
    query: Sequence[tuple[str, str]],
    page: int,
    page_size: int,
    next_token: str | None,
    previous_token: str | None = None,
) -> dict[str, Any]:
    """The list envelope's META keys for a page of `count` records.

    `query` holds the request's filters (without Page, PageSize, PageToken); URIs are
    host-relative paths that repeat them, so SDKs can follow next_page_uri verbatim.
    """

    def uri(page_no: int, token: str | None) -> str:
        params = list(query) + [("PageSize", str(page_size)), ("Page", str(page_no))]
        if token:
            params.append(("PageToken", token))
        return f"{path}?{urlencode(params)}"

    start = page * page_size
    return {
        "end": start + count - 1 if count else 0,
        "first_page_uri": uri(0, None),
        "next_page_uri": uri(page + 1, next_token) if next_token else None,
        "page": page,
        "page_size": page_size,
        "previous_page_uri": uri(page - 1, previous_token) if page > 0 else None,
        "start": start,
        "uri": uri(page, None),
    }


ERROR_DICTIONARY = "https://www.twilio.com/docs/api/errors"


def error_link(code: int) -> str:
    """`more_info` for a code: its page in Twilio's error dictionary, whose codes have five
    digits; a bare HTTP status used as the code (413, 503) has no page there, so the dictionary."""
    return f"https://www.twilio.com/docs/errors/{code}" if 10000 <= code <= 99999 else ERROR_DICTIONARY


def error_json(code: int, message: str, status: int) -> dict[str, Any]:
    """Twilio's error body plus the product doc's `detail` (the same text)."""
    return {
        "code": code,
        "message": message,
        "more_info": error_link(code),
        "status": status,
        "detail": message,
    }


# --- IncomingPhoneNumbers and Applications -------------------------------------------------------


class ApplicationLike(Protocol):
    """The voice settings an Application holds, and a number holds too (its own)."""

    @property
    def sid(self) -> str: ...

    @property
    def account_sid(self) -> str: ...

    @property
    def friendly_name(self) -> str | None: ...

    @property
    def api_version(self) -> str: ...

    @property
    def voice_url(self) -> str | None: ...

    @property
    def voice_method(self) -> str: ...

    @property
    def voice_fallback_url(self) -> str | None: ...

    @property
    def voice_fallback_method(self) -> str: ...

    @property
    def status_callback(self) -> str | None: ...

    @property
    def status_callback_method(self) -> str: ...

    @property
    def voice_caller_id_lookup(self) -> bool: ...

    @property
    def date_created(self) -> dt.datetime: ...

    @property
    def date_updated(self) -> dt.datetime: ...


class NumberLike(ApplicationLike, Protocol):
    @property
    def friendly_name(self) -> str: ...

    @property
    def phone_number(self) -> str: ...

    @property
    def number_type(self) -> str: ...

    @property
    def voice_application_sid(self) -> str | None: ...


def _voice_settings_json(res: ApplicationLike) -> dict[str, Any]:
    """The keys an IncomingPhoneNumber and an Application share: the voice settings, and the
    messaging ones Wirexa does not serve (null URLs, Twilio's POST methods)."""
    return {
        "account_sid": res.account_sid,
        "api_version": res.api_version,
        "date_created": rfc2822(res.date_created),
        "date_updated": rfc2822(res.date_updated),
        "friendly_name": res.friendly_name,
        "sid": res.sid,
        "sms_fallback_method": "POST",
        "sms_fallback_url": None,
        "sms_method": "POST",
        "sms_url": None,
        "status_callback": res.status_callback,
        "status_callback_method": res.status_callback_method,
        "voice_caller_id_lookup": res.voice_caller_id_lookup,
        "voice_fallback_method": res.voice_fallback_method,
        "voice_fallback_url": res.voice_fallback_url,
        "voice_method": res.voice_method,
        "voice_url": res.voice_url,
    }


def number_json(number: NumberLike, prefix: str) -> dict[str, Any]:
    """Twilio's IncomingPhoneNumber resource (reference voice-next §4.1), with every key
    signalwire 2.1.1's strict IncomingPhoneNumber class reads. A number registered with Wirexa
    is `hosted` (not bought), takes voice calls only, and has none of the messaging, trunk,
    emergency and regulatory settings Wirexa does not serve (null, or Twilio's inactive value)."""
    base = f"{prefix}/IncomingPhoneNumbers/{number.sid}"
    return {
        **_voice_settings_json(number),
        "address_requirements": "none",
        "address_sid": None,
        "beta": False,
        "capabilities": {"voice": True, "sms": False, "mms": False, "fax": False},
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "identity_sid": None,
        "origin": "hosted",
        "phone_number": number.phone_number,
        "sms_application_sid": None,
        "trunk_sid": None,
        "uri": base + ".json",
        "voice_application_sid": number.voice_application_sid,
        "voice_receive_mode": "voice",
        "bundle_sid": None,
        "status": "in-use",
        "type": number.number_type,
        "subresource_uris": {"assigned_add_ons": f"{base}/AssignedAddOns.json"},
    }


def application_json(app: ApplicationLike, prefix: str) -> dict[str, Any]:
    """Twilio's Application resource, with every key signalwire 2.1.1's strict Application class
    reads; the messaging settings Wirexa does not serve are null (their methods Twilio's POST)."""
    return {
        **_voice_settings_json(app),
        "message_status_callback": None,
        "sms_status_callback": None,
        "uri": f"{prefix}/Applications/{app.sid}.json",
        "public_application_connect_enabled": False,
    }


# --- Accounts (subaccounts) and API Keys ---------------------------------------------------------


class AccountLike(Protocol):
    @property
    def sid(self) -> str: ...

    @property
    def auth_token(self) -> str: ...

    @property
    def friendly_name(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def parent_sid(self) -> str | None: ...

    @property
    def date_created(self) -> dt.datetime: ...

    @property
    def date_updated(self) -> dt.datetime: ...


class KeyLike(Protocol):
    @property
    def sid(self) -> str: ...

    @property
    def friendly_name(self) -> str | None: ...

    @property
    def date_created(self) -> dt.datetime: ...

    @property
    def date_updated(self) -> dt.datetime: ...


# The account's subresources Wirexa serves (Twilio lists more: messaging, SIP domains, ...).
ACCOUNT_SUBRESOURCES = (
    ("calls", "Calls"),
    ("recordings", "Recordings"),
    ("notifications", "Notifications"),
    ("incoming_phone_numbers", "IncomingPhoneNumbers"),
    ("applications", "Applications"),
    ("keys", "Keys"),
)


def account_json(account: AccountLike, version: str) -> dict[str, Any]:
    """Twilio's Account resource; `version` is '/2010-04-01' or '/api/laml/2010-04-01' (the
    request's). A top-level project owns itself (owner_account_sid is its own SID, as Twilio's)."""
    base = f"{version}/Accounts/{account.sid}"
    return {
        "auth_token": account.auth_token,
        "date_created": rfc2822(account.date_created),
        "date_updated": rfc2822(account.date_updated),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.parent_sid or account.sid,
        "sid": account.sid,
        "status": account.status,
        "subresource_uris": {name: f"{base}/{path}.json" for name, path in ACCOUNT_SUBRESOURCES},
        "type": "Full",
        "uri": base + ".json",
    }


def key_json(key: KeyLike, *, secret: str | None = None) -> dict[str, Any]:
    """Twilio's Key resource; with `secret`, the NewKey a create answers (the only time the
    secret is shown)."""
    body: dict[str, Any] = {
        "sid": key.sid,
        "friendly_name": key.friendly_name,
        "date_created": rfc2822(key.date_created),
        "date_updated": rfc2822(key.date_updated),
    }
    if secret is not None:
        body["secret"] = secret
    return body


class QueueLike(Protocol):
    @property
    def sid(self) -> str: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def friendly_name(self) -> str: ...
    @property
    def max_size(self) -> int: ...
    @property
    def date_created(self) -> dt.datetime: ...
    @property
    def date_updated(self) -> dt.datetime: ...


class MemberLike(Protocol):
    @property
    def call_sid(self) -> str: ...
    @property
    def queue_sid(self) -> str: ...
    @property
    def date_enqueued(self) -> dt.datetime: ...
    @property
    def position(self) -> int: ...
    @property
    def wait_time_s(self) -> int: ...


def queue_json(queue: QueueLike, prefix: str, current_size: int, average_wait_time_s: int) -> dict[str, Any]:
    """Twilio's Queue resource (reference voice-next §3.4); the size and average wait are the
    live queue's, computed when it is read."""
    base = f"{prefix}/Queues/{queue.sid}"
    return {
        "account_sid": queue.account_sid,
        "average_wait_time": average_wait_time_s,
        "current_size": current_size,
        "date_created": rfc2822(queue.date_created),
        "date_updated": rfc2822(queue.date_updated),
        "friendly_name": queue.friendly_name,
        "max_size": queue.max_size,
        "sid": queue.sid,
        "uri": base + ".json",
        "subresource_uris": {"members": base + "/Members.json"},
    }


def member_json(member: MemberLike, prefix: str) -> dict[str, Any]:
    """Twilio's Queue Member resource (reference voice-next §3.5)."""
    return {
        "call_sid": member.call_sid,
        "date_enqueued": rfc2822(member.date_enqueued),
        "position": member.position,
        "queue_sid": member.queue_sid,
        "uri": f"{prefix}/Queues/{member.queue_sid}/Members/{member.call_sid}.json",
        "wait_time": member.wait_time_s,
    }


def conference_json(
    *,
    sid: str,
    account_sid: str,
    friendly_name: str,
    status: str,
    date_created: dt.datetime,
    date_updated: dt.datetime,
    reason_conference_ended: str | None,
    call_sid_ending_conference: str | None,
    prefix: str,
) -> dict[str, Any]:
    """Twilio's Conference resource (reference voice-next §2.3); region is the engine's one, us1."""
    base = f"{prefix}/Conferences/{sid}"
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "call_sid_ending_conference": call_sid_ending_conference,
        "date_created": rfc2822(date_created),
        "date_updated": rfc2822(date_updated),
        "friendly_name": friendly_name,
        "reason_conference_ended": reason_conference_ended,
        "region": "us1",
        "sid": sid,
        "status": status,
        "subresource_uris": {"participants": base + "/Participants.json", "recordings": base + "/Recordings.json"},
        "uri": base + ".json",
    }


def participant_json(
    *,
    account_sid: str,
    conference_sid: str | None,
    call_sid: str,
    label: str | None,
    muted: bool,
    hold: bool,
    coach: str,
    start_conference_on_enter: bool,
    end_conference_on_exit: bool,
    status: str,
    date_created: dt.datetime,
    date_updated: dt.datetime,
    prefix: str,
    room_path: str = "",
) -> dict[str, Any]:
    """Twilio's Participant resource (reference voice-next §2.4). `room_path` names the room in
    the URI while it has no sid yet (a created participant's room is made when its call joins)."""
    return {
        "account_sid": account_sid,
        "call_sid": call_sid,
        "call_sid_to_coach": coach or None,
        "coaching": bool(coach),
        "conference_sid": conference_sid,
        "date_created": rfc2822(date_created),
        "date_updated": rfc2822(date_updated),
        "end_conference_on_exit": end_conference_on_exit,
        "hold": hold,
        "label": label,
        "muted": muted,
        "start_conference_on_enter": start_conference_on_enter,
        "status": status,
        "uri": f"{prefix}/Conferences/{conference_sid or room_path}/Participants/{call_sid}.json",
    }


class TranscriptionLike(Protocol):
    @property
    def sid(self) -> str: ...

    @property
    def account_sid(self) -> str: ...

    @property
    def recording_sid(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def transcription_text(self) -> str | None: ...

    @property
    def duration_s(self) -> int | None: ...

    @property
    def date_created(self) -> dt.datetime: ...

    @property
    def date_updated(self) -> dt.datetime: ...


def transcription_json(tr: TranscriptionLike, prefix: str) -> dict[str, Any]:
    """Twilio's Transcription resource (api.v2010.account.transcription): the same body at the
    account and the recording level, its uri the account's, as Twilio's. Free: price null."""
    return {
        "account_sid": tr.account_sid,
        "api_version": API_VERSION,
        "date_created": rfc2822(tr.date_created),
        "date_updated": rfc2822(tr.date_updated),
        "duration": None if tr.duration_s is None else str(tr.duration_s),
        "price": None,
        "price_unit": "USD",
        "recording_sid": tr.recording_sid,
        "sid": tr.sid,
        "status": tr.status,
        "transcription_text": tr.transcription_text,
        "type": "fast",
        "uri": f"{prefix}/Transcriptions/{tr.sid}.json",
    }
