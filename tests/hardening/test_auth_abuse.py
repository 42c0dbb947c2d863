"""Authentication abuse (issue 15 item 6): failed logins from one address are answered slower and
slower, then refused (429); each is logged in the one fail2ban line, which the shipped filter
(config/fail2ban/filter.d/wirexa.conf) matches, run through the real `fail2ban-regex` over the log
of a real `wirexa serve`.

Only failures are throttled (defects issue item 2): Auth Tokens are 128-bit random, so a valid one
is always served, at once, whatever other clients at the same address got wrong. The lockout that
refuses even the right secret is kept for secrets people choose (AuthThrottle(lockout=True))."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.conftest import Api, LiveServer, engine_fixture, start_api
from wirexa import config
from wirexa.api.auth import FAILURE_LINE, AuthThrottle
from wirexa.errors import TooManyRequests
from wirexa.store.bootstrap import ensure_project, open_store

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


async def test_without_lockout_only_failing_requests_are_refused(tmp_path: Path) -> None:
    """The API's mode (random tokens): nothing is refused before the credentials are checked; a
    failing request of a blocked address is 429 at once, and not counted again."""
    settings = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    assert not AuthThrottle.from_settings(settings).lockout
    clock = Clock()
    throttle = AuthThrottle(free=3, block=3, window_s=60, clock=clock)
    for _ in range(3):
        throttle.before_credentials("203.0.113.7")
        await throttle.failed("203.0.113.7", "AC1", "/x")  # within `free`: answered at once
    throttle.before_credentials("203.0.113.7")  # blocked, yet a valid token is still looked at
    with pytest.raises(TooManyRequests) as blocked:
        await throttle.failed("203.0.113.7", "AC1", "/x")  # a failing request is refused
    assert blocked.value.code == 20429 and "try again in 60 s" in blocked.value.message
    assert throttle.failures("203.0.113.7") == 3  # the 429 is not counted: the block ends on time
    clock.now += 60
    await throttle.failed("203.0.113.7", "AC1", "/x")  # the window passed: counted again
    assert throttle.failures("203.0.113.7") == 1


def test_with_lockout_a_blocked_address_is_refused_before_any_check() -> None:
    """For secrets people choose (the console's admin password, to come): the right one too."""
    clock = Clock()
    throttle = AuthThrottle(free=1, block=3, window_s=60, clock=clock, lockout=True)
    for _ in range(3):
        throttle.before_credentials("203.0.113.7")
        throttle.record_failure("203.0.113.7", "admin", "/console")
    with pytest.raises(TooManyRequests) as blocked:
        throttle.before_credentials("203.0.113.7")
    assert blocked.value.code == 20429 and blocked.value.status == 429
    throttle.before_credentials("198.51.100.1")  # per address
    clock.now += 60
    throttle.before_credentials("203.0.113.7")


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


# --- the API in process (a real aiohttp server, twilio-python) ------------------------------------


@contextlib.asynccontextmanager
async def api_with(tmp_path: Path, **overrides: Any) -> AsyncIterator[Api]:
    """The REST API on a real socket over its own settings (its AuthThrottle from them)."""
    settings = config.load(overrides={"data_dir": str(tmp_path), **overrides}, env={})
    store = open_store(settings)
    try:
        api = await start_api(store, settings, ensure_project(store))
        try:
            yield api
        finally:
            await api.client.close()
    finally:
        store.close()


def sdk_client(api: Api, token: str) -> Client:
    client = Client(api.project.sid, token, edge=None, region=None)
    client.api.base_url = str(api.client.make_url("")).rstrip("/")  # loopback only, never the real Twilio
    assert client.api.base_url.startswith("http://127.0.0.1:")
    return client


async def test_the_right_token_is_served_after_someone_elses_failed_logins(tmp_path: Path) -> None:
    """The issue's case: forty wrong passwords for the project from 127.0.0.1 (an old token in a
    cron job on the same host), then the good integration from 127.0.0.1, through twilio-python:
    it is served; the misconfigured client goes on getting 429."""
    async with api_with(tmp_path, api_auth_failures_free=30, api_auth_failures_block=30) as api:
        wrong = _basic(api.project.sid, "0" * 32)
        answers = []
        for _ in range(40):
            resp = await api.client.get(f"{api.base}/Calls.json", headers=wrong)
            answers.append((resp.status, (await resp.json())["code"]))
        assert answers == [(401, 20003)] * 30 + [(429, 20429)] * 10
        throttle = api.services.auth_throttle
        assert throttle.failures("127.0.0.1") == 30

        def drive() -> dict[str, Any]:
            good = sdk_client(api, api.project.auth_token)
            created = good.calls.create(to="+15005550006", from_="+15005550100", url="http://127.0.0.1:9/x")
            out: dict[str, Any] = {
                "created": created.sid,
                "listed": [c.sid for c in good.calls.list(limit=5)],
                "fetched": good.calls(created.sid).fetch().status,
            }
            try:
                sdk_client(api, "0" * 32).calls(created.sid).fetch()
            except TwilioRestException as exc:
                out["old_token"] = (exc.status, exc.code)
            return out

        r = await asyncio.to_thread(drive)
        assert r["listed"] == [r["created"]] and r["fetched"] == "queued"
        assert r["old_token"] == (429, 20429)
        assert throttle.failures("127.0.0.1") == 30  # served requests and 429s are not counted


async def test_a_valid_token_is_never_held_by_the_throttle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From an address that is slowed, then blocked, the right token is answered 200. Every delay
    is an hour here: a valid request the throttle held could not finish within the minute each
    request is given (an outcome, not a speed, is asserted)."""
    monkeypatch.setattr(AuthThrottle, "FIRST_DELAY_S", 3600.0)
    monkeypatch.setattr(AuthThrottle, "MAX_DELAY_S", 3600.0)
    async with api_with(tmp_path, api_auth_failures_free=0, api_auth_failures_block=3) as api:
        throttle = api.services.auth_throttle
        wrong = _basic(api.project.sid, "0" * 32)

        async def status(headers: dict[str, str]) -> int:
            resp = await asyncio.wait_for(api.client.get(f"{api.base}/Calls.json", headers=headers), 60)
            return resp.status

        for count in (1, 2):  # failures as a failing request records them (its hour-long wait aside)
            throttle.record_failure("127.0.0.1", api.project.sid, f"{api.base}/Calls.json")
            assert throttle.failures("127.0.0.1") == count and throttle.delay_s(count + 1) == 3600
            assert await status(api.auth) == 200  # slowed, not for a valid token
        assert await status(wrong) == 401  # the 3rd failure blocks the address (answered at once)
        assert await status(api.auth) == 200  # blocked, not for a valid token
        assert await status(wrong) == 429
        assert throttle.failures("127.0.0.1") == 3


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


guarded_server = engine_fixture(
    "auth",
    env={
        "WIREXA_API_AUTH_FAILURES_FREE": "2",
        "WIREXA_API_AUTH_FAILURES_BLOCK": "6",
        "WIREXA_API_AUTH_FAILURE_WINDOW_S": "600",
    },
    name="guarded_server",
)


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
    # The 6th failure blocks the address (its 401 comes at once): 429 from now on for failing
    # requests; the right token is still served (a random token: no lockout).
    assert (await _get(server, wrong))[0] == 401
    status, body, _ = await _get(server, wrong)
    assert (status, body["code"]) == (429, 20429) and "failed authentication attempts" in body["message"]
    status, body, _ = await _get(server, good)
    assert status == 200 and body["calls"] == [], body
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
