"""API test harness: every response of the in-process API is checked against Twilio's OpenAPI
schemas for Call, Recording, Notification and Transcription JSON, the list envelope, the error body and the
request's prefix."""

from __future__ import annotations

import collections
import contextlib
import email.utils
import json
import re
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator

from tests.conftest import Api, basic, start_api
from wirexa import config
from wirexa.api.auth import RateLimiter
from wirexa.store.bootstrap import ensure_project, open_store

__all__ = ["Api", "SchemaCheck", "basic", "make_api", "more_info", "validate"]

SCHEMAS = Path(__file__).parent / "data" / "twilio_v2010_schemas.json"
CALL = "api.v2010.account.call"
RECORDING = "api.v2010.account.recording"
CALL_RECORDING = "api.v2010.account.call.call_recording"
NOTIFICATION = "api.v2010.account.notification"
TRANSCRIPTION = "api.v2010.account.transcription"
CALL_NOTIFICATION = "api.v2010.account.call.call_notification"
INSTANCE = "-instance"  # a fetched Notification's schema: the list item's plus request/response keys
# twilio-python's META_KEYS that a list envelope carries (reference §2, §7): nothing else.
META = {"end", "first_page_uri", "next_page_uri", "page", "page_size", "previous_page_uri", "start", "uri"}
ERROR_KEYS = {"code", "message", "more_info", "status", "detail"}
# Twilio's error dictionary; a code that is not one of its 5-digit entries (e.g. 413, a bare HTTP
# status) links here instead of to a page that does not exist.
ERROR_DICTIONARY = "https://www.twilio.com/docs/api/errors"
RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")

FORMATS = FormatChecker()


@FORMATS.checks("date-time-rfc-2822")
def _rfc2822(value: object) -> bool:
    """Twilio's dates: 'Tue, 31 Aug 2010 20:36:28 +0000' (what email.utils.parsedate reads)."""
    return not isinstance(value, str) or bool(RFC2822.match(value) and email.utils.parsedate_to_datetime(value))


# Twilio's whole OpenAPI file, next to the checkout (not part of a clone); the schema files in
# data/ hold the components of it the tests use, verbatim.
REFERENCE = Path(__file__).parent.parent.parent.parent / "shared" / "reference" / "twilio_api_v2010.json"


@cache
def components_of(path: Path) -> dict[str, Any]:
    """The `components` of a schema file in data/."""
    return json.loads(path.read_text())["components"]  # type: ignore[no-any-return]


def _components() -> dict[str, Any]:
    return components_of(SCHEMAS)


def validate_in(path: Path, schema_name: str, body: dict[str, Any], *, exact: bool = False) -> None:
    """Validate a JSON body against a component schema of the schema file `path` (nullable-aware,
    RFC 2822 dates checked) and require every property the schema lists (exact: nothing else)."""
    components = components_of(path)
    schema = dict(components["schemas"][schema_name])
    schema["components"] = components
    OAS30Validator(schema, format_checker=FORMATS).validate(body)
    properties = set(components["schemas"][schema_name]["properties"])
    if exact:
        assert set(body) == properties, sorted(body)
    missing = properties - set(body)
    assert not missing, f"{schema_name} lacks {sorted(missing)}"


def assert_verbatim(path: Path) -> None:
    """Every schema of the file `path` is Twilio's, as REFERENCE has it."""
    full = json.loads(REFERENCE.read_text())["components"]["schemas"]
    for name, schema in components_of(path)["schemas"].items():
        assert full[name] == schema, name


def more_info(code: int) -> str:
    """The `more_info` an error body with this code carries."""
    return f"https://www.twilio.com/docs/errors/{code}" if 10000 <= code <= 99999 else ERROR_DICTIONARY


def schema_properties(name: str) -> set[str]:
    return set(_components()["schemas"][name]["properties"])


def validate(schema_name: str, body: dict[str, Any]) -> None:
    """Validate a JSON body against a component schema of Twilio's OpenAPI file (nullable-aware,
    RFC 2822 dates checked), and require every property the schema lists."""
    validate_in(SCHEMAS, schema_name, body)


class SchemaCheck:
    """Response inspector for start_api: validates what the API answers, records problems."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: collections.Counter[str] = collections.Counter()

    def __call__(self, request: web.Request, response: web.StreamResponse) -> None:
        if (
            not isinstance(response, web.Response)
            or response.content_type != "application/json"
            or response.body is None
        ):
            return
        assert isinstance(response.body, bytes)
        try:
            self.check(request.path, response.status, json.loads(response.body))
        except Exception as exc:  # noqa: BLE001 - collected and reported at teardown
            self.problems.append(f"{request.method} {request.path_qs} -> {response.status}: {exc}")

    def check(self, path: str, status: int, body: Any) -> None:
        prefix = "/api/laml/2010-04-01/Accounts/" if path.startswith("/api/laml/") else "/2010-04-01/Accounts/"
        call_level = "/Calls/" in path
        if status >= 400:
            assert set(body) == ERROR_KEYS, body
            assert body["status"] == status and body["detail"] == body["message"], body
            assert body["more_info"] == more_info(body["code"]), body
            self.seen["error"] += 1
            return
        records: list[tuple[str, dict[str, Any]]] = []
        notification = CALL_NOTIFICATION if call_level else NOTIFICATION
        key = next((k for k in ("calls", "recordings", "notifications", "transcriptions") if k in body), None)
        if key is not None:
            assert set(body) == META | {key}, f"envelope keys {sorted(body)}"
            for uri_key in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri"):
                assert body[uri_key] is None or body[uri_key].startswith(prefix), (uri_key, body[uri_key])
            kind = {
                "calls": CALL,
                "recordings": CALL_RECORDING if call_level else RECORDING,
                "notifications": notification,
                "transcriptions": TRANSCRIPTION,
            }[key]
            records = [(kind, r) for r in body[key]]
            self.seen["page"] += 1
        elif isinstance(body.get("sid"), str) and body["sid"].startswith("CA"):
            records = [(CALL, body)]
        elif isinstance(body.get("sid"), str) and body["sid"].startswith("RE"):
            records = [(CALL_RECORDING if call_level else RECORDING, body)]
        elif isinstance(body.get("sid"), str) and body["sid"].startswith("NO"):
            records = [(notification + INSTANCE, body)]
        elif isinstance(body.get("sid"), str) and body["sid"].startswith("TR"):
            records = [(TRANSCRIPTION, body)]
        for kind, record in records:
            validate(kind, record)
            assert record["uri"].startswith(prefix), record["uri"]
            self.seen[kind] += 1


@pytest.fixture
def api_check() -> Iterator[SchemaCheck]:
    check = SchemaCheck()
    yield check
    assert check.problems == [], "\n".join(check.problems)


@contextlib.asynccontextmanager
async def make_api(tmp_path: Path, **overrides: Any) -> AsyncIterator[Api]:
    """`async with make_api(tmp_path, api_max_body_bytes=1024) as api:` an API over its own
    settings (its rate limiter from them), responses schema-checked like the `api` fixture's."""
    settings = config.load(overrides={"data_dir": str(tmp_path), **overrides}, env={})
    store = open_store(settings)
    check = SchemaCheck()
    try:
        limiter = RateLimiter(settings.api_rate_limit_per_s, settings.api_rate_limit_burst)
        api = await start_api(store, settings, ensure_project(store), limiter=limiter, check=check)
        try:
            yield api
        finally:
            await api.client.close()
    finally:
        store.close()
    assert check.problems == [], "\n".join(check.problems)
