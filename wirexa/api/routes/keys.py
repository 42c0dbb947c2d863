"""API Keys (SK...): credentials of one project that work wherever its Auth Token does, each
revocable on its own. The secret is in the create response only; the store keeps a salted hash
(store/repo/keys.py). As Twilio's standard keys, a key cannot manage keys or accounts: those
requests need the Auth Token (401 / 20003)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from multidict import MultiMapping

from wirexa.api import context as ctx
from wirexa.api.serializers import key_json
from wirexa.errors import ApiCode, BadRequest, Unauthorized
from wirexa.store.repo import ProjectRecord
from wirexa.store.repo.keys import KeyRecord, delete_key, get_key, hash_secret, insert_key, list_keys, new_secret
from wirexa.store.repo.keys import update_key as store_update_key

MAX_FRIENDLY_NAME = 64


async def _account(request: web.Request) -> ProjectRecord:
    """The path's account, for credentials that are an Auth Token (the account's, or its parent's)."""
    who = await ctx.caller(request)
    if who.key_sid is not None:
        raise Unauthorized(
            "API Keys cannot manage API Keys: authenticate with the account's Auth Token",
            code=ApiCode.AUTHENTICATION_FAILED,
        )
    return await ctx.account_of(request, who, request.match_info["account"])


def parse_friendly_name(form: MultiMapping[str]) -> tuple[bool, str | None]:
    """(given, value) of FriendlyName: 64 characters at most (400 / 20001), empty is none."""
    if "FriendlyName" not in form:
        return False, None
    value = form.get("FriendlyName") or ""
    if len(value) > MAX_FRIENDLY_NAME:
        raise BadRequest(
            f"FriendlyName must be {MAX_FRIENDLY_NAME} characters or fewer", code=ApiCode.INVALID_PARAMETER
        )
    return True, value or None


def refuse_unknown(form: MultiMapping[str], known: tuple[str, ...]) -> None:
    """400 / 20001 naming a parameter the operation does not have (never accepted and ignored)."""
    for name in form:
        if name not in known:
            raise BadRequest(f"{name} is not a parameter of this resource", code=ApiCode.INVALID_PARAMETER)


async def create_key(request: web.Request) -> web.Response:
    project = await _account(request)
    form = await ctx.form(request)
    refuse_unknown(form, ("FriendlyName",))
    _, name = parse_friendly_name(form)
    secret = new_secret()
    secret_hash = await asyncio.to_thread(hash_secret, secret)  # ~0.1 s of scrypt: off the loop
    key = await ctx.services(request).store.write(insert_key, project.sid, name, secret_hash)
    return web.json_response(key_json(key, secret=secret), status=201)


async def list_keys_(request: web.Request) -> web.Response:
    project = await _account(request)
    q = request.query
    paging = ctx.parse_paging(q)
    keys, more = await ctx.services(request).store.read(
        list_keys, project.sid, paging.page_size, paging.page, paging.after_sid
    )
    return ctx.page_response(
        request, "keys", [key_json(k) for k in keys], paging, keys[-1].sid if more and keys else None
    )


async def fetch_key(request: web.Request) -> web.Response:
    project = await _account(request)
    key = await ctx.services(request).store.lookup(get_key, request.match_info["sid"], project.sid)
    if key is None:
        raise ctx.not_found(request)
    return web.json_response(key_json(key))


async def update_key(request: web.Request) -> web.Response:
    project = await _account(request)
    sid = request.match_info["sid"]
    form = await ctx.form(request)
    refuse_unknown(form, ("FriendlyName",))
    given, name = parse_friendly_name(form)

    def update() -> KeyRecord | None:
        current = get_key(sid, project.sid)
        if current is None or not given:
            return current
        return store_update_key(sid, name)

    key = await ctx.services(request).store.write(update)
    if key is None:
        raise ctx.not_found(request)
    return web.json_response(key_json(key))


async def delete_key_(request: web.Request) -> web.Response:
    """Delete the key: requests with it are refused from the next one on."""
    project = await _account(request)
    sid = request.match_info["sid"]

    def delete() -> bool:
        return get_key(sid, project.sid) is not None and delete_key(sid)

    svc = ctx.services(request)
    if not await svc.store.write(delete):
        raise ctx.not_found(request)
    svc.key_verifier.forget(sid)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}/Keys"
        app.router.add_route("POST", f"{base}{ctx.JSON_EXT}", create_key)
        app.router.add_route("GET", f"{base}{ctx.JSON_EXT}", list_keys_)
        app.router.add_route("GET", f"{base}/{ctx.SID}{ctx.JSON_EXT}", fetch_key)
        app.router.add_route("POST", f"{base}/{ctx.SID}{ctx.JSON_EXT}", update_key)
        app.router.add_route("DELETE", f"{base}/{ctx.SID}{ctx.JSON_EXT}", delete_key_)
