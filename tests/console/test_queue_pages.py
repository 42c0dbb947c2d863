"""The console's Queues pages in process, driven as a browser would (forms, cookies, CSRF):
the list, create and edit through the REST API's validators (the same Twilio error text for a
bad MaxSize or name), delete behind a confirmation page, a project's scope (another project's
queue is a 404 on every page and form), escaping of a queue's name; and on live queues (the
call-flow harness: real dispatcher, sessions and queues, FakeSip as the network) the members in
order with their CallSids and waits, the live feed, "dequeue to URL" as the Members resource
does it, and a delete refused while a caller waits."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import ClientResponse

from tests.calls.conftest import Flow, flow  # noqa: F401 - the call-flow harness (a fixture)
from tests.conftest import Api, start_api
from tests.console.test_pages import XSS, csrf_of, login
from tests.pg import database_url_on_both  # noqa: F401 - the `api` tests run on SQLite and PostgreSQL
from wirexa.console.auth import write_password
from wirexa.store.repo.projects import create_project
from wirexa.store.repo.queues import get_queue, insert_queue, queue_by_name

ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def error_of(html: str) -> str:
    found = re.search(r'<p class="error" role="alert" id="[a-z-]+">([^<]*)</p>', html)
    assert found, html[:2000]
    return found.group(1)


async def rest_error(api: Api, path: str, form: dict[str, str]) -> str:
    """What the REST API answers for the same form: its message and code, as the console shows them."""
    resp = await api.client.post(f"{api.base}{path}", data=form, headers=api.auth)
    body = await resp.json()
    assert resp.status >= 400, body
    return f"{body['message']} (error {body['code']})".replace("'", "&#39;")


async def test_create_edit_and_delete_through_the_rest_apis_validators(api: Api) -> None:
    token = await login(api)
    c = api.client
    text = await (await c.get("/console/queues")).text()
    assert "No queues yet." in text and 'href="/console/queues" aria-current="page"' in text
    form = await (await c.get("/console/queues/new")).text()
    assert 'name="MaxSize" value="1000"' in form and csrf_of(form) == token
    for bad in ({"FriendlyName": "support", "MaxSize": "0"}, {"FriendlyName": "support", "MaxSize": "many"},
                {"FriendlyName": "support", "MaxSize": "5001"}, {"FriendlyName": "  "},
                {"FriendlyName": "x" * 65}):  # fmt: skip
        resp = await c.post("/console/queues/new", data={"csrf": token, **bad})
        html = await resp.text()
        assert resp.status == 400 and error_of(html) == await rest_error(api, "/Queues.json", bad), bad
        assert f'value="{bad.get("MaxSize", "")}"' in html  # the form keeps what was typed
    assert "MaxSize must be between 1 and 5000, got 0 (error 20001)" in await rest_error(
        api, "/Queues.json", {"FriendlyName": "q", "MaxSize": "0"}
    )
    # Nothing was made by the refusals (the REST API's own list).
    resp = await c.get(f"{api.base}/Queues.json", headers=api.auth)
    assert (await resp.json())["queues"] == []

    resp = await c.post("/console/queues/new", data={"csrf": token, "FriendlyName": "support", "MaxSize": "20"})
    assert resp.status == 200 and "saved=1" in str(resp.url)
    sid = resp.url.path.rsplit("/", 1)[1]
    queue = await api.store.read(get_queue, sid, api.project.sid)
    assert queue is not None and (queue.friendly_name, queue.max_size) == ("support", 20)
    page = await resp.text()
    assert "<h1>Queue support</h1>" in page and 'id="saved"' in page and "Nobody waits in this queue." in page
    resp = await c.post("/console/queues/new", data={"csrf": token, "FriendlyName": "support"})
    assert (
        resp.status == 400
        and error_of(await resp.text()) == "A queue named &#39;support&#39; already exists (error 20001)"
    )
    text = await (await c.get("/console/queues")).text()
    row = re.search(rf'<tr data-sid="{sid}">(.*?)</tr>', text, re.S)
    assert row and re.findall(r'<td class="num[^"]*">(\d+)</td>', row.group(1)) == ["0", "0", "20"]
    assert 'data-rows-feed="/console/queues/feed"' in text

    # Edit: the REST API's update (the name rule, MaxSize's range; a blank MaxSize keeps it).
    await c.post("/console/queues/new", data={"csrf": token, "FriendlyName": "other"})
    for bad in ({"FriendlyName": "support", "MaxSize": "-1"}, {"FriendlyName": ""}):
        resp = await c.post(f"/console/queues/{sid}", data={"csrf": token, **bad})
        assert resp.status == 400 and error_of(await resp.text()) == await rest_error(api, f"/Queues/{sid}.json", bad)
    resp = await c.post(f"/console/queues/{sid}", data={"csrf": token, "FriendlyName": "other", "MaxSize": "20"})
    assert resp.status == 400 and "A queue named &#39;other&#39; already exists (error 20001)" in await resp.text()
    resp = await c.post(f"/console/queues/{sid}", data={"csrf": token, "FriendlyName": "help desk", "MaxSize": ""})
    assert resp.status == 200 and "<h1>Queue help desk</h1>" in await resp.text()
    queue = await api.store.read(get_queue, sid)
    assert queue is not None and (queue.friendly_name, queue.max_size) == ("help desk", 20)

    # Delete: a confirmation page first (GET changes nothing), then its POST.
    page = await (await c.get(f"/console/queues/{sid}")).text()
    assert f'href="/console/queues/{sid}/delete"' in page
    confirm = await (await c.get(f"/console/queues/{sid}/delete")).text()
    assert "Delete queue help desk?" in confirm and "Nobody waits in it." in confirm
    assert await api.store.read(get_queue, sid) is not None
    resp = await c.post(f"/console/queues/{sid}/delete", data={"csrf": token})
    assert resp.status == 200 and str(resp.url.path) == "/console/queues"
    assert "Queue help desk is deleted." in await resp.text()
    assert await api.store.read(get_queue, sid) is None
    assert (await c.get(f"/console/queues/{sid}")).status == 404


async def test_csrf_scope_and_escaping(api: Api) -> None:
    other = await api.store.write(lambda: create_project("other"))
    theirs = await api.store.write(insert_queue, other.sid, "their queue")
    mine = await api.store.write(insert_queue, api.project.sid, XSS)
    assert theirs is not None and mine is not None
    token = await login(api)
    c = api.client
    # Every form refuses a POST without the session's token, and changes nothing.
    for path, data in (
        ("/console/queues/new", {"FriendlyName": "sneaky"}),
        (f"/console/queues/{mine.sid}", {"FriendlyName": "renamed"}),
        (f"/console/queues/{mine.sid}/delete", {}),
        (f"/console/queues/{mine.sid}/dequeue", {"Url": "http://127.0.0.1:9/x"}),
    ):
        for sent in (data, {**data, "csrf": "wrong"}):
            resp = await c.post(path, data=sent)
            assert resp.status == 403 and "CSRF" in await resp.text(), path
    assert await api.store.read(queue_by_name, api.project.sid, "sneaky") is None
    assert await api.store.read(get_queue, mine.sid) == mine
    # Another project's queue: not in the list, a 404 for every page, form and feed.
    text = await (await c.get("/console/queues")).text()
    assert theirs.sid not in text and "their queue" not in text
    for method, path in (
        ("GET", f"/console/queues/{theirs.sid}"),
        ("GET", f"/console/queues/{theirs.sid}/delete"),
        ("GET", f"/console/queues/{theirs.sid}/feed"),
        ("POST", f"/console/queues/{theirs.sid}"),
        ("POST", f"/console/queues/{theirs.sid}/delete"),
        ("POST", f"/console/queues/{theirs.sid}/dequeue"),
    ):
        resp = await c.request(method, path, data={"csrf": token, "FriendlyName": "mine now", "Url": "http://x.y/"})
        assert resp.status == 404 and "No such queue." in await resp.text(), (method, path)
    assert await api.store.read(get_queue, theirs.sid) == theirs
    # A name with markup is text on every page that shows it.
    for path in ("/console/queues", f"/console/queues/{mine.sid}", f"/console/queues/{mine.sid}/delete"):
        text = await (await c.get(path)).text()
        assert XSS not in text and ESCAPED in text, path
    resp = await c.post(f"/console/queues/{mine.sid}", data={"csrf": token, "FriendlyName": XSS, "MaxSize": "0"})
    text = await resp.text()
    assert resp.status == 400 and XSS not in text and f'value="{ESCAPED}"' in text
    # The admin sees both projects' queues.
    write_password(api.settings.data_path, "0123456789-admin")
    c.session.cookie_jar.clear()
    admin = await login(api, "admin", "0123456789-admin")
    text = await (await c.get("/console/queues")).text()
    assert theirs.sid in text and mine.sid in text
    assert 'name="project"' in await (await c.get("/console/queues/new")).text()
    resp = await c.post("/console/queues/new", data={"csrf": admin, "FriendlyName": "theirs too", "project": other.sid})
    assert resp.status == 200 and await api.store.read(queue_by_name, other.sid, "theirs too") is not None


async def rows_event(resp: ClientResponse, wanted: Any) -> str:
    """The data of the feed's next `rows` event for which wanted(data) holds."""
    async with asyncio.timeout(8):
        while True:
            line = await resp.content.readline()
            if line != b"event: rows\n":
                continue
            data = ""
            while (line := await resp.content.readline()) != b"\n":
                data += line.decode().removeprefix("data: ")
            if wanted(data):
                return data


async def test_members_live_dequeue_to_a_url_and_delete_while_callers_wait(flow: Flow) -> None:  # noqa: F811
    docs = flow.backend.docs
    docs["/member"] = '<Response><Enqueue waitUrl="" action="/left">desk</Enqueue></Response>'
    docs["/left"] = "<Response><Say>never run</Say></Response>"
    docs["/out"] = "<Response><Say>taken out</Say></Response>"
    live = flow.dispatcher.deps.queues
    assert live is not None
    for to in ("+15005550006", "+15005550007", "+15005550008"):
        await flow.create(to=to, url=flow.backend.url("/member"))
    row = None
    while row is None:
        row = await flow.store.read(queue_by_name, flow.project.sid, "desk")
        await asyncio.sleep(0.01)
    qsid = row.sid
    await flow.wait_for(lambda: len(live.members(qsid)) == 3)
    order = [m.call_sid for m in live.members(qsid)]  # the sessions enqueue them in their own time
    first, second, third = order
    api = await start_api(flow.store, flow.dispatcher.settings, flow.project)
    api.services.queues = live
    try:
        token = await login(api)
        c = api.client
        text = await (await c.get("/console/queues")).text()
        line = re.search(rf'<tr data-sid="{qsid}">(.*?)</tr>', text, re.S)
        assert line and '<td class="num size">3</td>' in line.group(1) and ">desk</a>" in line.group(1)
        page = await (await c.get(f"/console/queues/{qsid}")).text()
        assert '<dd id="queue-size">3</dd>' in page
        members = re.findall(
            r'<tr data-sid="(CA\w+)"><td class="num">(\d+)</td><td><a href="/console/calls/(CA\w+)">\1</a></td>'
            r'<td class="num">(\d+)</td>',
            page,
        )
        assert [(sid, pos, link) for sid, pos, link, _ in members] == [
            (sid, str(i + 1), sid) for i, sid in enumerate(order)
        ]
        assert all(int(wait) >= 0 for *_, wait in members)
        assert f'data-rows-feed="/console/queues/{qsid}/feed"' in page

        # The feed sends the members as they change: a caller hangs up, its row goes.
        feed = await c.get(f"/console/queues/{qsid}/feed")
        assert feed.headers["Content-Type"] == "text/event-stream"
        flow.sip.remote_hangup(third)
        rows = await rows_event(feed, lambda data: third not in data)
        assert first in rows and second in rows and '<dd id="queue-size">2</dd>' in rows
        feed.close()

        # Dequeue to a URL: the Members resource's checks and messages.
        dequeue = f"/console/queues/{qsid}/dequeue"
        for form, message in (
            ({}, "Missing required parameter Url in the post body (error 21205)"),
            ({"Url": "ftp://x"}, "Url is not a valid URL: ftp://x (error 21205)"),
            ({"Url": "http://127.0.0.1:9/x", "Method": "PUT"}, "Method must be GET or POST, got &#39;PUT&#39; (error 21209)"),
            ({"Url": "http://127.0.0.1:9/x", "Member": "CA" + "0" * 32}, f"No member CA{'0' * 32} in queue {qsid} (error 20404)"),
        ):  # fmt: skip
            resp = await c.post(dequeue, data={"csrf": token, **form})
            html = await resp.text()
            assert error_of(html) == message and resp.status in (400, 404), form
            assert 'id="dequeue-error"' in html
        assert message.startswith("No member") and resp.status == 404
        rest = await c.post(f"{api.base}/Queues/{qsid}/Members/Front.json", data={"Url": "ftp://x"}, headers=api.auth)
        assert (await rest.json())["message"] == "Url is not a valid URL: ftp://x"
        assert [m.call_sid for m in live.members(qsid)] == [first, second]

        # The second caller (not the front), by its CallSid.
        resp = await c.post(dequeue, data={"csrf": token, "Member": second, "Url": flow.backend.url("/out")})
        assert resp.status == 200 and f"dequeued={second}" in str(resp.url)
        assert f"Call {second} left the queue" in await resp.text()
        await flow.wait_status(second, ("completed",))
        assert ("taken out", "man", "en-US") in flow.tts.spoken
        await flow.wait_for(lambda: any(p["CallSid"] == second for p in flow.backend.requests_to("/left")))
        [left] = [p for p in flow.backend.requests_to("/left") if p["CallSid"] == second]
        assert left["QueueResult"] == "redirected" and ("never run", "man", "en-US") not in flow.tts.spoken
        assert [m.call_sid for m in live.members(qsid)] == [first]

        # A queue with a caller waiting is not deleted (the REST API's refusal, its text).
        rest_text = await (await c.delete(f"{api.base}/Queues/{qsid}.json", headers=api.auth)).json()
        confirm = await (await c.get(f"/console/queues/{qsid}/delete")).text()
        assert "1 caller waits in it" in confirm
        resp = await c.post(f"/console/queues/{qsid}/delete", data={"csrf": token})
        assert resp.status == 400 and error_of(await resp.text()) == f"{rest_text['message']} (error 20001)"
        assert await flow.store.read(get_queue, qsid) is not None

        # Front: the one left; then the queue is empty and can go.
        resp = await c.post(dequeue, data={"csrf": token, "Member": "Front", "Url": flow.backend.url("/out")})
        assert resp.status == 200 and f"dequeued={first}" in str(resp.url)
        await flow.wait_status(first, ("completed",))
        await flow.wait_for(lambda: live.members(qsid) == [])
        resp = await c.post(f"/console/queues/{qsid}/delete", data={"csrf": token})
        assert resp.status == 200 and await flow.store.read(get_queue, qsid) is None
    finally:
        await api.client.close()


async def test_the_list_pages_by_fifty(api: Api) -> None:
    def make() -> None:
        for i in range(52):
            insert_queue(api.project.sid, f"q{i:02}")

    await api.store.write(make)
    await login(api)
    first = await (await api.client.get("/console/queues")).text()
    sids = re.findall(r'<tr data-sid="(QU\w+)">', first)
    after = re.search(r'href="/console/queues\?after=(QU\w+)" id="next-page"', first)
    assert len(sids) == 50 and after and after.group(1) == sids[-1] and "data-rows-feed" in first
    rest = await (await api.client.get(f"/console/queues?after={after.group(1)}")).text()
    assert len(re.findall(r'<tr data-sid="(QU\w+)">', rest)) == 2 and "next-page" not in rest
    assert "data-rows-feed" not in rest  # only the first page is live
