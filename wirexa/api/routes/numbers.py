"""IncomingPhoneNumbers: numbers registered with a project (nothing is bought), each with the
voice URLs (or the Application) an inbound call to it runs (reference voice-next §4.1). Also
under /IncomingPhoneNumbers/Local, /Mobile and /TollFree (create and list of that type).

Twilio parameters Wirexa cannot honour (messaging, trunks, emergency calling, regulatory
bundles, fax, moving a number to another account) are refused with a 400 naming them, never
accepted and ignored. Empty values (an SDK clearing a setting) are accepted: there is nothing
to clear."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from wirexa.api import context as ctx
from wirexa.api.serializers import API_VERSION, format_number, number_json
from wirexa.errors import ApiCode, BadRequest
from wirexa.store.repo.applications import get_application
from wirexa.store.repo.numbers import NumberFilter, NumberRecord, delete_number, get_number, insert_number, list_numbers
from wirexa.store.repo.numbers import update_number as store_update_number

MAX_FRIENDLY_NAME = 64
# Twilio parameters that Wirexa refuses: name -> (the value that asks for nothing, or None; why).
REFUSED: dict[str, tuple[str | None, str]] = {
    "TrunkSid": (None, "Wirexa has no Elastic SIP Trunks; set VoiceUrl or VoiceApplicationSid"),
    "SmsUrl": (None, "Wirexa does not handle messaging"),
    "SmsMethod": (None, "Wirexa does not handle messaging"),
    "SmsFallbackUrl": (None, "Wirexa does not handle messaging"),
    "SmsFallbackMethod": (None, "Wirexa does not handle messaging"),
    "SmsApplicationSid": (None, "Wirexa does not handle messaging"),
    "EmergencyStatus": ("Inactive", "Wirexa does not register numbers for emergency calling"),
    "EmergencyAddressSid": (None, "Wirexa does not register numbers for emergency calling"),
    "AddressSid": (None, "Wirexa keeps no regulatory addresses"),
    "IdentitySid": (None, "Wirexa keeps no regulatory identities"),
    "BundleSid": (None, "Wirexa keeps no regulatory bundles"),
    "VoiceReceiveMode": ("voice", "Wirexa receives voice calls only, not fax"),
}
NUMBER_TYPES = {"Local": "local", "Mobile": "mobile", "TollFree": "toll-free"}
NANP_TOLL_FREE = ("800", "833", "844", "855", "866", "877", "888")


def refuse_unsupported(form: MultiMapping[str], refused: dict[str, tuple[str | None, str]]) -> None:
    """400 / 20001 naming the first parameter of `refused` that asks for something Wirexa does
    not do (a non-empty value other than the one that asks for nothing)."""
    for name, (harmless, why) in refused.items():
        value = (form.get(name) or "").strip()
        if value and value != harmless:
            raise BadRequest(f"{name} is not supported: {why}", code=ApiCode.INVALID_PARAMETER)


def parse_phone_number(value: str | None) -> str:
    """The E.164 number a create registers, else 400 / 21421."""
    text = (value or "").strip()
    if not text:
        raise BadRequest("A PhoneNumber (E.164) is required", code=ApiCode.INVALID_PHONE_NUMBER)
    if not ctx.E164.match(text):
        raise BadRequest(f"PhoneNumber is invalid: {text}", code=ApiCode.INVALID_PHONE_NUMBER)
    return text


def number_type_of(phone_number: str) -> str:
    """`type` of a number registered at /IncomingPhoneNumbers: toll-free for the NANP's
    toll-free codes, else local (Mobile.json registers a mobile one)."""
    return "toll-free" if phone_number.startswith("+1") and phone_number[2:5] in NANP_TOLL_FREE else "local"


def parse_voice_settings(form: MultiMapping[str], names: Iterable[str]) -> dict[str, Any]:
    """The voice settings among `names` (Twilio's parameter names) that the form carries, as
    column values: an empty URL clears it, an empty method is POST. Bad URLs are 400 / 21205,
    bad methods 400 / 21209 (the Calls resource's codes); FriendlyName (64 characters at most,
    None when empty), ApiVersion (2010-04-01 only) and VoiceCallerIdLookup are 400 / 20001."""
    out: dict[str, Any] = {}
    for name in names:
        if name not in form:
            continue
        raw = form.get(name) or ""
        column = _COLUMNS[name]
        if name.endswith(("Url", "StatusCallback")):
            out[column] = ctx.opt_url(form, name)
        elif name.endswith("Method"):
            out[column] = ctx.parse_method(raw, name)
        elif name == "FriendlyName":
            if len(raw) > MAX_FRIENDLY_NAME:
                raise BadRequest(
                    f"FriendlyName must be {MAX_FRIENDLY_NAME} characters or fewer", code=ApiCode.INVALID_PARAMETER
                )
            out[column] = raw or None
        elif name == "ApiVersion":
            if raw.strip() not in ("", API_VERSION):
                raise BadRequest(
                    f"ApiVersion {raw.strip()} is not supported: Wirexa speaks {API_VERSION}",
                    code=ApiCode.INVALID_PARAMETER,
                )
            out[column] = API_VERSION
        elif name == "VoiceCallerIdLookup":
            out[column] = ctx.parse_bool(raw, name)
            if out[column]:  # never accepted and ignored: Wirexa has no caller-name (CNAM) lookup
                raise BadRequest(
                    "VoiceCallerIdLookup=true is not supported: Wirexa has no caller-name lookup (CallerName)",
                    code=ApiCode.INVALID_PARAMETER,
                )
    return out


_COLUMNS = {
    "FriendlyName": "friendly_name",
    "ApiVersion": "api_version",
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallback": "status_callback",
    "StatusCallbackMethod": "status_callback_method",
    "VoiceCallerIdLookup": "voice_caller_id_lookup",
}
VOICE_PARAMS = tuple(_COLUMNS)


def check_fallback(voice_url: str | None, voice_fallback_url: str | None) -> None:
    """Twilio's 21405: a VoiceFallbackUrl needs a VoiceUrl."""
    if voice_fallback_url is not None and voice_url is None:
        raise BadRequest("Cannot set VoiceFallbackUrl without setting Url", code=ApiCode.FALLBACK_WITHOUT_URL)


def _bad_application(sid: str) -> BadRequest:
    return BadRequest(f"VoiceApplicationSid is invalid: no application {sid}", code=ApiCode.INVALID_APPLICATION_SID)


def _application_sid(form: MultiMapping[str]) -> tuple[bool, str | None]:
    """(given, value) of VoiceApplicationSid: an empty value removes the number's application."""
    if "VoiceApplicationSid" not in form:
        return False, None
    return True, (form.get("VoiceApplicationSid") or "").strip() or None


_IN_USE = "in use"
_NO_APP = "no application"


async def create_number(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    form = await ctx.form(request)
    if (form.get("AreaCode") or "").strip():
        raise BadRequest(
            "AreaCode is not supported: Wirexa buys no numbers; register one of your carrier's with PhoneNumber",
            code=ApiCode.NO_NUMBERS_IN_AREA_CODE,
        )
    phone_number = parse_phone_number(form.get("PhoneNumber"))
    refuse_unsupported(form, REFUSED)
    fields = parse_voice_settings(form, VOICE_PARAMS)
    check_fallback(fields.get("voice_url"), fields.get("voice_fallback_url"))
    fields["friendly_name"] = fields.get("friendly_name") or format_number(phone_number)
    kind = request.match_info.get("kind")
    fields["number_type"] = NUMBER_TYPES[kind] if kind else number_type_of(phone_number)
    _, app_sid = _application_sid(form)
    fields["voice_application_sid"] = app_sid

    def create() -> NumberRecord | str:
        if app_sid is not None and get_application(app_sid, project.sid) is None:
            return _NO_APP
        return insert_number(project.sid, phone_number, **fields) or _IN_USE

    result = await ctx.services(request).store.write(create)
    if result == _NO_APP:
        raise _bad_application(str(app_sid))
    if not isinstance(result, NumberRecord):
        raise BadRequest(f"PhoneNumber {phone_number} is already in use", code=ApiCode.PHONE_NUMBER_UNAVAILABLE)
    return web.json_response(number_json(result, ctx.prefix(request)), status=201)


async def list_numbers_(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    q = request.query
    paging = ctx.parse_paging(q)
    origin = ctx.parse_enum(q.get("Origin"), "Origin", ("twilio", "hosted"), "hosted")
    ctx.parse_bool(q.get("Beta"), "Beta", True)  # every number matches: none is new to Twilio
    kind = request.match_info.get("kind")
    flt = NumberFilter(
        account_sid=project.sid,
        phone_number=q.get("PhoneNumber") or None,
        friendly_name=q.get("FriendlyName") or None,
        number_type=NUMBER_TYPES[kind] if kind else None,
    )
    numbers: list[NumberRecord] = []
    more = False
    if origin == "hosted":  # a number registered with Wirexa was never Twilio's
        numbers, more = await ctx.services(request).store.read(
            list_numbers, flt, paging.page_size, paging.page, paging.after_sid
        )
    pfx = ctx.prefix(request)
    return ctx.page_response(
        request,
        "incoming_phone_numbers",
        [number_json(n, pfx) for n in numbers],
        paging,
        numbers[-1].sid if more and numbers else None,
    )


async def fetch_number(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    number = await ctx.services(request).store.lookup(get_number, request.match_info["sid"], project.sid)
    if number is None:
        raise ctx.not_found(request)
    return web.json_response(number_json(number, ctx.prefix(request)))


async def update_number(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    sid = request.match_info["sid"]
    form = await ctx.form(request)
    account = (form.get("AccountSid") or "").strip()
    if account and account != project.sid:
        raise BadRequest(
            "AccountSid is not supported: a number cannot move to another project", code=ApiCode.INVALID_PARAMETER
        )
    for name in ("PhoneNumber", "AreaCode"):
        if name in form:
            raise BadRequest(
                f"{name} cannot be updated: release the number and register the new one",
                code=ApiCode.INVALID_PARAMETER,
            )
    refuse_unsupported(form, REFUSED)
    fields = parse_voice_settings(form, VOICE_PARAMS)
    given, app_sid = _application_sid(form)
    if given:
        fields["voice_application_sid"] = app_sid

    def update() -> NumberRecord | str | None:
        current = get_number(sid, project.sid)
        if current is None:
            return None
        if app_sid is not None and get_application(app_sid, project.sid) is None:
            return _NO_APP
        merged = dataclasses.replace(current, **fields)
        check_fallback(merged.voice_url, merged.voice_fallback_url)
        if merged.friendly_name is None:  # an empty FriendlyName: the default again
            fields["friendly_name"] = format_number(current.phone_number)
        return store_update_number(sid, **fields) if fields else current

    result = await ctx.services(request).store.write(update)
    if result is None:
        raise ctx.not_found(request)
    if not isinstance(result, NumberRecord):
        raise _bad_application(str(app_sid))
    return web.json_response(number_json(result, ctx.prefix(request)))


async def delete_number_(request: web.Request) -> web.Response:
    project = await ctx.require_project(request)
    sid = request.match_info["sid"]

    def delete() -> bool:
        return get_number(sid, project.sid) is not None and delete_number(sid)

    if not await ctx.services(request).store.write(delete):
        raise ctx.not_found(request)
    return web.Response(status=204)


def add_routes(app: web.Application) -> None:
    kinds = "{kind:(" + "|".join(NUMBER_TYPES) + ")}"
    for version in ctx.VERSION_PREFIXES:
        base = version + "/Accounts/{account}/IncomingPhoneNumbers"
        app.router.add_route("POST", f"{base}{ctx.JSON_EXT}", create_number)
        app.router.add_route("GET", f"{base}{ctx.JSON_EXT}", list_numbers_)
        # Before the instance routes: "Local" would be taken for a sid.
        app.router.add_route("POST", f"{base}/{kinds}{ctx.JSON_EXT}", create_number)
        app.router.add_route("GET", f"{base}/{kinds}{ctx.JSON_EXT}", list_numbers_)
        app.router.add_route("GET", f"{base}/{ctx.SID}{ctx.JSON_EXT}", fetch_number)
        app.router.add_route("POST", f"{base}/{ctx.SID}{ctx.JSON_EXT}", update_number)
        app.router.add_route("DELETE", f"{base}/{ctx.SID}{ctx.JSON_EXT}", delete_number_)
