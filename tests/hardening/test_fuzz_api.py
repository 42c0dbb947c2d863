"""API fuzzing (issue 15, item 2), bounded: schemathesis sends generated requests, valid and
invalid per Twilio's OpenAPI (filtered to what Wirexa implements, plus the product doc's routes),
to a real `wirexa serve`; no 5xx, every answer matches the schema, every error is Twilio's body
with `detail`. bench/fuzz_bench.py runs the same with 20,000+ requests."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from aiohttp import web

from tests.backends import free_port, wait_http
from tests.conftest import LiveServer, engine_fixture
from tests.hardening import api_fuzz

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXAMPLES = 12  # per operation and mode: about 1,200 requests, well under a minute on an idle machine


server = engine_fixture("fuzz", env=api_fuzz.SERVER_ENV, name="server")


def test_fuzzing_the_api_finds_no_server_error_and_no_nonconforming_answer(server: LiveServer) -> None:
    target = api_fuzz.seed_target(server)
    outcome = api_fuzz.run(target, EXAMPLES, seed=15)
    summary = outcome.summary()
    assert outcome.failures == [], "\n".join(outcome.failures[:20])
    assert summary["server_errors"] == 0
    # The run reached the handlers, not only the auth and routing layers.
    assert outcome.requests >= 1000, summary
    operations = sum(len(item) for item in api_fuzz.fuzz_schema()["paths"].values())
    assert len(outcome.by_operation) == operations, summary  # every one was sent
    for status in (200, 201, 202, 204, 400, 401, 404):
        assert outcome.by_status[status] > 0, (status, summary)
    assert "unhandled error" not in server.log.read_text(errors="replace")


def test_the_fuzzer_reports_what_it_should() -> None:
    """A server that answers wrongly (500s, text errors, error JSON without `detail`, a body that
    is not the schema's) is caught: the suite test above cannot pass by checking nothing."""
    bad = {"code": 20404, "message": "x", "more_info": "u", "status": 404}  # no `detail`

    async def handler(request: web.Request) -> web.Response:
        path = request.path
        if path == "/health":
            return web.json_response({"status": "bogus"})
        if "/Notifications" in path:
            return web.json_response(bad, status=404)
        if "/Recordings" in path:
            return web.Response(status=400, text="bad request")
        if request.method == "GET" and path.endswith("Calls.json"):
            return web.json_response({"calls": "not a list"})
        return web.json_response({"code": 20500, "message": "boom"}, status=500)

    port = free_port()
    loop = asyncio.new_event_loop()
    runner: list[web.AppRunner] = []

    async def serve() -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        r = web.AppRunner(app, access_log=None)
        await r.setup()
        await web.TCPSite(r, "127.0.0.1", port).start()
        runner.append(r)

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        target = api_fuzz.Target(f"http://127.0.0.1:{port}", "AC" + "0" * 32, "t", {})
        outcome = api_fuzz.run(target, 2, seed=1, modes=("positive",))
    finally:
        asyncio.run_coroutine_threadsafe(runner[0].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    text = "\n".join(outcome.failures)
    assert outcome.by_status[500] > 0
    assert "GET /health [positive] -> 200" in text  # schema violation
    assert "error keys" in text  # no `detail`
    assert "error with Content-Type 'text/plain" in text
    assert "Server error" in text or "500" in text


def test_error_shape_check() -> None:
    ok = json.dumps({"code": 20404, "message": "m", "more_info": "u", "status": 404, "detail": "m"}).encode()
    assert api_fuzz._error_shape(404, ok, "application/json; charset=utf-8") is None
    doc = {"code": 20404, "message": "m", "more_info": "u", "status": 404, "detail": "m"}
    assert api_fuzz._error_shape(400, ok, "application/json") == f"error body {doc}"  # status differs
    assert api_fuzz._error_shape(404, b"not found", "text/plain") == "error with Content-Type 'text/plain'"
    other = json.dumps({"code": 20404, "message": "m", "more_info": "u", "status": 404, "detail": "x"}).encode()
    assert api_fuzz._error_shape(404, other, "application/json") == f"error body {json.loads(other)}"
    assert api_fuzz._error_shape(404, b"{", "application/json") == "error body is not JSON"
    assert api_fuzz._error_shape(404, b'{"code": 1}', "application/json") == "error keys ['code']"


def test_the_schema_extract_is_what_the_routes_serve() -> None:
    """Every Twilio operation in the extract is one Wirexa routes (and nothing else is in it)."""
    doc = json.loads(api_fuzz.DATA.read_text())
    assert {p: tuple(sorted(ops)) for p, ops in doc["paths"].items()} == {
        p: tuple(sorted(m)) for p, m in api_fuzz.TWILIO_OPERATIONS.items()
    }
    full = Path(__file__).parents[3] / "shared" / "reference" / "twilio_api_v2010.json"
    if full.is_file():  # beside a checkout (not in every clone): the extract is current
        assert api_fuzz.extract(json.loads(full.read_text())) == doc
