"""The REST API's error codes have one home, wirexa.errors.ApiCode, as the notification codes have
wirexa.notices.Notice: a number literal in Twilio's REST range in the API's code (not its text)
fails here."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

from wirexa.errors import ApiCode, BadRequest, NotFound, Unauthorized

ROOT = Path(__file__).parent.parent.parent / "wirexa"
# Where the REST API's refusals are raised.
GUARDED = sorted([*(ROOT / "api").rglob("*.py"), ROOT / "calls" / "service.py"])
# Modules of GUARDED that still spell codes as numbers, with the count; the guard holds for the
# rest, and for these the count may only go down.
UNNAMED = {"calls/service.py": 9}
# Twilio's REST API codes are 20000-29999; 413 and 503 (HTTP statuses used as the code when
# there is none) and 14400 s (the default TimeLimit) fall outside.
REST_RANGE = range(20000, 30000)


def rest_code_literals(path: Path) -> list[str]:
    """Number literals in a module's code (not its strings or comments) in Twilio's REST range."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.NUMBER and tok.string.isdigit() and int(tok.string) in REST_RANGE:
            found.append(f"{path.relative_to(ROOT)}:{tok.start[0]} {tok.string}")
    return found


def test_rest_codes_have_one_home() -> None:
    hits = {str(path.relative_to(ROOT)): rest_code_literals(path) for path in GUARDED}
    assert {rel: found for rel, found in hits.items() if found and rel not in UNNAMED} == {}
    assert {rel: len(hits[rel]) for rel in UNNAMED if len(hits[rel]) > UNNAMED[rel]} == {}


def test_the_guard_catches_a_literal(tmp_path: Path) -> None:
    global ROOT
    src = tmp_path / "m.py"
    src.write_text('"""Refused with 21220 in text."""\nLIMIT = 14400  # 20001\nraise BadRequest("x", code=21220)\n')
    saved, ROOT = ROOT, tmp_path
    try:
        assert rest_code_literals(src) == ["m.py:3 21220"]
    finally:
        ROOT = saved


def test_codes_are_twilios_and_distinct() -> None:
    assert all(code in REST_RANGE for code in ApiCode)
    assert len({int(code) for code in ApiCode}) == len(ApiCode.__members__)


def test_errors_carry_named_codes() -> None:
    assert (Unauthorized("x").code, NotFound("x").code) == (ApiCode.AUTHENTICATION_FAILED, ApiCode.NOT_FOUND)
    assert BadRequest("x").code == 400  # no code given: the HTTP status, as twilio-python reports it
    assert BadRequest("x", code=ApiCode.INVALID_CALL_STATE).code == 21220
