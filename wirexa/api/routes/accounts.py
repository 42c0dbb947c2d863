"""Accounts: a project and its subaccounts (projects with a parent_sid). A project creates
subaccounts (each with its own SID and Auth Token), lists itself and them, fetches and renames
them, and suspends, reactivates or closes them, as on Twilio:

- The parent's credentials reach a subaccount's resources (context.account_of); a subaccount's
  never reach its parent's or a sibling's (404). Credits, limits and dialing permissions stay
  per project: a subaccount is a project.
- suspended: the subaccount's own credentials are answered 401 / 20005; its calls in progress go
  on (Twilio does not end them either), nothing new is placed: a create is refused 401 / 20005,
  a queued call ends `failed` with a 20005 notification when it leaves the queue, a <Dial> leg
  and an inbound call are refused (calls/admission.py). `active` makes it usable again.
- closed: for good (21479 on any other Status afterwards). Its numbers are released (as Twilio
  does), its live calls hung up and its queued ones canceled through the engine's controller;
  its data stays readable with the parent's credentials; its own are answered 401 / 20003.
- Only a parent changes a Status (a project cannot suspend or close itself: 400 / 20001), and a
  subaccount cannot have subaccounts (21101). API Keys cannot manage accounts (401 / 20003).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from aiohttp import web

from wirexa.api import context as ctx
from wirexa.api.routes.keys import parse_friendly_name, refuse_unknown
from wirexa.api.serializers import account_json
from wirexa.calls.state import LIVE, CallStatus
from wirexa.errors import ApiCode, BadRequest, HeldElsewhere, Unauthorized
from wirexa.store.repo import ProjectRecord
from wirexa.store.repo.calls import CallFilter, list_calls
from wirexa.store.repo.projects import close_project, create_project, get_project, list_accounts, update_project

log = logging.getLogger(__name__)

STATUSES = ("active", "suspended", "closed")
HANGUP_PASSES = 3  # a call the dispatcher took out of the queue while we looked is caught next pass


def _version(request: web.Request) -> str:
    return "/api/laml/2010-04-01" if request.path.startswith("/api/laml/") else "/2010-04-01"


async def _caller(request: web.Request) -> ProjectRecord:
    """The project whose Auth Token the request carries (API Keys are refused), rate-limited."""
    who = await ctx.caller(request)
    if who.key_sid is not None:
        raise Unauthorized(
            "API Keys cannot manage accounts: authenticate with the account's Auth Token",
            code=ApiCode.AUTHENTICATION_FAILED,
        )
    ctx.services(request).limiter.check(who.project.sid)
    return who.project


async def _target(request: web.Request, caller: ProjectRecord) -> ProjectRecord:
    """The path's account as stored now: the caller itself or one of its subaccounts, else 404."""
    sid = request.match_info["sid"]
    target = await ctx.services(request).store.lookup(get_project, sid)
    if target is None or (target.sid != caller.sid and target.parent_sid != caller.sid):
        raise ctx.not_found(request)
    return target


def _status(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in STATUSES:
        raise BadRequest(f"Status must be one of {', '.join(STATUSES)}, got {value!r}", code=ApiCode.INVALID_PARAMETER)
    return value


def default_name(now: dt.datetime) -> str:
    """Twilio's default FriendlyName: 'SubAccount Created at 2026-12-07 01:09 pm' (UTC)."""
    return f"SubAccount Created at {now:%Y-%m-%d %I:%M} {now:%p}".replace("AM", "am").replace("PM", "pm")


async def create_account(request: web.Request) -> web.Response:
    caller = await _caller(request)
    form = await ctx.form(request)
    refuse_unknown(form, ("FriendlyName",))
    _, name = parse_friendly_name(form)
    if caller.parent_sid is not None:
        raise BadRequest(
            "Subaccounts cannot contain subaccounts: create it with the parent account's credentials",
            code=ApiCode.SUBACCOUNTS_CANNOT_NEST,
        )
    friendly_name = name or default_name(dt.datetime.now(dt.UTC))
    account = await ctx.services(request).store.write(lambda: create_project(friendly_name, parent_sid=caller.sid))
    log.info("subaccount %s of %s created", account.sid, caller.sid)
    return web.json_response(account_json(account, _version(request)), status=201)


async def list_accounts_(request: web.Request) -> web.Response:
    caller = await _caller(request)
    q = request.query
    paging = ctx.parse_paging(q)
    status = _status(q.get("Status"))
    accounts, more = await ctx.services(request).store.read(
        list_accounts,
        caller.sid,
        paging.page_size,
        paging.page,
        paging.after_sid,
        q.get("FriendlyName") or None,
        status,
    )
    version = _version(request)
    return ctx.page_response(
        request,
        "accounts",
        [account_json(a, version) for a in accounts],
        paging,
        accounts[-1].sid if more and accounts else None,
    )


async def fetch_account(request: web.Request) -> web.Response:
    caller = await _caller(request)
    return web.json_response(account_json(await _target(request, caller), _version(request)))


async def update_account(request: web.Request) -> web.Response:
    caller = await _caller(request)
    target = await _target(request, caller)
    form = await ctx.form(request)
    refuse_unknown(form, ("FriendlyName", "Status"))
    given, name = parse_friendly_name(form)
    if given and name is None:
        raise BadRequest("FriendlyName cannot be empty", code=ApiCode.INVALID_PARAMETER)
    status = _status(form.get("Status"))
    sid = target.sid

    def update() -> tuple[ProjectRecord | None, bool]:
        current = get_project(sid)
        if current is None:
            return None, False
        closing = False
        if status is not None and status != current.status:
            if sid == caller.sid:
                raise BadRequest(
                    f"Status of {sid} cannot be changed with its own credentials: a parent account suspends, "
                    "reactivates and closes its subaccounts, and a main account is never suspended or closed",
                    code=ApiCode.INVALID_PARAMETER,
                )
            if current.status == "closed":
                raise BadRequest(
                    "Unable to update Status for subaccount, subaccount is closed and can not be re-opened",
                    code=ApiCode.SUBACCOUNT_CLOSED,
                )
            closing = status == "closed"
        fields: dict[str, str] = {}
        if given and name is not None:
            fields["friendly_name"] = name
        if closing:
            close_project(sid)
        elif status is not None and status != current.status:
            fields["status"] = status
        if fields:
            return update_project(sid, **fields), closing
        return get_project(sid), closing

    svc = ctx.services(request)
    account, closing = await svc.store.write(update)
    ctx.forget_project(svc, sid)
    if account is None:
        raise ctx.not_found(request)
    if status is not None and status != target.status:
        log.info("account %s: %s -> %s (by %s)", sid, target.status, account.status, caller.sid)
    if closing:
        await hang_up_all(svc, sid)
    return web.json_response(account_json(account, _version(request)))


async def hang_up_all(svc: ctx.ApiServices, account_sid: str) -> int:
    """Hang up every live call of a closed account and cancel its queued ones, through the
    engine's controller (each gets its final status and callbacks); returns how many."""
    statuses = tuple(sorted(str(s) for s in LIVE))
    ended: set[str] = set()
    for _ in range(HANGUP_PASSES):
        live, _more = await svc.store.read(list_calls, CallFilter(account_sid=account_sid, statuses=statuses), 1000)
        todo = [c for c in live if c.sid not in ended]
        if not todo:
            break
        todo.sort(key=lambda c: c.parent_call_sid is not None)  # a parent's hangup ends its legs too
        results = await asyncio.gather(
            *(svc.calls.controller.cancel(c, CallStatus.COMPLETED) for c in todo), return_exceptions=True
        )
        for call, result in zip(todo, results, strict=True):
            ended.add(call.sid)
            if isinstance(result, HeldElsewhere):
                # Live in another engine (several engines): it hangs it up on its next sweep.
                log.info("[%s] of closed account %s is held by engine %s", call.sid, account_sid, result.owner)
            elif isinstance(result, BaseException):
                log.error("[%s] hanging up the call of closed account %s failed: %r", call.sid, account_sid, result)
    return len(ended)


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts"
        app.router.add_route("POST", f"{base}{ctx.JSON_EXT}", create_account)
        app.router.add_route("GET", f"{base}{ctx.JSON_EXT}", list_accounts_)
        app.router.add_route("GET", f"{base}/{ctx.SID}{ctx.JSON_EXT}", fetch_account)
        app.router.add_route("POST", f"{base}/{ctx.SID}{ctx.JSON_EXT}", update_account)
