"""Which API requests go to the engine that holds the call: the pure decision (PURE).

Theory of operation. Several engines share one database, but a call's live state (its SIP
dialog, its XML session, its recorder and streams) exists only in the engine that placed or
answered it: `calls.owner` names that engine's node id, and `nodes.http_url` where its API
listens. A request that changes a live call must therefore be served there. The API's
forwarding middleware (api/forward.py) asks this module, at each step, what to do:

1. `call_request(method, path)`: is this a call-scoped change? `POST Calls/{CallSid}` (update,
   redirect, hang up) and every POST or DELETE under `Calls/{CallSid}/...` (Recordings,
   Streams, Notifications), under both prefixes. Everything else (GETs, creates, other
   resources) is served here without a store read: the single box pays nothing for them.
2. With the call's row read, `held_elsewhere(...)`: only a call that is dialing or answered
   and owned by another engine is. A queued call is nobody's yet (the queue is shared), an
   ended one is only rows, a call without an owner or this engine's own is served here. A
   request that was already forwarded once (`X-Wirexa-Forwarded-By`) is served here too,
   never forwarded twice, so two engines that disagree about an owner cannot bounce it.
3. With the owner's node row read: `forward_url(...)`: where to send it, when the node is live
   (open or draining) and has advertised its API; None when it is not (stopped or dead: the
   membership sweep finalizes its calls).
4. The request is sent as it came (method, path and query, body, end-to-end headers:
   `forward_headers`) with `X-Wirexa-Forwarded-By: <this node>`, and the owner's answer goes
   back unchanged (`response_headers` drops only the hop-by-hop ones). When the owner cannot be
   reached (refused, connect timeout) the request is served here after all, as the requests
   that were not forwarded are.
5. Served here, most call-scoped requests answer for themselves (a recording or stream of a
   call this engine does not run is a 400 / 21220 or a 404). A call update that needs the live
   call (Status, Url or Twiml) would be a silent no-op here (no session to hang up or
   redirect), so `refusal(...)` words the 503 / 20503 it gets instead.

Conference rooms and call queues live in one engine too: the one holding the room's or queue's
name (`homes`, store/repo/nodes.py; the room or queue's own SID names it). `home_request(method,
path)` picks the requests answered from a room's or queue's live state: the room itself
(Conferences/{CF}: fetch, update), its Participants (list, fetch, add, update, kick), a change to
its Recordings; the queue itself (Queues/{QU}: fetch, update and delete, which read its live size)
and its Members (list, fetch, dequeue). GETs are among them: those answers come from the engine's
memory, so another engine's would be wrong (a 404, an empty list). A conference's Recordings are
read from rows (any engine answers their GETs); a room named by FriendlyName in a Participants
path (the add that makes the room) is not: its call is queued, and lands on any engine. Steps 3
and 4 are the same as a call's, with the holder for the owner (one store lookup reads the holder;
its node row is a second when it is another engine). Not forwarded (the loop guard, an unreachable holder,
one without an API address), such a request cannot be answered here at all: 503 / 20503,
worded by `home_refusal(...)`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

from wirexa.calls.state import DIALING

FORWARDED_BY = "X-Wirexa-Forwarded-By"  # request: the node that forwarded it (never forwarded again)
FORWARDED_TO = "X-Wirexa-Forwarded-To"  # response: the node that answered a forwarded request

# Connection-level headers (RFC 9110 7.6.1) and the ones the client recomputes for its own
# connection: never copied across a hop. Compared lower-case.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# What the answering server sets for itself on the relayed response.
OWN_RESPONSE_HEADERS = frozenset({"date", "server"})

_CALL_PATH = re.compile(r"^(?:/api/laml)?/2010-04-01/Accounts/[^/]+/Calls/(?P<sid>[^/.]+)(?P<rest>\.json|/.+)?$")
_HOME_PATH = re.compile(
    r"^(?:/api/laml)?/2010-04-01/Accounts/[^/]+/(?P<resource>Conferences|Queues)/(?P<sid>[^/.]+)(?P<rest>\.json|/.+)?$"
)
HOME_KINDS = {"Conferences": ("conference", "CF"), "Queues": ("queue", "QU")}  # path part: (homes kind, SID prefix)
# Under a room or a queue: the sub-resources answered from its live state, by the methods that read it.
_LIVE_PARTS: dict[str, dict[str, tuple[str, ...]]] = {
    "conference": {"Participants": ("GET", "POST", "DELETE"), "Recordings": ("POST", "DELETE")},
    "queue": {"Members": ("GET", "POST")},
}
# The update parameters that act on the live call rather than its row.
LIVE_PARAMETERS = ("Status", "Url", "Twiml")


@dataclasses.dataclass(frozen=True, slots=True)
class CallRequest:
    """A request that changes call `call_sid`: its own update (`whole_call`) or a sub-resource's."""

    call_sid: str
    whole_call: bool


def call_request(method: str, path: str) -> CallRequest | None:
    """The call a request changes, or None when it is not a call-scoped change (GET, HEAD,
    Calls.json itself, DELETE of the call, any other resource). `path` is the decoded path."""
    if method not in ("POST", "DELETE") or "/Calls/" not in path:
        return None
    match = _CALL_PATH.match(path)
    if match is None:
        return None
    rest = match["rest"]
    if rest is None or rest == ".json":
        # DELETE of the call itself needs no live state: a live call is refused (20009) anywhere.
        return CallRequest(match["sid"], True) if method == "POST" else None
    return CallRequest(match["sid"], False)


@dataclasses.dataclass(frozen=True, slots=True)
class HomeRequest:
    """A request answered from the live state of a conference room or call queue: the `kind` of
    home ("conference", "queue") and the room's or queue's SID."""

    kind: str
    sid: str


def home_request(method: str, path: str) -> HomeRequest | None:
    """The room or queue whose live state answers the request, or None (lists, creates, a room
    named by FriendlyName, a conference's Recordings read, any other resource). `path` is the
    decoded path."""
    if method not in ("GET", "POST", "DELETE") or ("/Conferences/" not in path and "/Queues/" not in path):
        return None
    match = _HOME_PATH.match(path)
    if match is None:
        return None
    kind, prefix = HOME_KINDS[match["resource"]]
    if not match["sid"].startswith(prefix):
        return None
    rest = match["rest"]
    if rest is None or rest == ".json":
        return HomeRequest(kind, match["sid"])
    part = rest[1:].split("/", 1)[0].split(".", 1)[0]
    return HomeRequest(kind, match["sid"]) if method in _LIVE_PARTS[kind].get(part, ()) else None


def home_refusal(request: HomeRequest, holder: str, why: str) -> str:
    """The message of the 503 a room's or queue's request gets when it is not forwarded to the
    engine holding it (`why`), since only that engine's memory can answer it."""
    what = "Conference" if request.kind == "conference" else "Queue"
    return (
        f"{what} {request.sid} lives on engine {holder}, and this engine cannot answer for it: {why}. "
        "Retry the request; a room or queue whose engine stopped is taken by the next engine that uses it"
    )


def held_elsewhere(status: str, owner: str | None, me: str) -> bool:
    """Whether a call in `status` owned by `owner` lives in another engine than `me`: dialing
    or answered, with an owner that is not this engine."""
    return status in DIALING and bool(owner) and owner != me


def forward_url(node_live: bool, http_url: str | None, raw_path_qs: str) -> str | None:
    """The URL the request goes to on its owner (the path and query as received, still
    percent-encoded), or None when the owner is not a live node or never advertised its API."""
    if not node_live or not http_url:
        return None
    return http_url.rstrip("/") + raw_path_qs


def forward_headers(headers: Iterable[tuple[str, str]], me: str) -> list[tuple[str, str]]:
    """The request's end-to-end headers (Authorization, Content-Type, User-Agent ... repeated
    ones kept) and FORWARDED_BY naming this engine; any FORWARDED_BY the client sent is replaced."""
    kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != FORWARDED_BY.lower()]
    kept.append((FORWARDED_BY, me))
    return kept


def response_headers(headers: Iterable[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
    """The owner's response headers to relay (Content-Type, WWW-Authenticate, Retry-After ...),
    and FORWARDED_TO naming the owner."""
    drop = HOP_BY_HOP | OWN_RESPONSE_HEADERS
    kept = [(k, v) for k, v in headers if k.lower() not in drop]
    kept.append((FORWARDED_TO, owner))
    return kept


def needs_live_call(request: CallRequest, form: Mapping[str, str]) -> bool:
    """Whether serving `request` takes the call's live session: the call's own update with a
    Status (hang up, cancel), Url or Twiml (redirect)."""
    return request.whole_call and any((form.get(name) or "").strip() for name in LIVE_PARAMETERS)


def refusal(call_sid: str, owner: str, why: str) -> str:
    """The message of the 503 a live-call update gets when it cannot reach the engine holding
    the call (`why`: what stopped it) and this one has no session to act on."""
    return (
        f"Call {call_sid} is held by engine {owner}, and this engine cannot act on it: {why}. "
        "Retry the request; a call whose engine stopped is ended within the cluster's node timeout"
    )
