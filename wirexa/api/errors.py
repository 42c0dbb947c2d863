"""The API's edge: `input_guard` refuses malformed input before any handler sees it, and
`error_middleware` renders every error as Twilio's error JSON (plus the doc's `detail`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import parse_qsl, unquote_to_bytes

from aiohttp import web

from wirexa.api.serializers import error_json
from wirexa.errors import ApiCode, ApiError, BadRequest

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Twilio codes for plain HTTP failures that aiohttp raises itself.
HTTP_CODES = {404: ApiCode.NOT_FOUND, 405: ApiCode.METHOD_NOT_ALLOWED, 413: 413, 401: ApiCode.AUTHENTICATION_FAILED}


def error_response(exc: ApiError, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_json(exc.code, exc.message, exc.status), status=exc.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": 'Basic realm="Wirexa API"'} if exc.status == 401 else None
        return error_response(exc, headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = f"The requested resource {request.path} was not found"
        elif exc.status == 413:
            message = "Request body too large"
        elif exc.status == 405:
            message = f"Method {request.method} not allowed for {request.path}"
        else:
            message = exc.reason
        code = HTTP_CODES.get(exc.status, exc.status)
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "www-authenticate")}
        return web.json_response(error_json(code, message, exc.status), status=exc.status, headers=headers)
    except Exception:  # noqa: BLE001 - the one catch-all of the API: log, never leak a traceback
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response(error_json(ApiCode.INTERNAL_SERVER_ERROR, "Internal server error", 500), status=500)


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# C0 controls but tab, CR and LF, and DEL: no parameter of this API carries one (Twiml may have
# line breaks), and stored they would reach terminals and logs (ESC sequences) and customers.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _check_text(pairs: Iterable[tuple[str, str]], where: str) -> None:
    for key, value in pairs:
        if CONTROL.search(key) or CONTROL.search(value):
            raise BadRequest(f"{where} parameter {key!r} contains a control character", code=ApiCode.INVALID_PARAMETER)


@web.middleware
async def input_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse, with 400 / 20001, what no handler should have to think about: a URL or form body
    that is not UTF-8 (after percent-decoding), control characters in a parameter, a POST body
    that is not a form (JSON, XML ...) or a form that cannot be parsed. The form is parsed here
    once (aiohttp keeps it: handlers get the same MultiDict); too large a body is still 413."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
        query = parse_qsl(raw_query, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("The request URL is not valid UTF-8", code=ApiCode.INVALID_PARAMETER) from None
    _check_text(query, "Query")
    if request.method == "POST" and request.body_exists:
        if request.content_type not in FORM_TYPES:
            if await request.read():
                raise BadRequest(
                    f"Unsupported Content-Type {request.content_type}: send application/x-www-form-urlencoded",
                    code=ApiCode.INVALID_PARAMETER,
                )
        else:
            if request.content_type == FORM_TYPES[0]:
                charset = (request.charset or "utf-8").lower()
                if charset not in ("utf-8", "utf8"):
                    raise BadRequest(f"Unsupported form charset {charset}: send UTF-8", code=ApiCode.INVALID_PARAMETER)
                try:
                    body = (await request.read()).decode("utf-8")
                    parse_qsl(body, keep_blank_values=True, encoding="utf-8", errors="strict")
                except UnicodeDecodeError:
                    raise BadRequest("The request body is not valid UTF-8", code=ApiCode.INVALID_PARAMETER) from None
            try:
                form = await request.post()
            except (ValueError, LookupError) as exc:  # aiohttp's multipart and charset errors
                raise BadRequest(
                    f"The request body is not a valid form: {exc}", code=ApiCode.INVALID_PARAMETER
                ) from None
            _check_text(((k, v) for k, v in form.items() if isinstance(v, str)), "Form")
    return await handler(request)
