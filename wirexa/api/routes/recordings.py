"""Recordings: account, call and conference level resources, and media (.wav/.mp3: GET, HEAD and
byte ranges, from the disk or the bucket) with 202 while recording or converting. A conference's
recording (<Conference record>) runs from the room's start to its end: it cannot be paused,
resumed or stopped (its update refuses Status and PauseBehavior)."""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from wirexa.api import context as ctx
from wirexa.api.parameters import refuse
from wirexa.api.serializers import error_json, recording_json
from wirexa.calls.records import RecordingOptions
from wirexa.calls.statuses import (
    CAPTURING_RECORDING,
    RECORDING_CALLBACK_EVENTS,
    RECORDING_UPDATES,
    UNFINISHED_RECORDING,
    MediaState,
    RecordingStatus,
)
from wirexa.errors import ApiCode, BadRequest, NotFound, ServiceUnavailable
from wirexa.media.recording import Mp3Converter
from wirexa.media.storage import (
    Locator,
    RangeNotSatisfiable,
    locator,
    parse_range,
    recording_key,
    remote_from_settings,
    remove_files,
)
from wirexa.store.repo import CallRecord, ProjectRecord, RecordingRecord
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.conferences import get_conference
from wirexa.store.repo.recordings import delete_recording, first_completed_recording, get_recording, list_recordings

log = logging.getLogger(__name__)

MP3 = web.AppKey("mp3", Mp3Converter)
LOCATE: web.AppKey[Locator] = web.AppKey("locate")
WAV, MPEG = "audio/x-wav", "audio/mpeg"


def _accepted(message: str) -> web.Response:
    """202 with the error body the API uses everywhere (Twilio's keys plus the doc's `detail`)."""
    return web.json_response(error_json(202, message, 202), status=202, headers={"Retry-After": "1"})


async def _media(request: web.Request, rec: RecordingRecord, ext: str) -> web.StreamResponse:
    """Serve the WAV or MP3 of a recording (GET and HEAD, single byte ranges); 202 while it is
    recorded or its MP3 is made. Local copies first, then the bucket (proxied or redirected)."""
    if rec.status in UNFINISHED_RECORDING or not (rec.wav_path or rec.storage_url):
        return _accepted("Recording is still being processed")
    wav = Path(rec.wav_path) if rec.wav_path else None
    if ext != ".mp3":
        if wav is not None and wav.exists():
            return _file(wav, WAV)
        return await serve_remote(request, rec, ".wav", WAV)
    mp3 = Path(rec.mp3_path) if rec.mp3_path else (wav.with_suffix(".mp3") if wav else None)
    if mp3 is not None and mp3.exists():
        return _file(mp3, MPEG)
    if rec.media_state == MediaState.PENDING:
        return _accepted("Recording is being converted to MP3")
    if rec.storage_url:
        return await serve_remote(request, rec, ".mp3", MPEG)
    if wav is None or not wav.exists():
        raise ctx.not_found(request)
    # A recording the media job never saw (saved before it, or by an engine without it).
    conv = request.config_dict[MP3]
    state = conv.state(wav)
    if state == "failed":
        raise NotFound("The MP3 of this recording could not be made", code=ApiCode.NOT_FOUND)
    if state != "ready":
        conv.start(wav)
        return _accepted("Recording is being converted to MP3")
    return _file(conv.mp3_path(wav), MPEG)


def _file(path: Path, content_type: str) -> web.FileResponse:
    # aiohttp's FileResponse answers HEAD, Range (206 / 416), If-Range and conditional requests.
    return web.FileResponse(path, headers={"Content-Type": content_type, "Accept-Ranges": "bytes"})


async def serve_remote(request: web.Request, rec: RecordingRecord, ext: str, content_type: str) -> web.StreamResponse:
    """A file held only in the bucket: a 302 to a presigned URL (s3_serve = redirect), or the
    bytes streamed through (proxy), with HEAD and a single Range as for a local file. Also the
    console's player's (its app is a sub-app of the API's: the keys are read through config_dict)."""
    if not rec.storage_url:
        raise ctx.not_found(request)
    settings = ctx.services(request).settings
    store = request.config_dict[LOCATE](rec.storage_url)
    key = recording_key(rec.account_sid, rec.sid, ext)
    info = await store.stat(key)
    if info is None:
        raise ctx.not_found(request)
    if settings.recordings_s3_serve == "redirect":
        url = await store.presign(key, settings.recordings_s3_url_expiry_s)
        if url is not None:
            raise web.HTTPFound(url)
    headers = {"Content-Type": content_type, "Accept-Ranges": "bytes"}
    try:
        span = parse_range(request.headers.get("Range"), info.size)
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{info.size}"
        return web.Response(status=416, headers=headers)
    start, end = span if span is not None else (0, info.size - 1)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
    response = web.StreamResponse(status=206 if span is not None else 200, headers=headers)
    response.content_length = end - start + 1 if info.size else 0
    await response.prepare(request)
    if request.method != "HEAD" and info.size:
        async for block in store.read(key, start, end):
            await response.write(block)
    await response.write_eof()
    return response


async def _media_project(request: web.Request) -> ProjectRecord | None:
    """Who asks for media: nobody needs credentials unless recordings_media_auth is set."""
    required = ctx.services(request).settings.recordings_media_auth
    return await ctx.authenticate(request, optional=not required)


def _owned(request: web.Request, rec: RecordingRecord, project: ProjectRecord | None) -> RecordingRecord:
    if project is not None and ctx.services(request).settings.recordings_media_auth and rec.account_sid != project.sid:
        raise ctx.not_found(request)
    return rec


async def _get_rec(
    request: web.Request, project: ProjectRecord | None, call_sid: str | None = None, conference_sid: str | None = None
) -> RecordingRecord:
    svc = ctx.services(request)
    account = project.sid if project else request.match_info.get("account")
    rec = await svc.store.lookup(get_recording, request.match_info["sid"], account, call_sid)
    if rec is None or (conference_sid is not None and rec.conference_sid != conference_sid):
        raise ctx.not_found(request)
    return rec


def _media_base(request: web.Request) -> str:
    return str(ctx.services(request).settings.base_url)


async def account_recording(request: web.Request) -> web.StreamResponse:
    ext = request.match_info.get("ext") or ""
    # No extension is the audio (WAV), as Twilio's media_url; media is readable without
    # credentials (as on Twilio) unless recordings_media_auth, the .json metadata needs them.
    media = ext != ".json"
    project = await (_media_project(request) if media else ctx.authenticate(request))
    rec = await _get_rec(request, project)
    if media:
        return await _media(request, rec, ext or ".wav")
    ctx.parse_bool(request.query.get("IncludeSoftDeleted"), "IncludeSoftDeleted")  # none is soft-deleted
    return web.json_response(
        recording_json(rec, ctx.prefix(request), call_level=False, media_base=_media_base(request))
    )


async def delete_account_recording(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    rec = await _get_rec(request, project)
    await _delete(request, rec)
    return web.Response(status=204)


async def _delete(request: web.Request, rec: RecordingRecord) -> None:
    """Files first, everywhere (the bucket, then the disk), then the row: when the bucket cannot
    be reached the recording stays, whole, and the customer can delete it again."""
    try:
        await remove_files(rec, request.config_dict[LOCATE])
    except Exception as exc:  # noqa: BLE001 - botocore's errors and ours, mapped at this edge
        log.error("deleting the files of recording %s failed: %s", rec.sid, exc)
        raise ServiceUnavailable("The recording's files could not be deleted from storage; try again") from exc
    await ctx.services(request).store.write(delete_recording, rec.sid)


async def list_account_recordings(request: web.Request) -> web.Response:
    """The project's recordings (CallSid: one call's, ConferenceSid: one conference's). Wirexa
    deletes recordings at once (IncludeSoftDeleted finds no more)."""
    project = await ctx.require_project(request)
    q = request.query
    ctx.parse_bool(q.get("IncludeSoftDeleted"), "IncludeSoftDeleted")
    return await _list(request, project, q.get("CallSid") or None, conference_sid=q.get("ConferenceSid") or None)


async def _list(
    request: web.Request,
    project: ProjectRecord,
    call_sid: str | None,
    call_level: bool = False,
    conference_sid: str | None = None,
    conference_level: bool = False,
) -> web.Response:
    """A page of recordings."""
    svc = ctx.services(request)
    paging = ctx.parse_paging(request.query)
    date_created = ctx.parse_time_filter(request.query, "DateCreated")
    recs, more = await svc.store.read(
        lambda: list_recordings(
            project.sid, paging.page_size, paging.page, paging.after_sid, call_sid, date_created, conference_sid
        )
    )
    pfx = ctx.prefix(request)
    base = _media_base(request)
    return ctx.page_response(
        request,
        "recordings",
        [
            recording_json(r, pfx, call_level=call_level, media_base=base, conference_level=conference_level)
            for r in recs
        ],
        paging,
        recs[-1].sid if more and recs else None,
    )


async def _call_of(request: web.Request, project: ProjectRecord) -> CallRecord:
    svc = ctx.services(request)
    call = await svc.store.read(get_call, request.match_info["call"], project.sid)
    if call is None:
        raise ctx.not_found(request)
    return call


async def list_call_recordings(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    return await _list(request, project, call.sid, call_level=True)


async def create_call_recording(request: web.Request) -> web.Response:
    """Start recording a live call (StartCallRecordingAPI): the call's session records it from
    now until it is stopped or the call ends; 21220 when the call is not in progress here."""
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    form = await ctx.form(request)
    refuse(form, "CreateCallRecording")
    events = ctx.parse_list(form, "RecordingStatusCallbackEvent") or [str(RecordingStatus.COMPLETED)]
    for event in events:
        ctx.parse_enum(event, "RecordingStatusCallbackEvent", RECORDING_CALLBACK_EVENTS, "")
    options = RecordingOptions(
        source="StartCallRecordingAPI",
        channels=2
        if ctx.parse_enum(form.get("RecordingChannels"), "RecordingChannels", ("mono", "dual"), "mono") == "dual"
        else 1,
        track=ctx.parse_enum(form.get("RecordingTrack"), "RecordingTrack", ("inbound", "outbound", "both"), "both"),
        trim=ctx.parse_enum(form.get("Trim"), "Trim", ("trim-silence", "do-not-trim"), "do-not-trim"),
        status_callback=ctx.opt_url(form, "RecordingStatusCallback"),
        status_callback_method=ctx.parse_method(
            form.get("RecordingStatusCallbackMethod"), "RecordingStatusCallbackMethod"
        ),
        status_callback_events=tuple(events),
    )
    rec = await ctx.services(request).calls.start_recording(call, options)
    return web.json_response(
        recording_json(rec, ctx.prefix(request), call_level=True, media_base=_media_base(request)), status=201
    )


async def call_recording(request: web.Request) -> web.StreamResponse:
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    rec = await _get_rec(request, project, call.sid)
    ext = request.match_info.get("ext") or ""
    if ext in (".wav", ".mp3"):
        return await _media(request, rec, ext)
    return web.json_response(recording_json(rec, ctx.prefix(request), call_level=True, media_base=_media_base(request)))


async def update_call_recording(request: web.Request) -> web.Response:
    """Pause (PauseBehavior skip|silence, default silence as Twilio), resume or stop a live call
    recording; the recording sid may be `Twilio.CURRENT` (the call's latest live recording)."""
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    form = await ctx.form(request)
    refuse(form, "UpdateCallRecording")
    status = ctx.parse_enum(form.get("Status"), "Status", RECORDING_UPDATES, "", code=ApiCode.INVALID_CALL_STATE)
    if not status:
        raise BadRequest("Status is required", code=ApiCode.INVALID_PARAMETER)
    behavior = ctx.parse_enum(form.get("PauseBehavior"), "PauseBehavior", ("skip", "silence"), "silence")
    svc = ctx.services(request)
    if request.match_info["sid"] == "Twilio.CURRENT":
        recs, _ = await svc.store.read(lambda: list_recordings(project.sid, 50, call_sid=call.sid))
        live = [r for r in recs if r.status in CAPTURING_RECORDING]
        if not live:
            raise ctx.not_found(request)
        rec = max(live, key=lambda r: (r.date_created, r.sid))
    else:
        rec = await _get_rec(request, project, call.sid)
    rec = await svc.calls.update_recording(call, rec, status, behavior)
    return web.json_response(recording_json(rec, ctx.prefix(request), call_level=True, media_base=_media_base(request)))


async def delete_call_recording(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    rec = await _get_rec(request, project, call.sid)
    await _delete(request, rec)
    return web.Response(status=204)


async def _conference_of(request: web.Request, project: ProjectRecord) -> str:
    """The conference the path names (a room of the project, live or ended), else 404."""
    sid = request.match_info["conference"]
    room = await ctx.services(request).store.lookup(get_conference, sid)
    if room is None or room.account_sid != project.sid:
        raise ctx.not_found(request)
    return sid


async def list_conference_recordings(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    ctx.parse_paging(request.query)
    ctx.parse_time_filter(request.query, "DateCreated")
    conference = await _conference_of(request, project)
    return await _list(request, project, None, conference_sid=conference, conference_level=True)


async def conference_recording(request: web.Request) -> web.StreamResponse:
    project = await ctx.require_project(request)
    conference = await _conference_of(request, project)
    rec = await _get_rec(request, project, conference_sid=conference)
    ext = request.match_info.get("ext") or ""
    if ext in (".wav", ".mp3"):
        return await _media(request, rec, ext)
    body = recording_json(
        rec, ctx.prefix(request), call_level=False, media_base=_media_base(request), conference_level=True
    )
    return web.json_response(body)


async def update_conference_recording(request: web.Request) -> web.Response:
    """Status/PauseBehavior are refused (the recording runs from the room's start to its end)."""
    project = await ctx.require_project(request)
    form = await ctx.form(request)
    refuse(form, "UpdateConferenceRecording")
    conference = await _conference_of(request, project)
    await _get_rec(request, project, conference_sid=conference)
    raise BadRequest("Status is required", code=ApiCode.INVALID_PARAMETER)


async def delete_conference_recording(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    conference = await _conference_of(request, project)
    rec = await _get_rec(request, project, conference_sid=conference)
    await _delete(request, rec)
    return web.Response(status=204)


async def public_media(request: web.Request) -> web.StreamResponse:
    """/recordings/{RecordingSid}[.wav|.mp3] (no extension: WAV), as the product doc shows."""
    project = await _media_project(request)
    rec = await ctx.services(request).store.lookup(get_recording, request.match_info["sid"])
    if rec is None:
        raise ctx.not_found(request)
    return await _media(request, _owned(request, rec, project), request.match_info.get("ext") or ".wav")


async def public_call_media(request: web.Request) -> web.StreamResponse:
    """/recordings/call/{CallSid}.mp3|.wav: the call's first completed recording."""
    project = await _media_project(request)
    rec = await ctx.services(request).store.read(first_completed_recording, request.match_info["call"])
    if rec is None:
        raise ctx.not_found(request)
    return await _media(request, _owned(request, rec, project), request.match_info.get("ext") or ".wav")


def add_routes(app: web.Application) -> None:
    """The routes, and the media's helpers from the settings: the on-request MP3 converter and
    the bucket (recordings_s3_*), if one is configured."""
    settings = app[ctx.SERVICES].settings
    app[MP3] = Mp3Converter()
    app[LOCATE] = locator(settings, remote_from_settings(settings))
    media = r"{ext:(\.json|\.wav|\.mp3)?}"
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}"
        app.router.add_route("GET", f"{base}/Recordings{ctx.JSON_EXT}", list_account_recordings)
        for method in ("GET", "HEAD"):
            app.router.add_route(method, f"{base}/Recordings/{ctx.SID}{media}", account_recording)
        app.router.add_route("DELETE", f"{base}/Recordings/{ctx.SID}{ctx.JSON_EXT}", delete_account_recording)
        call = base + "/Calls/{call:[^/.]+}/Recordings"
        app.router.add_route("GET", f"{call}{ctx.JSON_EXT}", list_call_recordings)
        app.router.add_route("POST", f"{call}{ctx.JSON_EXT}", create_call_recording)
        for method in ("GET", "HEAD"):
            app.router.add_route(method, f"{call}/{ctx.SID}{media}", call_recording)
        app.router.add_route("POST", f"{call}/{{sid:Twilio\\.CURRENT}}{ctx.JSON_EXT}", update_call_recording)
        app.router.add_route("POST", f"{call}/{ctx.SID}{ctx.JSON_EXT}", update_call_recording)
        app.router.add_route("DELETE", f"{call}/{ctx.SID}{ctx.JSON_EXT}", delete_call_recording)
        conf = base + "/Conferences/{conference:[^/.]+}/Recordings"
        app.router.add_route("GET", f"{conf}{ctx.JSON_EXT}", list_conference_recordings)
        for method in ("GET", "HEAD"):
            app.router.add_route(method, f"{conf}/{ctx.SID}{media}", conference_recording)
        app.router.add_route("POST", f"{conf}/{ctx.SID}{ctx.JSON_EXT}", update_conference_recording)
        app.router.add_route("DELETE", f"{conf}/{ctx.SID}{ctx.JSON_EXT}", delete_conference_recording)
    for method in ("GET", "HEAD"):
        app.router.add_route(method, r"/recordings/call/{call:[^/.]+}{ext:(\.wav|\.mp3)}", public_call_media)
        app.router.add_route(method, r"/recordings/{sid:[^/.]+}{ext:(\.wav|\.mp3)?}", public_media)
