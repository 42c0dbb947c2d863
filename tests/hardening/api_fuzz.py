"""API fuzzing with schemathesis, shared by tests/hardening/test_fuzz_api.py (a bounded run) and
bench/fuzz_bench.py (20,000+ requests).

The schema is Twilio's OpenAPI file filtered to the operations Wirexa implements
(data/twilio_v2010_fuzz.json, made from the full file by `python -m tests.hardening.api_fuzz
extract PATH`), plus what the product doc adds: the same operations under /api/laml, /health,
public recording media, call and account Notification DELETE. Every operation gets a `default`
response: Twilio's error body plus the doc's `detail`, so schemathesis' conformance check holds
every 4xx (and anything else undocumented) to that shape.

Generated requests carry the project's credentials and, most of the time, its AccountSid and the
sid of a call, recording or notification that exists (seeded before the run), so the fuzzer gets
past 401/404 into the handlers. A request's outcome is counted by status; a failure is any 5xx,
a response that does not match the schema, or an error body that is not exactly Twilio's shape."""

from __future__ import annotations

import base64
import collections
import copy
import dataclasses
import json
import random
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "twilio_v2010_fuzz.json"
ERROR_KEYS = {"code", "message", "more_info", "status", "detail"}

# (path, method) of Twilio's 2010-04-01 API that Wirexa implements (wirexa/api/routes/).
TWILIO_OPERATIONS = {
    "/2010-04-01/Accounts/{AccountSid}/Calls.json": ("get", "post"),
    "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json": ("get", "post", "delete"),
    "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Notifications.json": ("get",),
    "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Notifications/{Sid}.json": ("get",),
    "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings.json": ("get", "post"),
    "/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Recordings/{Sid}.json": ("get", "post", "delete"),
    "/2010-04-01/Accounts/{AccountSid}/Notifications.json": ("get",),
    "/2010-04-01/Accounts/{AccountSid}/Notifications/{Sid}.json": ("get",),
    "/2010-04-01/Accounts/{AccountSid}/Recordings.json": ("get",),
    "/2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json": ("get", "delete"),
}

ERROR_SCHEMA = {
    "type": "object",
    "required": sorted(ERROR_KEYS),
    "additionalProperties": False,
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "more_info": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
ERROR_RESPONSE = {"description": "Twilio's error body", "content": {"application/json": {"schema": ERROR_SCHEMA}}}


# --- the schema ------------------------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _strip(node: Any) -> Any:
    """Drop examples and prose (the file stays small); keep everything that shapes a request."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("examples", "example", "description", "summary")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def extract(full: dict[str, Any]) -> dict[str, Any]:
    """Twilio's OpenAPI file -> the operations in TWILIO_OPERATIONS and the schemas they use."""
    paths: dict[str, Any] = {}
    for path, methods in TWILIO_OPERATIONS.items():
        item = full["paths"][path]
        paths[path] = {m: _strip(item[m]) for m in methods}
    schemas = full["components"]["schemas"]
    wanted: dict[str, Any] = {}
    todo = list(_refs(paths))
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted[name] = _strip(schemas[name])
            todo.extend(_refs(wanted[name]))
    return {
        "openapi": full["openapi"],
        "info": {"title": "Twilio 2010-04-01, the operations Wirexa implements", "version": full["info"]["version"]},
        "x-source": "twilio_api_v2010.json (twilio/twilio-oai), paths of tests/hardening/api_fuzz.py "
        "TWILIO_OPERATIONS and the component schemas they reference, examples and prose dropped; "
        "made by `python -m tests.hardening.api_fuzz extract PATH`",
        "paths": paths,
        "components": {
            "schemas": dict(sorted(wanted.items())),
            "securitySchemes": full["components"]["securitySchemes"],
        },
        "security": full["security"],
    }


def _path_param(name: str, prefix: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if prefix:
        schema.update(minLength=34, maxLength=34, pattern=f"^{prefix}[0-9a-fA-F]{{32}}$")
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _media_op(params: list[dict[str, Any]]) -> dict[str, Any]:
    accepted = copy.deepcopy(ERROR_RESPONSE)
    return {
        "parameters": params,
        "responses": {
            "200": {"description": "audio", "content": {"audio/x-wav": {}, "audio/mpeg": {}}},
            "202": accepted,  # still recording or converting: the error body with status 202
        },
    }


@cache
def fuzz_schema() -> dict[str, Any]:
    """The extract, plus the product doc's routes, with Twilio's error body as every default."""
    doc = json.loads(DATA.read_text())
    # Twilio's file cannot say that a new call needs Url or Twiml (or an ApplicationSid, which
    # Wirexa has not): said here, most positive cases get past that check into the rest.
    create = doc["paths"]["/2010-04-01/Accounts/{AccountSid}/Calls.json"]["post"]["requestBody"]
    form = create["content"]["application/x-www-form-urlencoded"]["schema"]
    form["anyOf"] = [{"required": ["Url"]}, {"required": ["Twiml"]}]
    paths: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        paths[path] = item
        paths["/api/laml" + path] = copy.deepcopy(item)
    account = [_path_param("AccountSid", "AC")]
    for base in ("/2010-04-01", "/api/laml/2010-04-01"):
        # Wirexa keeps DELETE on Notifications (Twilio's SDKs dropped it; the doc keeps it).
        for path, params in (
            (f"{base}/Accounts/{{AccountSid}}/Notifications/{{Sid}}.json", [*account, _path_param("Sid", "NO")]),
            (
                f"{base}/Accounts/{{AccountSid}}/Calls/{{CallSid}}/Notifications/{{Sid}}.json",
                [*account, _path_param("CallSid", "CA"), _path_param("Sid", "NO")],
            ),
        ):
            paths[path]["delete"] = {"parameters": params, "responses": {"204": {"description": "deleted"}}}
        # Recording media: no extension (WAV), .wav and .mp3, as the doc's RecordingUrl shows.
        for ext in ("", ".wav", ".mp3"):
            paths[f"{base}/Accounts/{{AccountSid}}/Recordings/{{Sid}}{ext}"] = {
                "get": _media_op([*account, _path_param("Sid", "RE")])
            }
    for ext in ("", ".wav", ".mp3"):
        paths[f"/recordings/{{Sid}}{ext}"] = {"get": _media_op([_path_param("Sid", "RE")])}
    for ext in (".wav", ".mp3"):
        paths[f"/recordings/call/{{CallSid}}{ext}"] = {"get": _media_op([_path_param("CallSid", "CA")])}
    paths["/health"] = {
        "get": {
            "security": [],
            "responses": {
                "200": {
                    "description": "engine status",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["status", "version", "database", "sip"],
                                "properties": {
                                    "status": {"enum": ["ok", "degraded"]},
                                    "version": {"type": "string"},
                                    "database": {"enum": ["ok", "error"]},
                                    "sip": {"type": "object"},
                                },
                            }
                        }
                    },
                }
            },
        }
    }
    for item in paths.values():
        for op in item.values():
            op["responses"] = _relative_uris(op["responses"])
            op["responses"].setdefault("default", copy.deepcopy(ERROR_RESPONSE))
    components = {**doc["components"], "schemas": _relative_uris(doc["components"]["schemas"])}
    return {**doc, "paths": paths, "components": components, "servers": [{"url": "http://127.0.0.1"}]}


def _relative_uris(node: Any) -> Any:
    """Response `uri` keys are paths ('/2010-04-01/Accounts/...'), as Twilio's own answers are,
    though its file says format `uri` (absolute): read it as `uri-reference`."""
    if isinstance(node, dict):
        return {k: ("uri-reference" if k == "format" and v == "uri" else _relative_uris(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_relative_uris(v) for v in node]
    return node


# --- the run ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    """A running server and what exists on it: sids by prefix (CA, RE, NO)."""

    base_url: str
    account: str
    token: str
    known: dict[str, list[str]]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{self.account}:{self.token}".encode()).decode()}


@dataclasses.dataclass
class Outcome:
    requests: int = 0
    by_status: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    by_operation: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    failures: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "server_errors": sum(v for k, v in self.by_status.items() if k >= 500),
            "failures": len(self.failures),
            "first_failures": self.failures[:10],
            "operations": len(self.by_operation),
            "seconds": round(self.seconds, 1),
        }


def _error_shape(status: int, body: bytes, content_type: str) -> str | None:
    """None when an error response is Twilio's body exactly; else what is wrong."""
    if not content_type.startswith("application/json"):
        return f"error with Content-Type {content_type!r}"
    try:
        doc = json.loads(body)
    except ValueError:
        return "error body is not JSON"
    if not isinstance(doc, dict) or set(doc) != ERROR_KEYS:
        return f"error keys {sorted(doc) if isinstance(doc, dict) else type(doc).__name__}"
    if doc["status"] != status or doc["detail"] != doc["message"] or not isinstance(doc["code"], int):
        return f"error body {doc}"
    return None


def run(
    target: Target,
    examples_per_operation: int,
    seed: int = 1,
    modes: tuple[str, ...] = ("positive", "negative"),
    log: Any = None,
) -> Outcome:
    """Fuzz every operation of fuzz_schema() against `target` (deletes run last); `modes` are
    schemathesis' positive (valid per the schema) and negative (invalid) generation."""
    import schemathesis
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.core.result import Ok

    _register_formats()
    schema = schemathesis.openapi.from_dict(fuzz_schema())
    schema.config.update(base_url=target.base_url)
    ops = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        ops.append(result.ok())
    ops.sort(key=lambda op: (op.method.upper() == "DELETE", op.path, op.method))
    fuzzer = _Fuzzer(target, seed)
    started = time.monotonic()
    for mode in modes:
        gen_mode = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
        for op in ops:
            label = f"{op.method.upper()} {op.path}"
            try:
                fuzzer.property(op.as_strategy(generation_mode=gen_mode), label, mode, examples_per_operation, seed)()
            except Unsatisfiable:
                pass  # nothing to negate in this operation (no parameters): no negative cases
            if log is not None:
                log(
                    f"{mode} {label}: {fuzzer.outcome.requests} requests so far, {len(fuzzer.outcome.failures)} failures"
                )
    fuzzer.outcome.seconds = time.monotonic() - started
    return fuzzer.outcome


class _Fuzzer:
    def __init__(self, target: Target, seed: int) -> None:
        import requests
        from schemathesis.checks import not_a_server_error
        from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

        self.target = target
        self.session = requests.Session()
        self.rng = random.Random(seed)
        self.outcome = Outcome()
        self.checks = [not_a_server_error, response_schema_conformance, content_type_conformance]

    def property(self, strategy: Any, label: str, mode: str, examples: int, seed: int) -> Any:
        """A Hypothesis test sending `examples` cases of `strategy` (no shrinking: every case is
        recorded, none raises)."""
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as hseed
        from hypothesis import strategies as st

        @hseed(seed)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, pick=st.randoms(use_true_random=False))
        def one(case: Any, pick: random.Random) -> None:
            self.exchange(case, pick, label, mode)

        return one

    def exchange(self, case: Any, pick: random.Random, label: str, mode: str) -> None:
        import requests

        _aim(case, self.target, pick, mode)
        headers = _headers(self.target, self.rng)
        outcome = self.outcome
        try:
            response = case.call(session=self.session, headers=headers, timeout=30)
        except requests.RequestException as exc:
            outcome.failures.append(f"{label}: no answer ({exc})")
            return
        outcome.requests += 1
        outcome.by_status[response.status_code] += 1
        outcome.by_operation[label] += 1
        problem = None
        if response.status_code >= 400:
            problem = _error_shape(
                response.status_code, response.content, response.headers.get("content-type", [""])[0]
            )
        if problem is None:
            try:
                case.validate_response(response, checks=self.checks, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup: recorded
                text = str(exc).strip()
                problem = (text.splitlines()[0] if text else type(exc).__name__) + " | " + " ".join(text.split())[:600]
        if problem is not None:
            outcome.failures.append(
                f"{label} [{mode}] -> {response.status_code}: {problem} "
                f"(request: {case.method} {case.formatted_path} query={case.query} body={case.body!r:.300})"
            )


_FORMATS_DONE: list[bool] = []


def _register_formats() -> None:
    """Twilio's own string formats, generated as Twilio's values look (schemathesis would make
    any string of them, which the API rightly refuses: the handlers would see few valid ones)."""
    if _FORMATS_DONE:
        return
    import schemathesis
    from hypothesis import strategies as st

    numbers = st.one_of(
        st.from_regex(r"\A\+1[2-9]\d{9}\Z"),
        st.from_regex(r"\A\+[1-9]\d{6,14}\Z"),
        st.from_regex(r"\Asip:[a-z0-9]{1,12}@[a-z0-9.]{1,20}\Z"),
        st.from_regex(r"\Aclient:[a-z0-9]{1,12}\Z"),
        st.text(max_size=20),
    )
    schemathesis.openapi.format("phone-number", numbers)
    schemathesis.openapi.format("endpoint", numbers)  # To and From of a new call
    schemathesis.openapi.format("http-method", st.sampled_from(["GET", "POST", "get", "post", "PUT", ""]))
    _FORMATS_DONE.append(True)


# A new call the handler takes: half of the positive creates are this (their other parameters,
# generated freely, are refused for the rules Twilio's schema cannot say, as the live API does),
# so that the run creates calls whatever examples this Hypothesis version draws.
_VALID_CALL = {"To": "+15005550006", "From": "+15005550100", "Url": "http://127.0.0.1:9/xml"}


def _aim(case: Any, target: Target, pick: random.Random, mode: str = "positive") -> None:
    """Point most cases at the project and at sids that exist (else nearly all would be 404)."""
    params = case.path_parameters
    if params is None:
        return
    creating = case.method.upper() == "POST" and case.path.endswith("/Calls.json")
    if creating and mode == "positive" and pick.random() < 0.5:
        case.body = dict(_VALID_CALL)
    if "AccountSid" in params and pick.random() < 0.9:
        params["AccountSid"] = target.account
    for name in ("CallSid", "Sid"):
        value = params.get(name)
        if not isinstance(value, str) and value is not None:
            continue
        prefix = _prefix_of(case.path, name)
        if prefix and target.known.get(prefix) and pick.random() < 0.6:
            params[name] = pick.choice(target.known[prefix])


def _prefix_of(path: str, name: str) -> str | None:
    if name == "CallSid":
        return "CA"
    if "/Notifications/" in path:
        return "NO"
    if "/Recordings/" in path or path.startswith("/recordings/"):
        return "RE"
    if "/Calls/" in path:
        return "CA"
    return None


def _headers(target: Target, rng: random.Random) -> dict[str, str]:
    roll = rng.random()
    if roll < 0.96:
        return target.auth
    if roll < 0.98:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(f"{target.account}:wrong".encode()).decode()}


# Settings of the server under fuzzing: no rate limit (every request reaches a handler), and
# created calls stay queued (one call setup per 1000 s) so the fuzzer does not place hundreds of
# real calls; the queued ones are still fetched, listed, updated, canceled and deleted.
SERVER_ENV = {
    # The fuzzer sends thousands of bad logins from one address: no login throttle here (its own tests).
    "WIREXA_API_AUTH_FAILURES_FREE": "1000000000",
    "WIREXA_API_AUTH_FAILURES_BLOCK": "0",
    "WIREXA_API_RATE_LIMIT_PER_S": "0",
    "WIREXA_CALLS_CPS": "0.001",
    "WIREXA_SANDBOX_PROCESSES": "1",
}


def seed_target(server: Any) -> Target:
    """Calls (through the API), recordings with a real WAV and notifications (through the store,
    as the engine writes them) on a running LiveServer; the sids the fuzzer aims at."""
    import urllib.request

    from wirexa import config
    from wirexa.clock import utcnow
    from wirexa.media.audio import wav_bytes
    from wirexa.store.bootstrap import open_store
    from wirexa.store.repo.notifications import insert_notification
    from wirexa.store.repo.recordings import insert_recording

    target = Target(server.base_url, server.project_id, server.auth_token, {"CA": [], "RE": [], "NO": []})
    for n in range(4):
        form = f"To=%2B1500555000{n}&From=%2B15005550100&Url=http%3A%2F%2F127.0.0.1%3A9%2Fxml".encode()
        req = urllib.request.Request(
            f"{server.base_url}/2010-04-01/Accounts/{server.project_id}/Calls.json", data=form, headers=target.auth
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            target.known["CA"].append(json.loads(resp.read())["sid"])
    store = open_store(config.load(overrides={"data_dir": str(server.data_dir)}, env={}))
    try:
        media = Path(server.data_dir) / "fuzz-media"
        media.mkdir(exist_ok=True)
        for n, status in enumerate(("completed", "completed", "in-progress", "absent")):
            wav = media / f"r{n}.wav"
            wav.write_bytes(wav_bytes(b"\x00\x01" * 8000))
            rec = store.write_sync(
                lambda call=target.known["CA"][n % 4], status=status, wav=wav: insert_recording(
                    account_sid=target.account,
                    call_sid=call,
                    status=status,
                    source="RecordVerb",
                    duration_s=1,
                    start_time=utcnow(),
                    wav_path=str(wav),
                )
            )
            target.known["RE"].append(rec.sid)
        for n in range(4):
            note = store.write_sync(
                lambda n=n: insert_notification(
                    account_sid=target.account,
                    call_sid=target.known["CA"][n] if n % 2 else None,
                    error_code=11200,
                    message_text="HTTP retrieval failure",
                    request_url="http://127.0.0.1:9/xml",
                    request_method="POST",
                    log_level=n % 2,
                )
            )
            target.known["NO"].append(note.sid)
    finally:
        store.close()
    return target


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "extract":
        full = json.loads(Path(argv[1]).read_text())
        DATA.parent.mkdir(exist_ok=True)
        DATA.write_text(json.dumps(extract(full), indent=1, sort_keys=False) + "\n")
        print(f"wrote {DATA}")
        return
    raise SystemExit("usage: python -m tests.hardening.api_fuzz extract PATH/twilio_api_v2010.json")


if __name__ == "__main__":
    main(sys.argv[1:])
