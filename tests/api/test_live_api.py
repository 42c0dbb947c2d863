"""The API of a real `wirexa serve` (subprocess, its own data dir) over raw HTTP: the same answers
as in process, the per-project rate limit from WIREXA_* settings, the CLI seeing its data, and
twilio-python reading the notifications its store holds."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.api.conftest import SchemaCheck
from tests.conftest import LiveServer
from wirexa import config
from wirexa.store.bootstrap import open_store
from wirexa.store.repo import NotificationRecord
from wirexa.store.repo.notifications import insert_notification

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live_server_env() -> dict[str, str]:
    # Calls stay queued (no dispatch); a small per-project rate limit with room for the tests.
    return {"WIREXA_CALLS_HOLD": "true", "WIREXA_API_RATE_LIMIT_PER_S": "1", "WIREXA_API_RATE_LIMIT_BURST": "25"}


def new_project(server: LiveServer) -> tuple[str, str]:
    """A fresh project (own rate-limit bucket) made by the CLI on the server's data dir."""
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "projects", "create", "live", "--data-dir", str(server.data_dir), "--json"],
        env=server.env,
        capture_output=True,
        check=True,
        text=True,
    )
    info = json.loads(out.stdout)
    return info["sid"], info["auth_token"]


def http(
    server: LiveServer, method: str, path: str, account: tuple[str, str] | None, form: Any = None
) -> tuple[int, dict[str, str], Any]:
    data = urllib.parse.urlencode(form, doseq=True).encode() if form is not None else None
    req = urllib.request.Request(server.base_url + path, data=data, method=method)
    if account is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{account[0]}:{account[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            status, headers, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, headers, raw = exc.code, dict(exc.headers), exc.read()
    body = json.loads(raw) if raw and headers.get("Content-Type", "").startswith("application/json") else raw
    if isinstance(body, dict):
        SchemaCheck().check(path.split("?")[0], status, body)  # raises on a schema violation
    return status, headers, body


def test_health(live_server: LiveServer) -> None:
    status, _, body = http(live_server, "GET", "/health", None)
    assert status == 200 and body["status"] == "ok" and body["database"] == "ok"
    assert body["sip"]["state"] != "disabled"  # serve runs SIP


def test_init_project_creates_lists_fetches_updates_deletes(live_server: LiveServer) -> None:
    acct = (live_server.project_id, live_server.auth_token)
    base = f"/2010-04-01/Accounts/{live_server.project_id}"
    status, _, call = http(
        live_server,
        "POST",
        f"{base}/Calls.json",
        acct,
        [
            ("To", "+15005550006"),
            ("From", "+15005550100"),
            ("Url", "http://127.0.0.1:9/x"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "completed"),
            ("Record", "True"),
        ],
    )
    assert status == 201 and call["status"] == "queued"
    status, _, page = http(live_server, "GET", f"{base}/Calls.json?PageSize=1", acct)
    assert status == 200 and page["calls"][0]["sid"] == call["sid"]
    status, _, laml = http(
        live_server, "GET", f"/api/laml/2010-04-01/Accounts/{live_server.project_id}/Calls/{call['sid']}", acct
    )
    assert status == 200 and laml["uri"].startswith("/api/laml/2010-04-01/")
    status, _, body = http(live_server, "DELETE", f"{base}/Calls/{call['sid']}.json", acct)
    assert (status, body["code"]) == (400, 20009)
    status, _, canceled = http(live_server, "POST", f"{base}/Calls/{call['sid']}.json", acct, {"Status": "canceled"})
    assert status == 200 and canceled["status"] == "canceled"
    status, _, body = http(live_server, "DELETE", f"{base}/Calls/{call['sid']}.json", acct)
    assert status == 204 and body == b""
    status, _, body = http(live_server, "GET", f"{base}/Calls/{call['sid']}.json", acct)
    assert (status, body["code"]) == (404, 20404)


def test_errors_from_the_real_server(live_server: LiveServer) -> None:
    acct = new_project(live_server)
    base = f"/2010-04-01/Accounts/{acct[0]}"
    status, headers, body = http(live_server, "GET", f"{base}/Calls.json", (acct[0], "wrong"))
    assert (status, body["code"]) == (401, 20003) and headers["WWW-Authenticate"].startswith("Basic")
    status, _, body = http(
        live_server, "POST", f"{base}/Calls.json", acct, {"To": "+15005550006", "From": "+15005550100"}
    )
    assert (status, body["code"]) == (400, 21205)
    status, _, body = http(live_server, "PUT", f"{base}/Calls.json", acct, {})
    assert (status, body["code"]) == (405, 20004)
    status, _, body = http(live_server, "POST", f"{base}/Calls.json", acct, {"Twiml": "x" * 1_100_000})
    assert (status, body["code"]) == (413, 413)  # default api_max_body_bytes is 1 MiB


def test_credits_set_by_the_cli_give_402(live_server: LiveServer) -> None:
    acct = new_project(live_server)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "wirexa",
            "projects",
            "credits",
            acct[0],
            "--set",
            "0",
            "--data-dir",
            str(live_server.data_dir),
        ],
        env=live_server.env,
        capture_output=True,
        check=True,
    )
    form = {"To": "+15005550006", "From": "+15005550100", "Url": "http://127.0.0.1:9/x"}
    status, _, body = http(live_server, "POST", f"/2010-04-01/Accounts/{acct[0]}/Calls.json", acct, form)
    assert status == 402 and body["detail"] == "No credits remaining for this project"


def test_rate_limit_from_the_environment(live_server: LiveServer) -> None:
    acct = new_project(live_server)
    statuses = [http(live_server, "GET", f"/2010-04-01/Accounts/{acct[0]}/Calls.json", acct)[0] for _ in range(40)]
    assert statuses[:20] == [200] * 20  # well inside the burst of 25
    assert 429 in statuses[20:]
    status, _, body = http(live_server, "GET", f"/2010-04-01/Accounts/{acct[0]}/Calls.json", acct)
    assert (status, body["code"], body["status"]) == (429, 20429, 429)
    # another project is not throttled by this one
    other = new_project(live_server)
    assert http(live_server, "GET", f"/2010-04-01/Accounts/{other[0]}/Calls.json", other)[0] == 200


def test_cli_reads_what_the_server_wrote(live_server: LiveServer) -> None:
    acct = new_project(live_server)
    form = {"To": "+15005550007", "From": "+15005550100", "Url": "http://127.0.0.1:9/x"}
    _, _, call = http(live_server, "POST", f"/2010-04-01/Accounts/{acct[0]}/Calls.json", acct, form)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "wirexa",
            "calls",
            "show",
            call["sid"],
            "--data-dir",
            str(live_server.data_dir),
            "--json",
        ],
        env=live_server.env,
        capture_output=True,
        check=True,
        text=True,
    )
    shown = json.loads(out.stdout)
    assert shown["sid"] == call["sid"] and shown["to"] == "+15005550007" and shown["status"] == "queued"


def test_twilio_python_reads_and_deletes_notifications(live_server: LiveServer) -> None:
    """The contract for Notifications: twilio-python 9 lists (call and account level, Log filter),
    fetches and deletes what the server's store holds; written here through the real repo, as the
    call session writes them."""
    acct = new_project(live_server)
    _, _, call = http(
        live_server,
        "POST",
        f"/2010-04-01/Accounts/{acct[0]}/Calls.json",
        acct,
        {
            "To": "+15005550006",
            "From": "+15005550100",
            "Url": "http://127.0.0.1:9/x",
        },
    )
    store = open_store(config.load(overrides={"data_dir": str(live_server.data_dir)}, env={}))
    try:

        def note(call_sid: str | None, code: int, level: int) -> NotificationRecord:
            return store.write_sync(
                lambda: insert_notification(
                    account_sid=acct[0],
                    call_sid=call_sid,
                    error_code=code,
                    message_text=f"problem {code}",
                    request_url="http://127.0.0.1:9/x",
                    request_method="GET",
                    log_level=level,
                )
            )

        error, warning, loose = note(call["sid"], 11200, 0), note(call["sid"], 12200, 1), note(None, 12100, 0)
    finally:
        store.close()
    client = Client(acct[0], acct[1], edge=None, region=None)
    client.api.base_url = live_server.base_url  # loopback only, never the real Twilio

    on_call = client.calls(call["sid"]).notifications.list()
    assert [n.sid for n in on_call] == [warning.sid, error.sid]
    assert [(n.log, n.error_code, n.call_sid) for n in on_call] == [
        ("1", "12200", call["sid"]),
        ("0", "11200", call["sid"]),
    ]
    assert on_call[1].date_created == error.date_created.replace(tzinfo=dt.UTC, microsecond=0)
    assert on_call[1].more_info == "https://www.twilio.com/docs/errors/11200" and on_call[1].request_method == "GET"
    assert {n.sid for n in client.notifications.list(log=0)} == {error.sid, loose.sid}
    assert [n.sid for n in client.notifications.list(log=1, message_date_after=error.date_created.date())] == [
        warning.sid
    ]
    fetched = client.notifications(error.sid).fetch()
    assert (fetched.message_text, fetched.request_url, fetched.response_body) == (
        "problem 11200",
        "http://127.0.0.1:9/x",
        None,
    )
    assert client.calls(call["sid"]).notifications(warning.sid).fetch().log == "1"
    # twilio-python 9 has no delete() on Notifications (the spec dropped it): the SDK's own
    # request path for the instance's URI.
    assert client.api.v2010.delete("DELETE", client.notifications(error.sid)._uri) is True
    with pytest.raises(TwilioRestException) as missing:
        client.notifications(error.sid).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)
    assert {n.sid for n in client.notifications.list()} == {warning.sid, loose.sid}
