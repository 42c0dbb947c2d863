"""The forwarding middleware: a change to a live call is served by the engine that holds it.

Theory of operation (the decision is cluster/forward.py's, pure and unit-tested; this module
does its I/O). For a call-scoped change (`cluster.forward.call_request`: POST Calls/{Sid},
POST/DELETE under Calls/{Sid}/...) the middleware reads the call's row, one store lookup; every
other request goes straight on, so the single box pays a path check for it. A call dialing or
answered in another engine (`held_elsewhere`) has its owner's node row read; a live owner with an
API address gets the request, as it came, with `X-Wirexa-Forwarded-By`, through one ClientSession
kept for the app's lifetime (opened at the first forward), and its answer goes back unchanged
(plus `X-Wirexa-Forwarded-To: <owner>`). Authentication, rate limits and validation are the
owner's: a wrong Auth Token gets the owner's 401.

Served here instead: a request forwarded once already (the loop guard), an owner that is not
live (the membership sweep ends its calls), or one that cannot be reached (connection refused,
no connection within CONNECT_TIMEOUT_S). This engine has no session for the call, so an update
that needs one (Status, Url, Twiml) is answered 503 / 20503 saying why, rather than the silent
no-op the local handler would make of it; the other requests get the local handler's own
answers (a recording or stream of a call not running here: 400 / 21220, 404).

An owner that took the request but does not answer within ANSWER_TIMEOUT_S, or drops the
connection, may have applied it: that is 504 or 502 (never a retry here, never a second run).

Conference rooms and call queues (`cluster.forward.home_request`: the room or queue itself, its
Participants or Members, a change to a conference's Recordings) are answered from the memory of
the engine holding them: one store lookup reads the holder (`nodes.home_of`, a live engine); when
it is another engine, that engine gets the request as a call's owner does (`_to_owner`). A room
or queue nobody holds, or this engine holds, is served here. One held elsewhere that is not
forwarded (the loop guard, unreachable, no API address) is 503 / 20503: this engine's answer
would be a 404 or an empty list.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from wirexa.api import context as ctx
from wirexa.api.errors import Handler
from wirexa.cluster import forward
from wirexa.cluster.membership import node_id_of
from wirexa.errors import ApiCode, ApiError, HeldElsewhere, ServiceUnavailable
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.nodes import LIVE_STATES, get_node, home_of

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0  # no connection by then: the owner is unreachable, served here
ANSWER_TIMEOUT_S = 15.0  # the owner's whole answer (an API hangup waits up to 3 s for SIP)
FORM = "application/x-www-form-urlencoded"


class Forwarder:
    """This engine's node id and its one ClientSession to the other engines (loop-only)."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_S, sock_connect=CONNECT_TIMEOUT_S),
                auto_decompress=False,  # the owner's body goes back byte for byte
                trust_env=False,  # the engines talk directly, never through a proxy from the environment
            )
        return self._session

    async def close(self, _app: web.Application | None = None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


FORWARDER = web.AppKey("forwarder", Forwarder)


def install(app: web.Application) -> None:
    """Add the middleware (after the input guard: bad input is refused here, as before) and the
    Forwarder, closed with the app. The app's ApiServices must be set."""
    forwarder = Forwarder(node_id_of(app[ctx.SERVICES].settings))
    app[FORWARDER] = forwarder
    app.middlewares.append(forward_middleware)
    app.on_cleanup.append(forwarder.close)


@web.middleware
async def forward_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    target = forward.call_request(request.method, request.path)
    if target is None:
        home = forward.home_request(request.method, request.path)
        if home is not None:
            return await _home_forward(request, handler, home)
        return await handler(request)
    svc = ctx.services(request)
    call = await svc.store.lookup(get_call, target.call_sid)
    forwarder = request.config_dict[FORWARDER]
    if call is None or call.owner is None or not forward.held_elsewhere(call.status, call.owner, forwarder.node_id):
        try:
            return await handler(request)
        except HeldElsewhere as moved:
            # Queued when we looked, claimed by another engine while the handler ran (a cancel
            # racing the claim): nothing was applied here, so the owner gets the request.
            answer, why = await _to_owner(request, forwarder, moved.owner)
            if answer is not None:
                return answer
            raise ServiceUnavailable(
                forward.refusal(moved.call_sid, moved.owner, why), code=ApiCode.SERVICE_UNAVAILABLE
            ) from None
    answer, why = await _to_owner(request, forwarder, call.owner)
    if answer is not None:
        return answer
    if forward.needs_live_call(target, await ctx.form(request)):
        raise ServiceUnavailable(forward.refusal(call.sid, call.owner, why), code=ApiCode.SERVICE_UNAVAILABLE)
    return await handler(request)


async def _to_owner(
    request: web.Request, forwarder: Forwarder, owner: str, what: str = "the call"
) -> tuple[web.StreamResponse | None, str]:
    """The owner's answer to the request, or None and why it could not have it (`what` it holds:
    for the error when it failed to answer)."""
    by = request.headers.get(forward.FORWARDED_BY)
    if by is not None:
        return None, f"the request was forwarded here by engine {by} and is not forwarded again"
    node = await ctx.services(request).store.lookup(get_node, owner)
    live = node is not None and node.state in LIVE_STATES
    url = forward.forward_url(live, node.http_url if node is not None else None, request.raw_path)
    if url is not None:
        try:
            return await _relay(request, forwarder, owner, url, what), ""
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            why = f"engine {owner} cannot be reached ({type(exc).__name__})"
            log.warning("%s %s: %s; not forwarded", request.method, request.path, why)
            return None, why
    if node is None:
        return None, f"engine {owner} is not registered"
    if not live:
        return None, f"engine {owner} is {node.state}"
    return None, f"engine {owner} has not advertised its API address yet"


async def _home_forward(request: web.Request, handler: Handler, home: forward.HomeRequest) -> web.StreamResponse:
    """A room's or queue's request: to the engine holding it, served here when none or this one does."""
    forwarder = request.config_dict[FORWARDER]
    holder = await ctx.services(request).store.lookup(home_of, home.kind, home.sid)
    if holder is None or holder == forwarder.node_id:
        return await handler(request)
    answer, why = await _to_owner(request, forwarder, holder, f"the {home.kind} {home.sid}")
    if answer is not None:
        return answer
    raise ServiceUnavailable(forward.home_refusal(home, holder, why), code=ApiCode.SERVICE_UNAVAILABLE)


async def _relay(
    request: web.Request, forwarder: Forwarder, owner: str, url: str, what: str = "the call"
) -> web.Response:
    """Send the request to `url` on engine `owner` and answer what it answers. Raises the
    aiohttp connection errors when no connection was made (the caller serves it here); an
    owner that took the request and then failed is 502 / 504."""
    headers = forward.forward_headers(request.headers.items(), forwarder.node_id)
    if request.content_type == "multipart/form-data":
        # input_guard parsed the stream; the same form goes on URL-encoded (no file is a parameter).
        body = urlencode(list((await ctx.form(request)).items())).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "content-type"] + [("Content-Type", FORM)]
    else:
        body = await request.read()  # kept by aiohttp: input_guard read it already
    try:
        async with forwarder.session().request(
            request.method,
            url,
            data=body,
            headers=CIMultiDict(headers),
            allow_redirects=False,
            skip_auto_headers=("User-Agent", "Content-Type", "Accept", "Accept-Encoding"),
        ) as resp:
            payload = await resp.read()
            relayed = CIMultiDict(forward.response_headers(resp.headers.items(), owner))
            return web.Response(status=resp.status, reason=resp.reason, body=payload, headers=relayed)
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
        raise
    except TimeoutError:
        raise ApiError(
            f"Engine {owner}, which holds {what}, did not answer within {ANSWER_TIMEOUT_S:g} s; "
            "the request may have been applied",
            code=504,
            status=504,
        ) from None
    except aiohttp.ClientError as exc:
        log.warning("forwarding %s %s to %s failed: %r", request.method, request.path, owner, exc)
        raise ApiError(
            f"Engine {owner}, which holds {what}, failed to answer ({type(exc).__name__}); "
            "the request may have been applied",
            code=502,
            status=502,
        ) from None
