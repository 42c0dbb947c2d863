"""The forwarding decision (wirexa/cluster/forward.py, pure): which requests are a call's
changes, whose call is held elsewhere, where it goes, which headers cross, what is refused."""

from __future__ import annotations

import pytest

from wirexa.cluster import forward
from wirexa.cluster.forward import CallRequest, HomeRequest, call_request, home_request

AC = "AC0123456789abcdef0123456789abcdef"
CA = "CA0123456789abcdef0123456789abcdef"
PREFIXES = ("/2010-04-01", "/api/laml/2010-04-01")


@pytest.mark.parametrize("version", PREFIXES)
@pytest.mark.parametrize(
    ("method", "rest", "expected"),
    [
        ("POST", ".json", CallRequest(CA, True)),  # update, redirect, hang up
        ("POST", "", CallRequest(CA, True)),  # the .json is optional
        ("POST", "/Recordings.json", CallRequest(CA, False)),
        ("POST", "/Recordings/Twilio.CURRENT.json", CallRequest(CA, False)),
        ("POST", "/Recordings/RE0123.json", CallRequest(CA, False)),
        ("DELETE", "/Recordings/RE0123.json", CallRequest(CA, False)),
        ("POST", "/Streams.json", CallRequest(CA, False)),
        ("POST", "/Streams/MZ0123.json", CallRequest(CA, False)),
        ("POST", "/Streams/my-stream.json", CallRequest(CA, False)),
        ("DELETE", "/Notifications/NO0123.json", CallRequest(CA, False)),
        ("DELETE", ".json", None),  # deleting the call: refused for a live call anywhere (20009)
        ("DELETE", "", None),
        ("GET", ".json", None),
        ("GET", "/Recordings.json", None),
        ("HEAD", "/Recordings/RE0123.wav", None),
        ("GET", "/Events.json", None),
        ("PUT", ".json", None),
    ],
)
def test_call_scoped_changes_under_both_prefixes(
    version: str, method: str, rest: str, expected: CallRequest | None
) -> None:
    assert call_request(method, f"{version}/Accounts/{AC}/Calls/{CA}{rest}") == expected


@pytest.mark.parametrize(
    "path",
    [
        f"/2010-04-01/Accounts/{AC}/Calls.json",  # create: the queue is shared
        f"/2010-04-01/Accounts/{AC}/Calls",
        f"/2010-04-01/Accounts/{AC}/Recordings/RE0123.json",  # a recording by its own sid: rows
        f"/2010-04-01/Accounts/{AC}/Queues/QU0123/Members/{CA}.json",
        f"/2010-04-01/Accounts/{AC}/Conferences/CF0123/Participants/{CA}.json",
        f"/2010-04-01/Accounts/{AC}.json",
        f"/2010-04-01/Accounts/{AC}/IncomingPhoneNumbers.json",
        "/console/calls/" + CA,
        f"/2010-04-01/Accounts/{AC}/Calls/",  # no sid
        f"/2011-01-01/Accounts/{AC}/Calls/{CA}.json",  # not an API version served
        f"/x/2010-04-01/Accounts/{AC}/Calls/{CA}.json",
        "/health",
    ],
)
def test_other_requests_are_not_call_changes(path: str) -> None:
    assert call_request("POST", path) is None
    assert call_request("DELETE", path) is None


def test_the_sid_stops_at_a_dot_or_slash() -> None:
    assert call_request("POST", f"/2010-04-01/Accounts/{AC}/Calls/{CA}.json") == CallRequest(CA, True)
    assert call_request("POST", f"/2010-04-01/Accounts/{AC}/Calls/{CA}.xml") is None  # not a format served


@pytest.mark.parametrize("status", ["initiated", "ringing", "in-progress"])
def test_a_dialing_or_answered_call_of_another_engine_is_held_elsewhere(status: str) -> None:
    assert forward.held_elsewhere(status, "node-1", "node-2")


@pytest.mark.parametrize(
    ("status", "owner"),
    [
        ("in-progress", "node-2"),  # this engine's own call
        ("in-progress", None),  # a row from before owners (schema 18) or a single box's
        ("in-progress", ""),
        ("queued", "node-1"),  # the queue is every engine's
        ("completed", "node-1"),  # ended: rows only, served by any engine
        ("canceled", "node-1"),
        ("failed", "node-1"),
        ("busy", "node-1"),
        ("no-answer", "node-1"),
    ],
)
def test_calls_served_here(status: str, owner: str | None) -> None:
    assert not forward.held_elsewhere(status, owner, "node-2")


def test_forward_url_keeps_the_raw_path_and_query() -> None:
    raw = f"/2010-04-01/Accounts/{AC}/Calls/{CA}/Streams/a%2Fb.json?x=1&y=%20"
    assert forward.forward_url(True, "http://10.0.0.5:8080", raw) == "http://10.0.0.5:8080" + raw
    assert forward.forward_url(True, "http://10.0.0.5:8080/", raw) == "http://10.0.0.5:8080" + raw
    assert forward.forward_url(True, "http://[::1]:8080", "/p") == "http://[::1]:8080/p"


def test_no_forward_url_for_a_node_that_is_not_live_or_has_no_address() -> None:
    assert forward.forward_url(False, "http://10.0.0.5:8080", "/p") is None
    assert forward.forward_url(True, None, "/p") is None
    assert forward.forward_url(True, "", "/p") is None


def test_forward_headers_keep_end_to_end_ones_and_name_this_engine() -> None:
    headers = [
        ("Host", "node-2:8080"),
        ("Authorization", "Basic QUM6dG9rZW4="),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", "42"),
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("TE", "trailers"),
        ("Upgrade", "h2c"),
        ("Proxy-Authorization", "Basic eA=="),
        ("User-Agent", "twilio-python/9"),
        ("Accept-Encoding", "gzip"),
        ("X-Custom", "1"),
        ("X-Custom", "2"),
        ("x-wirexa-forwarded-by", "forged"),  # a client's own is replaced
    ]
    assert forward.forward_headers(headers, "node-2") == [
        ("Authorization", "Basic QUM6dG9rZW4="),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("User-Agent", "twilio-python/9"),
        ("Accept-Encoding", "gzip"),
        ("X-Custom", "1"),
        ("X-Custom", "2"),
        (forward.FORWARDED_BY, "node-2"),
    ]


def test_response_headers_relay_the_owners_answer() -> None:
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", "120"),
        ("Date", "Mon, 07 Dec 2026 23:00:00 GMT"),
        ("Server", "Python/3.11 aiohttp/3.14"),
        ("WWW-Authenticate", 'Basic realm="Wirexa API"'),
        ("Retry-After", "1"),
        ("Connection", "close"),
        ("Content-Encoding", "gzip"),  # the body is relayed as it came, still encoded
    ]
    assert forward.response_headers(headers, "node-1") == [
        ("Content-Type", "application/json; charset=utf-8"),
        ("WWW-Authenticate", 'Basic realm="Wirexa API"'),
        ("Retry-After", "1"),
        ("Content-Encoding", "gzip"),
        (forward.FORWARDED_TO, "node-1"),
    ]


@pytest.mark.parametrize(
    ("form", "needs"),
    [
        ({"Status": "completed"}, True),
        ({"Status": "canceled"}, True),
        ({"Url": "http://example.com/x"}, True),
        ({"Twiml": "<Response/>"}, True),
        ({"Twiml": "<Response/>", "StatusCallback": "http://example.com/s"}, True),
        ({"StatusCallback": "http://example.com/s"}, False),  # a row change: any engine makes it
        ({"FallbackUrl": "http://example.com/f"}, False),
        ({"Method": "GET"}, False),
        ({"Status": " "}, False),  # blank: the handler treats it as absent
        ({}, False),
    ],
)
def test_a_call_update_needs_the_live_call_for_status_url_or_twiml(form: dict[str, str], needs: bool) -> None:
    assert forward.needs_live_call(CallRequest(CA, True), form) is needs


def test_sub_resources_answer_for_themselves() -> None:
    # A recording or stream of a call that is not running here is refused by its own handler.
    assert not forward.needs_live_call(CallRequest(CA, False), {"Status": "stopped"})


def test_the_refusal_names_the_call_the_owner_and_why() -> None:
    text = forward.refusal(CA, "node-1", "engine node-1 cannot be reached (ClientConnectorError)")
    assert CA in text and "node-1" in text and "cannot be reached" in text


CF = "CF0123456789abcdef0123456789abcdef"
QU = "QU0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("version", PREFIXES)
@pytest.mark.parametrize(
    ("method", "rest", "expected"),
    [
        ("GET", f"/Conferences/{CF}.json", HomeRequest("conference", CF)),  # the room: from memory
        ("GET", f"/Conferences/{CF}", HomeRequest("conference", CF)),
        ("POST", f"/Conferences/{CF}.json", HomeRequest("conference", CF)),  # end it, announce
        ("GET", f"/Conferences/{CF}/Participants.json", HomeRequest("conference", CF)),
        ("POST", f"/Conferences/{CF}/Participants.json", HomeRequest("conference", CF)),
        ("GET", f"/Conferences/{CF}/Participants/{CA}.json", HomeRequest("conference", CF)),
        ("POST", f"/Conferences/{CF}/Participants/my.label.json", HomeRequest("conference", CF)),
        ("DELETE", f"/Conferences/{CF}/Participants/{CA}.json", HomeRequest("conference", CF)),
        ("POST", f"/Conferences/{CF}/Recordings/RE0123.json", HomeRequest("conference", CF)),
        ("DELETE", f"/Conferences/{CF}/Recordings/RE0123.json", HomeRequest("conference", CF)),
        ("GET", f"/Conferences/{CF}/Recordings.json", None),  # rows: any engine reads them
        ("GET", f"/Conferences/{CF}/Recordings/RE0123.wav", None),
        ("POST", "/Conferences/my-room/Participants.json", None),  # by name: a queued call, any engine
        ("GET", "/Conferences.json", None),
        ("GET", f"/Conferences/{QU}.json", None),  # not a room's SID
        ("GET", f"/Queues/{QU}.json", HomeRequest("queue", QU)),  # its size is the engine's
        ("POST", f"/Queues/{QU}.json", HomeRequest("queue", QU)),
        ("DELETE", f"/Queues/{QU}.json", HomeRequest("queue", QU)),  # refused while callers wait
        ("GET", f"/Queues/{QU}/Members.json", HomeRequest("queue", QU)),
        ("GET", f"/Queues/{QU}/Members/Front.json", HomeRequest("queue", QU)),
        ("POST", f"/Queues/{QU}/Members/{CA}.json", HomeRequest("queue", QU)),  # dequeue
        ("GET", f"/Queues/{QU}/Other.json", None),
        ("GET", "/Queues.json", None),
        ("POST", "/Queues.json", None),
        ("GET", f"/Queues/{CF}.json", None),
        ("PUT", f"/Queues/{QU}.json", None),
        ("HEAD", f"/Conferences/{CF}.json", None),
        ("GET", f"/Calls/{CA}.json", None),
    ],
)
def test_requests_answered_from_a_rooms_or_queues_live_state(
    version: str, method: str, rest: str, expected: HomeRequest | None
) -> None:
    assert home_request(method, f"{version}/Accounts/{AC}{rest}") == expected


def test_a_room_or_queue_path_of_an_unserved_version_is_not_one() -> None:
    assert home_request("GET", f"/2011-01-01/Accounts/{AC}/Queues/{QU}.json") is None
    assert home_request("GET", f"/x/2010-04-01/Accounts/{AC}/Conferences/{CF}.json") is None


def test_the_home_refusal_names_the_room_or_queue_the_holder_and_why() -> None:
    text = forward.home_refusal(HomeRequest("queue", QU), "node-1", "engine node-1 is not registered")
    assert text.startswith(f"Queue {QU} lives on engine node-1") and "not registered" in text
    assert forward.home_refusal(HomeRequest("conference", CF), "node-1", "x").startswith(f"Conference {CF}")
