"""The live-call document fetcher against a real local aiohttp receiver: its requests carry
signatures that twilio-python's RequestValidator accepts on the URL the receiver saw."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from wirexa.errors import DocumentError
from wirexa.http.documents import DocumentFetcher
from wirexa.webhooks import signing

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "secret-token"
# A <Gather> / <Record> action's parameters: ',' ':' '/' '+' and spaces in the values.
PARAMS = [
    ("CallSid", "CA" + "1" * 32),
    ("From", "+15005550006"),
    ("Digits", "12#"),
    ("SpeechResult", "yes, at 10:30 please + thanks"),
    ("RecordingUrl", "http://127.0.0.1:8080/2010-04-01/Accounts/AC1/Recordings/RE1"),
    ("Caller", "ünï ~*'()!%2C"),
]


async def test_signed_fetches_validate_on_the_url_the_receiver_saw() -> None:
    seen: list[tuple[str, str, dict[str, str], dict[str, str], str]] = []

    async def doc(request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()} if request.method == "POST" else {}
        seen.append(
            (request.method, str(request.url), dict(request.query), form, request.headers["X-Twilio-Signature"])
        )
        return web.Response(text="<Response/>", content_type="text/xml")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", doc)
    server = TestServer(app)
    await server.start_server()
    try:
        # The customer's URL, with its own query, and credentials (sent as Basic auth, not signed).
        url = str(server.make_url("/action")).replace("://", "://user:pw@") + "?step=a%3Ab%2Cc"
        async with DocumentFetcher(signing.signature, timeout_s=5.0) as fetcher:
            for method in ("GET", "POST"):
                fetched = await fetcher.fetch(url, method, PARAMS, TOKEN)
                assert fetched.status == 200 and fetched.body == b"<Response/>"
    finally:
        await server.close()
    validator = RequestValidator(TOKEN)
    (get_method, get_url, query, _, get_sig), (post_method, post_url, post_query, form, post_sig) = seen
    assert (get_method, post_method) == ("GET", "POST")
    assert {k: v for k, v in query.items() if k != "step"} == dict(PARAMS) and query["step"] == "a:b,c"
    assert form == dict(PARAMS) and post_query == {"step": "a:b,c"}
    assert validator.validate(get_url, {}, get_sig), get_url
    assert validator.validate(post_url, form, post_sig), post_url


async def test_a_url_aiohttp_cannot_send_is_11100() -> None:
    async with DocumentFetcher(signing.signature, timeout_s=5.0) as fetcher:
        with pytest.raises(DocumentError) as bad:
            await fetcher.fetch("http://127.0.0.1:99999/x", "GET", PARAMS, TOKEN)
    assert bad.value.code == 11100
