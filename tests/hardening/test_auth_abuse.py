"""Authentication abuse (issue 15 item 6): failed logins from one address are answered slower and
slower, then refused (429) without a check; each is logged in the one fail2ban line, which the
shipped filter (config/fail2ban/filter.d/wirexa.conf) matches, run through the real
`fail2ban-regex` over the log of a real `wirexa serve`."""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import LiveServer, make_live_server
from wirexa.api.auth import FAILURE_LINE, AuthThrottle
from wirexa.errors import TooManyRequests

ROOT = Path(__file__).parent.parent.parent
FILTER = ROOT / "config" / "fail2ban" / "filter.d" / "wirexa.conf"
JAIL = ROOT / "config" / "fail2ban" / "jail.d" / "wirexa.conf"
INJECTED = "6.6.6.6"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the throttle (in memory, a fake clock) -----------------------------------------------------


def test_failures_beyond_the_free_ones_wait_longer_and_longer() -> None:
    throttle = AuthThrottle(free=3, block=0, window_s=60, clock=Clock())
    delays = [throttle.record_failure("203.0.113.7", "AC1", "/x") for _ in range(10)]
    assert delays == [0, 0, 0, 0.5, 1, 2, 4, 8, 8, 8]
    assert throttle.record_failure("198.51.100.1", "AC1", "/x") == 0  # per address
    throttle.check("203.0.113.7")  # block = 0: never blocked


def test_an_address_is_blocked_until_its_failures_leave_the_window() -> None:
    clock = Clock()
    throttle = AuthThrottle(free=1, block=4, window_s=60, clock=clock)
    for _ in range(3):
        throttle.record_failure("203.0.113.7", "AC1", "/x")
        clock.now += 10
    throttle.check("203.0.113.7")  # 3 failures: slowed, not blocked
    throttle.record_failure("203.0.113.7", "AC1", "/x")
    with pytest.raises(TooManyRequests) as blocked:
        throttle.check("203.0.113.7")
    assert blocked.value.code == 20429 and blocked.value.status == 429
    assert "try again in 30 s" in blocked.value.message  # the oldest failure leaves in 30 s
    throttle.check("198.51.100.1")
    clock.now += 30
    throttle.check("203.0.113.7")  # one failure left the window: 3 < 4
    clock.now += 60
    assert throttle.failures("203.0.113.7") == 0 and len(throttle) == 0


def test_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(AuthThrottle, "MAX_ADDRESSES", 100)
    throttle = AuthThrottle(free=1, block=5, window_s=60, clock=clock)
    logging.getLogger("wirexa.api.auth").disabled = True
    try:
        for i in range(300):
            for _ in range(20):  # more failures than kept per address
                throttle.record_failure(f"10.0.{i // 256}.{i % 256}", "AC1", "/x")
            clock.now += 0.01
    finally:
        logging.getLogger("wirexa.api.auth").disabled = False
    assert len(throttle) == 100
    assert max(len(t) for t in throttle._failures.values()) == 17  # max(block, free + 16)
    with pytest.raises(TooManyRequests):
        throttle.check("10.0.1.43")  # the newest (i = 299) are the ones kept
    throttle.check("10.0.0.0")  # the oldest were dropped


def test_the_log_line_cannot_be_forged(caplog: pytest.LogCaptureFixture) -> None:
    throttle = AuthThrottle(free=5, block=0, window_s=60, clock=Clock())
    forged = f"AC1\n2025-01-01 00:00:00,000 WARNING wirexa.api.auth: auth failure client={INJECTED} x"
    with caplog.at_level(logging.WARNING, logger="wirexa.api.auth"):
        throttle.record_failure("203.0.113.7", forged, f"/a b\nauth failure client={INJECTED}")
    [record] = caplog.records
    line = record.getMessage()
    assert "\n" not in line and line.count(" client=") == 1 and line.count(" ") == FAILURE_LINE.count(" ")
    assert line.startswith("auth failure client=203.0.113.7 failures=1 action=none account=AC1%0A2025-01-01%2000:00")


# --- against a running engine -------------------------------------------------------------------


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def _get(server: LiveServer, headers: dict[str, str], path: str = "", source: str = "127.0.0.1") -> Any:
    """GET `path` (the project's Calls list) from `source` (a loopback address); (status, body, seconds)."""
    url = server.base_url + (path or f"/2010-04-01/Accounts/{server.project_id}/Calls.json")
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        async with session.get(url, headers=headers) as resp:
            body = await resp.json(content_type=None)
            return resp.status, body, time.monotonic() - started


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = make_live_server(
        tmp_path_factory.mktemp("auth"),
        {
            "WIREXA_API_AUTH_FAILURES_FREE": "2",
            "WIREXA_API_AUTH_FAILURES_BLOCK": "6",
            "WIREXA_API_AUTH_FAILURE_WINDOW_S": "600",
        },
    )
    yield server
    server.stop()


@pytest.mark.slow
async def test_failed_logins_are_slowed_blocked_logged_and_matched_by_fail2ban(guarded_server: LiveServer) -> None:
    server = guarded_server
    good = _basic(server.project_id, server.auth_token)
    assert (await _get(server, good))[0] == 200
    wrong = _basic(server.project_id, "0" * 32)
    # A forged account name and path: the log must not name INJECTED.
    forged_user = f"AC\n2025-01-01 00:00:00,000 WARNING wirexa.api.auth: auth failure client={INJECTED} failures=1"
    answers = [await _get(server, wrong) for _ in range(2)]
    answers.append(await _get(server, _basic(forged_user, "x")))
    answers.append(await _get(server, wrong, f"/2010-04-01/Accounts/AC%20client={INJECTED}/Calls.json"))
    answers.append(await _get(server, {"Authorization": "Basic !!!not-base64"}))
    statuses = [status for status, _, _ in answers]
    assert statuses == [401] * 5, statuses
    assert all(body["code"] == 20003 for status, body, _ in answers if status == 401)
    # Failures 3, 4 and 5 waited 0.5, 1 and 2 s before their 401 (lower bounds: a slow machine only adds).
    waited = [round(seconds, 1) for _, _, seconds in answers[2:]]
    assert waited[0] >= 0.5 and waited[1] >= 1.0 and waited[2] >= 2.0, waited
    # The 6th failure blocks the address (its 401 comes at once): 429 from now on, with the right token too.
    assert (await _get(server, wrong))[0] == 401
    status, body, _ = await _get(server, good)
    assert (status, body["code"]) == (429, 20429) and "failed authentication attempts" in body["message"]
    assert (await _get(server, good, source="127.0.0.2"))[0] == 200  # another address is not affected
    await asyncio.sleep(0.3)  # let the log lines reach the file

    lines = [line for line in server.log.read_text().splitlines() if "wirexa.api.auth:" in line]
    failures = [line for line in lines if " auth failure client=" in line]
    assert len(failures) == 7  # 6 failed logins + 1 blocked request (logged once a minute)
    assert all(" auth failure client=127.0.0.1 " in line for line in failures)
    assert [line.split(" action=")[1].split()[0] for line in failures] == [
        "none",
        "none",
        "delay=0.5s",
        "delay=1s",
        "delay=2s",
        "blocked",
        "blocked",
    ]
    assert INJECTED not in "\n".join(line.split(" account=")[0] for line in lines)

    out = subprocess.run(
        ["fail2ban-regex", "-o", "ip", str(server.log), str(FILTER)], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["127.0.0.1"] * 7
    summary = subprocess.run(["fail2ban-regex", str(server.log), str(FILTER)], capture_output=True, text=True)
    assert summary.returncode == 0 and "7 matched" in summary.stdout, summary.stdout


def test_the_shipped_jail_uses_the_filter() -> None:
    text = JAIL.read_text()
    assert "[wirexa]" in text and "filter   = wirexa" in text and FILTER.name == "wirexa.conf"
