"""Recordings: account and call level resources, and media (.wav/.mp3) with 202 while converting."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from wirexa.api import context as ctx
from wirexa.api.serializers import page_json, recording_json
from wirexa.errors import BadRequest, NotFound
from wirexa.media.recording import Mp3Converter
from wirexa.store import repo
from wirexa.store.repo import ProjectRecord, RecordingRecord

MP3 = web.AppKey("mp3", Mp3Converter)


def _not_found(request: web.Request) -> NotFound:
    return NotFound(f"The requested resource {request.path} was not found")


async def _media(request: web.Request, rec: RecordingRecord, ext: str) -> web.StreamResponse:
    """Serve the WAV or MP3 of a recording; 202 while it is recorded or converted."""
    if rec.status in ("in-progress", "paused", "processing") or not rec.wav_path:
        return web.json_response(
            {"status": 202, "message": "Recording is still being processed", "detail": "Recording is still being processed"},
            status=202,
            headers={"Retry-After": "1"},
        )
    wav = Path(rec.wav_path)
    if not wav.exists():
        raise _not_found(request)
    if ext == ".mp3":
        conv = request.app[MP3]
        state = conv.state(wav)
        if state == "failed":
            raise NotFound("The MP3 of this recording could not be made", code=20404)
        if state != "ready":
            conv.start(wav)
            return web.json_response(
                {"status": 202, "message": "Recording is being converted to MP3", "detail": "Recording is being converted to MP3"},
                status=202,
                headers={"Retry-After": "1"},
            )
        return web.FileResponse(conv.mp3_path(wav), headers={"Content-Type": "audio/mpeg"})
    return web.FileResponse(wav, headers={"Content-Type": "audio/x-wav"})


async def _get_rec(request: web.Request, project: ProjectRecord | None, call_sid: str | None = None) -> RecordingRecord:
    svc = ctx.services(request)
    account = project.sid if project else request.match_info.get("account")
    rec = await svc.store.lookup(repo.get_recording, request.match_info["sid"], account, call_sid)
    if rec is None:
        raise _not_found(request)
    return rec


def _media_base(request: web.Request) -> str:
    return str(ctx.services(request).settings.base_url)


async def account_recording(request: web.Request) -> web.StreamResponse:
    ext = request.match_info.get("ext") or ""
    # No extension is the audio (WAV), as Twilio's media_url; media is readable without
    # credentials (as on Twilio), the .json metadata needs them.
    media = ext != ".json"
    project = await ctx.authenticate(request, optional=media)
    rec = await _get_rec(request, project)
    if media:
        return await _media(request, rec, ext or ".wav")
    return web.json_response(recording_json(rec, ctx.prefix(request), call_level=False, media_base=_media_base(request)))


async def delete_account_recording(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    rec = await _get_rec(request, project)
    await _delete(request, rec)
    return web.Response(status=204)


async def _delete(request: web.Request, rec: RecordingRecord) -> None:
    await ctx.services(request).store.write(repo.delete_recording, rec.sid)
    for path in (rec.wav_path, rec.mp3_path, rec.wav_path and str(Mp3Converter.mp3_path(rec.wav_path))):
        if path:
            Path(path).unlink(missing_ok=True)


async def list_account_recordings(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    return await _list(request, project, request.query.get("CallSid") or None)


async def _list(request: web.Request, project: ProjectRecord, call_sid: str | None, call_level: bool = False) -> web.Response:
    svc = ctx.services(request)
    paging = ctx.parse_paging(request.query)
    recs, more = await svc.store.read(
        repo.list_recordings,
        project.sid,
        paging.page_size,
        paging.page,
        paging.after_sid,
        call_sid,
        ctx.parse_time_filter(request.query, "DateCreated"),
    )
    pfx = ctx.prefix(request)
    body = page_json(
        "recordings",
        [recording_json(r, pfx, call_level=call_level, media_base=_media_base(request)) for r in recs],
        path=request.path,
        query=ctx.filters_of(request.query),
        page=paging.page,
        page_size=paging.page_size,
        next_token=("PA" + recs[-1].sid) if more and recs else None,
    )
    return web.json_response(body)


async def _call_of(request: web.Request, project: ProjectRecord) -> repo.CallRecord:
    svc = ctx.services(request)
    call = await svc.store.read(repo.get_call, request.match_info["call"], project.sid)
    if call is None:
        raise _not_found(request)
    return call


async def list_call_recordings(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    return await _list(request, project, call.sid, call_level=True)


async def create_call_recording(request: web.Request) -> web.Response:
    """Start recording a live call (StartCallRecordingAPI)."""
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    form = await ctx.form(request)
    if call.status != "in-progress":
        raise BadRequest("Requested resource is not eligible for recording", code=21220)
    events = ctx.parse_list(form, "RecordingStatusCallbackEvent") or ["completed"]
    svc = ctx.services(request)
    rec = await svc.store.write(
        lambda: repo.insert_recording(
            account_sid=project.sid,
            call_sid=call.sid,
            status="in-progress",
            source="StartCallRecordingAPI",
            channels=2 if form.get("RecordingChannels") == "dual" else 1,
            track=ctx.parse_enum(form.get("RecordingTrack"), "RecordingTrack", ("inbound", "outbound", "both"), "both"),
            status_callback=form.get("RecordingStatusCallback") or None,
            status_callback_method=ctx.parse_method(form.get("RecordingStatusCallbackMethod"), "RecordingStatusCallbackMethod"),
            status_callback_events=" ".join(events),
            trim=ctx.parse_enum(form.get("Trim"), "Trim", ("trim-silence", "do-not-trim"), "do-not-trim"),
            start_time=repo.utcnow(),
        )
    )
    if svc.recordings is not None:
        await svc.recordings.start(call, rec)
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
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    rec = await _get_rec(request, project, call.sid)
    form = await ctx.form(request)
    status = ctx.parse_enum(form.get("Status"), "Status", ("paused", "in-progress", "stopped"), "", code=21220)
    if not status:
        raise BadRequest("Status is required", code=20001)
    if rec.status not in ("in-progress", "paused"):
        raise BadRequest("Recording is not in progress", code=21220)
    svc = ctx.services(request)
    if svc.recordings is not None:
        await svc.recordings.update(call, rec, status)
    else:
        await svc.store.write(lambda: repo.update_recording(rec.sid, status=status))
    rec = await _get_rec(request, project, call.sid)
    return web.json_response(recording_json(rec, ctx.prefix(request), call_level=True, media_base=_media_base(request)))


async def delete_call_recording(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    call = await _call_of(request, project)
    rec = await _get_rec(request, project, call.sid)
    await _delete(request, rec)
    return web.Response(status=204)


async def public_media(request: web.Request) -> web.StreamResponse:
    """/recordings/{RecordingSid}[.wav|.mp3] (no extension: WAV), as the product doc shows."""
    rec = await ctx.services(request).store.lookup(repo.get_recording, request.match_info["sid"])
    if rec is None:
        raise _not_found(request)
    return await _media(request, rec, request.match_info.get("ext") or ".wav")


async def public_call_media(request: web.Request) -> web.StreamResponse:
    """/recordings/call/{CallSid}.mp3|.wav: the call's first completed recording."""
    rec = await ctx.services(request).store.read(repo.first_completed_recording, request.match_info["call"])
    if rec is None:
        raise _not_found(request)
    return await _media(request, rec, request.match_info.get("ext") or ".wav")


def add_routes(app: web.Application) -> None:
    app[MP3] = Mp3Converter()
    media = r"{ext:(\.json|\.wav|\.mp3)?}"
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}"
        app.router.add_route("GET", f"{base}/Recordings{ctx.JSON_EXT}", list_account_recordings)
        app.router.add_route("GET", f"{base}/Recordings/{ctx.SID}{media}", account_recording)
        app.router.add_route("DELETE", f"{base}/Recordings/{ctx.SID}{ctx.JSON_EXT}", delete_account_recording)
        call = base + "/Calls/{call:[^/.]+}/Recordings"
        app.router.add_route("GET", f"{call}{ctx.JSON_EXT}", list_call_recordings)
        app.router.add_route("POST", f"{call}{ctx.JSON_EXT}", create_call_recording)
        app.router.add_route("GET", f"{call}/{ctx.SID}{media}", call_recording)
        app.router.add_route("POST", f"{call}/{ctx.SID}{ctx.JSON_EXT}", update_call_recording)
        app.router.add_route("DELETE", f"{call}/{ctx.SID}{ctx.JSON_EXT}", delete_call_recording)
    app.router.add_route("GET", r"/recordings/call/{call:[^/.]+}{ext:(\.wav|\.mp3)}", public_call_media)
    app.router.add_route("GET", r"/recordings/{sid:[^/.]+}{ext:(\.wav|\.mp3)?}", public_media)
