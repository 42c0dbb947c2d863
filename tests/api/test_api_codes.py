"""The REST API's error codes have one home, wirexa.errors.ApiCode, as the notification codes have
wirexa.notices.Notice: a number literal in Twilio's REST range in wirexa/'s code (not its text)
anywhere else fails here."""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

from wirexa.errors import ApiCode, BadRequest, NotFound, Unauthorized

ROOT = Path(__file__).parent.parent.parent / "wirexa"
# Twilio's REST API codes are 20000-29999; 413 and 503 (HTTP statuses used as the code when
# there is none) and 14400 s (the default TimeLimit) fall outside.
REST_RANGE = range(20000, 30000)
# Numbers in the range that are no code: (module, number).
NOT_CODES = {("config.py", 20000)}  # sip.rtp_port_base's default, the first RTP port


def rest_code_literals(path: Path) -> list[str]:
    """Number literals in a module's code (not its strings or comments) in Twilio's REST range."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.NUMBER and tok.string.isdigit() and int(tok.string) in REST_RANGE:
            found.append(f"{path.relative_to(ROOT)}:{tok.start[0]} {tok.string}")
    return found


def test_rest_codes_have_one_home() -> None:
    """The API, the call service, admission and the CLI name their codes from ApiCode."""
    hits = [
        hit
        for path in sorted(ROOT.rglob("*.py"))
        if path.name != "errors.py" or path.parent != ROOT
        for hit in rest_code_literals(path)
        if (str(path.relative_to(ROOT)), int(hit.rpartition(" ")[2])) not in NOT_CODES
    ]
    assert hits == []


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
