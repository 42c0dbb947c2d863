"""Queues and their Members (reference voice-next §3.4, §3.5): a project's call queues (also
created on demand by <Enqueue>), and the calls waiting in them, which live on the engine that
runs them (calls/queues.py): current_size, average_wait_time and the members are read from it.

Decisions where Twilio is silent: a queue's FriendlyName is unique in its project (<Enqueue>
finds a queue by that name), so a second queue of the same name is a 400; a queue with callers
waiting in it cannot be deleted (400): they would be left in a queue nobody can reach."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiMapping

from wirexa.api import context as ctx
from wirexa.api.serializers import member_json, queue_json
from wirexa.calls.queues import MemberInfo, QueueStats
from wirexa.errors import ApiCode, BadRequest
from wirexa.store.repo.queues import (
    DEFAULT_MAX_SIZE,
    MAX_MAX_SIZE,
    QueueRecord,
    delete_queue,
    get_queue,
    insert_queue,
    list_queues,
    queue_by_name,
    update_queue,
)

MAX_FRIENDLY_NAME = 64
FRONT = "Front"  # the Members resource's name for the member at the front of the queue


def _stats(request: web.Request, sid: str) -> QueueStats:
    queues = ctx.services(request).queues
    return queues.stats(sid) if queues is not None else QueueStats(0, 0)


def _members(request: web.Request, sid: str) -> list[MemberInfo]:
    queues = ctx.services(request).queues
    return queues.members(sid) if queues is not None else []


def _render(request: web.Request, queue: QueueRecord) -> dict[str, object]:
    stats = _stats(request, queue.sid)
    return queue_json(queue, ctx.prefix(request), stats.current_size, stats.average_wait_time_s)


def parse_queue_name(form: MultiMapping[str], required: bool) -> str | None:
    if "FriendlyName" not in form and not required:
        return None
    name = (form.get("FriendlyName") or "").strip()
    if not name:
        raise BadRequest("Missing required parameter FriendlyName in the post body", code=ApiCode.INVALID_PARAMETER)
    if len(name) > MAX_FRIENDLY_NAME:
        raise BadRequest(
            f"FriendlyName must be {MAX_FRIENDLY_NAME} characters or fewer", code=ApiCode.INVALID_PARAMETER
        )
    return name


def parse_max_size(form: MultiMapping[str]) -> int | None:
    if not (form.get("MaxSize") or "").strip():
        return None
    return ctx.parse_int(form.get("MaxSize"), "MaxSize", DEFAULT_MAX_SIZE, 1, MAX_MAX_SIZE, ApiCode.INVALID_PARAMETER)


def queue_name_taken(name: str) -> BadRequest:
    return BadRequest(f"A queue named {name!r} already exists", code=ApiCode.INVALID_PARAMETER)


async def create_queue(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    form = await ctx.form(request)
    name = parse_queue_name(form, required=True)
    assert name is not None
    max_size = parse_max_size(form) or DEFAULT_MAX_SIZE
    queue = await ctx.services(request).store.write(insert_queue, project.sid, name, max_size)
    if queue is None:
        raise queue_name_taken(name)
    return web.json_response(_render(request, queue), status=201)


async def list_queues_(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    paging = ctx.parse_paging(request.query)
    queues, more = await ctx.services(request).store.read(
        list_queues, project.sid, paging.page_size, paging.page, paging.after_sid
    )
    return ctx.page_response(
        request, "queues", [_render(request, q) for q in queues], paging, queues[-1].sid if more and queues else None
    )


async def _queue(request: web.Request) -> QueueRecord:
    project = await ctx.require_project(request)
    sid = request.match_info.get("sid") or request.match_info["queue"]
    queue: QueueRecord | None = await ctx.services(request).store.lookup(get_queue, sid, project.sid)
    if queue is None:
        raise ctx.not_found(request)
    return queue


async def fetch_queue(request: web.Request) -> web.Response:
    return web.json_response(_render(request, await _queue(request)))


async def update_queue_(request: web.Request) -> web.Response:
    queue = await _queue(request)
    form = await ctx.form(request)
    fields: dict[str, object] = {}
    name = parse_queue_name(form, required=False)
    if name is not None:
        fields["friendly_name"] = name
    max_size = parse_max_size(form)
    if max_size is not None:
        fields["max_size"] = max_size

    def update() -> QueueRecord | str | None:
        if name is not None and name != queue.friendly_name:
            if queue_by_name(queue.account_sid, name) is not None:
                return "taken"
        return update_queue(queue.sid, **fields) if fields else get_queue(queue.sid)

    result = await ctx.services(request).store.write(update)
    if result == "taken":
        raise queue_name_taken(str(name))
    if not isinstance(result, QueueRecord):
        raise ctx.not_found(request)
    return web.json_response(_render(request, result))


async def delete_queue_(request: web.Request) -> web.Response:
    queue = await _queue(request)
    if _stats(request, queue.sid).current_size:
        raise BadRequest(f"Queue {queue.sid} has callers waiting: dequeue them first", code=ApiCode.INVALID_PARAMETER)
    if not await ctx.services(request).store.write(delete_queue, queue.sid):
        raise ctx.not_found(request)
    return web.Response(status=204)


async def list_members(request: web.Request) -> web.Response:
    queue = await _queue(request)
    paging = ctx.parse_paging(request.query)
    members = _members(request, queue.sid)
    start = paging.page * paging.page_size
    if paging.after_sid is not None:
        after = [i for i, m in enumerate(members) if m.call_sid == paging.after_sid]
        start = after[0] + 1 if after else start
    page = members[start : start + paging.page_size]
    more = start + paging.page_size < len(members)
    pfx = ctx.prefix(request)
    return ctx.page_response(
        request, "queue_members", [member_json(m, pfx) for m in page], paging, page[-1].call_sid if more else None
    )


def _member(request: web.Request, queue: QueueRecord) -> MemberInfo:
    call_sid = request.match_info["call"]
    for member in _members(request, queue.sid):
        if call_sid == FRONT or member.call_sid == call_sid:
            return member
    raise ctx.not_found(request)


async def fetch_member(request: web.Request) -> web.Response:
    queue = await _queue(request)
    return web.json_response(member_json(_member(request, queue), ctx.prefix(request)))


async def dequeue_member(request: web.Request) -> web.Response:
    """POST Url (and Method): the member's call leaves the queue and runs that document."""
    queue = await _queue(request)
    form = await ctx.form(request)
    url = ctx.opt_url(form, "Url")
    if url is None:
        raise BadRequest("Missing required parameter Url in the post body", code=ApiCode.INVALID_URL)
    method = ctx.parse_method(form.get("Method"), "Method")
    member = _member(request, queue)
    queues = ctx.services(request).queues
    assert queues is not None  # a member exists only where queues run
    moved = queues.redirect_member(queue.sid, member.call_sid, url, method)
    if moved is None:  # it left meanwhile
        raise ctx.not_found(request)
    return web.json_response(member_json(moved, ctx.prefix(request)))


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}/Queues"
        app.router.add_route("POST", f"{base}{ctx.JSON_EXT}", create_queue)
        app.router.add_route("GET", f"{base}{ctx.JSON_EXT}", list_queues_)
        app.router.add_route("GET", f"{base}/{ctx.SID}{ctx.JSON_EXT}", fetch_queue)
        app.router.add_route("POST", f"{base}/{ctx.SID}{ctx.JSON_EXT}", update_queue_)
        app.router.add_route("DELETE", f"{base}/{ctx.SID}{ctx.JSON_EXT}", delete_queue_)
        members = base + "/{queue:[^/.]+}/Members"
        app.router.add_route("GET", f"{members}{ctx.JSON_EXT}", list_members)
        app.router.add_route("GET", members + "/{call:[^/.]+}" + ctx.JSON_EXT, fetch_member)
        app.router.add_route("POST", members + "/{call:[^/.]+}" + ctx.JSON_EXT, dequeue_member)
