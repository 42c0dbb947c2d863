"""Transcriptions (of <Record transcribe> recordings): account and recording level list, fetch
(.json, or .txt: the text alone, as Twilio's) and delete."""

from __future__ import annotations

from aiohttp import web

from wirexa.api import context as ctx
from wirexa.api.serializers import transcription_json
from wirexa.store.repo import ProjectRecord, TranscriptionRecord
from wirexa.store.repo.recordings import get_recording
from wirexa.store.repo.transcriptions import delete_transcription, get_transcription, page_transcriptions


async def _recording_sid(request: web.Request, project: ProjectRecord) -> str | None:
    """The path's recording (which must be the project's), None at the account level."""
    sid = request.match_info.get("recording")
    if sid is None:
        return None
    rec = await ctx.services(request).store.lookup(get_recording, sid, project.sid)
    if rec is None:
        raise ctx.not_found(request)
    return rec.sid


async def list_transcriptions(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    recording_sid = await _recording_sid(request, project)
    paging = ctx.parse_paging(request.query)
    found, more = await ctx.services(request).store.read(
        page_transcriptions, project.sid, paging.page_size, paging.page, paging.after_sid, recording_sid
    )
    pfx = ctx.prefix(request)
    return ctx.page_response(
        request,
        "transcriptions",
        [transcription_json(t, pfx) for t in found],
        paging,
        found[-1].sid if more and found else None,
    )


async def _get(request: web.Request) -> TranscriptionRecord:
    project = await ctx.require_project(request)
    recording_sid = await _recording_sid(request, project)
    tr = await ctx.services(request).store.lookup(
        get_transcription, request.match_info["sid"], project.sid, recording_sid
    )
    if tr is None:
        raise ctx.not_found(request)
    return tr


async def fetch_transcription(request: web.Request) -> web.Response:
    tr = await _get(request)
    if request.match_info.get("ext") == ".txt":
        return web.Response(text=tr.transcription_text or "", content_type="text/plain")
    return web.json_response(transcription_json(tr, ctx.prefix(request)))


async def delete_transcription_route(request: web.Request) -> web.Response:
    tr = await _get(request)
    await ctx.services(request).store.write(delete_transcription, tr.sid)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    """Both prefixes, as the Recordings routes."""
    instance = r"{ext:(\.json|\.txt)?}"
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}"
        for path in (f"{base}/Transcriptions", base + "/Recordings/{recording:[^/.]+}/Transcriptions"):
            app.router.add_route("GET", f"{path}{ctx.JSON_EXT}", list_transcriptions)
            app.router.add_route("GET", f"{path}/{ctx.SID}{instance}", fetch_transcription)
            app.router.add_route("DELETE", f"{path}/{ctx.SID}{ctx.JSON_EXT}", delete_transcription_route)
