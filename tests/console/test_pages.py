"""The console's pages in process: the API app (make_app, real store) on aiohttp's test client,
driven as a browser would with forms and cookies (login, CSRF, a project's scope, escaping,
retry-now, the forms over the REST API's validators, test calls, the live feed)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

from tests.conftest import Api
from tests.pg import database_url_on_both  # noqa: F401 - these tests run on SQLite and PostgreSQL
from wirexa.calls.statuses import WebhookStatus
from wirexa.clock import utcnow
from wirexa.console.auth import write_password
from wirexa.store.repo.calls import insert_call
from wirexa.store.repo.events import NewCallEvent, insert_events
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.webhooks import get_webhook, insert_webhook
from wirexa.webhooks.signing import signature

XSS = "<script>alert(1)</script>"
HTML_BODY = "<b>bold</b><script>alert(2)</script>"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def login(api: Api, user: str | None = None, password: str | None = None) -> str:
    """Log in (the project's credentials by default); returns the session's CSRF token."""
    c = api.client
    page = await c.get("/console/login")
    resp = await c.post(
        "/console/login",
        data={
            "csrf": csrf_of(await page.text()),
            "user": user if user is not None else api.project.sid,
            "password": password if password is not None else api.project.auth_token,
            "next": "/console/calls",
        },
    )
    assert resp.status == 200 and str(resp.url).endswith("/console/calls"), await resp.text()
    return csrf_of(await resp.text())


async def add_call(api: Api, account: str | None = None, **fields: Any) -> Any:
    values = {
        "account_sid": account or api.project.sid,
        "to_number": "+15005550006",
        "from_number": "+15005550100",
        "status": "completed",
        "direction": "outbound-api",
        **fields,
    }
    return await api.store.write(lambda: insert_call(**values))


async def test_pages_need_a_login_and_the_login_sets_a_strict_httponly_cookie(api: Api) -> None:
    c = api.client
    resp = await c.get("/console/calls?status=completed", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/console/login?next=")
    page = await c.get("/console/login")
    assert page.status == 200 and "Content-Security-Policy" in page.headers
    resp = await c.post(
        "/console/login",
        data={"csrf": csrf_of(await page.text()), "user": api.project.sid, "password": api.project.auth_token},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"] == "/console/"
    cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("wirexa_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; behind TLS it is Secure
    assert (await c.get("/console/dashboard")).status == 200


async def test_wrong_credentials_and_a_login_without_its_token_are_refused(api: Api) -> None:
    c = api.client
    page = await c.get("/console/login")
    token = csrf_of(await page.text())
    resp = await c.post("/console/login", data={"user": api.project.sid, "password": api.project.auth_token})
    assert resp.status == 403 and "CSRF" in await resp.text()
    resp = await c.post("/console/login", data={"csrf": token, "user": api.project.sid, "password": "nope"})
    assert resp.status == 401 and "Wrong user or password." in await resp.text()
    resp = await c.post("/console/login", data={"csrf": csrf_of(await resp.text()), "user": "admin", "password": "x"})
    assert resp.status == 401 and "wirexa console set-password" in await resp.text()
    assert (await c.get("/console/calls", allow_redirects=False)).status == 303


async def test_the_admin_password_sees_every_project(api: Api) -> None:
    other = await api.store.write(lambda: create_project("other"))
    mine, theirs = await add_call(api), await add_call(api, account=other.sid)
    write_password(api.settings.data_path, "0123456789-admin")
    await login(api, "admin", "0123456789-admin")
    text = await (await api.client.get("/console/calls")).text()
    assert mine.sid in text and theirs.sid in text
    assert (await api.client.get(f"/console/calls/{theirs.sid}")).status == 200


async def test_another_projects_call_is_a_404_and_stored_text_is_escaped(api: Api) -> None:
    other = await api.store.write(lambda: create_project("other"))
    theirs = await add_call(api, account=other.sid)
    mine = await add_call(api, from_number=XSS, caller_id=XSS)
    event = NewCallEvent(
        api.project.sid,
        mine.sid,
        "status",
        "POST",
        "http://127.0.0.1:9/cb",
        (("CallSid", mine.sid), ("X", XSS)),
        200,
        "text/html",
        HTML_BODY.encode(),
        12,
        utcnow(),
    )
    await api.store.write(insert_events, [event])
    await login(api)
    c = api.client
    resp = await c.get(f"/console/calls/{theirs.sid}")
    assert resp.status == 404 and "No such call" in await resp.text()
    assert theirs.sid not in await (await c.get("/console/calls")).text()
    for path in ("/console/calls", f"/console/calls/{mine.sid}"):
        text = await (await c.get(path)).text()
        assert XSS not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text, path
    text = await (await c.get(f"/console/calls/{mine.sid}")).text()
    assert HTML_BODY not in text and "&lt;b&gt;bold&lt;/b&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "status callback 200 12 ms" in text  # the attempt on the timeline


async def test_filters_narrow_the_list_and_pages_follow(api: Api) -> None:
    await add_call(api, direction="inbound", status="busy", to_number="+15005550001")
    await add_call(api, answered_by="machine_start")
    old = await add_call(api, now=utcnow() - dt.timedelta(days=3))
    await login(api)
    c = api.client

    async def sids(query: str) -> list[str]:
        return re.findall(r'<tr data-sid="(CA[0-9a-f]+)"', await (await c.get("/console/calls?" + query)).text())

    assert len(await sids("")) == 3
    assert len(await sids("direction=inbound")) == 1
    assert len(await sids("status=busy&to=%2B15005550001")) == 1
    assert len(await sids("answered_by=machine_start")) == 1
    today = utcnow().date().isoformat()
    assert old.sid not in await sids(f"day_from={today}") and len(await sids(f"day_from={today}")) == 2
    assert await sids(f"day_to={(utcnow() - dt.timedelta(days=2)).date().isoformat()}") == [old.sid]
    text = await (await c.get("/console/calls?status=bogus")).text()
    assert "status must be one of" in text
    for _ in range(50):
        await add_call(api)
    first = await (await c.get("/console/calls")).text()
    after = re.search(r'href="/console/calls\?(after=CA[0-9a-f]+)" id="next-page"', first)
    assert after
    rest = await sids(after.group(1))
    assert len(rest) == 3 and not set(rest) & set(re.findall(r'data-sid="(CA[0-9a-f]+)"', first))


async def test_forms_without_the_csrf_token_are_refused(api: Api) -> None:
    row = await api.store.write(
        lambda: insert_webhook(
            account_sid=api.project.sid,
            call_sid=None,
            kind="status",
            event="completed",
            url="http://127.0.0.1:9/cb",
            method="POST",
            params={"A": "1"},
        )
    )
    token = await login(api)
    c = api.client
    for path, data in (
        (f"/console/webhooks/{row.id}/retry", {}),
        ("/console/numbers/new", {"PhoneNumber": "+15551230000"}),
        ("/console/call", {"To": "+15005550006", "From": "+15005550100", "Twiml": "<Response/>"}),
        ("/console/logout", {}),
    ):
        resp = await c.post(path, data=data)
        assert resp.status == 403 and "CSRF" in await resp.text(), path
        resp = await c.post(path, data={**data, "csrf": "wrong"})
        assert resp.status == 403, path
    assert (await c.get("/console/numbers")).status == 200  # still logged in
    resp = await c.post("/console/logout", data={"csrf": token}, allow_redirects=False)
    assert resp.status == 303
    assert (await c.get("/console/numbers", allow_redirects=False)).status == 303


async def test_retry_now_makes_a_failed_webhook_due_and_shows_the_signed_request(api: Api) -> None:
    row = await api.store.write(
        lambda: insert_webhook(
            account_sid=api.project.sid,
            call_sid=None,
            kind="status",
            event="completed",
            url="http://127.0.0.1:9/cb",
            method="POST",
            params={"CallSid": "CA1", "X": XSS},
            due=utcnow() + dt.timedelta(hours=1),
        )
    )
    await api.store.write(lambda: api.store.db.execute_sql("UPDATE webhooks SET status = 'failed', attempts = 4"))
    token = await login(api)
    c = api.client
    text = await (await c.get("/console/webhooks?status=failed")).text()
    assert f'data-id="{row.id}"' in text and "Retry now" in text
    page = await (await c.get(f"/console/webhooks/{row.id}")).text()
    sig = signature(api.project.auth_token, "http://127.0.0.1:9/cb", [("CallSid", "CA1"), ("X", XSS)])
    assert f"X-Twilio-Signature: {sig}" in page and XSS not in page
    resp = await c.post(f"/console/webhooks/{row.id}/retry", data={"csrf": token})
    assert resp.status == 200 and "is due now" in await resp.text()
    after = await api.store.read(get_webhook, row.id)
    assert after is not None
    assert after.status == WebhookStatus.PENDING and after.next_attempt_at <= utcnow() and after.attempts == 4
    # Another project's row is not this login's to retry.
    other = await api.store.write(lambda: create_project("other"))
    theirs = await api.store.write(
        lambda: insert_webhook(
            account_sid=other.sid,
            call_sid=None,
            kind="status",
            event="completed",
            url="http://127.0.0.1:9/cb",
            method="POST",
            params={},
        )
    )
    assert (await c.get(f"/console/webhooks/{theirs.id}")).status == 404
    assert (await c.post(f"/console/webhooks/{theirs.id}/retry", data={"csrf": token})).status == 409


async def test_numbers_and_applications_use_the_rest_apis_validators(api: Api) -> None:
    token = await login(api)
    c = api.client
    resp = await c.post(
        "/console/numbers/new", data={"csrf": token, "PhoneNumber": "+15551230000", "VoiceUrl": "ftp://x"}
    )
    assert resp.status == 400 and "VoiceUrl is not a valid URL: ftp://x (error 21205)" in await resp.text()
    resp = await c.post("/console/numbers/new", data={"csrf": token, "PhoneNumber": "12"})
    assert resp.status == 400 and "PhoneNumber is invalid: 12 (error 21421)" in await resp.text()
    resp = await c.post(
        "/console/numbers/new",
        data={
            "csrf": token,
            "PhoneNumber": "+15551230000",
            "VoiceUrl": "http://127.0.0.1:9/voice",
            "FriendlyName": XSS,
        },
    )
    assert resp.status == 200 and "saved=1" in str(resp.url)
    text = await (await c.get("/console/numbers")).text()
    assert "+15551230000" in text and XSS not in text
    number_path = str(resp.url.path)
    resp = await c.post(number_path, data={"csrf": token, "VoiceFallbackUrl": "http://127.0.0.1:9/fb"})
    assert resp.status == 400 and "21405" in await resp.text()  # a fallback without a voice URL
    resp = await c.post(
        number_path, data={"csrf": token, "VoiceUrl": "http://127.0.0.1:9/v2", "VoiceApplicationSid": "AP0"}
    )
    assert resp.status == 400 and "no application AP0" in await resp.text()
    resp = await c.post(
        "/console/applications/new", data={"csrf": token, "FriendlyName": "app", "VoiceUrl": "http://127.0.0.1:9/a"}
    )
    assert resp.status == 200
    app_sid = resp.url.path.rsplit("/", 1)[1]
    resp = await c.post(
        number_path, data={"csrf": token, "VoiceUrl": "http://127.0.0.1:9/v2", "VoiceApplicationSid": app_sid}
    )
    assert resp.status == 200 and app_sid in await (await c.get("/console/numbers")).text()
    resp = await c.post(f"/console/applications/{app_sid}", data={"csrf": token, "VoiceMethod": "PUT"})
    assert resp.status == 400 and "VoiceMethod must be GET or POST" in await resp.text()


async def test_a_test_call_goes_through_the_call_service(api: Api) -> None:
    token = await login(api)
    c = api.client
    resp = await c.post(
        "/console/call",
        data={"csrf": token, "To": "nope", "From": "+15005550100", "source": "twiml", "Twiml": "<Response/>"},
    )
    text = await resp.text()
    assert resp.status == 400 and "Invalid &#39;To&#39; Phone Number: nope (error 21211)" in text, re.findall(
        "form-error.*", text
    )
    resp = await c.post(
        "/console/call",
        data={"csrf": token, "To": "+15005550006", "From": "+15005550100", "source": "twiml", "Twiml": "<Nope/>"},
    )
    assert resp.status == 400 and "12102" in await resp.text()
    resp = await c.post(
        "/console/call",
        data={
            "csrf": token,
            "To": "+15005550006",
            "From": "+15005550100",
            "source": "twiml",
            "Twiml": "<Response><Say>Hi</Say></Response>",
        },
    )
    assert resp.status == 200 and "/console/calls/CA" in str(resp.url)
    text = await resp.text()
    assert "queued" in text and "&lt;Response&gt;&lt;Say&gt;Hi" in text


async def test_the_live_feed_sends_rows_when_a_call_comes_in(api: Api) -> None:
    await login(api)
    resp = await api.client.get("/console/calls/feed")
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert await resp.content.readline() == b"retry: 2000\n"
    call = await add_call(api, status="ringing")
    got = b""
    async with asyncio.timeout(5):
        while b"\n\n" not in got.split(b"event: rows", 1)[-1] or b"event: rows" not in got:
            got += await resp.content.readline()
    assert f'data: <tr data-sid="{call.sid}">'.encode() in got
    resp.close()


async def test_the_dashboard_counts(api: Api) -> None:
    await add_call(api, status="in-progress")
    await add_call(api, status="completed", answered_by="human")
    await add_call(api, status="busy")
    event = NewCallEvent(api.project.sid, "CA1", "status", "POST", "http://x", (), 500, None, None, 40, utcnow())
    await api.store.write(insert_events, [event])
    await login(api)
    text = await (await api.client.get("/console/dashboard")).text()
    assert '<span class="big" id="live-calls">1</span>' in text
    assert '<span class="big">50.0%</span> answered (24 h)' in text
    assert '<span class="big">40</span> ms webhook p50' in text
    assert '<span class="big">1</span> webhook attempts failed' in text
    assert "<th>human</th>" in text


async def test_the_doctor_page_runs_wirexa_doctor_for_the_admin_only(api: Api) -> None:
    await login(api)
    resp = await api.client.get("/console/doctor")
    assert resp.status == 403 and "admin login" in await resp.text()
    write_password(api.settings.data_path, "0123456789-admin")
    api.client.session.cookie_jar.clear()
    await login(api, "admin", "0123456789-admin")
    text = await (await api.client.get("/console/doctor")).text()
    # The checks of `wirexa doctor --json` for this data directory: its database exists here.
    assert "<td>data directory</td><td>ok</td>" in text and "<td>database</td><td>ok</td>" in text
    assert "<td>config</td><td>warn</td>" in text  # no config file in a test's data dir


async def test_a_recording_plays_with_its_waveform_and_only_for_its_project(api: Api) -> None:
    from wirexa.media.audio import tone_pcm, wav_bytes
    from wirexa.store.repo.recordings import insert_recording

    other = await api.store.write(lambda: create_project("other"))
    wav = api.settings.data_path / "rec.wav"
    wav.write_bytes(wav_bytes(tone_pcm(440, 1000)))
    call = await add_call(api)
    theirs_call = await add_call(api, account=other.sid)

    def recording(account: str, call_sid: str) -> Any:
        return insert_recording(
            account_sid=account,
            call_sid=call_sid,
            status="completed",
            source="OutboundAPI",
            duration_s=1,
            wav_path=str(wav),
            date_created=utcnow(),
            date_updated=utcnow(),
        )

    mine = await api.store.write(recording, api.project.sid, call.sid)
    theirs = await api.store.write(recording, other.sid, theirs_call.sid)
    await login(api)
    c = api.client
    text = await (await c.get(f"/console/calls/{call.sid}")).text()
    assert f'src="/console/recordings/{mine.sid}.wav"' in text
    path = re.search(r'<svg class="wave"[^>]*><path d="([^"]+)"', text)
    assert path and path.group(1).startswith("M") and path.group(1).count("M") == 480
    resp = await c.get(f"/console/recordings/{mine.sid}.wav", headers={"Range": "bytes=0-43"})
    assert resp.status == 206 and resp.headers["Content-Type"] == "audio/x-wav" and len(await resp.read()) == 44
    assert (await c.get(f"/console/recordings/{theirs.sid}.wav")).status == 404
