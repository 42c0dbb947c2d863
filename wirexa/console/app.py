"""The console's aiohttp sub-application, mounted at /console/ on the API's app (make_app).

Theory of operation. Every page is rendered on the server by Jinja2 with autoescape on: stored
text (caller IDs, SIP display names, webhook bodies, TwiML) is never marked safe. A request
finds its Session by the HttpOnly, SameSite=Strict cookie; a page without one redirects to the
login. A project login reads only its project's rows (the repo functions take its AccountSid; a
call of another project is a 404 page); the admin login (password) reads every project's. Every
POST carries the session's CSRF token (the login form a cookie-bound one), else 403.

Live updates are Server-Sent Events: the calls list's feed reads the first page of its filter
once a second and sends the rendered rows when their (sid, date_updated) versions change; the
call page's feed sends `changed` when the call, its events or its outbox rows change; the queues
list's and a queue's feeds (and the conferences') send their rendered rows as they change. Feeds end
when the engine shuts down (on_shutdown sets CLOSING), so they never hold the shutdown up.

The handlers reach the engine through the API's ApiServices (request.config_dict[SERVICES]):
the store, the CallService that the REST API creates calls with, the SIP health and settings.
The REST API's validators are called for numbers, applications, queues and test calls, so a form
gets exactly the REST API's Twilio error for a bad value. Live queues (who waits, for how long)
are the engine's ApiServices.queues, and conference rooms its ApiServices.conferences, as the
Queues/Members and Conferences/Participants resources read and change them.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from multidict import MultiDict

import wirexa
from wirexa.api import context as ctx
from wirexa.api.auth import check_token
from wirexa.api.routes.calls import parse_new_call
from wirexa.api.routes.numbers import (
    REFUSED as NUMBER_REFUSED,
)
from wirexa.api.routes.numbers import (
    VOICE_PARAMS,
    check_fallback,
    parse_phone_number,
    parse_voice_settings,
    refuse_unsupported,
)
from wirexa.api.routes.queues import parse_max_size, parse_queue_name, queue_name_taken
from wirexa.api.routes.recordings import serve_remote
from wirexa.api.serializers import format_number
from wirexa.calls import state
from wirexa.calls.records import VERB_CAP, CallRecord, VerbRun, WebhookRecord
from wirexa.calls.statuses import UNFINISHED_RECORDING
from wirexa.clock import utcnow
from wirexa.console import charts, filters, timeline, waveform
from wirexa.console.auth import Session, Sessions, csrf_ok, read_password, verify_password
from wirexa.errors import ApiCode, ApiError, BadRequest, NotFound, WirexaError
from wirexa.media import quality
from wirexa.store.repo import console as repo
from wirexa.store.repo.applications import (
    ApplicationRecord,
    get_application,
    insert_application,
    list_applications,
    update_application,
)
from wirexa.store.repo.events import CallEventRecord, page_events
from wirexa.store.repo.notifications import list_notifications
from wirexa.store.repo.numbers import NumberFilter, NumberRecord, get_number, insert_number, list_numbers, update_number
from wirexa.store.repo.projects import get_project, list_projects
from wirexa.store.repo.quality import samples_of, summary_of
from wirexa.store.repo.queues import (
    DEFAULT_MAX_SIZE,
    QueueRecord,
    delete_queue,
    get_queue,
    insert_queue,
    list_queues,
    queue_by_name,
    update_queue,
)
from wirexa.store.repo.recordings import get_recording, list_recordings
from wirexa.store.repo.verbs import verbs_of
from wirexa.store.repo.webhooks import list_webhooks
from wirexa.urls import wire_url
from wirexa.webhooks.signing import signature

if TYPE_CHECKING:
    # The engine's live queues and rooms: reached only through ApiServices.queues and .conferences.
    from wirexa.calls.conference import Room
    from wirexa.calls.queues import MemberInfo

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
COOKIE = "wirexa_console"
LOGIN_COOKIE = "wirexa_console_login"
PAGE_SIZE = 50
FEED_INTERVAL_S = 1.0
FEED_PING_S = 15.0
DOCTOR_TIMEOUT_S = 30.0
DOCTOR_CACHE_S = 30.0

SESSIONS = web.AppKey("console_sessions", Sessions)
TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
CLOSING = web.AppKey("console_closing", asyncio.Event)
PEAKS = web.AppKey("console_peaks", collections.OrderedDict)
DOCTOR = web.AppKey("console_doctor", dict)
HOURS = web.AppKey("console_hours", dict)  # (scope, hour bucket) -> counts that can no longer change
SESSION: web.RequestKey[Session | None] = web.RequestKey("console_session")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# --- helpers -----------------------------------------------------------------------------------


def _svc(request: web.Request) -> ctx.ApiServices:
    return request.config_dict[ctx.SERVICES]


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["resource_status"] = lambda s: state.RESOURCE_STATUS.get(str(s), str(s))
    env.filters["qs"] = lambda d: urlencode(d)
    return env


def render(request: web.Request, name: str, status: int = 200, **values: Any) -> web.Response:
    session = request.get(SESSION)
    env = request.app[TEMPLATES]
    values.setdefault("title", "Wirexa console")
    body = env.get_template(name).render(
        session=session,
        csrf=session.csrf if session is not None else "",
        version=wirexa.__version__,
        path=request.path,
        **values,
    )
    response = web.Response(text=body, content_type="text/html", charset="utf-8", status=status)
    return response


def _not_found(request: web.Request, what: str = "page") -> web.Response:
    return render(request, "error.html", status=404, title="Not found", message=f"No such {what}.")


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; errors as HTML pages, never the API's JSON or a traceback."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            response = _not_found(request)
        else:
            response = render(request, "error.html", status=exc.status, title=exc.reason, message=exc.reason)
    except ApiError as exc:
        response = render(request, "error.html", status=exc.status, title="Error", message=exc.message)
    except Exception:  # noqa: BLE001 - the console's catch-all: logged, a plain error page
        log.exception("console error on %s %s", request.method, request.path)
        response = render(request, "error.html", status=500, title="Error", message="Internal error (see the log).")
    if not response.prepared:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if response.content_type == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
    return response


def _secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name, value, path="/console/", httponly=True, samesite="Strict", secure=_secure(request) or None
    )


async def _session(request: web.Request) -> Session | None:
    session = request.app[SESSIONS].get(request.cookies.get(COOKIE))
    request[SESSION] = session
    return session


async def _login_required(request: web.Request) -> Session:
    session = await _session(request)
    if session is None:
        raise web.HTTPSeeOther("/console/login?" + urlencode({"next": request.path_qs}))
    return session


async def _form(request: web.Request, session: Session) -> MultiDict[str]:
    """The POST form, after its CSRF token was checked (403 without the session's)."""
    data = await request.post()
    form = MultiDict((k, v) for k, v in data.items() if isinstance(v, str))
    if not csrf_ok(session, form.get("csrf")):
        raise web.HTTPForbidden(reason="Refused: the form's CSRF token is missing or wrong. Reload the page.")
    form.popall("csrf", None)
    return form


def _scope(session: Session) -> str | None:
    return session.project_sid


async def _project_for(request: web.Request, session: Session, chosen: str | None) -> str:
    """The project a write acts on: a project login's own; the admin's choice (or the first)."""
    if session.project_sid is not None:
        return session.project_sid
    svc = _svc(request)
    if chosen:
        if await svc.store.read(get_project, chosen) is None:
            raise web.HTTPNotFound()
        return chosen
    projects = await svc.store.read(list_projects)
    if not projects:
        raise web.HTTPNotFound()
    return projects[0].sid


# --- login -------------------------------------------------------------------------------------


def _next_path(value: str | None) -> str:
    """Only a path of the console (no scheme, no other host) is followed after the login."""
    if value and value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


async def login_page(request: web.Request) -> web.StreamResponse:
    if await _session(request) is not None:
        raise web.HTTPSeeOther("/console/")
    return _login_form(request, "", 200)


def _login_form(request: web.Request, error: str, status: int, user: str = "") -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        error=error,
        login_csrf=token,
        user=user,
        next=_next_path(request.query.get("next")),
    )
    _set_cookie(request, response, LOGIN_COOKIE, token)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    svc = _svc(request)
    data = await request.post()
    form = {k: v for k, v in data.items() if isinstance(v, str)}
    sent, expected = form.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")
    if not sent or not expected or not secrets.compare_digest(sent, expected):
        raise web.HTTPForbidden(reason="Refused: the login form's CSRF token is missing or wrong. Reload the page.")
    user = form.get("user", "").strip()
    password = form.get("password", "")
    address = request.remote or "-"
    try:
        svc.auth_throttle.before_credentials(address, request.path)
        project_sid: str | None
        if user in ("", "admin"):
            stored = read_password(svc.settings.data_path)
            if stored is None:
                return _login_form(request, "No admin password is set: run `wirexa console set-password`.", 401, user)
            if not await asyncio.to_thread(verify_password, password, stored):
                await svc.auth_throttle.failed(address, "admin", request.path)
                return _login_form(request, "Wrong user or password.", 401, user)
            project_sid, name = None, "admin"
        else:
            try:
                project = check_token(await ctx.cached_project(svc, user), password)
            except ApiError as exc:
                if exc.status == 401 and "not active" not in exc.message:
                    await svc.auth_throttle.failed(address, user[:64], request.path)
                    return _login_form(request, "Wrong user or password.", 401, user)
                raise
            project_sid, name = project.sid, project.friendly_name or project.sid
    except ApiError as exc:
        return _login_form(request, exc.message, exc.status, user)
    session = request.app[SESSIONS].create(project_sid, name)
    response = web.HTTPSeeOther(_next_path(form.get("next")))
    _set_cookie(request, response, COOKIE, session.id)
    response.del_cookie(LOGIN_COOKIE, path="/console/")
    log.info("console login: %s from %s", name if project_sid is None else project_sid, address)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    await _form(request, session)
    request.app[SESSIONS].drop(session.id)
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(COOKIE, path="/console/")
    raise response


async def index(request: web.Request) -> web.StreamResponse:
    await _login_required(request)
    raise web.HTTPSeeOther("/console/dashboard")


# --- calls -------------------------------------------------------------------------------------


def _call_filter(session: Session, q: filters.CallQuery, **extra: Any) -> repo.ConsoleCallFilter:
    return repo.ConsoleCallFilter(
        account_sid=_scope(session),
        statuses=state.stored_statuses(q.status) if q.status else (),
        to_number=q.to_number,
        from_number=q.from_number,
        direction=q.direction,
        answered_by=q.answered_by,
        created_from=q.created_from(),
        created_before=q.created_before(),
        **extra,
    )


async def calls_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    q, errors = filters.parse(request.query)
    calls, more = await _svc(request).store.read(repo.list_console_calls, _call_filter(session, q), PAGE_SIZE, q.after)
    return render(
        request,
        "calls.html",
        title="Calls",
        q=q,
        errors=errors,
        calls=calls,
        more=more,
        next_qs=urlencode(q.params(after=calls[-1].sid)) if more and calls else "",
        feed_qs=urlencode(q.params()),
        live=q.after is None,
        statuses=filters.STATUSES,
        directions=filters.DIRECTIONS,
        answered_by=filters.ANSWERED_BY,
    )


def _sse_response() -> web.StreamResponse:
    return web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


async def _sse_send(response: web.StreamResponse, event: str, data: str) -> None:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    await response.write(f"event: {event}\n{lines}\n".encode())


async def calls_feed(request: web.Request) -> web.StreamResponse:
    """The list's first page, re-sent as rendered rows whenever one of its calls changed or a
    new call came in. The version is the rows themselves: frozen records compare by value."""
    session = await _login_required(request)
    q, _ = filters.parse(request.query)
    flt = _call_filter(session, dataclasses.replace(q, after=None))
    svc = _svc(request)
    response = _sse_response()

    async def version() -> list[CallRecord]:
        rows, _ = await svc.store.read(repo.list_console_calls, flt, PAGE_SIZE, None)
        return rows

    async def send(rows: list[CallRecord]) -> None:
        html = request.app[TEMPLATES].get_template("_call_rows.html").render(calls=rows)
        await _sse_send(response, "rows", html)

    return await _feed_with(request, response, version, send)


async def _feed_with(
    request: web.Request,
    response: web.StreamResponse,
    version: Callable[[], Awaitable[Any]],
    send: Callable[[Any], Awaitable[None]],
) -> web.StreamResponse:
    await response.prepare(request)
    closing = request.app[CLOSING]
    last = await version()
    pinged = time.monotonic()
    await response.write(b"retry: 2000\n\n")
    try:
        while not closing.is_set():
            try:
                await asyncio.wait_for(closing.wait(), FEED_INTERVAL_S)
                break
            except TimeoutError:
                pass
            if await _session(request) is None:  # logged out or expired: the feed ends too
                await _sse_send(response, "logout", "")
                break
            current = await version()
            if current != last:
                last = current
                await send(current)
            elif time.monotonic() - pinged > FEED_PING_S:
                await response.write(b": ping\n\n")
                pinged = time.monotonic()
    except (ConnectionResetError, ConnectionError):
        pass
    return response


@dataclasses.dataclass(frozen=True, slots=True)
class EventRow:
    """A row of the call page's table: one moment of the call with what there is to show of it."""

    anchor: str
    at: dt.datetime
    kind: str
    title: str
    ok: bool
    status: str = ""
    latency_ms: int | None = None
    method: str = ""
    url: str = ""
    parameters: tuple[tuple[str, str], ...] = ()
    response_type: str = ""
    response_body: str | None = None
    extra: str = ""


def _amd_confidence(hooks: list[WebhookRecord]) -> tuple[str | None, str | None]:
    for hook in hooks:
        if hook.kind == "amd":
            params = dict(hook.params)
            return params.get("AmdConfidence"), params.get("MachineDetectionDuration")
    return None, None


def call_moments(
    call: CallRecord,
    events: list[CallEventRecord],
    hooks: list[WebhookRecord],
    notices: list[Any],
    recordings: list[Any],
    legs: list[CallRecord],
    verbs: Sequence[VerbRun] = (),
) -> tuple[list[timeline.Mark], list[EventRow]]:
    """The call's moments: marks for the picture and rows for the table (same anchors)."""
    marks: list[timeline.Mark] = []
    rows: list[EventRow] = []

    def add(at: dt.datetime | None, kind: str, label: str, row: EventRow | None = None, ok: bool = True) -> None:
        if at is None:
            return
        anchor = f"m{len(marks)}"
        marks.append(timeline.Mark(at, kind, label, anchor, ok))
        if row is not None:
            rows.append(dataclasses.replace(row, anchor=anchor))

    add(call.date_created, timeline.PHASE, "queued", EventRow("", call.date_created, "state", "Queued", True))
    if call.start_time is not None:
        label = "INVITE" if call.direction != "inbound" else "INVITE received"
        add(call.start_time, timeline.PHASE, label, EventRow("", call.start_time, "state", f"Started ({label})", True))
    ringing = next((h for h in hooks if h.event == "ringing"), None)
    if ringing is not None:
        add(ringing.created_at, timeline.PHASE, "ringing", EventRow("", ringing.created_at, "state", "Ringing", True))
    if call.answer_time is not None:
        add(call.answer_time, timeline.PHASE, "answered", EventRow("", call.answer_time, "state", "Answered", True))
    if call.answered_by:
        confidence, duration = _amd_confidence(hooks)
        if call.amd_confidence is not None:
            confidence = f"{call.amd_confidence:.2f}"
        extra = f"confidence {confidence}" if confidence else "confidence not recorded"
        if duration:
            extra += f", decided after {duration} ms"
        at = call.answer_time or call.start_time or call.date_created
        add(
            at,
            "amd",
            f"AMD: {call.answered_by}",
            EventRow("", at, "amd", f"AMD: {call.answered_by}", True, extra=extra),
        )
    for v in verbs:
        label = f"{v.verb} {v.detail}".strip()
        add(v.at, "verb", label[:40], EventRow("", v.at, "verb", f"<{v.verb}>", True, extra=v.detail))
    if len(verbs) >= VERB_CAP:
        last = verbs[-1].at
        add(last, "verb", "more verbs", EventRow("", last, "verb", f"Only the first {VERB_CAP} verbs are kept", True))
    for e in events:
        ok = e.response_code is not None and 200 <= e.response_code < 300
        what = "document" if e.kind == "document" else f"{e.kind} callback"
        code = str(e.response_code) if e.response_code is not None else "no response"
        label = f"{what} {code}" + (f" {e.request_duration_ms} ms" if e.request_duration_ms is not None else "")
        row = EventRow(
            "",
            e.date_created,
            "document" if e.kind == "document" else "webhook",
            f"{e.method} {what}",
            ok,
            status=code,
            latency_ms=e.request_duration_ms,
            method=e.method,
            url=e.url,
            parameters=e.parameters,
            response_type=e.content_type or "",
            response_body=e.response_body,
        )
        add(e.date_created, row.kind, label, row, ok)
    for n in notices:
        add(
            n.date_created,
            "notification",
            f"notice {n.error_code}",
            EventRow("", n.date_created, "notification", f"Notification {n.error_code}", False, extra=n.message_text),
            ok=False,
        )
    for r in recordings:
        at = r.start_time or r.date_created
        add(
            at,
            "recording",
            f"recording {r.duration_s or 0} s",
            EventRow("", at, "recording", f"Recording {r.sid}", True, status=r.status),
        )
    for leg in legs:
        add(
            leg.date_created,
            "leg",
            f"leg {leg.to_number}",
            EventRow(
                "",
                leg.date_created,
                "leg",
                f"Dial leg to {leg.to_number}",
                leg.status == "completed",
                status=leg.status,
                url=leg.sid,
            ),
        )
    if call.end_time is not None:
        sip = f" (SIP {call.sip_response_code})" if call.sip_response_code else ""
        by = f", hung up by {call.hangup_by}" if call.hangup_by else ""
        ok = call.status == "completed"
        add(
            call.end_time,
            timeline.PHASE,
            f"{call.status}{sip}",
            EventRow("", call.end_time, "state", f"Ended: {call.status}{sip}{by}", ok),
            ok,
        )
    rows.sort(key=lambda r: r.at)
    return marks, rows


async def _peaks(request: web.Request, path: Path) -> str:
    """The waveform path of a WAV, cached by (path, mtime, size); '' when it cannot be drawn."""
    cache: collections.OrderedDict[Any, str] = request.app[PEAKS]
    try:
        st = path.stat()
    except OSError:
        return ""
    key = (str(path), st.st_mtime_ns, st.st_size)
    hit = cache.get(key)
    if hit is not None:
        cache.move_to_end(key)
        return hit

    def compute() -> str:
        try:
            return waveform.path(waveform.peaks(path.read_bytes()), 600, 64)
        except (OSError, ValueError):
            return ""

    drawn = await asyncio.to_thread(compute)
    cache[key] = drawn
    while len(cache) > 256:
        cache.popitem(last=False)
    return drawn


def quality_charts(samples: list[quality.Sample]) -> list[charts.LineChart]:
    """The call's quality samples as three small charts (MOS, loss, jitter; both directions),
    each with its Voice Insights threshold; none for a call never sampled."""
    if not samples:
        return []

    def series(value: Callable[[quality.Direction], float | None]) -> dict[str, list[tuple[float, float | None]]]:
        return {name: [(s.offset_s, value(getattr(s, name))) for s in samples] for name in quality.DIRECTIONS}

    return [
        charts.line_chart(
            "MOS", "", series(lambda d: d.mos), threshold=quality.MOS_MIN, above_is_bad=False, floor=1.0, ceiling=4.5
        ),
        charts.line_chart(
            "Packet loss",
            " %",
            series(lambda d: d.loss_pct if d.mos is not None else None),
            threshold=quality.LOSS_MAX_PCT,
            above_is_bad=True,
        ),
        charts.line_chart(
            "Jitter",
            " ms",
            series(lambda d: d.jitter_ms if d.mos is not None else None),
            threshold=quality.JITTER_MAX_MS,
            above_is_bad=True,
        ),
    ]


async def call_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    sid = request.match_info["sid"]
    svc = _svc(request)
    call = await svc.store.read(repo.get_console_call, sid, _scope(session))
    if call is None:
        return _not_found(request, "call")

    def gather() -> tuple[Any, ...]:
        events, _ = page_events(sid, 500)
        recs, _ = list_recordings(call.account_sid, 50, 0, None, sid)
        return (
            events,
            list_webhooks(call_sid=sid, limit=500),
            list_notifications(sid),
            recs,
            repo.child_calls(sid),
            samples_of(sid),
            verbs_of(sid),
        )

    events, hooks, notices, recs, legs, samples, verbs = await svc.store.read(gather)
    marks, rows = call_moments(call, events, hooks, notices, recs, legs, verbs)
    end = call.end_time or utcnow()
    picture = timeline.layout(marks, call.date_created, max(end, max((m.at for m in marks), default=end)))
    waves = {}
    for r in recs:
        if r.wav_path and r.status not in UNFINISHED_RECORDING:
            waves[r.sid] = await _peaks(request, Path(r.wav_path))
    parent = None
    if call.parent_call_sid:
        parent = await svc.store.read(repo.get_console_call, call.parent_call_sid, _scope(session))
    return render(
        request,
        "call.html",
        title=f"Call {call.sid}",
        call=call,
        picture=picture,
        rows=rows,
        hooks=hooks,
        recordings=recs,
        waves=waves,
        legs=legs,
        parent=parent,
        live=call.is_live,
        summary=summary_of(call),
        quality_charts=quality_charts(samples),
    )


async def call_feed(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    sid = request.match_info["sid"]
    svc = _svc(request)
    if await svc.store.read(repo.get_console_call, sid, _scope(session)) is None:
        return _not_found(request, "call")

    def version() -> Any:
        call = repo.get_console_call(sid, _scope(session))
        events, _ = page_events(sid, 500)
        hooks = list_webhooks(call_sid=sid, limit=500)
        # the quality summary changes with each sample: the page reloads to show the new point
        return (call, len(events), tuple((h.id, h.status, h.attempts) for h in hooks))

    async def read() -> Any:
        return await svc.store.read(version)

    response = _sse_response()

    async def send(_: Any) -> None:
        await _sse_send(response, "changed", "")

    return await _feed_with(request, response, read, send)


async def recording_audio(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    rec = await _svc(request).store.read(get_recording, request.match_info["sid"], _scope(session))
    if rec is None:
        return _not_found(request, "recording")
    if rec.wav_path and Path(rec.wav_path).exists():
        # aiohttp's FileResponse answers Range requests: the <audio> element seeks with them.
        return web.FileResponse(rec.wav_path, headers={"Content-Type": "audio/x-wav", "Accept-Ranges": "bytes"})
    if rec.storage_url and rec.status not in UNFINISHED_RECORDING:
        try:  # held only in the bucket: the API's way (presigned redirect or proxied, with ranges)
            return await serve_remote(request, rec, ".wav", "audio/x-wav")
        except NotFound:
            pass
    return _not_found(request, "recording")


# --- numbers and applications ------------------------------------------------------------------


async def _projects(request: web.Request, session: Session) -> list[Any]:
    if session.project_sid is not None:
        return []
    return list(await _svc(request).store.read(list_projects))


async def numbers_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    after = request.query.get("after") or None
    numbers, more = await _svc(request).store.read(
        list_numbers, NumberFilter(account_sid=_scope(session)), PAGE_SIZE, 0, after
    )
    return render(request, "numbers.html", title="Numbers", numbers=numbers, more=more)


NUMBER_FIELDS = (
    "FriendlyName",
    "VoiceUrl",
    "VoiceMethod",
    "VoiceFallbackUrl",
    "VoiceFallbackMethod",
    "StatusCallback",
    "StatusCallbackMethod",
)


def _number_values(n: NumberRecord | None) -> dict[str, str]:
    if n is None:
        return {"VoiceMethod": "POST", "VoiceFallbackMethod": "POST", "StatusCallbackMethod": "POST"}
    return {
        "PhoneNumber": n.phone_number,
        "FriendlyName": n.friendly_name or "",
        "VoiceUrl": n.voice_url or "",
        "VoiceMethod": n.voice_method,
        "VoiceFallbackUrl": n.voice_fallback_url or "",
        "VoiceFallbackMethod": n.voice_fallback_method,
        "StatusCallback": n.status_callback or "",
        "StatusCallbackMethod": n.status_callback_method,
        "VoiceApplicationSid": n.voice_application_sid or "",
    }


async def number_form(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    sid = request.match_info.get("sid")
    number = None
    if sid is not None:
        number = await _svc(request).store.read(get_number, sid, _scope(session))
        if number is None:
            return _not_found(request, "number")
    return render(
        request,
        "number_form.html",
        title="Number" if number else "Register a number",
        number=number,
        values=_number_values(number),
        error="",
        projects=await _projects(request, session),
        project=number.account_sid if number else "",
    )


async def number_save(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    form = await _form(request, session)
    sid = request.match_info.get("sid")
    svc = _svc(request)
    current = None
    if sid is not None:
        current = await svc.store.read(get_number, sid, _scope(session))
        if current is None:
            return _not_found(request, "number")
    values = {name: form.get(name, "") for name in (*NUMBER_FIELDS, "PhoneNumber", "VoiceApplicationSid")}
    try:
        project = current.account_sid if current else await _project_for(request, session, form.get("project"))
        # The REST API's validators, so that a form gets exactly the API's error for a value.
        voice = MultiDict((k, form.get(k, "")) for k in NUMBER_FIELDS)
        refuse_unsupported(form, NUMBER_REFUSED)
        fields = parse_voice_settings(voice, VOICE_PARAMS)
        app_sid = (form.get("VoiceApplicationSid") or "").strip() or None
        fields["voice_application_sid"] = app_sid
        if current is None:
            phone = parse_phone_number(form.get("PhoneNumber"))
            check_fallback(fields.get("voice_url"), fields.get("voice_fallback_url"))
            fields["friendly_name"] = fields.get("friendly_name") or format_number(phone)

            def create() -> NumberRecord | str:
                if app_sid is not None and get_application(app_sid, project) is None:
                    return "VoiceApplicationSid is invalid: no application " + app_sid
                return insert_number(project, phone, **fields) or f"PhoneNumber {phone} is already in use"

            result = await svc.store.write(create)
        else:
            check_fallback(fields.get("voice_url"), fields.get("voice_fallback_url"))
            fields["friendly_name"] = fields.get("friendly_name") or format_number(current.phone_number)
            number_sid = current.sid

            def update() -> NumberRecord | str:
                if app_sid is not None and get_application(app_sid, project) is None:
                    return "VoiceApplicationSid is invalid: no application " + app_sid
                return update_number(number_sid, **fields) or "the number is gone"

            result = await svc.store.write(update)
    except ApiError as exc:
        result = f"{exc.message} (error {exc.code})"
    if isinstance(result, str):
        return render(
            request,
            "number_form.html",
            status=400,
            title="Number" if current else "Register a number",
            number=current,
            values=values,
            error=result,
            projects=await _projects(request, session),
            project=form.get("project", ""),
        )
    raise web.HTTPSeeOther(f"/console/numbers/{result.sid}?saved=1")


async def applications_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    svc = _svc(request)
    projects = [session.project_sid] if session.project_sid else [p.sid for p in await svc.store.read(list_projects)]

    def read() -> list[ApplicationRecord]:
        out: list[ApplicationRecord] = []
        for sid in projects[:100]:
            out += list_applications(sid, PAGE_SIZE)[0]
        return sorted(out, key=lambda a: a.date_created, reverse=True)[:200]

    return render(request, "applications.html", title="Applications", applications=await svc.store.read(read))


def _app_values(a: ApplicationRecord | None) -> dict[str, str]:
    if a is None:
        return {"VoiceMethod": "POST", "VoiceFallbackMethod": "POST", "StatusCallbackMethod": "POST"}
    return {
        "FriendlyName": a.friendly_name or "",
        "VoiceUrl": a.voice_url or "",
        "VoiceMethod": a.voice_method,
        "VoiceFallbackUrl": a.voice_fallback_url or "",
        "VoiceFallbackMethod": a.voice_fallback_method,
        "StatusCallback": a.status_callback or "",
        "StatusCallbackMethod": a.status_callback_method,
    }


async def application_form(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    sid = request.match_info.get("sid")
    app = None
    if sid is not None:
        app = await _svc(request).store.read(get_application, sid, _scope(session))
        if app is None:
            return _not_found(request, "application")
    return render(
        request,
        "application_form.html",
        title="Application" if app else "New application",
        app=app,
        values=_app_values(app),
        error="",
        projects=await _projects(request, session),
    )


async def application_save(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    form = await _form(request, session)
    sid = request.match_info.get("sid")
    svc = _svc(request)
    current = None
    if sid is not None:
        current = await svc.store.read(get_application, sid, _scope(session))
        if current is None:
            return _not_found(request, "application")
    values = {name: form.get(name, "") for name in NUMBER_FIELDS}
    try:
        project = current.account_sid if current else await _project_for(request, session, form.get("project"))
        fields = parse_voice_settings(MultiDict(values), VOICE_PARAMS)
        check_fallback(fields.get("voice_url"), fields.get("voice_fallback_url"))
        if current is None:
            result: ApplicationRecord | str = await svc.store.write(lambda: insert_application(project, **fields))
        else:
            app_sid = current.sid
            result = await svc.store.write(lambda: update_application(app_sid, **fields)) or "the application is gone"
    except ApiError as exc:
        result = f"{exc.message} (error {exc.code})"
    if isinstance(result, str):
        return render(
            request,
            "application_form.html",
            status=400,
            title="Application" if current else "New application",
            app=current,
            values=values,
            error=result,
            projects=await _projects(request, session),
        )
    raise web.HTTPSeeOther(f"/console/applications/{result.sid}?saved=1")


# --- queues ------------------------------------------------------------------------------------
#
# A queue's row is in the store; who waits in it lives on this engine (ApiServices.queues,
# calls/queues.py), as the REST API's Queues and Members resources read them. The forms go
# through that API's validators (FriendlyName, MaxSize, Url, Method), so a bad value gets the
# same Twilio error text; "dequeue to URL" is the Members resource's POST (a live update of the
# member's call). The list and a queue's members refresh over Server-Sent Events: the rows are
# re-rendered once a second while they change (a waiting caller's wait time ticks).

QUEUE_FIELDS = ("FriendlyName", "MaxSize")
FRONT = "Front"  # the Members resource's name for the caller at the front


@dataclasses.dataclass(frozen=True, slots=True)
class QueueNow:
    """A queue's live numbers: how many wait, their average wait so far (0 and 0 without SIP)."""

    current_size: int
    average_wait_s: int


@dataclasses.dataclass(frozen=True, slots=True)
class QueueLine:
    """A queue as its list shows it: the row with its live size and average wait."""

    queue: QueueRecord
    current_size: int
    average_wait_s: int


def _queue_stats(request: web.Request, sid: str) -> QueueNow:
    live = _svc(request).queues
    if live is None:
        return QueueNow(0, 0)
    stats = live.stats(sid)
    return QueueNow(stats.current_size, stats.average_wait_time_s)


def _queue_members(request: web.Request, sid: str) -> list[MemberInfo]:
    live = _svc(request).queues
    return live.members(sid) if live is not None else []


async def _queue_lines(request: web.Request, session: Session, after: str | None) -> tuple[list[QueueLine], bool]:
    queues, more = await _svc(request).store.read(list_queues, _scope(session), PAGE_SIZE, 0, after)
    lines = []
    for q in queues:
        stats = _queue_stats(request, q.sid)
        lines.append(QueueLine(q, stats.current_size, stats.average_wait_s))
    return lines, more


async def queues_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    after = request.query.get("after") or None
    lines, more = await _queue_lines(request, session, after)
    return render(
        request,
        "queues.html",
        title="Queues",
        lines=lines,
        more=more,
        live=after is None,
        deleted=request.query.get("deleted") or "",
    )


async def queues_feed(request: web.Request) -> web.StreamResponse:
    """The list's first page, re-sent as rendered rows when a queue or its size or wait changed."""
    session = await _login_required(request)
    response = _sse_response()

    async def version() -> list[QueueLine]:
        return (await _queue_lines(request, session, None))[0]

    async def send(lines: list[QueueLine]) -> None:
        html = request.app[TEMPLATES].get_template("_queue_rows.html").render(lines=lines)
        await _sse_send(response, "rows", html)

    return await _feed_with(request, response, version, send)


async def _queue_of(request: web.Request, session: Session) -> QueueRecord | None:
    """The path's queue, if this login may see it (another project's is None: a 404)."""
    queue: QueueRecord | None = await _svc(request).store.read(get_queue, request.match_info["sid"], _scope(session))
    return queue


def _queue_values(queue: QueueRecord | None) -> dict[str, str]:
    if queue is None:
        return {"FriendlyName": "", "MaxSize": str(DEFAULT_MAX_SIZE)}
    return {"FriendlyName": queue.friendly_name, "MaxSize": str(queue.max_size)}


async def _queue_form(
    request: web.Request,
    session: Session,
    queue: QueueRecord | None,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    error: str = "",
    dequeue: dict[str, str] | None = None,
    dequeue_error: str = "",
    project: str = "",
) -> web.Response:
    """The new-queue form, or a queue's page: its live members, dequeue, edit and delete."""
    stats = _queue_stats(request, queue.sid) if queue is not None else QueueNow(0, 0)
    return render(
        request,
        "queue.html",
        status=status,
        title=f"Queue {queue.friendly_name}" if queue is not None else "New queue",
        queue=queue,
        stats=stats,
        members=_queue_members(request, queue.sid) if queue is not None else [],
        values=values if values is not None else _queue_values(queue),
        error=error,
        dequeue=dequeue if dequeue is not None else {"Member": FRONT, "Url": "", "Method": "POST"},
        dequeue_error=dequeue_error,
        saved=request.query.get("saved") or "",
        dequeued=request.query.get("dequeued") or "",
        projects=await _projects(request, session) if queue is None else [],
        project=project,
    )


async def queue_new(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    return await _queue_form(request, session, None)


async def queue_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    queue = await _queue_of(request, session)
    if queue is None:
        return _not_found(request, "queue")
    return await _queue_form(request, session, queue)


async def queue_create(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    form = await _form(request, session)
    values = {name: form.get(name, "") for name in QUEUE_FIELDS}
    svc = _svc(request)
    try:
        project = await _project_for(request, session, form.get("project"))
        name = parse_queue_name(form, required=True)  # the REST API's create: POST /Queues
        assert name is not None
        max_size = parse_max_size(form) or DEFAULT_MAX_SIZE
        created: QueueRecord | None = await svc.store.write(insert_queue, project, name, max_size)
        if created is None:
            raise queue_name_taken(name)
    except ApiError as exc:
        error = f"{exc.message} (error {exc.code})"
        return await _queue_form(
            request, session, None, status=exc.status, values=values, error=error, project=form.get("project", "")
        )
    raise web.HTTPSeeOther(f"/console/queues/{created.sid}?saved=1")


async def queue_save(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    form = await _form(request, session)
    queue = await _queue_of(request, session)
    if queue is None:
        return _not_found(request, "queue")
    values = {name: form.get(name, "") for name in QUEUE_FIELDS}
    current = queue
    try:
        # The REST API's update (POST /Queues/{sid}): the same checks, the same name rule.
        name = parse_queue_name(form, required=False)
        max_size = parse_max_size(form)
        fields: dict[str, object] = {}
        if name is not None:
            fields["friendly_name"] = name
        if max_size is not None:
            fields["max_size"] = max_size

        def update() -> QueueRecord | str | None:
            if name is not None and name != current.friendly_name:
                if queue_by_name(current.account_sid, name) is not None:
                    return "taken"
            return update_queue(current.sid, **fields) if fields else get_queue(current.sid)

        result = await _svc(request).store.write(update)
        if result == "taken":
            raise queue_name_taken(str(name))
        if not isinstance(result, QueueRecord):
            return _not_found(request, "queue")
    except ApiError as exc:
        error = f"{exc.message} (error {exc.code})"
        return await _queue_form(request, session, queue, status=exc.status, values=values, error=error)
    raise web.HTTPSeeOther(f"/console/queues/{result.sid}?saved=1")


async def queue_dequeue(request: web.Request) -> web.StreamResponse:
    """The Members resource's POST (Url, Method) for the form's member (Front or a CallSid):
    that call leaves the queue and runs the document at Url."""
    session = await _login_required(request)
    form = await _form(request, session)
    queue = await _queue_of(request, session)
    if queue is None:
        return _not_found(request, "queue")
    wanted = {
        "Member": (form.get("Member") or "").strip() or FRONT,
        "Url": form.get("Url", ""),
        "Method": form.get("Method", "POST"),
    }
    try:
        url = ctx.opt_url(form, "Url")
        if url is None:
            raise BadRequest("Missing required parameter Url in the post body", code=ApiCode.INVALID_URL)
        method = ctx.parse_method(form.get("Method"), "Method")
        who = wanted["Member"]
        member = next((m for m in _queue_members(request, queue.sid) if who in (FRONT, m.call_sid)), None)
        live = _svc(request).queues
        moved = None
        if member is not None and live is not None:
            moved = live.redirect_member(queue.sid, member.call_sid, url, method)
        if moved is None:  # nobody waits, or that call is not (or no longer) in the queue
            raise NotFound(f"No member {who} in queue {queue.sid}")
    except ApiError as exc:
        error = f"{exc.message} (error {exc.code})"
        return await _queue_form(request, session, queue, status=exc.status, dequeue=wanted, dequeue_error=error)
    raise web.HTTPSeeOther(f"/console/queues/{queue.sid}?" + urlencode({"dequeued": moved.call_sid}))


async def queue_feed(request: web.Request) -> web.StreamResponse:
    """A queue's live part (size, average wait, members in order with their wait), re-sent
    rendered whenever it changed."""
    session = await _login_required(request)
    queue = await _queue_of(request, session)
    if queue is None:
        return _not_found(request, "queue")
    sid = queue.sid
    response = _sse_response()

    async def version() -> tuple[QueueRecord | None, QueueNow, list[MemberInfo]]:
        row = await _svc(request).store.read(get_queue, sid)
        return row, _queue_stats(request, sid), _queue_members(request, sid)

    async def send(current: tuple[QueueRecord | None, QueueNow, list[MemberInfo]]) -> None:
        row, stats, members = current
        template = request.app[TEMPLATES].get_template("_queue_live.html")
        await _sse_send(response, "rows", template.render(queue=row, stats=stats, members=members))

    return await _feed_with(request, response, version, send)


async def queue_delete_page(request: web.Request) -> web.StreamResponse:
    """The confirmation before a delete (a page of its own: it works without JavaScript)."""
    session = await _login_required(request)
    queue = await _queue_of(request, session)
    if queue is None:
        return _not_found(request, "queue")
    stats = _queue_stats(request, queue.sid)
    return render(
        request, "queue_delete.html", title=f"Delete queue {queue.friendly_name}", queue=queue, stats=stats, error=""
    )


async def queue_delete(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    await _form(request, session)
    queue = await _queue_of(request, session)
    if queue is None:
        return _not_found(request, "queue")
    stats = _queue_stats(request, queue.sid)
    if stats.current_size:  # the REST API's DELETE refuses it too: they would be left unreachable
        error = BadRequest(f"Queue {queue.sid} has callers waiting: dequeue them first", code=ApiCode.INVALID_PARAMETER)
        return render(
            request,
            "queue_delete.html",
            status=error.status,
            title=f"Delete queue {queue.friendly_name}",
            queue=queue,
            stats=stats,
            error=f"{error.message} (error {error.code})",
        )
    if not await _svc(request).store.write(delete_queue, queue.sid):
        return _not_found(request, "queue")
    raise web.HTTPSeeOther("/console/queues?" + urlencode({"deleted": queue.friendly_name}))


# --- conferences -------------------------------------------------------------------------------
#
# Rooms live in memory on this engine (ApiServices.conferences, calls/conference.py): the live
# ones and the latest ended ones, as the REST API's Conferences resource lists them. The pages
# show frozen views of them (RoomView, PartView: the runtime's objects change under the loop),
# which the feeds also compare to know when to re-send. End, mute/unmute, hold/unhold and kick
# are the service calls the Conferences and Participants resources make (end, update, kick).

PART_ACTIONS = {  # what the participant forms do -> what the page says after
    "mute": "muted",
    "unmute": "unmuted",
    "hold": "put on hold",
    "unhold": "taken off hold",
    "kick": "removed from the conference",
}


@dataclasses.dataclass(frozen=True, slots=True)
class PartView:
    call_sid: str
    label: str | None
    muted: bool
    hold: bool
    coach: str
    in_room: bool  # hears and is heard (else the wait or hold music, or silence)
    date_created: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class RoomView:
    sid: str
    account_sid: str
    name: str
    status: str
    date_created: dt.datetime
    date_updated: dt.datetime
    reason_ended: str | None
    call_sid_ending: str | None
    participants: tuple[PartView, ...]


def _room_view(room: Room) -> RoomView:
    parts = tuple(
        PartView(p.call_sid, p.label, p.muted, p.hold, p.coach, p.in_media, p.date_created)
        for p in room.participants.values()
    )
    return RoomView(
        room.sid,
        room.account_sid,
        room.name,
        room.status,
        room.date_created,
        room.date_updated,
        room.reason_ended,
        room.call_sid_ending,
        parts,
    )


async def _rooms(request: web.Request, session: Session) -> list[RoomView]:
    """The login's rooms (the admin's: every project's), newest first, at most 200."""
    conferences = _svc(request).conferences
    if conferences is None:
        return []
    scope = _scope(session)
    projects = [scope] if scope is not None else [p.sid for p in await _svc(request).store.read(list_projects)]
    rooms = [r for sid in projects for r in conferences.rooms(sid)]
    rooms.sort(key=lambda r: r.date_created, reverse=True)
    return [_room_view(r) for r in rooms[:200]]


def _room_of(request: web.Request, session: Session) -> Room | None:
    """The path's room, if this login may see it (another project's is None: a 404)."""
    conferences = _svc(request).conferences
    if conferences is None:
        return None
    sid = request.match_info["sid"]
    scope = _scope(session)
    if scope is None:
        return conferences.by_sid.get(sid)
    return conferences.room(scope, sid)


async def conferences_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    rooms = await _rooms(request, session)
    return render(request, "conferences.html", title="Conferences", rooms=rooms)


async def conferences_feed(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    response = _sse_response()

    async def version() -> list[RoomView]:
        return await _rooms(request, session)

    async def send(rooms: list[RoomView]) -> None:
        html = request.app[TEMPLATES].get_template("_conference_rows.html").render(rooms=rooms)
        await _sse_send(response, "rows", html)

    return await _feed_with(request, response, version, send)


async def conference_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    room = _room_of(request, session)
    if room is None:
        return _not_found(request, "conference")
    done = {**PART_ACTIONS, "end": "ended"}.get(request.query.get("done", ""), "")
    who = request.query.get("call", "")
    return render(
        request,
        "conference.html",
        title=f"Conference {room.name}",
        room=_room_view(room),
        done=done,
        who=who if re.fullmatch(r"CA[0-9a-f]{32}", who) else "",
    )


async def conference_feed(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    room = _room_of(request, session)
    if room is None:
        return _not_found(request, "conference")
    response = _sse_response()

    async def version() -> RoomView:
        return _room_view(room)

    async def send(view: RoomView) -> None:
        html = request.app[TEMPLATES].get_template("_conference_live.html").render(room=view, csrf=session.csrf)
        await _sse_send(response, "rows", html)

    return await _feed_with(request, response, version, send)


async def conference_end(request: web.Request) -> web.StreamResponse:
    """The Conferences resource's Status=completed: everyone leaves, the room ends."""
    session = await _login_required(request)
    await _form(request, session)
    room = _room_of(request, session)
    conferences = _svc(request).conferences
    if room is None or conferences is None:
        return _not_found(request, "conference")
    await conferences.end(room)
    raise web.HTTPSeeOther(f"/console/conferences/{room.sid}?done=end")


async def participant_action(request: web.Request) -> web.StreamResponse:
    """Mute, unmute, hold, unhold (the Participants resource's update) or kick (its delete)."""
    session = await _login_required(request)
    form = await _form(request, session)
    room = _room_of(request, session)
    conferences = _svc(request).conferences
    if room is None or conferences is None:
        return _not_found(request, "conference")
    call_sid = request.match_info["call"]
    part = conferences.participant(room, call_sid)
    if part is None:
        return _not_found(request, "participant (the call has left the conference)")
    what = form.get("do", "")
    if what not in PART_ACTIONS:
        return render(
            request, "error.html", status=400, title="Refused", message=f"do must be one of {', '.join(PART_ACTIONS)}"
        )
    if what == "kick":
        await conferences.kick(part)
    elif what in ("mute", "unmute"):
        await conferences.update(part, muted=what == "mute")
    else:
        await conferences.update(part, hold=what == "hold")
    raise web.HTTPSeeOther(f"/console/conferences/{room.sid}?" + urlencode({"done": what, "call": part.call_sid}))


# --- webhooks ----------------------------------------------------------------------------------


async def webhooks_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    wanted = request.query.get("status") or ""
    statuses = (wanted,) if wanted in repo.OUTBOX_STATES else repo.OUTBOX_STATES
    rows = await _svc(request).store.read(repo.list_outbox, _scope(session), statuses)
    return render(
        request,
        "webhooks.html",
        title="Webhooks",
        rows=rows,
        wanted=wanted,
        states=repo.OUTBOX_STATES,
        now=utcnow(),
        retried=request.query.get("retried") or "",
    )


def signed_request(row: WebhookRecord, auth_token: str) -> dict[str, Any]:
    """The request the delivery worker sends for `row` (webhooks/delivery.py _send), signed as it signs."""
    params = list(row.params)
    data = None if row.method == "GET" else params
    try:
        url = wire_url(row.url, params if data is None else ())
    except ValueError:
        return {"error": f"the URL cannot be sent: {row.url}"}
    sig = signature(auth_token, str(url.with_user(None)), data or ())
    headers = [("X-Twilio-Signature", sig), ("X-SignalWire-Signature", sig)]
    if data is not None:
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    return {
        "method": row.method,
        "url": str(url.with_password("****") if url.password else url),
        "headers": headers,
        "body": urlencode(data) if data is not None else "",
        "error": "",
    }


async def webhook_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    svc = _svc(request)
    try:
        webhook_id = int(request.match_info["id"])
    except ValueError:
        return _not_found(request, "webhook")
    row = await svc.store.read(repo.get_outbox_row, webhook_id, _scope(session))
    if row is None:
        return _not_found(request, "webhook")
    project = await svc.store.read(get_project, row.account_sid)
    attempts: list[CallEventRecord] = []
    if row.call_sid:
        events, _ = await svc.store.read(page_events, row.call_sid, 500)
        attempts = [e for e in events if e.kind == row.kind and e.url == row.url]
    return render(
        request,
        "webhook.html",
        title=f"Webhook {row.id}",
        row=row,
        signed=signed_request(row, project.auth_token if project else ""),
        attempts=attempts,
    )


async def webhook_retry(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    await _form(request, session)
    try:
        webhook_id = int(request.match_info["id"])
    except ValueError:
        return _not_found(request, "webhook")
    done = await _svc(request).store.write(repo.retry_webhook_now, webhook_id, _scope(session), utcnow())
    if not done:
        return render(
            request,
            "error.html",
            status=409,
            title="Not retried",
            message="That webhook is delivered, in flight or gone.",
        )
    raise web.HTTPSeeOther(f"/console/webhooks?retried={webhook_id}")


# --- dashboard and doctor ----------------------------------------------------------------------


async def dashboard_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    svc = _svc(request)
    now = utcnow()
    scope = _scope(session)
    # Hours that can no longer change are kept (HOURS); the store counts only the rest: one read
    # of the day's calls at the first visit, then of the current hour and those with live calls.
    names = charts.day_hours(now)
    known: dict[tuple[str | None, str], Any] = request.app[HOURS]
    cached = {n: known[(scope, n)] for n in names if (scope, n) in known}
    since = charts.hour_start(charts.first_missing(names, cached))
    d = await svc.store.read(repo.dashboard, scope, now, since)
    counts = {n: cached[n] if n in cached and charts.hour_start(n) < since else d.hours.get(n, {}) for n in names}
    for n in charts.settled(names, counts):
        known[(scope, n)] = counts[n]
    for key in [k for k in known if k[1] < names[0]]:  # out of the day now
        del known[key]
    statuses, answered_by, per_hour = charts.day_totals(names, counts)
    minutes = charts.stacked(charts.buckets(now, 60, dt.timedelta(minutes=1)), d.minutes.rows)
    hours = charts.stacked(names, per_hour)
    ended = sum(statuses.get(s, 0) for s in ("completed", "busy", "failed", "no-answer", "canceled"))
    answered = statuses.get("completed", 0)
    sip = svc.sip.health() if svc.sip is not None else {"state": "disabled"}
    return render(
        request,
        "dashboard.html",
        title="Dashboard",
        d=d,
        statuses_day=statuses,
        cps=round(d.created_last_10s / 10, 1),
        answer_rate=round(100 * answered / ended, 1) if ended else None,
        amd=charts.shares(answered_by),
        p50=charts.percentile(d.webhook_latency_ms, 50),
        p95=charts.percentile(d.webhook_latency_ms, 95),
        minutes=minutes,
        hours=hours,
        sip=sip,
        sip_json=json.dumps(sip, indent=2, sort_keys=True, default=str),
        db_ok=await svc.store.read(svc.store.ping),
    )


def _doctor_argv(svc: ctx.ApiServices) -> list[str]:
    """`wirexa doctor --json` for this engine's data dir and config, from this installation
    (the frozen binary is its own interpreter)."""
    base = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "wirexa"]
    argv = [*base, "doctor", "--json", "--data-dir", str(svc.settings.data_path)]
    if svc.settings.config_file:
        argv += ["--config", svc.settings.config_file]
    return argv


async def run_doctor(svc: ctx.ApiServices) -> dict[str, Any]:
    """The checks of `wirexa doctor`, run as the command runs them (a subprocess: the checks
    live in the CLI, which the engine does not import), as its --json document."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREXA_")}
    if svc.settings.database_url:  # this engine's (maybe from its environment); not in argv: ps shows argv
        env["WIREXA_DATABASE_URL"] = svc.settings.database_url
    proc = await asyncio.create_subprocess_exec(
        *_doctor_argv(svc), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DOCTOR_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return {"ok": False, "checks": [], "error": f"wirexa doctor did not finish in {DOCTOR_TIMEOUT_S:.0f} s"}
    try:
        result: dict[str, Any] = json.loads(out)
        return result
    except ValueError:
        return {"ok": False, "checks": [], "error": (err.decode(errors="replace") or "no output").strip()[-2000:]}


async def doctor_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    if session.project_sid is not None:
        return render(
            request,
            "error.html",
            status=403,
            title="Admin only",
            message="The engine's checks are for the admin login.",
        )
    cache: dict[str, Any] = request.app[DOCTOR]
    if request.query.get("run") or time.monotonic() - cache.get("at", -1e9) > DOCTOR_CACHE_S:
        cache["result"] = await run_doctor(_svc(request))
        cache["at"] = time.monotonic()
        cache["when"] = utcnow()
    return render(request, "doctor.html", title="Doctor", result=cache["result"], when=cache["when"])


# --- test call ---------------------------------------------------------------------------------


async def test_call_page(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    return render(
        request,
        "test_call.html",
        title="Make a test call",
        values={"To": "", "From": "", "Url": "", "Twiml": "<Response><Say>Hello from Wirexa.</Say></Response>"},
        error="",
        projects=await _projects(request, session),
    )


async def test_call(request: web.Request) -> web.StreamResponse:
    session = await _login_required(request)
    form = await _form(request, session)
    svc = _svc(request)
    values = {k: form.get(k, "") for k in ("To", "From", "Url", "Twiml")}
    source = form.get("source", "twiml")
    wanted = MultiDict({"To": values["To"], "From": values["From"]})
    if source == "url":
        wanted["Url"] = values["Url"]
    else:
        wanted["Twiml"] = values["Twiml"]
    try:
        project_sid = await _project_for(request, session, form.get("project"))
        project = await svc.store.read(get_project, project_sid)
        if project is None:
            raise web.HTTPNotFound()
        call = await svc.calls.create(project, parse_new_call(wanted))  # the REST API's path
    except ApiError as exc:
        return render(
            request,
            "test_call.html",
            status=exc.status,
            title="Make a test call",
            values=values,
            error=f"{exc.message} (error {exc.code})",
            projects=await _projects(request, session),
        )
    except WirexaError as exc:
        return render(
            request,
            "test_call.html",
            status=400,
            title="Make a test call",
            values=values,
            error=str(exc),
            projects=await _projects(request, session),
        )
    raise web.HTTPSeeOther(f"/console/calls/{call.sid}")


# --- the app -----------------------------------------------------------------------------------


async def _on_shutdown(app: web.Application) -> None:
    app[CLOSING].set()


def make_console(settings_session_hours: float) -> web.Application:
    """The console sub-application (mount it with add_subapp("/console/", ...) on the API app,
    which holds SERVICES)."""
    app = web.Application(middlewares=[console_middleware])
    app[SESSIONS] = Sessions(max(settings_session_hours, 0.05) * 3600)
    app[TEMPLATES] = _environment()
    app[CLOSING] = asyncio.Event()
    app[PEAKS] = collections.OrderedDict()
    app[DOCTOR] = {}
    app[HOURS] = {}
    app.on_shutdown.append(_on_shutdown)
    r = app.router
    r.add_get("/", index)
    r.add_get("/login", login_page)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/dashboard", dashboard_page)
    r.add_get("/calls", calls_page)
    r.add_get("/calls/feed", calls_feed)
    r.add_get("/calls/{sid}", call_page)
    r.add_get("/calls/{sid}/feed", call_feed)
    r.add_get("/recordings/{sid}.wav", recording_audio)
    r.add_get("/numbers", numbers_page)
    r.add_get("/numbers/new", number_form)
    r.add_post("/numbers/new", number_save)
    r.add_get("/numbers/{sid}", number_form)
    r.add_post("/numbers/{sid}", number_save)
    r.add_get("/applications", applications_page)
    r.add_get("/applications/new", application_form)
    r.add_post("/applications/new", application_save)
    r.add_get("/applications/{sid}", application_form)
    r.add_post("/applications/{sid}", application_save)
    r.add_get("/queues", queues_page)
    r.add_get("/queues/feed", queues_feed)
    r.add_get("/queues/new", queue_new)
    r.add_post("/queues/new", queue_create)
    r.add_get("/queues/{sid}", queue_page)
    r.add_post("/queues/{sid}", queue_save)
    r.add_get("/queues/{sid}/feed", queue_feed)
    r.add_post("/queues/{sid}/dequeue", queue_dequeue)
    r.add_get("/queues/{sid}/delete", queue_delete_page)
    r.add_post("/queues/{sid}/delete", queue_delete)
    r.add_get("/conferences", conferences_page)
    r.add_get("/conferences/feed", conferences_feed)
    r.add_get("/conferences/{sid}", conference_page)
    r.add_get("/conferences/{sid}/feed", conference_feed)
    r.add_post("/conferences/{sid}/end", conference_end)
    r.add_post("/conferences/{sid}/participants/{call}", participant_action)
    r.add_get("/webhooks", webhooks_page)
    r.add_get("/webhooks/{id}", webhook_page)
    r.add_post("/webhooks/{id}/retry", webhook_retry)
    r.add_get("/call", test_call_page)
    r.add_post("/call", test_call)
    r.add_get("/doctor", doctor_page)
    r.add_static("/static/", HERE / "static", append_version=False)
    return app
