"""Calls resource: create, list, fetch, update, delete (reference §6-§8)."""

from __future__ import annotations

import dataclasses
import functools

from aiohttp import web
from multidict import MultiMapping

from wirexa.api import context as ctx
from wirexa.api.parameters import refuse
from wirexa.api.rendered import envelope
from wirexa.api.serializers import call_json, page_meta
from wirexa.calls import state
from wirexa.calls.service import ALL_EVENTS, CallUpdate, NewCall
from wirexa.calls.sipuri import split_headers
from wirexa.calls.statuses import RECORDING_CALLBACK_EVENTS, RecordingStatus
from wirexa.errors import ApiCode, BadRequest, DocumentError
from wirexa.laml.parse import parse_document
from wirexa.media.amd import AmdMode, AmdParams
from wirexa.store.repo import ProjectRecord
from wirexa.store.repo.applications import ApplicationRecord, get_application
from wirexa.store.repo.calls import CallFilter, CallVersion, get_call, get_calls, list_call_versions

CALL_STATUSES = tuple(dict.fromkeys(state.RESOURCE_STATUS.values()))  # Twilio's enum


_opt_url = ctx.opt_url


def check_twiml(twiml: str) -> None:
    """Refuse (400 / 21205) a Twiml parameter that can never run: what parse_document refuses
    (not XML, a DTD, too deep, a root other than <Response>), named in the words of the
    notification (12100, 12102) the call would get. Unknown verbs and attributes parse: those
    are run-time notices (12200), and the document is accepted."""
    try:
        parse_document(twiml, "text/xml")
    except DocumentError as exc:
        raise BadRequest(f"Twiml is not valid TwiML ({exc.code}): {exc.message}", code=ApiCode.INVALID_URL) from None


AMD_THRESHOLDS = (
    "MachineDetectionTimeout",
    "MachineDetectionSpeechThreshold",
    "MachineDetectionSpeechEndThreshold",
    "MachineDetectionSilenceTimeout",
)


def amd_params(machine_detection: str, form: MultiMapping[str] | None = None) -> AmdParams:
    """AmdParams.from_twilio of MachineDetection and the form's AMD_THRESHOLDS (Twilio's defaults
    without a form or for those absent), else 400 / 21207 naming the parameter."""
    thresholds = [form.get(name) for name in AMD_THRESHOLDS] if form is not None else []
    try:
        return AmdParams.from_twilio(machine_detection, *thresholds)
    except ValueError as exc:
        raise BadRequest(str(exc), code=ApiCode.INVALID_MACHINE_DETECTION) from None


# What an Application gives a call created with its ApplicationSid, and so what the request
# must not also give (Twilio ignores them; Wirexa refuses rather than ignore).
APPLICATION_GIVES = (
    "Url",
    "Twiml",
    "Method",
    "FallbackUrl",
    "FallbackMethod",
    "StatusCallback",
    "StatusCallbackMethod",
)


def check_application_form(form: MultiMapping[str]) -> None:
    """400 naming a parameter that ApplicationSid replaces (21205 for Url and Twiml, else 20001)."""
    for name in APPLICATION_GIVES:
        if (form.get(name) or "").strip():
            code = ApiCode.INVALID_URL if name in ("Url", "Twiml") else ApiCode.INVALID_PARAMETER
            raise BadRequest(
                f"{name} and ApplicationSid are mutually exclusive: the application's settings are used", code=code
            )


def with_application(new: NewCall, app: ApplicationRecord | None, application_sid: str) -> NewCall:
    """The call `new` running the application `app` (None: not one of the project's, 400 /
    21218): its VoiceUrl, VoiceMethod, VoiceFallbackUrl and StatusCallback with their methods."""
    if app is None:
        raise BadRequest(
            f"ApplicationSid is invalid: no application {application_sid}", code=ApiCode.INVALID_APPLICATION_SID
        )
    if app.voice_url is None:
        raise BadRequest(f"Application {app.sid} has no VoiceUrl", code=ApiCode.INVALID_APPLICATION_SID)
    return dataclasses.replace(
        new,
        url=app.voice_url,
        method=app.voice_method,
        twiml=None,
        fallback_url=app.voice_fallback_url,
        fallback_method=app.voice_fallback_method,
        status_callback=app.status_callback,
        status_callback_method=app.status_callback_method,
    )


def _sip_auth(form: MultiMapping[str], to: str) -> tuple[str, str] | None:
    """SipAuthUsername and SipAuthPassword (both or neither), for a To that is a sip: URI; and the
    To URI's headers checked (X- headers only)."""
    if to.lower().startswith(("sip:", "sips:")):
        try:
            split_headers(to)
        except ValueError as exc:
            raise BadRequest(f"Invalid 'To' SIP URI: {exc}", code=ApiCode.INVALID_TO) from None
    username = (form.get("SipAuthUsername") or "").strip()
    password = form.get("SipAuthPassword") or ""
    if not username and not password:
        return None
    if not to.lower().startswith(("sip:", "sips:")):
        raise BadRequest(
            "SipAuthUsername and SipAuthPassword are for a To that is a sip: URI", code=ApiCode.INVALID_PARAMETER
        )
    if not username or not password:
        missing = "SipAuthPassword" if username else "SipAuthUsername"
        raise BadRequest(f"{missing} is required with the other SipAuth parameter", code=ApiCode.INVALID_PARAMETER)
    return username, password


def parse_new_call(form: MultiMapping[str]) -> NewCall:
    """Validate a create request with Twilio's codes (reference §6). With an ApplicationSid the
    call has no Url yet: create_call fills in the application's (with_application). Twilio
    parameters Wirexa cannot honour are refused (wirexa/api/parameters.py)."""
    refuse(form, "CreateCall")
    to = (form.get("To") or "").strip()
    if not to:
        raise BadRequest("A 'To' phone number is required.", code=ApiCode.TO_REQUIRED)
    if not ctx.valid_address(to):
        raise BadRequest(f"Invalid 'To' Phone Number: {to}", code=ApiCode.INVALID_TO)
    sip_auth = _sip_auth(form, to)
    from_ = (form.get("From") or "").strip()
    if not from_:
        raise BadRequest("A 'From' phone number is required.", code=ApiCode.FROM_REQUIRED)
    if not ctx.valid_address(from_):
        raise BadRequest(f"Invalid 'From' Phone Number: {from_}", code=ApiCode.INVALID_FROM)
    url = _opt_url(form, "Url")
    twiml = form.get("Twiml") or None
    application_sid = (form.get("ApplicationSid") or "").strip() or None
    if application_sid is not None:
        check_application_form(form)
    elif url is None and not twiml:
        raise BadRequest("Either Url, Twiml or ApplicationSid is required.", code=ApiCode.INVALID_URL)
    if url is not None:
        twiml = None  # Twilio: Twiml is ignored when Url is also given on create
    elif twiml is not None:
        if len(twiml) > 4000:
            raise BadRequest("Twiml must be 4000 characters or fewer.", code=ApiCode.INVALID_URL)
        check_twiml(twiml)
    events = ctx.parse_list(form, "StatusCallbackEvent")
    bad = [e for e in events if e not in ALL_EVENTS]
    if bad:
        raise BadRequest(f"Invalid StatusCallbackEvent: {bad[0]}", code=ApiCode.INVALID_STATUS_CALLBACK_EVENT)
    rec_events = ctx.parse_list(form, "RecordingStatusCallbackEvent") or [str(RecordingStatus.COMPLETED)]
    bad = [e for e in rec_events if e not in RECORDING_CALLBACK_EVENTS]
    if bad:
        raise BadRequest(f"Invalid RecordingStatusCallbackEvent: {bad[0]}", code=ApiCode.INVALID_STATUS_CALLBACK_EVENT)
    send_digits = form.get("SendDigits") or None
    if send_digits is not None and (len(send_digits) > 32 or not all(c in "0123456789ABCD#*wW" for c in send_digits)):
        raise BadRequest(f"SendDigits is invalid: {send_digits}", code=ApiCode.INVALID_SEND_DIGITS)
    raw_detection = form.get("MachineDetection") or None
    machine_detection = None
    if raw_detection is not None and raw_detection.strip().lower() != "none":
        machine_detection = amd_params(raw_detection).mode
    return NewCall(
        to_number=to,
        from_number=from_,
        url=url,
        method=ctx.parse_method(form.get("Method"), "Method"),
        twiml=twiml,
        fallback_url=_opt_url(form, "FallbackUrl"),
        fallback_method=ctx.parse_method(form.get("FallbackMethod"), "FallbackMethod"),
        status_callback=_opt_url(form, "StatusCallback"),
        status_callback_method=ctx.parse_method(form.get("StatusCallbackMethod"), "StatusCallbackMethod"),
        status_callback_events=tuple(dict.fromkeys(events)),
        send_digits=send_digits,
        timeout_s=ctx.parse_int(form.get("Timeout"), "Timeout", 60, 1, 600, ApiCode.INVALID_TIMEOUT),
        time_limit_s=ctx.parse_int(form.get("TimeLimit"), "TimeLimit", 14400, 1, 86400, ApiCode.INVALID_TIMEOUT),
        record=ctx.parse_bool(form.get("Record"), "Record"),
        recording_channels=ctx.parse_enum(form.get("RecordingChannels"), "RecordingChannels", ("mono", "dual"), "mono"),
        recording_track=ctx.parse_enum(
            form.get("RecordingTrack"), "RecordingTrack", ("inbound", "outbound", "both"), "both"
        ),
        recording_status_callback=_opt_url(form, "RecordingStatusCallback"),
        recording_status_callback_method=ctx.parse_method(
            form.get("RecordingStatusCallbackMethod"), "RecordingStatusCallbackMethod"
        ),
        recording_status_callback_events=tuple(dict.fromkeys(rec_events)),
        trim=ctx.parse_enum(form.get("Trim"), "Trim", ("trim-silence", "do-not-trim"), "trim-silence"),
        machine_detection=machine_detection,
        # The thresholds are checked (and stored) without MachineDetection too, here in the
        # order of the parameters: the first bad one names the error.
        machine_detection_timeout_s=(amd := amd_params(machine_detection or AmdMode.ENABLE, form)).timeout_ms // 1000,
        machine_detection_speech_threshold_ms=amd.speech_threshold_ms,
        machine_detection_speech_end_threshold_ms=amd.speech_end_threshold_ms,
        machine_detection_silence_timeout_ms=amd.silence_timeout_ms,
        async_amd=ctx.parse_bool(form.get("AsyncAmd"), "AsyncAmd"),
        async_amd_status_callback=_opt_url(form, "AsyncAmdStatusCallback"),
        async_amd_status_callback_method=ctx.parse_method(
            form.get("AsyncAmdStatusCallbackMethod"), "AsyncAmdStatusCallbackMethod"
        ),
        caller_id=form.get("CallerId") or None,
        sip_auth_username=sip_auth[0] if sip_auth else None,
        sip_auth_password=sip_auth[1] if sip_auth else None,
    )


def parse_update(form: MultiMapping[str]) -> CallUpdate:
    refuse(form, "UpdateCall")
    status = form.get("Status") or None
    if status is not None and status not in ("canceled", "completed"):
        raise BadRequest(f"Status must be canceled or completed, got {status!r}", code=ApiCode.INVALID_CALL_STATE)
    url = _opt_url(form, "Url")
    twiml = form.get("Twiml") or None
    if url is not None and twiml is not None:
        raise BadRequest("Url and Twiml are mutually exclusive.", code=ApiCode.INVALID_URL)
    if twiml is not None:
        if len(twiml) > 4000:
            raise BadRequest("Twiml must be 4000 characters or fewer.", code=ApiCode.INVALID_URL)
        check_twiml(twiml)
    time_limit = form.get("TimeLimit")
    return CallUpdate(
        status=status,
        url=url,
        method=ctx.parse_method(form.get("Method"), "Method") if form.get("Method") else None,
        twiml=twiml,
        fallback_url=_opt_url(form, "FallbackUrl"),
        fallback_method=ctx.parse_method(form.get("FallbackMethod"), "FallbackMethod")
        if form.get("FallbackMethod")
        else None,
        status_callback=_opt_url(form, "StatusCallback"),
        status_callback_method=ctx.parse_method(form.get("StatusCallbackMethod"), "StatusCallbackMethod")
        if form.get("StatusCallbackMethod")
        else None,
        time_limit_s=ctx.parse_int(time_limit, "TimeLimit", 0, 1, 86400, ApiCode.INVALID_TIMEOUT)
        if time_limit
        else None,
    )


async def create_call(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    svc = ctx.services(request)
    form = await ctx.form(request)
    new = parse_new_call(form)
    application_sid = (form.get("ApplicationSid") or "").strip()
    if application_sid:
        app = await svc.store.lookup(get_application, application_sid, project.sid)
        new = with_application(new, app, application_sid)
    call = await svc.calls.create(project, new)
    return web.json_response(call_json(call, ctx.prefix(request)), status=201)


async def list_calls(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    svc = ctx.services(request)
    q = request.query
    status = q.get("Status") or None
    if status is not None and status not in CALL_STATUSES:
        raise BadRequest(
            f"Status must be one of {', '.join(CALL_STATUSES)}, got {status!r}", code=ApiCode.INVALID_PARAMETER
        )
    paging = ctx.parse_paging(q)
    flt = CallFilter(
        account_sid=project.sid,
        to_number=q.get("To") or None,
        from_number=q.get("From") or None,
        statuses=state.stored_statuses(status) if status is not None else (),
        parent_call_sid=q.get("ParentCallSid") or None,
        start_time=ctx.parse_time_filter(q, "StartTime"),
        end_time=ctx.parse_time_filter(q, "EndTime"),
    )
    # Unfiltered pages walk the (account, date_created, sid) index: their cost is bounded by the
    # page, so on SQLite they are read inline; filtered ones may scan and go to a reader thread.
    unfiltered = flt == CallFilter(account_sid=project.sid)
    bounded = unfiltered and (paging.after_sid is not None or paging.page * paging.page_size <= 1000)
    read = svc.store.lookup if bounded else svc.store.read
    versions, more = await read(list_call_versions, flt, paging.page_size, paging.page, paging.after_sid)
    page_key = (request.path_qs, tuple(versions), more)
    body = svc.pages.get(page_key)
    if body is None:
        body = await _render_page(request, svc, project, versions, more, paging)
        svc.pages.put(page_key, body)
    return web.Response(body=body, content_type="application/json", charset="utf-8")


async def _render_page(
    request: web.Request,
    svc: ctx.ApiServices,
    project: ProjectRecord,
    versions: list[CallVersion],
    more: bool,
    paging: ctx.Paging,
) -> bytes:
    pfx = ctx.prefix(request)
    rows = svc.rendered
    missing = [sid for sid, version in versions if not rows.has((sid, version, pfx))]
    fetched = {c.sid: c for c in await svc.store.lookup(get_calls, missing)} if missing else {}
    items: list[bytes] = []
    last_sid = None
    for sid, version in versions:
        item = rows.get((sid, version, pfx))
        if item is None:
            call = fetched.get(sid) or await svc.store.lookup(get_call, sid, project.sid)  # evicted meanwhile
            if call is None:
                continue  # deleted meanwhile
            # Under the listed version: if the row changed since, this JSON is newer, never older.
            item = rows.render((sid, version, pfx), functools.partial(call_json, call, pfx))
        items.append(item)
        last_sid = sid
    meta = page_meta(
        len(items),
        path=request.path,
        query=ctx.filters_of(request.query),
        page=paging.page,
        page_size=paging.page_size,
        next_token=("PA" + last_sid) if more and last_sid else None,
    )
    return envelope("calls", items, meta)


async def fetch_call(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    svc = ctx.services(request)
    call = await svc.calls.get(project, request.match_info["sid"], request.path)
    pfx = ctx.prefix(request)
    body = svc.rendered.render((call.sid, str(call.date_updated), pfx), functools.partial(call_json, call, pfx))
    return web.Response(body=body, content_type="application/json", charset="utf-8")


async def update_call(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    upd = parse_update(await ctx.form(request))
    call = await ctx.services(request).calls.update(project, request.match_info["sid"], upd, request.path)
    return web.json_response(call_json(call, ctx.prefix(request)))


async def delete_call(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    await ctx.services(request).calls.delete(project, request.match_info["sid"], request.path)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}"
        app.router.add_route("POST", f"{base}/Calls{ctx.JSON_EXT}", create_call)
        app.router.add_route("GET", f"{base}/Calls{ctx.JSON_EXT}", list_calls)
        app.router.add_route("GET", f"{base}/Calls/{ctx.SID}{ctx.JSON_EXT}", fetch_call)
        app.router.add_route("POST", f"{base}/Calls/{ctx.SID}{ctx.JSON_EXT}", update_call)
        app.router.add_route("DELETE", f"{base}/Calls/{ctx.SID}{ctx.JSON_EXT}", delete_call)
