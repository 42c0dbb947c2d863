"""Per-request context shared by the route modules: services, auth, prefixes, wire parsing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import MultiDict, MultiMapping

from wirexa.api.auth import AuthThrottle, KeyVerifier, RateLimiter, check_active, check_token, parse_basic
from wirexa.api.rendered import RenderedCache
from wirexa.api.serializers import page_json
from wirexa.calls.conference import Conferences
from wirexa.calls.ports import SipPort
from wirexa.calls.queues import Queues
from wirexa.calls.service import CallService
from wirexa.config import Settings
from wirexa.errors import ApiCode, BadRequest, NotFound, Unauthorized
from wirexa.store.repo import ProjectRecord
from wirexa.store.repo.keys import key_credentials
from wirexa.store.repo.projects import get_project

if TYPE_CHECKING:  # the Store is handed in by runtime; api/ reads through store.repo functions
    from wirexa.store.db import Store


@dataclasses.dataclass(slots=True)
class ApiServices:
    """What the handlers need; built by runtime.py (or a test) and stored under SERVICES."""

    store: Store
    settings: Settings
    calls: CallService
    limiter: RateLimiter
    sip: SipPort | None = None
    # The live call queues (members, sizes); None without SIP: every queue is empty.
    queues: Queues | None = None
    # The live conference rooms; None without SIP: there are none.
    conferences: Conferences | None = None
    # Project rows looked up for auth, kept for a second: one store read less per request.
    # A token rotated from the CLI (another process) takes effect within PROJECT_CACHE_S.
    project_cache: dict[str, tuple[ProjectRecord | None, float]] = dataclasses.field(default_factory=dict)
    # Rendered call JSON and whole list pages; see wirexa/api/rendered.py.
    rendered: RenderedCache = dataclasses.field(default_factory=RenderedCache)
    pages: RenderedCache = dataclasses.field(default_factory=lambda: RenderedCache(32 << 20))
    # Failed logins per client address (api/auth.py), from the api.auth_failures_* settings.
    auth_throttle: AuthThrottle = dataclasses.field(init=False)
    # API Key secrets that matched (api/auth.py): scrypt runs once per key and secret.
    key_verifier: KeyVerifier = dataclasses.field(default_factory=KeyVerifier)

    def __post_init__(self) -> None:
        self.auth_throttle = AuthThrottle.from_settings(self.settings)


SERVICES = web.AppKey("services", ApiServices)

# Both prefixes SDKs use: twilio-python and signalwire 2.x call /2010-04-01, the product doc
# documents /api/laml/2010-04-01.
VERSION_PREFIXES = ("/2010-04-01", "/api/laml/2010-04-01")
JSON_EXT = r"{ext:(\.json)?}"
SID = r"{sid:[^/.]+}"


def services(request: web.Request) -> ApiServices:
    return request.config_dict[SERVICES]  # the API app's, also from a sub-app (the console)


def prefix(request: web.Request) -> str:
    """'/2010-04-01/Accounts/AC..' or '/api/laml/2010-04-01/Accounts/AC..', as requested."""
    path = request.path
    version = "/api/laml/2010-04-01" if path.startswith("/api/laml/") else "/2010-04-01"
    return f"{version}/Accounts/{request.match_info['account']}"


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Whose credentials a request carries: the project (an API Key's own project for a key)
    and the key's SID when it was one."""

    project: ProjectRecord
    key_sid: str | None = None


async def caller(request: web.Request) -> Caller:
    """Check the Basic credentials, an account's Auth Token or an API Key (`SK...:secret`, as
    twilio-python's Client(key_sid, secret, account_sid) sends), and the account's status
    (api/auth.py check_active). Failures are counted by the AuthThrottle."""
    svc = services(request)
    header = request.headers.get("Authorization")
    creds = parse_basic(header)
    if creds is None and header is None:
        raise Unauthorized("Authenticate", code=ApiCode.AUTHENTICATION_FAILED)
    # Auth Tokens and key secrets are random: the credentials are checked first and a valid one
    # is always served (no lockout, api/auth.py AuthThrottle); only failing requests are slowed.
    address = request.remote or "-"
    svc.auth_throttle.before_credentials(address, request.path)
    try:
        if creds is None:  # a malformed Authorization header counts as a failed login
            raise Unauthorized("Authenticate", code=ApiCode.AUTHENTICATION_FAILED)
        user, password = creds
        if user.startswith("SK"):  # the key's row is read every time: a deleted key fails at once
            stored = await svc.store.lookup(key_credentials, user)
            owner = await svc.key_verifier.check(user, password, stored)
            if owner is None:
                raise Unauthorized("Authenticate", code=ApiCode.AUTHENTICATION_FAILED)
            return Caller(check_active(await cached_project(svc, owner)), user)
        return Caller(check_token(await cached_project(svc, user), password))
    except Unauthorized as exc:
        if exc.code == ApiCode.AUTHENTICATION_FAILED:  # not a suspended account's right token
            await svc.auth_throttle.failed(address, creds[0] if creds else "-", request.path)
        raise


async def account_of(request: web.Request, who: Caller, account_sid: str) -> ProjectRecord:
    """The account `account_sid` of the request's path, when `who` may act on it, with the
    project's rate limit applied: its own, or one of its subaccounts (as on Twilio, a parent's
    credentials reach its subaccounts' resources; a subaccount's never reach its parent's or a
    sibling's: 404). A closed subaccount's resources can be read and deleted, not changed."""
    svc = services(request)
    project = who.project
    if account_sid != project.sid:
        target = await cached_project(svc, account_sid)
        if target is None or target.parent_sid != project.sid:
            raise not_found(request)
        project = target
        if project.status == "closed" and request.method == "POST":
            raise Unauthorized(f"Account not active: {project.sid} is closed", code=ApiCode.ACCOUNT_NOT_ACTIVE)
    svc.limiter.check(project.sid)
    return project


def not_found(request: web.Request) -> NotFound:
    """Twilio's 404 / 20404 for the request's path."""
    return NotFound(f"The requested resource {request.path} was not found")


async def authenticate(request: web.Request, *, optional: bool = False) -> ProjectRecord | None:
    """Check Basic auth (caller) and the path's account (account_of); apply the project's rate
    limit. Returns the project the request acts on: the path's account.

    With optional=True a request without credentials passes (returns None): public media.
    """
    if optional and parse_basic(request.headers.get("Authorization")) is None:
        return None
    who = await caller(request)
    return await account_of(request, who, request.match_info.get("account") or who.project.sid)


def forget_project(svc: ApiServices, sid: str) -> None:
    """Drop a project from the auth cache (its status or token changed here)."""
    svc.project_cache.pop(sid, None)


PROJECT_CACHE_S = 1.0


async def cached_project(svc: ApiServices, sid: str) -> ProjectRecord | None:
    now = time.monotonic()
    hit = svc.project_cache.get(sid)
    if hit is not None and now - hit[1] < PROJECT_CACHE_S:
        return hit[0]
    project = await svc.store.lookup(get_project, sid)
    if len(svc.project_cache) > 10_000:
        svc.project_cache.clear()
    svc.project_cache[sid] = (project, now)
    return project


async def require_project(request: web.Request) -> ProjectRecord:
    project = await authenticate(request)
    assert project is not None
    return project


# --- wire parsing ------------------------------------------------------------------------------


async def form(request: web.Request) -> MultiDict[str]:
    """The POST form as strings (file uploads are not part of this API and are dropped)."""
    data = await request.post()
    return MultiDict((k, v) for k, v in data.items() if isinstance(v, str))


E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
SIP_URI = re.compile(r"^sips?:[^\s@]+(@[^\s]+)?$", re.IGNORECASE)
CLIENT_ID = re.compile(r"^client:[\w.@-]{1,256}$")


def valid_address(value: str) -> bool:
    return bool(E164.match(value) or SIP_URI.match(value) or CLIENT_ID.match(value))


def valid_url(value: str) -> bool:
    return bool(re.match(r"^https?://[^\s/?#]+[^\s]*$", value, re.IGNORECASE))


def opt_url(form: MultiMapping[str], name: str, code: int = ApiCode.INVALID_URL) -> str | None:
    """An optional http(s) URL parameter (None when absent), else BadRequest with `code`."""
    value = (form.get(name) or "").strip()
    if not value:
        return None
    if not valid_url(value):
        raise BadRequest(f"{name} is not a valid URL: {value}", code=code)
    return value


def parse_bool(value: str | None, name: str, default: bool = False) -> bool:
    """Case-insensitive true/false (signalwire 2.x sends 'True')."""
    if value is None or value == "":
        return default
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise BadRequest(f"{name} must be true or false, got {value!r}", code=ApiCode.INVALID_PARAMETER)


def parse_method(value: str | None, name: str, default: str = "POST", code: int = ApiCode.INVALID_METHOD) -> str:
    if value is None or value == "":
        return default
    method = value.strip().upper()
    if method not in ("GET", "POST"):
        raise BadRequest(f"{name} must be GET or POST, got {value!r}", code=code)
    return method


def parse_int(value: str | None, name: str, default: int, lo: int, hi: int | None, code: int) -> int:
    """An integer parameter in [lo, hi] (hi None: no upper bound), else BadRequest with `code`."""
    if value is None or value == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {value!r}", code=code) from None
    if hi is None and number < lo:
        raise BadRequest(f"{name} must be {lo} or more, got {number}", code=code)
    if hi is not None and not lo <= number <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, got {number}", code=code)
    return number


def parse_list(form: MultiMapping[str], name: str) -> list[str]:
    """Repeated keys (twilio SDKs) or one space/comma separated value (wirexaapi 1.0.1)."""
    values: list[str] = []
    for raw in form.getall(name, []):
        values.extend(v for v in re.split(r"[\s,]+", raw) if v)
    return values


def parse_enum(
    value: str | None, name: str, allowed: Iterable[str], default: str, code: int = ApiCode.INVALID_PARAMETER
) -> str:
    if value is None or value == "":
        return default
    choices = tuple(allowed)
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}, got {value!r}", code=code)
    return value


def parse_time_filter(query: MultiMapping[str], name: str) -> tuple[tuple[str, dt.datetime, bool], ...]:
    """StartTime / StartTime< / StartTime> as (operator, UTC datetime, date_only) bounds, all
    that are given (twilio-python sends StartTime> and StartTime< together for a range)."""
    bounds: list[tuple[str, dt.datetime, bool]] = []
    for op in ("<", ">", ""):
        raw = query.get(name + op)
        if raw is None:
            continue
        text = raw.strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                bounds.append((op or "=", dt.datetime.fromisoformat(text), True))
                continue
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(
                f"{name}{op} is not a date (YYYY-MM-DD) or time: {raw!r}", code=ApiCode.INVALID_PARAMETER
            ) from None
        if when.tzinfo is not None:
            try:
                when = when.astimezone(dt.UTC).replace(tzinfo=None)
            except OverflowError:
                raise BadRequest(f"{name}{op} is out of range: {raw!r}", code=ApiCode.INVALID_PARAMETER) from None
        bounds.append((op or "=", when, False))
    return tuple(bounds)


@dataclasses.dataclass(frozen=True, slots=True)
class Paging:
    page_size: int
    page: int
    after_sid: str | None


MAX_PAGE_SIZE = 1000


def parse_paging(query: MultiMapping[str]) -> Paging:
    """PageSize (default 50) over MAX_PAGE_SIZE is capped, as Twilio does (twilio-python sends
    list(limit=n) as PageSize=n); the page's page_size and URIs say what was used. Zero, negative
    and non-numeric values are 400 / 20001."""
    page_size = min(parse_int(query.get("PageSize"), "PageSize", 50, 1, None, ApiCode.INVALID_PARAMETER), MAX_PAGE_SIZE)
    page = parse_int(query.get("Page"), "Page", 0, 0, 10**9, ApiCode.INVALID_PARAMETER)
    token = query.get("PageToken")
    after = token[2:] if token and token.startswith("PA") and len(token) > 2 else None
    return Paging(page_size, page, after)


def filters_of(query: MultiMapping[str]) -> list[tuple[str, str]]:
    """The request's query without paging keys, in order (repeated in page URIs)."""
    return [(k, v) for k, v in query.items() if k not in ("PageSize", "Page", "PageToken")]


def page_response(
    request: web.Request, key: str, items: Sequence[dict[str, Any]], paging: Paging, after: object | None
) -> web.Response:
    """A list page of `items` (rendered records) under `key`, with the request's path and filters
    in its URIs; `after` is the cursor the next page starts after (the last record's sid or id),
    None on the last page."""
    body = page_json(
        key,
        items,
        path=request.path,
        query=filters_of(request.query),
        page=paging.page,
        page_size=paging.page_size,
        next_token=f"PA{after}" if after is not None else None,
    )
    return web.json_response(body)
