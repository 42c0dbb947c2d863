"""The Wirexa exception tree; every error the engine raises on purpose is a WirexaError.

    WirexaError
    ├── ConfigError                 bad settings or config file (CLI: one red line)
    ├── StoreError                  the database failed (peewee errors are mapped in store/)
    ├── ApiError                    a REST request the customer got wrong; carries HTTP status
    │   │                           and Twilio code, rendered by api/errors.py
    │   ├── BadRequest (400)        ├── NotFound (404, 20404)
    │   ├── Unauthorized (401)      ├── MethodNotAllowed (405, 20004)
    │   ├── PaymentRequired (402)   ├── PayloadTooLarge (413)
    │   └── TooManyRequests (429)   └── ServiceUnavailable (503)
    ├── DocumentError               the customer's XML or URL is bad (Twilio call-flow codes
    │                               11200, 12100 ...); reported as a notification, the call ends
    │                               cleanly
    ├── SipError                    pjsua2 or the worker pool failed (mapped in sip/)
    ├── TtsError                    no TTS provider could render the text
    └── AudioError                  an audio file could not be read (transcriptions, stt test)

"Customer errors" (ApiError, DocumentError) are reported to the customer with Twilio's code.
Anything else that escapes is our bug: it is logged with its traceback and answered with 500.

ApiCode is the one home of the REST API's codes (DocumentError's are wirexa.notices.Notice); a
test keeps every such code literal in wirexa/api/ in this table.
"""

from __future__ import annotations

from enum import IntEnum


class ApiCode(IntEnum):
    """Twilio's REST API error codes that Wirexa answers with, so a customer can look each one up
    at https://www.twilio.com/docs/errors/<code>. A bare HTTP status used as the code (413, 503)
    is not one of them."""

    # Any resource.
    INVALID_PARAMETER = 20001
    AUTHENTICATION_FAILED = 20003
    METHOD_NOT_ALLOWED = 20004
    ACCOUNT_NOT_ACTIVE = 20005  # no credits left, the daily minutes cap used up
    DELETE_BEFORE_COMPLETE = 20009
    NOT_FOUND = 20404
    TOO_MANY_REQUESTS = 20429
    INTERNAL_SERVER_ERROR = 20500
    SERVICE_UNAVAILABLE = 20503  # the emergency stop
    # Calls.
    TO_REQUIRED = 21201
    INVALID_URL = 21205
    INVALID_SEND_DIGITS = 21206
    INVALID_MACHINE_DETECTION = 21207
    INVALID_TIMEOUT = 21208
    INVALID_METHOD = 21209
    FROM_NOT_VERIFIED = 21210
    INVALID_TO = 21211
    INVALID_FROM = 21212
    FROM_REQUIRED = 21213
    NOT_PERMITTED_DESTINATION = 21215
    INVALID_APPLICATION_SID = 21218  # also a number's VoiceApplicationSid
    INVALID_CALL_STATE = 21220
    # IncomingPhoneNumbers.
    FALLBACK_WITHOUT_URL = 21405  # VoiceFallbackUrl without a VoiceUrl
    INVALID_PHONE_NUMBER = 21421
    PHONE_NUMBER_UNAVAILABLE = 21422  # registered already (in any project)
    NO_NUMBERS_IN_AREA_CODE = 21452  # AreaCode: Wirexa buys no numbers
    INVALID_STATUS_CALLBACK_EVENT = 21626
    # Accounts (subaccounts).
    SUBACCOUNTS_CANNOT_NEST = 21101
    SUBACCOUNT_CLOSED = 21479  # closed for good: its Status cannot change again


class WirexaError(Exception):
    """Root of every error Wirexa raises on purpose."""


class ConfigError(WirexaError):
    """A setting, a config file or a CLI argument is invalid."""


class StoreError(WirexaError):
    """The database could not do what was asked."""


class ApiError(WirexaError):
    """A REST request that cannot be served; rendered as Twilio's error JSON.

    `status` is the HTTP status, `code` Twilio's error code (defaults to the HTTP status, which
    is what twilio-python reports when the body has no code).
    """

    status = 400
    default_code: int | None = None

    def __init__(self, message: str, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.code = code if code is not None else (self.default_code or self.status)


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401
    default_code = ApiCode.AUTHENTICATION_FAILED


class PaymentRequired(ApiError):
    status = 402
    default_code = ApiCode.ACCOUNT_NOT_ACTIVE


class NotFound(ApiError):
    status = 404
    default_code = ApiCode.NOT_FOUND


class MethodNotAllowed(ApiError):
    status = 405
    default_code = ApiCode.METHOD_NOT_ALLOWED


class PayloadTooLarge(ApiError):
    status = 413
    default_code = 413


class TooManyRequests(ApiError):
    status = 429
    default_code = ApiCode.TOO_MANY_REQUESTS


class ServiceUnavailable(ApiError):
    status = 503
    default_code = 503


class HeldElsewhere(WirexaError):
    """The call went live in another engine while this one handled a request for it (several
    engines on one database: another engine claimed it from the queue meanwhile). Nothing was
    applied here; the API forwards the request to `owner` (api/forward.py)."""

    def __init__(self, call_sid: str, owner: str) -> None:
        super().__init__(f"call {call_sid} is held by engine {owner}")
        self.call_sid = call_sid
        self.owner = owner


class DocumentError(WirexaError):
    """The customer's document or URL failed; `code` is Twilio's call-flow error code."""

    def __init__(self, code: int, message: str, url: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.url = url


class SipError(WirexaError):
    """The SIP layer (pjsua2, a worker process, the trunk) failed."""


class TtsError(WirexaError):
    """No TTS provider could render the text."""


class AudioError(WirexaError):
    """An audio file could not be read or decoded (missing, not audio, ffmpeg failed)."""
